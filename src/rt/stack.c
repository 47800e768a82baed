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

/* Layout of one stack slot, low to high addresses:
 *   [canary zone, 64 B][ ... usable stack, grows down ... ][link, 64 B]
 * Why no guard page: one PROT_NONE page per stack is one memory mapping
 * per goroutine, and Linux's default vm.max_map_count (65,530) would cap a
 * process near 32,000 goroutines. Instead slots are carved from shared
 * mappings (SLAB_SLOTS stacks each) and overflow is caught in two ways: at
 * every switch the saved stack pointer must lie above the canary zone, and
 * when a goroutine exits the zone (64 bytes that must stay zero) is checked
 * for writes by a deep call that has since returned. Checking the zone at
 * exit rather than at every switch keeps a fresh stack at one touched page
 * while it lives. KM_STACK_GUARD=1 gives every stack a real guard page
 * instead (for debugging). */
#define CANARY      64
#define LINK        64          /* free-list link at the top of a free slot */
#define SLAB_SLOTS  64
#define KEEP_HOT    256         /* resident free stacks kept by the pool */

static size_t slot_size = 128 * 1024;
static bool   guard_mode;
static size_t page_size = 4096;

static km__lock pool_lock;
static char    *hot;            /* free, memory still resident (linked) */
static atomic_long nhot;
static char   **cold;           /* free, memory given back: the link went
                                   with the page, so an array */
static size_t   ncold, capcold, nslots;

size_t km__stack_default(void) { return slot_size - LINK; }

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
        size_t sz = ((size_t)v + LINK + page_size - 1) & ~(page_size - 1);
        if (sz != slot_size && nslots)
            return -EINVAL;   /* slabs already carved at another size */
        slot_size = sz;
    }
    const char *gm = getenv("KM_STACK_GUARD");
    guard_mode = gm && *gm == '1';
    return 0;
}

static char **link_of(char *lo) { return (char **)(lo + slot_size - LINK); }

static bool new_slab(void)
{
    size_t len = slot_size * SLAB_SLOTS;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    /* cold can hold every slot ever carved: scavenging never finds it full.
     * libc, not the hook: this lives as long as the process. */
    if (nslots + SLAB_SLOTS > capcold) {
        size_t nc = capcold ? capcold * 2 : 1024;
        while (nc < nslots + SLAB_SLOTS) nc *= 2;
        char **ncd = realloc(cold, nc * sizeof *ncd);
        if (!ncd) { munmap(m, len); return false; }
        cold = ncd; capcold = nc;
    }
    nslots += SLAB_SLOTS;
    for (int i = SLAB_SLOTS - 1; i >= 0; i--)
        cold[ncold++] = m + (size_t)i * slot_size;
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
    g->stack_lo = m + guard;
    g->stack_size = body;
    return 0;
}

int km__stack_attach(km__p *p, km__g *g)
{
    if (guard_mode || (g->stack_want && g->stack_want != km__stack_default()))
        return solo_attach(g, g->stack_want ? g->stack_want : km__stack_default());
    char *lo = NULL;
    if (p && p->nscache)
        lo = p->scache[--p->nscache];
    if (!lo) {
        km__lock_acquire(&pool_lock);
        if (hot) {
            lo = hot;
            hot = *link_of(lo);
            atomic_fetch_sub(&nhot, 1);
        } else if (ncold || new_slab()) {
            lo = cold[--ncold];
        }
        km__lock_release(&pool_lock);
        if (!lo)
            return -ENOMEM;
    }
    g->stack_lo = lo;
    g->stack_size = slot_size - LINK;
    return 0;
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
        munmap(g->map_lo, g->map_size);
        return;
    }
    if (p && p->nscache < KM__GCACHE) {
        p->scache[p->nscache++] = lo;
        return;
    }
    km__lock_acquire(&pool_lock);
    *link_of(lo) = hot;
    hot = lo;
    atomic_fetch_add(&nhot, 1);
    km__lock_release(&pool_lock);
}

void km__stack_drop_cache(km__p *p)
{
    km__g fake = { 0 };
    fake.stack_size = slot_size - LINK;
    while (p->nscache) {
        fake.stack_lo = p->scache[--p->nscache];
        km__stack_detach(NULL, &fake);
    }
}

void km__stack_scavenge(void)
{
    for (int budget = 1024; budget > 0 && atomic_load(&nhot) > KEEP_HOT; budget--) {
        km__lock_acquire(&pool_lock);
        char *lo = hot;
        if (!lo) {
            km__lock_release(&pool_lock);
            return;
        }
        hot = *link_of(lo);
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
    bad = (char *)g->ctx.sp < g->stack_lo + CANARY;
#endif
    if (exiting && !bad && !guard_mode) {
        const uint64_t *z = (const uint64_t *)g->stack_lo;
        uint64_t any = 0;
        for (int i = 0; i < CANARY / 8; i++)
            any |= z[i];
        bad = any != 0;
    }
    if (KM__UNLIKELY(bad))
        km__fatal("goroutine %llu overflowed its %zu-byte stack "
                  "(raise KM_STACK_SIZE or km_go_opts.stack_size)",
                  (unsigned long long)g->id, g->stack_size);
}
