/* SPDX-License-Identifier: MIT */
/* Goroutine stacks: carved from large mappings, cached, given back lazily. */
#include "sched-int.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef KM_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Layout of a slab of stack slots, low to high addresses:
 *   slot 0: never used | slot 1: [usable stack ...][zone] | slot 2: ... [zone]
 * Each slot ends with a 64-byte zone that its own goroutine never touches
 * and that stays zero: it is the canary of the slot above, whose stack
 * overflows into it first. Why no guard page: one PROT_NONE page per stack
 * is one memory mapping per goroutine, and Linux's default
 * vm.max_map_count (65,530) would cap a process near 32,000 goroutines.
 * Overflow is caught twice: at every switch the saved stack pointer must
 * lie inside the stack, and when a goroutine exits the zone below its stack
 * must still be zero (a deep call that overflowed and has since returned).
 * The zone sits in the top page of the neighbour, which is resident while
 * the neighbour runs or sleeps, so the exit check rarely touches a fresh
 * page. Slot 0 of each slab is given up so that slot 1 has a zone too.
 * KM_STACK_GUARD=1 gives every stack a real guard page instead (debug). */
#define ZONE        64
#define SLAB_SLOTS  64
#define KEEP_HOT    256         /* resident free stacks kept by the pool */

static size_t slot_size = 128 * 1024;
static bool   guard_mode;
static size_t page_size = 4096;

static km__lock pool_lock;
/* Default-size stacks promised to goroutines (running, or spawned and not
 * yet started) and the slots mapped for them: promised never passes
 * mapped, so spawning is where memory runs out, never a first run. */
static atomic_size_t promised, mapped;
static atomic_bool   starved;
/* Free stacks: hot ones still have their memory, cold ones gave it back.
 * Arrays, not lists threaded through the stacks, so the zones stay zero. */
static char   **hot, **cold;
static size_t   nhot_, ncold, cap, nslots;
static atomic_long nhot;

size_t km__stack_default(void) { return slot_size - ZONE; }

int km__stack_config(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    const char *s = getenv("KM_STACK_SIZE");
    if (s && *s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == 'k' || *end == 'K') { v <<= 10; end++; }
        else if (*end == 'm' || *end == 'M') { v <<= 20; end++; }
        if (*end || v < 16384 || v > (1ull << 30))
            return -EINVAL;
        size_t sz = ((size_t)v + ZONE + page_size - 1) & ~(page_size - 1);
        if (sz != slot_size && nslots)
            return -EINVAL;   /* slabs already carved at another size */
        slot_size = sz;
    }
    const char *gm = getenv("KM_STACK_GUARD");
    guard_mode = gm && *gm == '1';
    return 0;
}

static bool new_slab(void)
{
    size_t len = slot_size * SLAB_SLOTS;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    /* Both arrays can hold every slot ever carved, so putting a stack back
     * never fails. libc, not the hook: they live as long as the process. */
    if (nslots + SLAB_SLOTS > cap) {
        size_t nc = cap ? cap * 2 : 1024;
        while (nc < nslots + SLAB_SLOTS) nc *= 2;
        char **nh = realloc(hot, nc * sizeof *nh);
        if (nh) hot = nh;
        char **ncd = nh ? realloc(cold, nc * sizeof *ncd) : NULL;
        if (!ncd) { munmap(m, len); return false; }
        cold = ncd; cap = nc;
    }
    nslots += SLAB_SLOTS;
    for (int i = SLAB_SLOTS - 1; i >= 1; i--)
        cold[ncold++] = m + (size_t)i * slot_size;
    atomic_fetch_add(&mapped, SLAB_SLOTS - 1);
    return true;
}

static int solo_attach(km__g *g, size_t size)
{
    size_t guard = guard_mode ? page_size : 0;
    size_t body = (size + page_size - 1) & ~(page_size - 1);
    size_t len = guard + body;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    if (guard && mprotect(m, guard, PROT_NONE)) {
        munmap(m, len);
        return -ENOMEM;
    }
    g->flags |= KM__G_SOLO;
    g->map_lo = m;
    g->map_size = len;
    g->stack_lo = m + guard + ZONE;     /* its own zone, below the stack */
    g->stack_size = body - ZONE;
    return 0;
}

static bool pooled(const km__g *g)
{
    return !guard_mode && (!g->stack_want || g->stack_want == km__stack_default());
}

int km__stack_reserve(km__g *g)
{
    if (KM__FAULT(KM__F_STACK))
        return -ENOMEM;
    if (!pooled(g))
        return solo_attach(g, g->stack_want ? g->stack_want : km__stack_default());
    size_t n = atomic_fetch_add(&promised, 1) + 1;
    if (KM__LIKELY(n <= atomic_load(&mapped)))
        return 0;
    km__lock_acquire(&pool_lock);
    bool ok = n <= atomic_load(&mapped) || new_slab();
    km__lock_release(&pool_lock);
    if (!ok) {
        atomic_fetch_sub(&promised, 1);
        return -ENOMEM;
    }
    return 0;
}

bool km__stack_starved(void)
{
    return atomic_load_explicit(&starved, memory_order_relaxed);
}

int km__stack_attach(km__p *p, km__g *g)
{
    if (g->stack_lo)
        return 0;       /* mapped at spawn */
    char *lo = NULL;
    if (p && p->nscache)
        lo = p->scache[--p->nscache];
    if (!lo) {
        km__lock_acquire(&pool_lock);
        if (nhot_) {
            lo = hot[--nhot_];
            atomic_fetch_sub(&nhot, 1);
            /* take more warm stacks while the lock is held */
            while (p && nhot_ && p->nscache < KM__GCACHE / 2) {
                p->scache[p->nscache++] = hot[--nhot_];
                atomic_fetch_sub(&nhot, 1);
            }
        } else if (ncold || new_slab()) {
            /* A slab more than promised when the free slots sit in other
             * workers' caches: they come back to the pool as those go. */
            lo = cold[--ncold];
        }
        km__lock_release(&pool_lock);
        if (!lo) {
            atomic_store(&starved, true);
            return -ENOMEM;
        }
        if (km__stack_starved())
            atomic_store_explicit(&starved, false, memory_order_relaxed);
    }
    g->stack_lo = lo;
    g->stack_size = slot_size - ZONE;
    return 0;
}

/* A free pooled stack to p's cache, or the pool when it is full. */
static void put_back(km__p *p, char *lo)
{
    if (p && p->nscache < KM__GCACHE && !km__stack_starved()) {
        p->scache[p->nscache++] = lo;
        return;
    }
    /* Full: half of the cache goes back with it, under one lock. */
    km__lock_acquire(&pool_lock);
    hot[nhot_++] = lo;
    atomic_fetch_add(&nhot, 1);
    size_t keep = km__stack_starved() ? 0 : KM__GCACHE / 2;
    while (p && (size_t)p->nscache > keep) {
        hot[nhot_++] = p->scache[--p->nscache];
        atomic_fetch_add(&nhot, 1);
    }
    km__lock_release(&pool_lock);
}

void km__stack_detach(km__p *p, km__g *g)
{
    char *lo = g->stack_lo;
    g->stack_lo = NULL;
#ifdef KM_ASAN
    /* Frames of the exited goroutine never returned: clear their redzones
     * before the memory serves another goroutine. */
    ASAN_UNPOISON_MEMORY_REGION(lo, g->stack_size);
#endif
    if (g->flags & KM__G_SOLO) {
        g->flags &= ~KM__G_SOLO;
        munmap(g->map_lo, g->map_size);
        return;
    }
    put_back(p, lo);
    atomic_fetch_sub(&promised, 1);
}

void km__stack_drop_cache(km__p *p)
{
    while (p->nscache)
        put_back(NULL, p->scache[--p->nscache]);
}

void km__stack_scavenge(void)
{
    for (int budget = 1024; budget > 0 && atomic_load(&nhot) > KEEP_HOT; budget--) {
        km__lock_acquire(&pool_lock);
        if (!nhot_) {
            km__lock_release(&pool_lock);
            return;
        }
        /* the oldest first: the most recently freed are warm in cache */
        char *lo = hot[0];
        hot[0] = hot[--nhot_];
        atomic_fetch_sub(&nhot, 1);
        km__lock_release(&pool_lock);
        madvise(lo, slot_size, MADV_DONTNEED);
        km__lock_acquire(&pool_lock);
        cold[ncold++] = lo;
        km__lock_release(&pool_lock);
    }
}

void km__stack_check(km__g *g, bool exiting)
{
    bool bad = false;
#ifndef KM_CTX_UCONTEXT
    bad = (char *)g->ctx.sp < g->stack_lo || (char *)g->ctx.sp > g->stack_lo + g->stack_size;
#endif
    if (exiting && !bad && !guard_mode) {
        const uint64_t *z = (const uint64_t *)(g->stack_lo - ZONE);
        uint64_t any = 0;
        for (int i = 0; i < ZONE / 8; i++)
            any |= z[i];
        bad = any != 0;
    }
    if (KM__UNLIKELY(bad))
        km__fatal("goroutine %llu overflowed its %zu-byte stack "
                  "(raise KM_STACK_SIZE or km_go_opts.stack_size)",
                  (unsigned long long)g->id, g->stack_size);
}
