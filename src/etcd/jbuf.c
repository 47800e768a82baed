/* SPDX-License-Identifier: MIT */
/* A growing JSON output buffer with the appends the etcd encoders need. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "etcd/etcd-int.h"
#include "enc/b64.h"
#include "rt/rt-int.h"

void km__jbuf_free(km__jbuf *b)
{
    km__free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->err = 0;
}

int km__jbuf_reserve(km__jbuf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (b->cap - b->n >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
        if (cap > SIZE_MAX / 2) {
            b->err = -ENOMEM;
            return b->err;
        }
        cap *= 2;
    }
    /* no realloc hook in the allocator: copy by hand */
    char *p = km__malloc(cap);
    if (!p) {
        b->err = -ENOMEM;
        return b->err;
    }
    if (b->n)
        memcpy(p, b->p, b->n);
    km__free(b->p);
    b->p = p;
    b->cap = cap;
    return 0;
}

void km__jbuf_put(km__jbuf *b, const void *p, size_t n)
{
    if (km__jbuf_reserve(b, n) == 0 && n) {
        memcpy(b->p + b->n, p, n);
        b->n += n;
    }
}

void km__jbuf_puts(km__jbuf *b, const char *s) { km__jbuf_put(b, s, strlen(s)); }

void km__jbuf_putc(km__jbuf *b, char c)
{
    if (km__jbuf_reserve(b, 1) == 0)
        b->p[b->n++] = c;
}

void km__jbuf_sep(km__jbuf *b)
{
    if (b->n && b->p[b->n - 1] != '{' && b->p[b->n - 1] != '[')
        km__jbuf_putc(b, ',');
}

void km__jbuf_key(km__jbuf *b, const char *name)
{
    size_t n = strlen(name);
    if (km__jbuf_reserve(b, n + 4))
        return;
    km__jbuf_sep(b);
    b->p[b->n++] = '"';
    memcpy(b->p + b->n, name, n);
    b->n += n;
    b->p[b->n++] = '"';
    b->p[b->n++] = ':';
}

/* Digits of v right-aligned in d[0..20), returns the first. */
static char *digits(char d[21], uint64_t v)
{
    char *q = d + 20;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return q;
}

static void num(km__jbuf *b, bool neg, uint64_t mag, bool quoted)
{
    char d[21];
    char *q = digits(d, mag);
    size_t n = (size_t)(d + 20 - q);
    if (km__jbuf_reserve(b, n + 3))
        return;
    if (quoted)
        b->p[b->n++] = '"';
    if (neg)
        b->p[b->n++] = '-';
    memcpy(b->p + b->n, q, n);
    b->n += n;
    if (quoted)
        b->p[b->n++] = '"';
}

void km__jbuf_i64(km__jbuf *b, int64_t v)
{
    num(b, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, true);
}

void km__jbuf_u64(km__jbuf *b, uint64_t v) { num(b, false, v, true); }

void km__jbuf_int(km__jbuf *b, long v)
{
    num(b, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, false);
}

void km__jbuf_b64(km__jbuf *b, const uint8_t *p, size_t n)
{
    size_t e = km__b64_enc_len(n);
    if (km__jbuf_reserve(b, e + 2))
        return;
    b->p[b->n++] = '"';
    b->n += km__b64_encode(b->p + b->n, p, n);
    b->p[b->n++] = '"';
}

void km__jbuf_str(km__jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* worst case: every byte as \u00XX */
    if (n > (SIZE_MAX - 2) / 6 || km__jbuf_reserve(b, n * 6 + 2))
        return;
    char *o = b->p + b->n;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '<': case '>': case '&':
            goto u;
        default:
            if (c < 0x20)
                goto u;
            *o++ = (char)c;
            break;
        u:
            memcpy(o, "\\u00", 4);
            o += 4;
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
}
