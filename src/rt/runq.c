/* SPDX-License-Identifier: MIT */
/* Per-P lock-free run queues with work stealing, and the global run queue. */
#include "sched-int.h"

bool km__runq_empty(km__p *p)
{
    unsigned h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    unsigned t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
    return h == t && atomic_load_explicit(&p->runnext, memory_order_acquire) == NULL;
}

int km__runq_len(km__p *p)
{
    unsigned h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    unsigned t = atomic_load_explicit(&p->runqtail, memory_order_acquire);
    return (int)(t - h) + (atomic_load_explicit(&p->runnext, memory_order_relaxed) != NULL);
}

/* Moves half of a full local queue plus g to the global queue, so that a
 * spawning loop cannot overflow. False if thieves raced us (retry). */
static void globq_append_locked(km__g *first, km__g *last, int n);

static bool runq_put_slow(km__p *p, km__g *g, unsigned h, unsigned t)
{
    enum { N = KM__RUNQ / 2 };
    km__g *batch[N + 1];
    unsigned n = (t - h) / 2;
    if (n != N)
        return false;
    for (unsigned i = 0; i < n; i++)
        batch[i] = atomic_load_explicit(&p->runq[(h + i) % KM__RUNQ], memory_order_relaxed);
    if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + n,
            memory_order_release, memory_order_relaxed))
        return false;
    batch[n] = g;
    for (unsigned i = 0; i < n; i++)
        batch[i]->schedlink = batch[i + 1];
    km__lock_acquire(&km__s.lock);
    globq_append_locked(batch[0], batch[n], (int)n + 1);
    km__lock_release(&km__s.lock);
    return true;
}

/* Queues g on p (owner only). With next, g takes the runnext slot and its
 * previous occupant moves to the queue. Returns true if stealable work was
 * added (so an idle worker may be worth waking). */
bool km__runq_put(km__p *p, km__g *g, bool next)
{
    if (next) {
        g = atomic_exchange_explicit(&p->runnext, g, memory_order_acq_rel);
        if (!g)
            return false;
    }
    for (;;) {
        unsigned h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        unsigned t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        if (t - h < KM__RUNQ) {
            atomic_store_explicit(&p->runq[t % KM__RUNQ], g, memory_order_relaxed);
            atomic_store_explicit(&p->runqtail, t + 1, memory_order_release);
            return true;
        }
        if (runq_put_slow(p, g, h, t))
            return true;
    }
}

km__g *km__runq_get(km__p *p)
{
    km__g *g = atomic_load_explicit(&p->runnext, memory_order_relaxed);
    if (g && (g = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acq_rel))) {
        p->from_next = true;
        return g;
    }
    for (;;) {
        unsigned h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
        unsigned t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
        if (h == t)
            return NULL;
        g = atomic_load_explicit(&p->runq[h % KM__RUNQ], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&p->runqhead, &h, h + 1,
                memory_order_release, memory_order_relaxed))
            return g;
    }
}

/* Takes half of victim's queue into batch; with stealnext, its runnext too
 * when the queue is empty. */
static unsigned runq_grab(km__p *v, km__g **batch, bool stealnext)
{
    for (;;) {
        unsigned h = atomic_load_explicit(&v->runqhead, memory_order_acquire);
        unsigned t = atomic_load_explicit(&v->runqtail, memory_order_acquire);
        unsigned n = t - h;
        n = n - n / 2;
        if (n == 0) {
            if (!stealnext)
                return 0;
            km__g *g = atomic_load_explicit(&v->runnext, memory_order_acquire);
            if (g && atomic_compare_exchange_strong_explicit(&v->runnext, &g, NULL,
                        memory_order_acq_rel, memory_order_relaxed)) {
                batch[0] = g;
                return 1;
            }
            return 0;
        }
        if (n > KM__RUNQ / 2)
            continue;   /* h and t read at different moments: retry */
        for (unsigned i = 0; i < n; i++)
            batch[i] = atomic_load_explicit(&v->runq[(h + i) % KM__RUNQ], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&v->runqhead, &h, h + n,
                memory_order_release, memory_order_relaxed))
            return n;
    }
}

/* Steals half of victim's work into p's (empty) queue; returns one G to run. */
km__g *km__runq_steal(km__p *p, km__p *v, bool stealnext)
{
    km__g *batch[KM__RUNQ / 2];
    unsigned n = runq_grab(v, batch, stealnext);
    if (n == 0)
        return NULL;
    for (unsigned i = 0; i + 1 < n; i++)
        km__runq_put(p, batch[i], false);
    atomic_store_explicit(&p->st.steals,
        atomic_load_explicit(&p->st.steals, memory_order_relaxed) + 1, memory_order_relaxed);
    return batch[n - 1];
}

/* The global queue is a chain of batches (schedlink throughout); the first
 * g of each batch holds the batch's length and last g, so that a worker
 * spilling half its queue, or one taking it back, holds the lock for O(1)
 * work instead of walking goroutines that another core just wrote. */
static void globq_append_locked(km__g *first, km__g *last, int n)
{
    first->gq_n = n;
    first->gq_last = last;
    last->schedlink = NULL;
    if (km__s.gq_tail)
        km__s.gq_tail->schedlink = first;
    else
        km__s.gq_head = first;
    km__s.gq_tail = last;
    atomic_fetch_add(&km__s.gq_size, n);
}

void km__globq_put_locked(km__g *g)
{
    globq_append_locked(g, g, 1);
}

/* How many to take: a fair share (0) or at most max, never more than p's
 * local queue can hold besides the one returned; a whole first batch is
 * taken when it fits, so that nothing needs splitting. */
static int globq_want(km__p *p, int max)
{
    int size = atomic_load_explicit(&km__s.gq_size, memory_order_relaxed);
    if (size == 0)
        return 0;
    int n = size / km__s.nprocs + 1;
    if (n > size) n = size;
    if (max > 0 && n > max) n = max;
    if (n > KM__RUNQ / 2) n = KM__RUNQ / 2;
    /* Never overflow the local queue: that would re-enter the global lock. */
    int room = KM__RUNQ - (int)(atomic_load_explicit(&p->runqtail, memory_order_relaxed) -
                                atomic_load_explicit(&p->runqhead, memory_order_acquire));
    int whole = km__s.gq_head->gq_n;
    if (max == 0 && n < whole && whole - 1 <= room)
        n = whole;
    if (n - 1 > room) n = room + 1;
    return n;
}

/* Detaches up to want goroutines from the front: whole batches while they
 * fit, else the first want of the first batch. Returns the chain's first g
 * (NULL-terminated through schedlink). */
static km__g *globq_take_locked(int want)
{
    km__g *first = km__s.gq_head, *last = NULL;
    int n = 0;
    while (km__s.gq_head && n + km__s.gq_head->gq_n <= want) {
        n += km__s.gq_head->gq_n;
        last = km__s.gq_head->gq_last;
        km__s.gq_head = last->schedlink;
    }
    if (n == 0) {
        km__g *b = km__s.gq_head, *blast = b->gq_last;
        int bn = b->gq_n;
        last = b;
        for (n = 1; n < want; n++)
            last = last->schedlink;
        km__s.gq_head = last->schedlink;
        km__s.gq_head->gq_n = bn - n;
        km__s.gq_head->gq_last = blast;
    }
    last->schedlink = NULL;
    if (!km__s.gq_head)
        km__s.gq_tail = NULL;
    atomic_fetch_sub(&km__s.gq_size, n);
    return first;
}

/* Queues all but the chain's first on p and returns the first. */
static km__g *spread(km__p *p, km__g *g)
{
    for (km__g *x = g->schedlink, *nx; x; x = nx) {
        nx = x->schedlink;
        km__runq_put(p, x, false);
    }
    return g;
}

/* Takes up to max goroutines (0: a fair share) from the global queue: one
 * is returned, the rest go to p's local queue. */
km__g *km__globq_get_locked(km__p *p, int max)
{
    int want = globq_want(p, max);
    return want ? spread(p, globq_take_locked(want)) : NULL;
}

km__g *km__globq_get(km__p *p, int max)
{
    km__lock_acquire(&km__s.lock);
    int want = globq_want(p, max);
    km__g *g = want ? globq_take_locked(want) : NULL;
    km__lock_release(&km__s.lock);
    return g ? spread(p, g) : NULL;
}
