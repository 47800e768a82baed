/* SPDX-License-Identifier: MIT */
/* Goroutine structs: carved from large mappings, cached per worker. */
#include "sched-int.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Why not malloc: the goroutine dump must find every goroutine without a
 * registry on the spawn path. Carving G structs from chunks gives that
 * (walk the chunks) for free, and a per-worker cache makes spawn and exit
 * lock-free in the common case. */
#define PER_CHUNK 1024

static km__lock lock;
/* Free G structs as a chain of batches linked by schedlink; each batch's
 * first G holds the batch's last G and length (gq_last, gq_n, unused while
 * a G is free), so batches move in and out in O(1) under the lock and the
 * walking happens outside it. */
static km__g   *free_list;
static km__g  **chunks;
static size_t   nchunks, capchunks;

/* Links the n Gs of v into one batch and returns its first. */
static km__g *batch_of(km__g **v, int n)
{
    for (int i = 0; i + 1 < n; i++)
        v[i]->schedlink = v[i + 1];
    v[0]->gq_last = v[n - 1];
    v[0]->gq_n = n;
    return v[0];
}

static void push_locked(km__g *b)
{
    b->gq_last->schedlink = free_list;
    free_list = b;
}

static km__g *pop_locked(void)
{
    km__g *b = free_list;
    if (b)
        free_list = b->gq_last->schedlink;
    return b;
}

/* Maps a chunk and links it into batches outside the lock (the first touch
 * of its pages faults them in); only the hand-over takes the lock. */
static bool new_chunk(void)
{
    enum { B = KM__GCACHE / 2 };
    size_t len = PER_CHUNK * sizeof(km__g);
    km__g *c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        return false;
    km__g *heads[PER_CHUNK / B], *v[B];
    int nb = 0;
    for (int i = 0; i < PER_CHUNK; i += B) {
        for (int j = 0; j < B; j++)
            v[j] = &c[i + j];
        heads[nb++] = batch_of(v, B);
    }
    km__lock_acquire(&lock);
    if (nchunks == capchunks) {
        size_t nc = capchunks ? capchunks * 2 : 16;
        km__g **n = realloc(chunks, nc * sizeof *n);    /* process lifetime */
        if (!n) {
            km__lock_release(&lock);
            munmap(c, len);
            return false;
        }
        chunks = n;
        capchunks = nc;
    }
    chunks[nchunks++] = c;
    for (int i = nb - 1; i >= 0; i--)
        push_locked(heads[i]);
    km__lock_release(&lock);
    return true;
}

km__g *km__g_alloc(km__p *p)
{
    km__g *g;
    if (p && p->ngcache) {
        g = p->gcache[--p->ngcache];
    } else {
        km__lock_acquire(&lock);
        km__g *b = pop_locked();
        km__lock_release(&lock);
        if (!b) {
            if (!new_chunk())
                return NULL;
            km__lock_acquire(&lock);
            b = pop_locked();
            km__lock_release(&lock);
            if (!b)
                return NULL;
        }
        /* Keep one; cache the rest of the batch, or give it back whole. */
        g = b;
        km__g *x = b->schedlink;
        if (b->gq_n > 1 && !p) {
            x->gq_last = b->gq_last;
            x->gq_n = b->gq_n - 1;
            km__lock_acquire(&lock);
            push_locked(x);
            km__lock_release(&lock);
        } else {
            for (int i = 1; i < b->gq_n; i++, x = x->schedlink)
                p->gcache[p->ngcache++] = x;     /* the cache was empty */
        }
    }
    memset(g, 0, sizeof *g);
    g->timer.idx = -1;
    return g;
}

void km__g_release(km__p *p, km__g *g)
{
    atomic_store_explicit(&g->state, KM__G_FREE, memory_order_relaxed);
    if (p && p->ngcache < KM__GCACHE) {
        p->gcache[p->ngcache++] = g;
        return;
    }
    /* Full: hand half of the cache to the global list in one go, so a
     * worker that only runs (another only spawns) locks once per 32. */
    km__g *v[KM__GCACHE / 2 + 1];
    int n = 0;
    v[n++] = g;
    while (p && p->ngcache > KM__GCACHE / 2)
        v[n++] = p->gcache[--p->ngcache];
    km__g *b = batch_of(v, n);
    km__lock_acquire(&lock);
    push_locked(b);
    km__lock_release(&lock);
}

void km__g_drop_cache(km__p *p)
{
    while (p->ngcache)
        km__g_release(NULL, p->gcache[--p->ngcache]);
}

void km__g_each(void (*fn)(km__g *g, void *ud), void *ud)
{
    km__lock_acquire(&lock);
    for (size_t c = 0; c < nchunks; c++)
        for (size_t i = 0; i < PER_CHUNK; i++)
            fn(&chunks[c][i], ud);
    km__lock_release(&lock);
}
