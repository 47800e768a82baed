/* SPDX-License-Identifier: MIT */
/* HTTP middleware: one log record per request, and the request's span. */
#include <stdio.h>
#include "log-int.h"

/* The request record's fields, written straight into the record: its keys
 * are known to need no escaping, so each goes in as one constant. */
#define KEY(b, json, k) ((json) ? km__lbuf_put(b, ",\"" k "\":", sizeof k + 3) \
                                : km__lbuf_put(b, " " k "=", sizeof k + 1))

/* A string value. plain: one that needs neither escaping nor logfmt quotes
 * and is never empty (an HTTP method token, a checked request id, hex
 * trace ids, an address). */
static void put_str(km__lbuf *b, bool json, const char *p, size_t n, bool plain)
{
    if (json)
        km__lbuf_ch(b, '"');
    if (plain)
        km__lbuf_put(b, p, n);
    else if (json)
        km__json_str(b, p, n);
    else
        km__logfmt_str(b, p, n);
    if (json)
        km__lbuf_ch(b, '"');
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
    char stack[KM__LOG_STACKBUF];
    km__lbuf b;
    km__lbuf_init(&b, stack, sizeof stack);
    km__log_begin(&b, l, level, "request", km__log_wall(l, now));
    km_str m = km_http_method(r), p = km_http_path(r), route = km_http_route_pattern(r);
    KEY(&b, json, "method");
    put_str(&b, json, m.p, m.n, true);
    KEY(&b, json, "path");
    put_str(&b, json, p.p, p.n, false);
    if (route.p) {
        KEY(&b, json, "route");
        put_str(&b, json, route.p, route.n, false);
    }
    KEY(&b, json, "status");
    km__enc_int(&b, status);
    KEY(&b, json, "latency_us");
    km__enc_int(&b, (now - t0) / 1000);
    int64_t cl = km_http_content_length(r);
    if (cl > 0) {
        KEY(&b, json, "req_bytes");
        km__enc_int(&b, cl);
    }
    km_str id = km_http_request_id(r);
    if (id.p) {
        KEY(&b, json, "request_id");
        put_str(&b, json, id.p, id.n, true);
    }
    const km_http_trace_ctx *t = km_http_trace(r);
    if (t) {
        KEY(&b, json, "trace_id");
        put_str(&b, json, t->trace_id, 32, true);
        KEY(&b, json, "span_id");
        put_str(&b, json, t->span_id, 16, true);
    }
    km_str remote = km_http_remote(r);
    if (remote.p) {
        KEY(&b, json, "remote");
        put_str(&b, json, remote.p, remote.n, true);
    }
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
