/* SPDX-License-Identifier: MIT */
/* Pending deadlines: one 4-ary min-heap, O(log n) add and delete. */
#include "sched-int.h"

/* Why one heap under one lock: with a handful of workers the lock is cheap
 * and uncontended compared with a park; a 4-ary heap keeps the sift paths
 * short (log4 of 1,000,000 is 10) and cache-friendly. The earliest deadline
 * is mirrored in an atomic so the scheduler checks it without the lock. */
static km__lock      tlock;
static km__timer   **heap;
static size_t        nheap, capheap;
static atomic_llong  earliest = KM_FOREVER;

static void heap_set(size_t i, km__timer *t)
{
    heap[i] = t;
    t->idx = (int32_t)i;
}

static void sift_up(size_t i)
{
    km__timer *t = heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 4;
        if (heap[parent]->when <= t->when)
            break;
        heap_set(i, heap[parent]);
        i = parent;
    }
    heap_set(i, t);
}

static void sift_down(size_t i)
{
    km__timer *t = heap[i];
    for (;;) {
        size_t c = 4 * i + 1, best = i;
        int64_t bw = t->when;
        for (size_t k = c; k < c + 4 && k < nheap; k++)
            if (heap[k]->when < bw) { best = k; bw = heap[k]->when; }
        if (best == i)
            break;
        heap_set(i, heap[best]);
        i = best;
    }
    heap_set(i, t);
}

static void remove_at(size_t i)
{
    km__timer *last = heap[--nheap];
    heap[i]->idx = -1;
    if (i < nheap) {
        heap_set(i, last);
        sift_down(i);
        sift_up(last->idx);
    }
}

static void publish(void)
{
    atomic_store(&earliest, nheap ? heap[0]->when : KM_FOREVER);
}

int km__timer_add(km__timer *t, int64_t when)
{
    km__lock_acquire(&tlock);
    if (nheap == capheap) {
        size_t ncap = capheap ? capheap * 2 : 256;
        km__timer **nh = km__malloc(ncap * sizeof *nh);
        if (!nh) {
            km__lock_release(&tlock);
            return -ENOMEM;
        }
        for (size_t i = 0; i < nheap; i++)
            nh[i] = heap[i];
        km__free(heap);
        heap = nh;
        capheap = ncap;
    }
    t->when = when;
    heap_set(nheap++, t);
    sift_up(nheap - 1);
    bool first = t->idx == 0;
    publish();
    km__lock_release(&tlock);
    if (first)
        km__sched_timer_changed();
    return 0;
}

int km__timer_del(km__timer *t)
{
    km__lock_acquire(&tlock);
    int was = t->idx >= 0;
    if (was) {
        remove_at((size_t)t->idx);
        publish();
    }
    km__lock_release(&tlock);
    return was;
}

int km__timers_run(int64_t now)
{
    km__g *ready = NULL;
    int n = 0;
    km__lock_acquire(&tlock);
    /* fire runs under the lock: km__timer_del then guarantees that no
     * firing is in progress, so an owner may reuse its timer at once. */
    while (nheap && heap[0]->when <= now) {
        km__timer *t = heap[0];
        remove_at(0);
        km__g *g = t->fire(t);
        if (g) {
            g->schedlink = ready;
            ready = g;
        }
        n++;
    }
    publish();
    km__lock_release(&tlock);
    while (ready) {
        km__g *g = ready;
        ready = g->schedlink;
        km__ready(g);
    }
    return n;
}

int64_t km__timers_next(void)
{
    return atomic_load_explicit(&earliest, memory_order_acquire);
}

void km__timers_reset(void)
{
    km__lock_acquire(&tlock);
    km__free(heap);
    heap = NULL;
    nheap = capheap = 0;
    publish();
    km__lock_release(&tlock);
}

int km_sleep_until(int64_t deadline)
{
    km__g *g = km__curg();
    if (!g)
        return -EINVAL;
    if (deadline != KM_FOREVER && deadline <= km_now()) {
        km_yield();
        return km__cancel_check(g);
    }
    km__park_arm(g, "sleep", NULL, true);
    int tok = km__park(g, deadline, true);
    return tok == KM__WAKE_TIMEOUT ? 0 : km__wake_err(tok);
}

int km_sleep(int64_t ns)
{
    if (ns <= 0) {
        km_yield();
        km__g *g = km__curg();
        return g ? km__cancel_check(g) : 0;
    }
    return km_sleep_until(km_now() + ns);
}
