/* SPDX-License-Identifier: MIT */
/* Middleware: the chain, request ids, W3C trace context, per-request timeouts. */
#include "http-int.h"
#include "rt/rt-int.h"
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

void km_http_next_call(km_http_next *next, km_http_req *r, km_http_resp *w)
{
    const km_http_config *cfg = next->cfg;
    if (next->i < cfg->nmiddleware) {
        const km_http_mw *m = &cfg->middleware[next->i];
        km_http_next rest = { cfg, next->i + 1 };
        m->fn(r, w, m->ud, &rest);
    } else {
        if (!r->refused)
            cfg->handler(r, w, cfg->ud);
        r->handled = true;
    }
}

static const char hexd[] = "0123456789abcdef";

#ifdef __SSE2__
/* 16 lower-case hex digits of v in a few vector instructions: the bytes'
 * high and low nibbles interleaved, then offset to '0' or, from 10 up, to
 * 'a'. (Their order is the bytes' in memory; for random digits any will
 * do.) */
static void hex16(char *out, uint64_t v)
{
    const __m128i nibble = _mm_set1_epi8(0x0f);
    __m128i x = _mm_cvtsi64_si128((long long)v);
    __m128i lo = _mm_and_si128(x, nibble);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), nibble);
    __m128i d = _mm_unpacklo_epi8(hi, lo);
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(d, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10));
    d = _mm_add_epi8(_mm_add_epi8(d, _mm_set1_epi8('0')), letter);
    _mm_storeu_si128((__m128i *)out, d);
}
#else
/* The 8 nibbles of u as 8 lower-case hex digits, all at once: each nibble
 * is spread to a byte of its own, then offset to '0' or, from 10 up, 'a'. */
static uint64_t hex8(uint32_t u)
{
    uint64_t x = u;
    x = (x | x << 16) & 0x0000FFFF0000FFFFull;
    x = (x | x << 8) & 0x00FF00FF00FF00FFull;
    x = (x | x << 4) & 0x0F0F0F0F0F0F0F0Full;
    uint64_t letter = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    return x + 0x3030303030303030ull + letter * ('a' - '0' - 10);
}

static void hex16(char *out, uint64_t v)
{
    uint64_t lo = hex8((uint32_t)v), hi = hex8((uint32_t)(v >> 32));
    memcpy(out, &lo, 8);
    memcpy(out + 8, &hi, 8);
}
#endif

/* n (a multiple of 16) random lower-case hex digits and a NUL, 16 per
 * 64-bit draw, none of them all zero (an all-zero id is invalid in
 * traceparent). Inline: n is a constant at each call. */
static inline __attribute__((always_inline)) void random_hex(char *out, size_t n)
{
    uint64_t *s = km__rand_state();
    for (size_t i = 0; i < n; i += 16) {
        uint64_t v;
        while (!(v = km__rand_next(s)))
            ;
        hex16(out + i, v);
    }
    out[n] = 0;
}

/* A request header by a literal name, its length known here. */
#define HEADER(r, lit) km__hdr_findn((r)->h.hdrs, (r)->h.nhdrs, lit, sizeof lit - 1)

/* ---- request id ---- */

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':';
}

void km_http_mw_request_id(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    const km_http_request_id_config *cfg = ud;
    km_str in = HEADER(r, "X-Request-ID");
    bool ok = in.p && in.n >= 1 && in.n <= 64;
    for (size_t i = 0; ok && i < in.n; i++)
        ok = id_char((unsigned char)in.p[i]);
    size_t n = 16;
    if (ok) {
        memcpy(r->request_id, in.p, in.n);
        r->request_id[n = in.n] = 0;
    } else {
        random_hex(r->request_id, n);
    }
    r->request_id_len = (uint8_t)n;
    if (cfg && cfg->echo)
        km__resp_add_header(w, "X-Request-ID", 12, r->request_id, n);
    km_http_next_call(next, r, w);
}

km_str km_http_request_id(const km_http_req *r)
{
    return r->request_id[0] ? (km_str){ r->request_id, r->request_id_len }
                            : (km_str){ NULL, 0 };
}

/* ---- W3C trace context (https://www.w3.org/TR/trace-context/) ---- */

static bool lower_hex(const char *p, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            *all_zero = false;
    }
    return true;
}

static int hexv(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

/* version "-" trace-id "-" parent-id "-" flags; version 00 is exactly 55
 * bytes; a higher version may append fields after a '-'; ff is invalid. */
static bool parse_traceparent(km_str v, km_http_trace_ctx *t)
{
    bool zero;
    if (v.n < 55 || v.p[2] != '-' || v.p[35] != '-' || v.p[52] != '-')
        return false;
    if (!lower_hex(v.p, 2, &zero) || (v.p[0] == 'f' && v.p[1] == 'f'))
        return false;
    bool v00 = v.p[0] == '0' && v.p[1] == '0';
    if ((v00 && v.n != 55) || (!v00 && v.n > 55 && v.p[55] != '-'))
        return false;
    if (!lower_hex(v.p + 3, 32, &zero) || zero)
        return false;
    memcpy(t->trace_id, v.p + 3, 32);
    t->trace_id[32] = 0;
    if (!lower_hex(v.p + 36, 16, &zero) || zero)
        return false;
    memcpy(t->parent_id, v.p + 36, 16);
    t->parent_id[16] = 0;
    if (!lower_hex(v.p + 53, 2, &zero))
        return false;
    t->flags = (uint8_t)(hexv(v.p[53]) * 16 + hexv(v.p[54]));
    return true;
}

void km_http_mw_trace(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    (void)ud;
    km_http_trace_ctx *t = &r->trace;
    if (parse_traceparent(HEADER(r, "traceparent"), t)) {
        km_str ts = HEADER(r, "tracestate");
        t->tracestate = ts.p && ts.n <= 512 ? ts : (km_str){ NULL, 0 };
    } else {
        random_hex(t->trace_id, 32);
        t->parent_id[0] = 0;
        t->flags = 1;
        t->tracestate = (km_str){ NULL, 0 };
    }
    random_hex(t->span_id, 16);
    r->traced = true;
    km_http_next_call(next, r, w);
}

const km_http_trace_ctx *km_http_trace(const km_http_req *r)
{
    return r->traced ? &r->trace : NULL;
}

size_t km_http_trace_headers(const km_http_req *r, km_http_kv out[2],
                             char buf[KM_HTTP_TRACE_BUF])
{
    if (!r->traced)
        return 0;
    buf[0] = '0'; buf[1] = '0'; buf[2] = '-';
    memcpy(buf + 3, r->trace.trace_id, 32);
    buf[35] = '-';
    memcpy(buf + 36, r->trace.span_id, 16);
    buf[52] = '-';
    buf[53] = hexd[r->trace.flags >> 4];
    buf[54] = hexd[r->trace.flags & 15];
    buf[55] = 0;
    out[0] = (km_http_kv){ "traceparent", buf };
    /* tracestate (at most 512 bytes, see km_http_mw_trace) follows it */
    if (r->trace.tracestate.p && r->trace.tracestate.n < KM_HTTP_TRACE_BUF - 57) {
        memcpy(buf + 56, r->trace.tracestate.p, r->trace.tracestate.n);
        buf[56 + r->trace.tracestate.n] = 0;
        out[1] = (km_http_kv){ "tracestate", buf + 56 };
        return 2;
    }
    return 1;
}

/* ---- per-request timeout ---- */

typedef struct { km_http_req *r; km_http_resp *w; km_http_next *next; } call;

static void run_rest(void *arg)
{
    call *c = arg;
    km_http_next_call(c->next, c->r, c->w);
}

void km_http_mw_timeout(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    int64_t ns = ud ? *(const int64_t *)ud : 0;
    if (ns <= 0) {
        km_http_next_call(next, r, w);
        return;
    }
    /* One group per stream, under the stream's group (its connection's)
     * from its first request to its close and made new for each request:
     * no allocation, and no lock that all connections share, per request. */
    km__stream *st = r->st;
    if (!st->tgroup && !(st->tgroup = km__malloc(sizeof *st->tgroup))) {
        km_http_next_call(next, r, w);
        return;
    }
    km_group *g = st->tgroup;
    km_group *parent = km_group_current();
    /* Counted from the request's first byte, as its client counts. Exact,
     * unlike the server's own I/O deadlines: handlers read it and pass
     * what is left on to the services they call. */
    int64_t deadline = km_http_req_start(r) + ns;
    if (st->tgroup_linked && g->parent == parent) {
        km__group_rearm(g, deadline);
    } else {
        km__timeout_close(st);
        km__group_init(g, parent, deadline);
        st->tgroup_linked = true;
    }
    call c = { r, w, next };
    int rc = km__group_run(g, run_rest, &c);
    /* Whether the time ran out matters only while a 503 can still be sent. */
    if (!rc && !w->head_sent && km_group_err(g)) {
        static const char msg[] = "request timed out\n";
        km_http_send(w, 503, "text/plain; charset=utf-8", msg, sizeof msg - 1);
    }
    /* Goroutines the handler started stay in g: wait for them before
     * reusing it (they see the same deadline). Most handlers start none
     * and make no group under g; then there is nothing to cancel. A child
     * group the handler never freed still points at g: leave g to it. */
    if (atomic_load(&g->nmembers) || g->children) {
        km_group_cancel(g);
        km_group_wait(g, KM_FOREVER);
        if (g->children) {
            st->tgroup = NULL;
            st->tgroup_linked = false;
        }
    }
}

void km__timeout_close(km__stream *st)
{
    if (st->tgroup_linked) {
        km__group_fini(st->tgroup);     /* idle: it cannot fail */
        st->tgroup_linked = false;
    }
}
