/* SPDX-License-Identifier: MIT */
/* HTTP middleware: one log record per request, and the request's span. */
#include <stdio.h>
#include "log-int.h"

/* The request record's fields, written straight into the record: their
 * keys are known to need no escaping, so each key goes in with its
 * separators as one constant. Inlined, so that each call site's format
 * test and constants fold. */
#define KEY(b, json, k) ((json) ? km__lbuf_put(b, ",\"" k "\":", sizeof k + 3) \
                                : km__lbuf_put(b, " " k "=", sizeof k + 1))

/* A string field. plain: a value that needs neither escaping nor logfmt
 * quotes and is never empty (an HTTP method token, a checked request id,
 * hex trace ids, an address). */
#define STR(b, json, k, p, n, plain) ((json) ? json_field(b, ",\"" k "\":\"", sizeof k + 4, p, n, plain) \
                                            : logfmt_field(b, " " k "=", sizeof k + 1, p, n, plain))

static inline __attribute__((always_inline)) void
json_field(km__lbuf *b, const char *key, size_t kn, const char *p, size_t n, bool plain)
{
    km__lbuf_put(b, key, kn);
    if (plain)
        km__lbuf_put(b, p, n);
    else
        km__json_str(b, p, n);
    km__lbuf_ch(b, '"');
}

static inline __attribute__((always_inline)) void
logfmt_field(km__lbuf *b, const char *key, size_t kn, const char *p, size_t n, bool plain)
{
    km__lbuf_put(b, key, kn);
    if (plain)
        km__lbuf_put(b, p, n);
    else
        km__logfmt_str(b, p, n);
}

/* The record's head as km__log_begin writes it, for the message "request"
 * at info or warn: the constant parts go in whole, unescaped. */
static void request_head(km__lbuf *b, km_logger *l, bool warn, bool json, int64_t wall)
{
#define LIT(s) { s, sizeof s - 1 }
    static const struct { const char *p; size_t n; } start[2] = {
        LIT("time="), LIT("{\"time\":\""),
    }, rest[2][2] = {
        { LIT(" level=info msg=request"), LIT(" level=warn msg=request") },
        { LIT("\",\"level\":\"info\",\"msg\":\"request\""),
          LIT("\",\"level\":\"warn\",\"msg\":\"request\"") },
    };
#undef LIT
    char ts[KM__RFC3339_LEN];
    km__rfc3339(ts, wall);
    km__lbuf_put(b, start[json].p, start[json].n);
    km__lbuf_put(b, ts, sizeof ts);
    km__lbuf_put(b, rest[json][warn].p, rest[json][warn].n);
    km__lbuf_put(b, l->bound, l->nbound);
}

/* A status as three digits, the only form HTTP has. */
static inline __attribute__((always_inline)) void put_status(km__lbuf *b, int status)
{
    if (status < 100 || status > 999 || !km__lbuf_room(b, 3)) {
        km__enc_int(b, status);
        return;
    }
    char *o = b->p + b->n;
    o[0] = (char)('0' + status / 100);
    o[1] = (char)('0' + status / 10 % 10);
    o[2] = (char)('0' + status % 10);
    b->n += 3;
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
    int64_t now = km_http_req_end(r);
    int status = km_http_resp_status(w);
    int level = status >= 500 ? KM_LOG_WARN : KM_LOG_INFO;
    if (!km_log_enabled(l, level))
        return;
    bool json = l->root->format == KM_LOG_JSON;
    km__lbuf b;
    km__lbuf_init_thread(&b);
    request_head(&b, l, level >= KM_LOG_WARN, json, km__log_wall(l, now));
    km_str m = km_http_method(r), p = km_http_path(r), route = km_http_route_pattern(r);
    STR(&b, json, "method", m.p, m.n, true);
    STR(&b, json, "path", p.p, p.n, false);
    /* The router takes no pattern that JSON would need escaped. */
    if (route.p)
        STR(&b, json, "route", route.p, route.n, json);
    KEY(&b, json, "status");
    put_status(&b, status);
    KEY(&b, json, "latency_us");
    km__enc_int(&b, (now - t0) / 1000);
    int64_t cl = km_http_content_length(r);
    if (cl > 0) {
        KEY(&b, json, "req_bytes");
        km__enc_int(&b, cl);
    }
    km_str id = km_http_request_id(r);
    if (id.p)
        STR(&b, json, "request_id", id.p, id.n, true);
    const km_http_trace_ctx *t = km_http_trace(r);
    if (t) {
        STR(&b, json, "trace_id", t->trace_id, 32, true);
        STR(&b, json, "span_id", t->span_id, 16, true);
    }
    km_str remote = km_http_remote(r);
    if (remote.p)
        STR(&b, json, "remote", remote.p, remote.n, true);
    km__log_end(&b, l);
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
