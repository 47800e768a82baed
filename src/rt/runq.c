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
    batch[n]->schedlink = NULL;
    if (km__s.gq_tail)
        km__s.gq_tail->schedlink = batch[0];
    else
        km__s.gq_head = batch[0];
    km__s.gq_tail = batch[n];
    atomic_fetch_add(&km__s.gq_size, (int)n + 1);
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

void km__globq_put_locked(km__g *g)
{
    g->schedlink = NULL;
    if (km__s.gq_tail)
        km__s.gq_tail->schedlink = g;
    else
        km__s.gq_head = g;
    km__s.gq_tail = g;
    atomic_fetch_add(&km__s.gq_size, 1);
}

/* Takes up to max goroutines (0: a fair share) from the global queue: one
 * is returned, the rest go to p's local queue. */
km__g *km__globq_get_locked(km__p *p, int max)
{
    int size = atomic_load_explicit(&km__s.gq_size, memory_order_relaxed);
    if (size == 0)
        return NULL;
    int n = size / km__s.nprocs + 1;
    if (n > size) n = size;
    if (max > 0 && n > max) n = max;
    if (n > KM__RUNQ / 2) n = KM__RUNQ / 2;
    /* Never overflow the local queue: that would re-enter the global lock. */
    int room = KM__RUNQ - (int)(atomic_load_explicit(&p->runqtail, memory_order_relaxed) -
                                atomic_load_explicit(&p->runqhead, memory_order_acquire));
    if (n - 1 > room) n = room + 1;
    atomic_fetch_sub(&km__s.gq_size, n);
    km__g *g = km__s.gq_head;
    km__s.gq_head = g->schedlink;
    for (int i = 1; i < n; i++) {
        km__g *x = km__s.gq_head;
        km__s.gq_head = x->schedlink;
        km__runq_put(p, x, false);
    }
    if (!km__s.gq_head)
        km__s.gq_tail = NULL;
    return g;
}
