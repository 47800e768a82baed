/* SPDX-License-Identifier: MIT */
/* HTTP middleware: one log record per request, and the request's span. */
#include <stdio.h>
#include "log-int.h"

/* The request record's fields after its head, in order. */
enum { F_METHOD, F_PATH, F_ROUTE, F_STATUS, F_LATENCY, F_REQ_BYTES, F_REQUEST_ID, F_TRACE_ID,
       F_SPAN_ID, F_REMOTE, NFIELDS };

/* Each key with its separators, per format (logfmt, JSON), padded to 16
 * bytes so that it goes in as one fixed-size copy: less code than a
 * constant stored in place, and this code runs once per request, after the
 * handler has filled the instruction cache with its own. */
#define KEYS(k) { { " " k "=", ",\"" k "\":" }, { sizeof k + 1, sizeof k + 3 } }
static const struct { char s[2][16]; uint8_t n[2]; } keys[NFIELDS] = {
    [F_METHOD] = KEYS("method"), [F_PATH] = KEYS("path"), [F_ROUTE] = KEYS("route"),
    [F_STATUS] = KEYS("status"), [F_LATENCY] = KEYS("latency_us"),
    [F_REQ_BYTES] = KEYS("req_bytes"), [F_REQUEST_ID] = KEYS("request_id"),
    [F_TRACE_ID] = KEYS("trace_id"), [F_SPAN_ID] = KEYS("span_id"), [F_REMOTE] = KEYS("remote"),
};
#undef KEYS

/* Room for the record beyond its strings: the head and every key and
 * integer at their longest take under 300 bytes, and a key's copy writes
 * at most 16 bytes. The path takes at most 6 bytes per byte (escaped); the
 * route two quotes more in logfmt. */
#define CONST_ROOM 400

static inline __attribute__((always_inline)) char *key(char *o, bool json, int f)
{
    memcpy(o, keys[f].s[json], 16);
    return o + keys[f].n[json];
}

/* A string that needs neither escapes nor logfmt quotes and is never empty
 * (a method token, a checked request id, hex ids, an address). */
static inline __attribute__((always_inline)) char *plain(char *o, bool json, const char *p, size_t n)
{
    if (json)
        *o++ = '"';
    o = km__put(o, p, n);
    if (json)
        *o++ = '"';
    return o;
}

/* What a request record says. */
typedef struct {
    km_str method, path, route, id, remote;
    const km_http_trace_ctx *trace;
    int status;
    int64_t latency_us, req_bytes, wall;
} fields;

/* The record, in one format (json is a constant at each call): the head as
 * km__log_begin writes it for the message "request", then the fields. */
static inline __attribute__((always_inline)) char *
record(char *o, const bool json, const km_logger *l, const fields *f)
{
    o = json ? km__put(o, "{\"time\":\"", 9) : km__put(o, "time=", 5);
    km__rfc3339(o, f->wall);
    o += KM__RFC3339_LEN;
    o = json ? km__put(o, "\",\"level\":\"", 11) : km__put(o, " level=", 7);
    o = km__put(o, f->status >= 500 ? "warn" : "info", 4);
    o = json ? km__put(o, "\",\"msg\":\"request\"", 17) : km__put(o, " msg=request", 12);
    if (l->nbound)
        o = km__put(o, l->bound, l->nbound);
    o = plain(key(o, json, F_METHOD), json, f->method.p, f->method.n);
    o = key(o, json, F_PATH);
    if (json) {
        *o++ = '"';
        o = km__put_json_str(o, f->path.p, f->path.n);
        *o++ = '"';
        /* The router takes no pattern that JSON would need escaped. */
        if (f->route.p)
            o = plain(key(o, json, F_ROUTE), json, f->route.p, f->route.n);
    } else {
        o = km__put_logfmt_str(o, f->path.p, f->path.n);
        if (f->route.p)
            o = km__put_logfmt_str(key(o, json, F_ROUTE), f->route.p, f->route.n);
    }
    o = km__put_int(key(o, json, F_STATUS), f->status);
    o = km__put_int(key(o, json, F_LATENCY), f->latency_us);
    if (f->req_bytes > 0)
        o = km__put_int(key(o, json, F_REQ_BYTES), f->req_bytes);
    if (f->id.p)
        o = plain(key(o, json, F_REQUEST_ID), json, f->id.p, f->id.n);
    if (f->trace) {
        o = plain(key(o, json, F_TRACE_ID), json, f->trace->trace_id, 32);
        o = plain(key(o, json, F_SPAN_ID), json, f->trace->span_id, 16);
    }
    if (f->remote.p)
        o = plain(key(o, json, F_REMOTE), json, f->remote.p, f->remote.n);
    return o;
}

/* Out of line, so that its frame (the fields, the record buffer's state)
 * is not on the stack under the handler: every frame of the chain sits
 * below each handler's frames, on every connection's stack. */
static __attribute__((noinline)) void log_request(km_logger *l, km_http_req *r, km_http_resp *w,
                                                  int64_t t0)
{
    int64_t now = km_http_req_end(r);
    fields f = {
        .method = km_http_method(r), .path = km_http_path(r), .route = km_http_route_pattern(r),
        .id = km_http_request_id(r), .remote = km_http_remote(r), .trace = km_http_trace(r),
        .status = km_http_resp_status(w), .latency_us = (now - t0) / 1000,
        .req_bytes = km_http_content_length(r),
    };
    if (!km_log_enabled(l, f.status >= 500 ? KM_LOG_WARN : KM_LOG_INFO))
        return;
    f.wall = km__log_wall(l, now);
    km__lbuf b;
    km__lbuf_init_thread(&b);
    if (!km__lbuf_room(&b, CONST_ROOM + l->nbound + f.method.n + 6 * f.path.n + f.route.n +
                               f.id.n + f.remote.n)) {
        km__log_end(&b, l);                 /* counted as dropped */
        return;
    }
    char *o = l->root->format == KM_LOG_JSON ? record(b.p, true, l, &f) : record(b.p, false, l, &f);
    b.n = (size_t)(o - b.p);
    km__log_end(&b, l);
}

void km_log_mw_request(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    km_logger *l = ud;
    /* Checked before and after: a logger at warn still sees 5xx. */
    if (!km_log_enabled(l, KM_LOG_WARN)) {
        km_http_next_call(next, r, w);
        return;
    }
    int64_t t0 = km_http_req_start(r);
    km_http_next_call(next, r, w);
    log_request(l, r, w, t0);
}

void km_log_mw_span(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    km_logger *l = ud;
    const km_http_trace_ctx *t = km_http_trace(r);
    if (!t || !km_log_enabled(l, KM_LOG_WARN)) {
        km_http_next_call(next, r, w);
        return;
    }
    /* The request's span is the one the trace middleware named: adopt its
     * ids rather than start a child, so that the caller's span is its
     * parent and km_http_trace_headers' outgoing calls are its children. */
    km_span sp;
    km__span_adopt(&sp, l, t);
    km_http_next_call(next, r, w);
    km_str m = km_http_method(r), p = km_http_path(r);
    char name[256];
    int nn = snprintf(name, sizeof name, "%.*s %.*s", (int)(m.n > 32 ? 32 : m.n), m.p,
                      (int)(p.n > 200 ? 200 : p.n), p.p);
    (void)nn;
    sp.name = name;
    km_span_end(&sp, km_http_resp_status(w));
}
