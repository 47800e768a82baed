/* SPDX-License-Identifier: MIT */
/* Arena blocks grow geometrically; large pieces get a block of their own. */
#include <string.h>
#include "rt/rt-int.h"
#include "store/arena.h"

typedef struct block {
    struct block *next;
    size_t        used, cap;
    _Alignas(16) unsigned char data[];
} block;

struct km__arena {
    block *head;
    size_t next_cap;
};

km__arena *km__arena_new(void)
{
    km__arena *a = km__calloc(1, sizeof *a);
    if (a)
        a->next_cap = 2048;
    return a;
}

void *(km__arena_alloc)(km__arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = a->next_cap;
        if (cap < 1 << 20)
            a->next_cap = cap * 2;
        if (n > cap)
            cap = n;
        b = km__malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->used = 0;
        b->cap = cap;
        /* A big one-off piece goes behind the current block, which keeps
         * serving small pieces. */
        if (a->head && n > a->head->cap - a->head->used && cap == n) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void *(km__arena_dup)(km__arena *a, const void *p, size_t n)
{
    void *d = (km__arena_alloc)(a, n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

void km__arena_free(km__arena *a)
{
    if (!a)
        return;
    for (block *b = a->head, *nx; b; b = nx) {
        nx = b->next;
        km__free(b);
    }
    km__free(a);
}
