/* SPDX-License-Identifier: MIT */
/* The record buffer: the caller's stack or the thread's buffer first, the
 * heap for large records. */
#include "log-int.h"
#include "rt/rt-int.h"

void km__lbuf_init(km__lbuf *b, char *stack, size_t cap)
{
    *b = (km__lbuf){ .p = stack, .cap = cap };
}

void km__lbuf_init_thread(km__lbuf *b)
{
    static _Thread_local char buf[KM__LOG_RECBUF];
    *b = (km__lbuf){ .p = buf, .cap = sizeof buf };
}

bool km__lbuf_grow(km__lbuf *b, size_t need)
{
    if (b->failed)
        return false;
    size_t cap = b->cap * 2;
    while (cap < b->n + need)
        cap *= 2;
    if (cap > KM__LOG_MAXREC) {
        b->failed = true;
        return false;
    }
    /* No realloc: the allocator hook may not have one, and the first move
     * is from the stack anyway. */
    char *p = km__malloc(cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    memcpy(p, b->p, b->n);
    if (b->heap)
        km__free(b->p);
    b->p = p;
    b->cap = cap;
    b->heap = true;
    return true;
}

void km__lbuf_free(km__lbuf *b)
{
    if (b->heap)
        km__free(b->p);
    b->heap = false;
}
