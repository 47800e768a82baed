/* SPDX-License-Identifier: MIT */
/* The server's methods by path: registered one by one or a whole protobuf-c service at a time, found by hash. */
#include <stdio.h>
#include <string.h>
#include <protobuf-c/protobuf-c.h>
#include "grpc/grpc-int.h"
#include "rt/alloc.h"

int km_grpc_server_new(km_grpc_server **out, const km_grpc_server_config *cfg)
{
    if (!out)
        return -EINVAL;
    km_grpc_server *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    if (cfg)
        s->cfg = *cfg;
    if (!s->cfg.max_recv_msg)
        s->cfg.max_recv_msg = KM__GRPC_DEFAULT_MAX_RECV;
    if (!s->cfg.max_send_msg || s->cfg.max_send_msg > UINT32_MAX)
        s->cfg.max_send_msg = UINT32_MAX;
    *out = s;
    return 0;
}

void km_grpc_server_free(km_grpc_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        km__free(s->m[i].path);
    km__free(s->m);
    km__free(s->slots);
    km__free(s);
}

void km_grpc_server_fallback(km_grpc_server *s, km_http_handler *h, void *ud)
{
    if (s) {
        s->fallback = h;
        s->fallback_ud = ud;
    }
}

/* FNV-1a: paths are short, and a few dozen methods is a large server. */
static uint32_t hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static void place(uint32_t *slots, size_t nslots, const km__grpc_method *m, uint32_t idx)
{
    size_t i = hash(m->path, m->len) & (nslots - 1);
    while (slots[i])
        i = (i + 1) & (nslots - 1);
    slots[i] = idx + 1;
}

const km__grpc_method *km__grpc_lookup(const km_grpc_server *s, const char *path, size_t n)
{
    if (!s->nslots)
        return NULL;
    size_t i = hash(path, n) & (s->nslots - 1);
    for (uint32_t k; (k = s->slots[i]); i = (i + 1) & (s->nslots - 1)) {
        const km__grpc_method *m = &s->m[k - 1];
        if (m->len == n && !memcmp(m->path, path, n))
            return m;
    }
    return NULL;
}

bool km__grpc_has_service(const km_grpc_server *s, const char *path, size_t n)
{
    const char *slash = n > 1 ? memchr(path + 1, '/', n - 1) : NULL;
    size_t svc = slash ? (size_t)(slash - path) : n;
    for (size_t i = 0; i < s->n; i++)
        if (s->m[i].svc_len == svc && !memcmp(s->m[i].path, path, svc))
            return true;
    return false;
}

/* "/a.B/C": a slash, a service name, a slash, a method name; visible
 * ASCII. Returns the service part's length, or 0. */
static size_t check_path(const char *p, size_t n)
{
    if (n < 4 || p[0] != '/')
        return 0;
    const char *slash = memchr(p + 1, '/', n - 1);
    if (!slash || slash == p + 1 || slash == p + n - 1 || memchr(slash + 1, '/', (size_t)(p + n - slash - 1)))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= ' ' || p[i] > '~')
            return 0;
    return (size_t)(slash - p);
}

/* Adds one method (path: n bytes, copied). */
static int add(km_grpc_server *s, const char *path, size_t n, km_grpc_kind kind,
               km_grpc_handler *h, void *ud, const ProtobufCMessageDescriptor *in)
{
    size_t svc = check_path(path, n);
    if (!svc || !h || kind < KM_GRPC_UNARY || kind > KM_GRPC_BIDI_STREAMING)
        return -EINVAL;
    if (km__grpc_lookup(s, path, n))
        return -EEXIST;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        km__grpc_method *m = km__malloc(cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        if (s->n)
            memcpy(m, s->m, s->n * sizeof *m);
        km__free(s->m);
        s->m = m;
        s->cap = cap;
    }
    /* Slots stay under half full. */
    if ((s->n + 1) * 2 > s->nslots) {
        size_t ns = s->nslots ? s->nslots * 2 : 16;
        uint32_t *slots = km__calloc(ns, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t i = 0; i < s->n; i++)
            place(slots, ns, &s->m[i], (uint32_t)i);
        km__free(s->slots);
        s->slots = slots;
        s->nslots = ns;
    }
    char *copy = km__malloc(n + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, path, n);
    copy[n] = 0;
    s->m[s->n] = (km__grpc_method){ copy, n, svc, kind, h, ud, in };
    place(s->slots, s->nslots, &s->m[s->n], (uint32_t)s->n);
    s->n++;
    return 0;
}

int km_grpc_register(km_grpc_server *s, const char *path, km_grpc_kind kind,
                     km_grpc_handler *h, void *ud)
{
    if (!s || !path)
        return -EINVAL;
    return add(s, path, strlen(path), kind, h, ud, NULL);
}

int km_grpc_register_service(km_grpc_server *s, const ProtobufCServiceDescriptor *sd,
                             const km_grpc_method *methods, size_t n, void *ud)
{
    if (!s || !sd || !sd->name || (n && !methods))
        return -EINVAL;
    /* Everything is checked before anything is added. */
    const ProtobufCMethodDescriptor *md[n ? n : 1];
    for (size_t i = 0; i < n; i++) {
        md[i] = NULL;
        for (unsigned j = 0; methods[i].name && j < sd->n_methods; j++)
            if (!strcmp(sd->methods[j].name, methods[i].name))
                md[i] = &sd->methods[j];
        if (!md[i])
            return -ENOENT;
    }
    size_t first = s->n;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        char path[512];
        int len = snprintf(path, sizeof path, "/%s/%s", sd->name, md[i]->name);
        rc = len < 0 || (size_t)len >= sizeof path
            ? -EINVAL
            : add(s, path, (size_t)len, methods[i].kind, methods[i].handler, ud, md[i]->input);
    }
    if (rc) {
        /* Take back what this call added: all of the service, or none. */
        while (s->n > first)
            km__free(s->m[--s->n].path);
        if (s->slots)       /* none yet if the first allocation failed */
            memset(s->slots, 0, s->nslots * sizeof *s->slots);
        for (size_t i = 0; i < s->n; i++)
            place(s->slots, s->nslots, &s->m[i], (uint32_t)i);
    }
    return rc;
}
