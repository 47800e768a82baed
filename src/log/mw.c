/* SPDX-License-Identifier: MIT */
/* HTTP middleware: one log record per request, and the request's span. */
#include <stdio.h>
#include "log-int.h"

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
    int64_t us = (km_now() - t0) / 1000;
    int status = km_http_resp_status(w);
    int level = status >= 500 ? KM_LOG_WARN : KM_LOG_INFO;
    if (!km_log_enabled(l, level))
        return;
    km_log_field f[11];
    size_t n = 0;
    f[n++] = km_lf_kstr("method", km_http_method(r));
    f[n++] = km_lf_kstr("path", km_http_path(r));
    km_str route = km_http_route_pattern(r);
    if (route.p)
        f[n++] = km_lf_kstr("route", route);
    f[n++] = km_lf_int("status", status);
    f[n++] = km_lf_int("latency_us", us);
    int64_t cl = km_http_content_length(r);
    if (cl > 0)
        f[n++] = km_lf_int("req_bytes", cl);
    km_str id = km_http_request_id(r);
    if (id.p)
        f[n++] = km_lf_kstr("request_id", id);
    const km_http_trace_ctx *t = km_http_trace(r);
    if (t) {
        f[n++] = km_lf_strn("trace_id", t->trace_id, 32);
        f[n++] = km_lf_strn("span_id", t->span_id, 16);
    }
    km_str remote = km_http_remote(r);
    if (remote.p)
        f[n++] = km_lf_kstr("remote", remote);
    km_log_write(l, level, "request", f, n);
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
