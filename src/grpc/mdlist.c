/* SPDX-License-Identifier: MIT */
/* Metadata in and out of header fields: the application's view of a received block, and values made ready to send. */
#include <string.h>
#include "grpc/grpc-int.h"
#include "rt/alloc.h"

/* Calls fn for each value of a field: -bin fields may carry several,
 * comma-separated (base64 has no comma); ASCII fields one. */
typedef void each_fn(void *ctx, km_str key, km_str value, bool bin);

static void each_value(km_str key, km_str value, each_fn *fn, void *ctx)
{
    bool bin = km__grpc_md_key_bin(key.p, key.n);
    if (!bin) {
        fn(ctx, key, value, false);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i <= value.n; i++) {
        if (i == value.n || value.p[i] == ',') {
            km_str v = { value.p + start, i - start };
            /* "a, b": the space after a comma is the field's, not the value's */
            while (v.n && v.p[0] == ' ') { v.p++; v.n--; }
            while (v.n && v.p[v.n - 1] == ' ') v.n--;
            fn(ctx, key, v, true);
            start = i + 1;
        }
    }
}

typedef struct {
    size_t      n, bytes;       /* counting pass */
    km_grpc_md *md;             /* filling pass */
    char       *out;
    size_t      k;
} build_ctx;

static void count(void *arg, km_str key, km_str value, bool bin)
{
    build_ctx *b = arg;
    b->n++;
    if (bin)
        b->bytes += value.n * 3 / 4 + 2;
}

static void fill(void *arg, km_str key, km_str value, bool bin)
{
    build_ctx *b = arg;
    if (bin) {
        ssize_t d = km__grpc_b64_decode(b->out, value.p, value.n);
        if (d < 0)
            return;             /* not base64: left out, never fatal */
        value = (km_str){ b->out, (size_t)d };
        b->out += d;
    }
    b->md[b->k++] = (km_grpc_md){ key, value };
}

int km__grpc_mdlist_build(km__grpc_mdlist *l, km__grpc_field_at *at, void *src, size_t n)
{
    if (l->built)
        return 0;
    build_ctx b = { 0 };
    km_str name, value;
    for (size_t i = 0; i < n; i++)
        if (!at(src, i, &name, &value) && km__grpc_md_key_visible(name.p, name.n))
            each_value(name, value, count, &b);
    if (b.n) {
        /* One block: the entries, then the decoded bytes. */
        char *blk = km__malloc(b.n * sizeof *b.md + b.bytes);
        if (!blk)
            return -ENOMEM;
        b.md = (km_grpc_md *)blk;
        b.out = blk + b.n * sizeof *b.md;
        for (size_t i = 0; i < n; i++)
            if (!at(src, i, &name, &value) && km__grpc_md_key_visible(name.p, name.n))
                each_value(name, value, fill, &b);
    }
    l->md = b.md;
    l->n = b.k;
    l->built = true;
    return 0;
}

void km__grpc_mdlist_free(km__grpc_mdlist *l)
{
    km__free(l->md);
    *l = (km__grpc_mdlist){ 0 };
}

int km__grpc_md_field(const km_str key, const void *v, size_t n, char *buf, size_t cap,
                      char **out)
{
    if (!km__grpc_md_key_ok(key.p, key.n) || (n && !v))
        return -EINVAL;
    bool bin = km__grpc_md_key_bin(key.p, key.n);
    if (!bin && !km__grpc_md_value_ok(v, n))
        return -EINVAL;
    size_t need = (bin ? km__grpc_b64_len(n) : n) + 1;
    char *o = buf;
    if (need > cap && !(o = km__malloc(need)))
        return -ENOMEM;
    if (bin) {
        km__grpc_b64_encode(o, v, n);
    } else {
        if (n)
            memcpy(o, v, n);
        o[n] = 0;
    }
    *out = o;
    return 0;
}
