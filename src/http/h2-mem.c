/* SPDX-License-Identifier: MIT */
/* nghttp2's memory through kumo's allocator hook, so a leak or an injected allocation failure there is seen too. */
#include <string.h>
#include "h2-int.h"
#include "rt/alloc.h"

/* The hook may have no realloc, so each block keeps its size in front of
 * it; 16 bytes keep the alignment malloc gives. */
#define HDR 16

static void *h2_malloc(size_t n, void *ud)
{
    (void)ud;
    if (n > SIZE_MAX - HDR)
        return NULL;
    char *p = km__malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    return p + HDR;
}

static void h2_free(void *p, void *ud)
{
    (void)ud;
    if (p)
        km__free((char *)p - HDR);
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
    void *q = h2_malloc(n, ud);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    h2_free(p, ud);
    return q;
}

nghttp2_mem km__h2_mem = { NULL, h2_malloc, h2_free, h2_calloc, h2_realloc };
