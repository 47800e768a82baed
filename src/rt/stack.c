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
 *   [canary zone, 64 B][ ... usable stack, grows down ... ][km__g]
 * Why no guard page: one PROT_NONE page per stack is one memory mapping
 * per goroutine, and Linux's default vm.max_map_count (65,530) would cap a
 * process near 32,000 goroutines. Instead slots are carved from shared
 * mappings (one mapping per SLAB_SLOTS stacks) and the lowest 64 bytes of
 * each must stay zero: they are checked at every switch, and a goroutine
 * that wrote there overflowed. Untouched pages read as zero without being
 * committed, so the check costs no memory. KM_STACK_GUARD=1 gives every
 * stack a real guard page instead (for debugging). */
#define CANARY      64
#define SLAB_SLOTS  64
#define GSZ         ((sizeof(km__g) + 63) & ~(size_t)63)
#define KEEP_HOT    256     /* resident free stacks kept by the pool */

static size_t slot_size = 128 * 1024;
static bool   guard_mode;
static size_t page_size = 4096;

static km__lock pool_lock;
static km__g   *hot;            /* free, memory still resident (linked) */
static atomic_long nhot;
static km__g  **cold;           /* free, memory given back (array: the G
                                   itself was zeroed with its page) */
static size_t   ncold, capcold;
static char   **slabs;          /* every slab, for km__stack_each */
static size_t   nslabs, capslabs;
static km__g   *solo;           /* live solo stacks */

size_t km__stack_default(void) { return slot_size - GSZ - CANARY; }

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
        size_t want = (size_t)v + GSZ + CANARY;
        size_t sz = (want + page_size - 1) & ~(page_size - 1);
        if (sz != slot_size && (nslabs || ncold || atomic_load(&nhot)))
            return -EINVAL;   /* slabs already carved at another size */
        slot_size = sz;
    }
    const char *gm = getenv("KM_STACK_GUARD");
    guard_mode = gm && *gm == '1';
    return 0;
}

static km__g *slot_g(char *lo) { return (km__g *)(lo + slot_size - GSZ); }

static void init_g(km__g *g, char *lo, size_t usable, uint32_t flags)
{
    memset(g, 0, sizeof *g);
    g->stack_lo = lo;
    g->stack_size = usable;
    g->flags = flags;
    g->timer.idx = -1;
}

static bool new_slab(void)
{
    size_t len = slot_size * SLAB_SLOTS;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return false;
    /* Bookkeeping uses libc directly: it lives as long as the process,
     * like the slabs it describes. */
    if (nslabs == capslabs) {
        size_t nc = capslabs ? capslabs * 2 : 64;
        char **ns = realloc(slabs, nc * sizeof *ns);
        if (!ns) { munmap(m, len); return false; }
        slabs = ns; capslabs = nc;
    }
    /* cold can hold every slot ever carved: scavenging never finds it full */
    size_t total = (nslabs + 1) * SLAB_SLOTS;
    if (total > capcold) {
        size_t nc = capcold ? capcold * 2 : 1024;
        while (nc < total) nc *= 2;
        km__g **ncd = realloc(cold, nc * sizeof *ncd);
        if (!ncd) { munmap(m, len); return false; }
        cold = ncd; capcold = nc;
    }
    slabs[nslabs++] = m;
    for (int i = SLAB_SLOTS - 1; i >= 0; i--)
        cold[ncold++] = slot_g(m + (size_t)i * slot_size);
    return true;
}

static km__g *solo_get(size_t size)
{
    size_t guard = guard_mode ? page_size : 0;
    size_t body = (size + GSZ + CANARY + page_size - 1) & ~(page_size - 1);
    size_t len = guard + body;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (guard && mprotect(m, guard, PROT_NONE)) {
        munmap(m, len);
        return NULL;
    }
    km__g *g = (km__g *)(m + len - GSZ);
    init_g(g, m + guard, body - GSZ, KM__G_SOLO);
    g->map_lo = m;
    g->map_size = len;
    km__lock_acquire(&pool_lock);
    g->solo_next = solo;
    if (solo) solo->solo_prev = g;
    solo = g;
    km__lock_release(&pool_lock);
    return g;
}

km__g *km__stack_get(km__p *p, size_t size)
{
    if (guard_mode || (size && size != km__stack_default()))
        return solo_get(size ? size : km__stack_default());
    km__g *g = NULL;
    if (p && p->ngcache)
        g = p->gcache[--p->ngcache];
    if (!g) {
        km__lock_acquire(&pool_lock);
        if (hot) {
            g = hot;
            hot = g->schedlink;
            atomic_fetch_sub(&nhot, 1);
        } else if (ncold || new_slab()) {
            g = cold[--ncold];
        }
        km__lock_release(&pool_lock);
        if (!g)
            return NULL;
    }
    char *lo = (char *)g + GSZ - slot_size;
    init_g(g, lo, slot_size - GSZ, 0);
    return g;
}

void km__stack_put(km__p *p, km__g *g)
{
#ifdef KM_ASAN
    /* Frames of the exited goroutine never returned: clear their redzones
     * before the memory serves another goroutine. */
    ASAN_UNPOISON_MEMORY_REGION(g->stack_lo, g->stack_size);
#endif
    atomic_store_explicit(&g->state, KM__G_FREE, memory_order_relaxed);
    if (g->flags & KM__G_SOLO) {
        km__lock_acquire(&pool_lock);
        if (g->solo_prev) g->solo_prev->solo_next = g->solo_next;
        else solo = g->solo_next;
        if (g->solo_next) g->solo_next->solo_prev = g->solo_prev;
        km__lock_release(&pool_lock);
        munmap(g->map_lo, g->map_size);
        return;
    }
    if (p && p->ngcache < KM__GCACHE) {
        p->gcache[p->ngcache++] = g;
        return;
    }
    km__lock_acquire(&pool_lock);
    g->schedlink = hot;
    hot = g;
    atomic_fetch_add(&nhot, 1);
    km__lock_release(&pool_lock);
}

void km__stack_drop_cache(km__p *p)
{
    while (p->ngcache)
        km__stack_put(NULL, p->gcache[--p->ngcache]);
}

void km__stack_scavenge(void)
{
    for (int budget = 1024; budget > 0 && atomic_load(&nhot) > KEEP_HOT; budget--) {
        km__lock_acquire(&pool_lock);
        km__g *g = hot;
        if (!g) {
            km__lock_release(&pool_lock);
            return;
        }
        hot = g->schedlink;
        atomic_fetch_sub(&nhot, 1);
        km__lock_release(&pool_lock);
        char *lo = (char *)g + GSZ - slot_size;
        madvise(lo, slot_size, MADV_DONTNEED);
        km__lock_acquire(&pool_lock);
        cold[ncold++] = g;
        km__lock_release(&pool_lock);
    }
}

void km__stack_check(km__g *g)
{
    const uint64_t *z = (const uint64_t *)(g->stack_lo);
    uint64_t any = 0;
    for (int i = 0; i < CANARY / 8; i++)
        any |= z[i];
    if (KM__UNLIKELY(any))
        km__fatal("goroutine %llu overflowed its %zu-byte stack "
                  "(raise KM_STACK_SIZE or km_go_opts.stack_size)",
                  (unsigned long long)g->id, g->stack_size);
}

void km__stack_each(void (*fn)(km__g *g, void *ud), void *ud)
{
    km__lock_acquire(&pool_lock);
    for (size_t s = 0; s < nslabs; s++)
        for (size_t i = 0; i < SLAB_SLOTS; i++)
            fn(slot_g(slabs[s] + i * slot_size), ud);
    for (km__g *g = solo; g; g = g->solo_next)
        fn(g, ud);
    km__lock_release(&pool_lock);
}
