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
static km__g   *free_list;       /* linked by schedlink */
static km__g  **chunks;
static size_t   nchunks, capchunks;

static bool new_chunk(void)
{
    size_t len = PER_CHUNK * sizeof(km__g);
    km__g *c = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
        return false;
    if (nchunks == capchunks) {
        size_t nc = capchunks ? capchunks * 2 : 16;
        km__g **n = realloc(chunks, nc * sizeof *n);    /* process lifetime */
        if (!n) {
            munmap(c, len);
            return false;
        }
        chunks = n;
        capchunks = nc;
    }
    chunks[nchunks++] = c;
    for (int i = PER_CHUNK - 1; i >= 0; i--) {
        c[i].schedlink = free_list;
        free_list = &c[i];
    }
    return true;
}

km__g *km__g_alloc(km__p *p)
{
    km__g *g = NULL;
    if (p && p->ngcache) {
        g = p->gcache[--p->ngcache];
    } else {
        km__lock_acquire(&lock);
        if (free_list || new_chunk()) {
            g = free_list;
            free_list = g->schedlink;
            /* refill half the cache while we hold the lock */
            while (p && p->ngcache < KM__GCACHE / 2 && (free_list || new_chunk())) {
                p->gcache[p->ngcache++] = free_list;
                free_list = free_list->schedlink;
            }
        }
        km__lock_release(&lock);
        if (!g)
            return NULL;
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
    km__lock_acquire(&lock);
    g->schedlink = free_list;
    free_list = g;
    while (p && p->ngcache > KM__GCACHE / 2) {
        km__g *x = p->gcache[--p->ngcache];
        x->schedlink = free_list;
        free_list = x;
    }
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
