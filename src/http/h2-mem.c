/* SPDX-License-Identifier: MIT */
/* nghttp2's memory through kumo's allocator hook, so a leak or an injected allocation failure there is seen too;
 * small blocks are kept per connection for reuse. */
#include <string.h>
#include "h2-int.h"
#include "rt/alloc.h"

/* The hook may have no realloc, so each block keeps its size in front of
 * it; 16 bytes keep the alignment malloc gives. */
#define HDR 16

/* nghttp2 makes and frees a handful of small blocks per stream and frame
 * (stream state, queued frames, header buffers); a busy connection's
 * blocks come and go in bursts larger than malloc's per-thread caches.
 * Freed blocks of up to 512 bytes go to lists per size class instead, up
 * to KEEP_BYTES per connection. Every nghttp2 call of a connection runs
 * under its lock (or before it is shared, or as it is destroyed), so the
 * lists need none of their own. */
#define KEEP_BYTES (256 << 10)

static int class_of(size_t n)
{
    return n <= 64 ? 0 : n <= 128 ? 1 : n <= 256 ? 2 : n <= 512 ? 3 : -1;
}

static void *h2_malloc(size_t n, void *ud)
{
    km__h2_memcache *mc = ud;
    int k = mc ? class_of(n) : -1;
    char *p;
    if (k >= 0 && mc->free[k]) {
        p = mc->free[k];
        memcpy(&mc->free[k], p + HDR, sizeof(void *));
        mc->bytes -= (size_t)64 << k;
    } else {
        if (n > SIZE_MAX - HDR)
            return NULL;
        p = km__malloc((k >= 0 ? (size_t)64 << k : n) + HDR);
        if (!p)
            return NULL;
    }
    memcpy(p, &n, sizeof n);
    return p + HDR;
}

static void h2_free(void *p, void *ud)
{
    km__h2_memcache *mc = ud;
    if (!p)
        return;
    char *b = (char *)p - HDR;
    size_t n;
    memcpy(&n, b, sizeof n);
    int k = mc ? class_of(n) : -1;
    if (k >= 0 && mc->bytes + ((size_t)64 << k) <= KEEP_BYTES) {
        memcpy(p, &mc->free[k], sizeof(void *));
        mc->free[k] = b;
        mc->bytes += (size_t)64 << k;
        return;
    }
    km__free(b);
}

void km__h2_mem_init(nghttp2_mem *m, km__h2_memcache *mc)
{
    *m = (nghttp2_mem){ mc, h2_malloc, h2_free, NULL, NULL };
    m->calloc = km__h2_mem.calloc;
    m->realloc = km__h2_mem.realloc;
    *mc = (km__h2_memcache){ 0 };
}

void km__h2_mem_drop(km__h2_memcache *mc)
{
    for (int k = 0; k < KM__H2_MEM_CLASSES; k++)
        while (mc->free[k]) {
            char *b = mc->free[k];
            memcpy(&mc->free[k], b + HDR, sizeof(void *));
            km__free(b);
        }
    mc->bytes = 0;
}

static void *h2_calloc(size_t nmemb, size_t size, void *ud)
{
    if (size && nmemb > SIZE_MAX / size)
        return NULL;
    void *p = h2_malloc(nmemb * size, ud);
    if (p)
        memset(p, 0, nmemb * size);
    return p;
}

static void *h2_realloc(void *p, size_t n, void *ud)
{
    if (!p)
        return h2_malloc(n, ud);
    if (!n) {
        h2_free(p, ud);
        return NULL;
    }
    size_t old;
    memcpy(&old, (char *)p - HDR, sizeof old);
    void *q = KM__FAULT(KM__F_REALLOC) ? NULL : h2_malloc(n, ud);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    h2_free(p, ud);
    return q;
}

nghttp2_mem km__h2_mem = { NULL, h2_malloc, h2_free, h2_calloc, h2_realloc };
