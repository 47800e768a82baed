/* SPDX-License-Identifier: MIT */
/* The byte FIFOs that hold a stream's unread input and unsent output, and received header blocks. */
#include <string.h>
#include <strings.h>
#include "h2-int.h"
#include "rt/alloc.h"

#define RING_MIN   1024
/* A drained buffer bigger than this is given back: an idle stream that
 * once received a large message should not keep its buffer. */
#define RING_KEEP  65536

static int ring_grow(km__h2_ring *r, size_t need, size_t max)
{
    size_t nc = r->cap ? r->cap : RING_MIN;
    while (nc < need)
        nc *= 2;
    if (nc > max)
        nc = max;
    char *np = km__malloc(nc);
    if (!np)
        return -ENOMEM;
    size_t first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
    if (r->len) {
        memcpy(np, r->p + r->head, first);
        memcpy(np + first, r->p, r->len - first);
    }
    km__free(r->p);
    r->p = np;
    r->cap = nc;
    r->head = 0;
    return 0;
}

int km__h2_ring_put(km__h2_ring *r, const void *src, size_t n, size_t max)
{
    if (!n)
        return 0;
    if (n > max || r->len > max - n)
        return -ENOBUFS;
    if (r->len + n > r->cap) {
        int rc = ring_grow(r, r->len + n, max);
        if (rc)
            return rc;
    }
    size_t tail = r->head + r->len;
    if (tail >= r->cap)
        tail -= r->cap;
    size_t first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->p + tail, src, first);
    memcpy(r->p, (const char *)src + first, n - first);
    r->len += n;
    return 0;
}

size_t km__h2_ring_get(km__h2_ring *r, void *dst, size_t n)
{
    if (n > r->len)
        n = r->len;
    if (!n)
        return 0;
    size_t first = r->cap - r->head < n ? r->cap - r->head : n;
    memcpy(dst, r->p + r->head, first);
    memcpy((char *)dst + first, r->p, n - first);
    r->head += n;
    if (r->head >= r->cap)
        r->head -= r->cap;
    r->len -= n;
    if (!r->len) {
        r->head = 0;
        if (r->cap > RING_KEEP)
            km__h2_ring_free(r);
    }
    return n;
}

void km__h2_ring_free(km__h2_ring *r)
{
    km__free(r->p);
    *r = (km__h2_ring){ 0 };
}

/* Makes room for need more bytes of names and values and one more field. */
static int hblock_room(km__h2_hblock *b, size_t need)
{
    if (b->len + need > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + need)
            nc *= 2;
        char *nb = km__malloc(nc);
        if (!nb)
            return -ENOMEM;
        if (b->len)
            memcpy(nb, b->buf, b->len);
        km__free(b->buf);
        b->buf = nb;
        b->cap = nc;
    }
    if (b->n == b->fcap) {
        size_t nc = b->fcap ? b->fcap * 2 : 8;
        km__h2_field *nf = km__malloc(nc * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        if (b->n)
            memcpy(nf, b->f, b->n * sizeof *nf);
        km__free(b->f);
        b->f = nf;
        b->fcap = nc;
    }
    return 0;
}

int km__h2_hblock_add(km__h2_hblock *b, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, size_t max)
{
    /* RFC 9113 6.5.2 counts 32 bytes of overhead per field. */
    size_t add = nl + vl + 32;
    if (add > max || b->size > max - add)
        return -EMSGSIZE;
    int rc = hblock_room(b, nl + vl);
    if (rc)
        return rc;
    km__h2_field *f = &b->f[b->n++];
    f->no = (uint32_t)b->len;
    f->nl = (uint32_t)nl;
    memcpy(b->buf + b->len, name, nl);
    b->len += nl;
    f->vo = (uint32_t)b->len;
    f->vl = (uint32_t)vl;
    memcpy(b->buf + b->len, value, vl);
    b->len += vl;
    b->size += add;
    return 0;
}

km_str km__h2_hblock_get(const km__h2_hblock *b, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < b->n; i++) {
        const km__h2_field *f = &b->f[i];
        if (f->nl == n && !strncasecmp(b->buf + f->no, name, n))
            return (km_str){ b->buf + f->vo, f->vl };
    }
    return (km_str){ NULL, 0 };
}

int km__h2_hblock_at(const km__h2_hblock *b, size_t i, km_str *name, km_str *value)
{
    if (i >= b->n)
        return -ERANGE;
    const km__h2_field *f = &b->f[i];
    if (name)
        *name = (km_str){ b->buf + f->no, f->nl };
    if (value)
        *value = (km_str){ b->buf + f->vo, f->vl };
    return 0;
}

void km__h2_hblock_reset(km__h2_hblock *b)
{
    b->len = b->n = b->size = 0;
}

void km__h2_hblock_free(km__h2_hblock *b)
{
    km__free(b->buf);
    km__free(b->f);
    *b = (km__h2_hblock){ 0 };
}
