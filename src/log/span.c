/* SPDX-License-Identifier: MIT */
/* Spans: W3C trace and span ids, outgoing trace headers, one log record per finished span. */
#include "log-int.h"
#include "rt/rt-int.h"

static const char hexd[] = "0123456789abcdef";

void km__span_id(char out[17])
{
    uint64_t v;
    do
        v = km__rand64();
    while (!v);     /* all zero is invalid in traceparent */
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hexd[v & 15];
    out[16] = 0;
}

/* Spans time themselves with the logger's clock when it has its own (so a
 * pinned clock gives pinned durations), else with the monotonic clock. */
static int64_t span_now(const km_logger *l, bool mono)
{
    const km_logger *root = l ? l->root : NULL;
    bool custom = root && root->clock != km__log_realtime;
    if (custom)
        return root->clock(root->clock_ud);
    return mono ? km_now() : km__log_realtime(NULL);
}

int km_span_start(km_span *sp, km_logger *l, const char *name, const km_http_trace_ctx *parent)
{
    if (!sp || !name)
        return -EINVAL;
    sp->log = l;
    sp->name = name;
    km_http_trace_ctx *c = &sp->ctx;
    if (parent) {
        memcpy(c->trace_id, parent->trace_id, sizeof c->trace_id);
        memcpy(c->parent_id, parent->span_id, sizeof c->parent_id);
        c->trace_id[32] = c->parent_id[16] = 0;
        c->flags = parent->flags;
        c->tracestate = parent->tracestate;
    } else {
        km__span_id(c->trace_id);
        km__span_id(c->trace_id + 16);
        c->parent_id[0] = 0;
        c->flags = 1;
        c->tracestate = (km_str){ NULL, 0 };
    }
    km__span_id(c->span_id);
    sp->start = span_now(l, false);
    sp->start_mono = span_now(l, true);
    return 0;
}

void km__span_adopt(km_span *sp, km_logger *l, const km_http_trace_ctx *ctx)
{
    sp->log = l;
    sp->name = "";
    sp->ctx = *ctx;
    sp->start = span_now(l, false);
    sp->start_mono = span_now(l, true);
}

int km_span_start_req(km_span *sp, km_logger *l, const char *name, const km_http_req *r)
{
    return km_span_start(sp, l, name, r ? km_http_trace(r) : NULL);
}

size_t km_span_headers(const km_span *sp, km_http_kv out[2], char buf[KM_HTTP_TRACE_BUF])
{
    const km_http_trace_ctx *c = &sp->ctx;
    /* version 00: "00-" trace-id "-" parent-id "-" flags, 55 bytes */
    memcpy(buf, "00-", 3);
    memcpy(buf + 3, c->trace_id, 32);
    buf[35] = '-';
    memcpy(buf + 36, c->span_id, 16);
    buf[52] = '-';
    buf[53] = hexd[c->flags >> 4];
    buf[54] = hexd[c->flags & 15];
    buf[55] = 0;
    out[0] = (km_http_kv){ "traceparent", buf };
    if (!c->tracestate.p || !c->tracestate.n || c->tracestate.n >= KM_HTTP_TRACE_BUF - 56)
        return 1;
    memcpy(buf + 56, c->tracestate.p, c->tracestate.n);
    buf[56 + c->tracestate.n] = 0;
    out[1] = (km_http_kv){ "tracestate", buf + 56 };
    return 2;
}

void km_span_end_with(km_span *sp, int status, const km_log_field *f, size_t n)
{
    if (!sp)
        return;
    bool http = status >= 100 && status <= 599;
    bool err = status < 0 || status >= 500;
    int level = err ? KM_LOG_WARN : KM_LOG_INFO;
    if (!km_log_enabled(sp->log, level))
        return;
    int64_t dur = (span_now(sp->log, true) - sp->start_mono) / 1000;
    char start[KM__RFC3339_LEN];
    km__rfc3339(start, sp->start);
    const km_http_trace_ctx *c = &sp->ctx;
    km_log_field fs[9] = {
        km_lf_strn("trace_id", c->trace_id, 32),
        km_lf_strn("span_id", c->span_id, 16),
        km_lf_str("parent_id", c->parent_id),
        km_lf_str("name", sp->name),
        km_lf_strn("start", start, sizeof start),
        km_lf_int("duration_us", dur < 0 ? 0 : dur),
        km_lf_str("status", err ? "error" : "ok"),
    };
    size_t k = 7;
    if (http)
        fs[k++] = km_lf_int("code", status);
    else if (status < 0)
        fs[k++] = km_lf_str("error", km_strerror(status));
    km__log_write2(sp->log, level, "span", fs, k, f, n);
}
