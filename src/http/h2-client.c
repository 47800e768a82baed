/* SPDX-License-Identifier: MIT */
/* HTTP/2 client streams: request headers checked and laid out as HTTP/2 wants them, response head, body, trailers. */
#include <string.h>
#include <strings.h>
#include "h2-client-int.h"
#include "rt/alloc.h"

#define MAX_SEND_HEADERS (64 << 10)     /* nghttp2's own limit for one header block */

/* Fields that describe an HTTP/1.1 connection, which HTTP/2 forbids
 * (RFC 9113 8.2.2). */
static bool conn_specific(const char *name)
{
    static const char *const bad[] = { "connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!strcasecmp(name, bad[i]))
            return true;
    return false;
}

static nghttp2_nv nv_of(const char *name, size_t nl, const char *value)
{
    return (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, nl, strlen(value),
                         NGHTTP2_NV_FLAG_NONE };
}

/* Lays out hdrs as nv: the four request pseudo-headers first, then the
 * fields with their names lower-cased into low (which has room for all of
 * them). 0, -EINVAL, -EMSGSIZE. */
static int layout(km_http2_client *c, const km_http_kv *h, size_t n, nghttp2_nv *nv,
                  size_t *nnv, char *low)
{
    const char *pseudo[4] = { NULL, NULL, NULL, NULL };     /* method scheme authority path */
    static const char *const pname[4] = { ":method", ":scheme", ":authority", ":path" };
    size_t k = 4, size = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = h[i].name, *value = h[i].value;
        if (!name || !value || !*name)
            return -EINVAL;
        size_t nl = strlen(name), vl = strlen(value);
        size += nl + vl + 32;
        if (name[0] == ':') {
            int j = 0;
            while (j < 4 && strcmp(name, pname[j]))
                j++;
            if (j == 4 || pseudo[j])
                return -EINVAL;             /* unknown or repeated */
            pseudo[j] = value;
            continue;
        }
        if (conn_specific(name) || (!strcasecmp(name, "te") && strcmp(value, "trailers")))
            return -EINVAL;
        for (size_t b = 0; b < nl; b++)
            low[b] = (char)(name[b] >= 'A' && name[b] <= 'Z' ? name[b] + 32 : name[b]);
        if (!nghttp2_check_header_name((const uint8_t *)low, nl) ||
            !nghttp2_check_header_value_rfc9113((const uint8_t *)value, vl))
            return -EINVAL;
        nv[k++] = nv_of(low, nl, value);
        low += nl;
    }
    if (!pseudo[1]) pseudo[1] = c->scheme;
    if (!pseudo[2]) pseudo[2] = c->authority;
    if (!pseudo[0] || !pseudo[3] || !*pseudo[3] ||
        !nghttp2_check_method((const uint8_t *)pseudo[0], strlen(pseudo[0])) ||
        !nghttp2_check_path((const uint8_t *)pseudo[3], strlen(pseudo[3])) ||
        !nghttp2_check_authority((const uint8_t *)pseudo[2], strlen(pseudo[2])))
        return -EINVAL;
    for (int j = 0; j < 4; j++)
        nv[j] = nv_of(pname[j], strlen(pname[j]), pseudo[j]);
    if (size > MAX_SEND_HEADERS)
        return -EMSGSIZE;
    *nnv = k;
    return 0;
}

int km_http2_stream_open(km_http2_client *c, const km_http_kv *hdrs, size_t n, bool end,
                         int64_t deadline, km_http2_stream **out)
{
    if (!c || !out || (n && !hdrs))
        return -EINVAL;
    /* Small requests (every gRPC call) lay out on the stack. */
    nghttp2_nv nv_stack[24];
    char low_stack[1024];
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        names += hdrs[i].name ? strlen(hdrs[i].name) : 0;
    nghttp2_nv *nv = nv_stack;
    char *low = low_stack;
    void *heap = NULL;
    if (n + 4 > sizeof nv_stack / sizeof *nv_stack || names > sizeof low_stack) {
        heap = km__malloc((n + 4) * sizeof *nv + names);
        if (!heap)
            return -ENOMEM;
        nv = heap;
        low = (char *)(nv + n + 4);
    }
    size_t nnv;
    int rc = layout(c, hdrs, n, nv, &nnv, low);
    km__h2_stream *core = NULL;
    if (!rc)
        rc = km__h2_pool_open(c, nv, nnv, end, deadline, &core);
    km__free(heap);
    if (rc)
        return rc;
    *out = (km_http2_stream *)core;
    return 0;
}

int km_http2_stream_write(km_http2_stream *st, const void *p, size_t n, bool end,
                          int64_t deadline)
{
    if (!st || (n && !p))
        return -EINVAL;
    return km__h2_write(&st->core, p, n, end, deadline);
}

int km_http2_stream_response(km_http2_stream *st, int64_t deadline, int *status)
{
    if (!st)
        return -EINVAL;
    int rc = km__h2_wait_head(&st->core, deadline);
    if (rc)
        return rc;
    if (!st->status) {
        /* nghttp2 has checked that it is there and three digits. */
        km_str s = km__h2_hblock_get(&st->core.head, ":status");
        if (s.n != 3)
            return -EPROTO;
        st->status = (s.p[0] - '0') * 100 + (s.p[1] - '0') * 10 + (s.p[2] - '0');
    }
    if (status)
        *status = st->status;
    return 0;
}

/* The head block once complete (or the trailers), read under the lock:
 * the reader goroutine writes them until then. */
static const km__h2_hblock *block(km_http2_stream *st, bool trailers)
{
    km__h2_stream *s = &st->core;
    km__h2_lock(s->c);
    bool done = trailers ? s->trail_done : s->head_done;
    km__h2_unlock(s->c);
    return done ? (trailers ? &s->trail : &s->head) : NULL;
}

km_str km_http2_stream_header(km_http2_stream *st, const char *name)
{
    const km__h2_hblock *b = st && name ? block(st, false) : NULL;
    return b ? km__h2_hblock_get(b, name) : (km_str){ NULL, 0 };
}

size_t km_http2_stream_header_count(km_http2_stream *st)
{
    const km__h2_hblock *b = st ? block(st, false) : NULL;
    return b ? b->n : 0;
}

int km_http2_stream_header_at(km_http2_stream *st, size_t i, km_str *name, km_str *value)
{
    const km__h2_hblock *b = st ? block(st, false) : NULL;
    return b ? km__h2_hblock_at(b, i, name, value) : -ERANGE;
}

ssize_t km_http2_stream_read(km_http2_stream *st, void *buf, size_t n, int64_t deadline)
{
    if (!st || !buf || !n)
        return -EINVAL;
    return km__h2_read(&st->core, buf, n, deadline);
}

km_str km_http2_stream_trailer(km_http2_stream *st, const char *name)
{
    const km__h2_hblock *b = st && name ? block(st, true) : NULL;
    return b ? km__h2_hblock_get(b, name) : (km_str){ NULL, 0 };
}

size_t km_http2_stream_trailer_count(km_http2_stream *st)
{
    const km__h2_hblock *b = st ? block(st, true) : NULL;
    return b ? b->n : 0;
}

int km_http2_stream_trailer_at(km_http2_stream *st, size_t i, km_str *name, km_str *value)
{
    const km__h2_hblock *b = st ? block(st, true) : NULL;
    return b ? km__h2_hblock_at(b, i, name, value) : -ERANGE;
}

void km_http2_stream_cancel(km_http2_stream *st)
{
    if (st)
        km__h2_reset(&st->core, NGHTTP2_CANCEL, -ECANCELED);
}

uint32_t km_http2_stream_reset_code(km_http2_stream *st)
{
    if (!st)
        return 0;
    km__h2_lock(st->core.c);
    uint32_t code = st->core.rst_code;
    km__h2_unlock(st->core.c);
    return code;
}

void km_http2_stream_free(km_http2_stream *st)
{
    if (st)
        km__h2_stream_release(&st->core);
}
