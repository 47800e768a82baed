/* SPDX-License-Identifier: MIT */
/* Waiting on queues: the shared park-and-clean-up step, and the parking lot. */
#include "wait.h"

int km__wq_wait(km__waitq *q, km__lock *l, km__waiter *w, int64_t deadline,
                bool cancellable)
{
    km__wq_push(q, w);
    km__lock_release(l);
    int tok = km__park(w->g, deadline, cancellable);
    if (tok != w->tok) {
        km__lock_acquire(l);
        if (w->queued)
            km__wq_unlink(q, w);
        km__lock_release(l);
    }
    return tok;
}

/* Why a parking lot: a waker must often touch the object after the state
 * change that lets a waiter return (and free it). Keyed queues outside the
 * object make "change the state, then wake" safe: the wake touches only the
 * lot. 256 buckets keep collisions rare; waiters on other addresses that
 * share a bucket are skipped. */
#define NBUCKETS 256
static struct bucket {
    km__lock  lock;
    km__waitq q;
} __attribute__((aligned(64))) lot[NBUCKETS];

static struct bucket *bucket_of(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    a ^= a >> 17;
    a *= 0x9E3779B97F4A7C15ull;
    return &lot[(a >> 40) % NBUCKETS];
}

int km__lot_park(const void *addr, bool (*validate)(const void *addr, void *ud),
                 void (*gone)(void *ud), void *ud, int64_t deadline, bool cancellable,
                 const char *reason)
{
    struct bucket *b = bucket_of(addr);
    km__g *g = km__curg();
    km__lock_acquire(&b->lock);
    if (validate && !validate(addr, ud)) {
        km__lock_release(&b->lock);
        return 1;
    }
    if (km__expired(deadline)) {
        km__lock_release(&b->lock);
        return -ETIMEDOUT;
    }
    if (!g) {
        km__lock_release(&b->lock);
        return -EPERM;
    }
    km__waiter w = { .g = g, .addr = addr, .tok = KM__WAKE_SIGNAL };
    km__park_arm(g, reason, addr, cancellable);
    km__wq_push(&b->q, &w);
    km__lock_release(&b->lock);
    int tok = km__park(g, deadline, cancellable);
    if (tok == KM__WAKE_SIGNAL)
        return 0;
    km__lock_acquire(&b->lock);
    if (w.queued) {
        km__wq_unlink(&b->q, &w);
        if (gone)
            gone(ud);
    }
    km__lock_release(&b->lock);
    return km__wake_err(tok);
}

int km__lot_unpark_all(const void *addr, void (*locked)(void *ud), void *ud)
{
    struct bucket *b = bucket_of(addr);
    km__waiter *woken = NULL;
    int n = 0;
    km__lock_acquire(&b->lock);
    if (locked)
        locked(ud);
    for (km__waiter *w = b->q.head, *next; w; w = next) {
        next = w->next;
        if (w->addr != addr)
            continue;
        km__wq_unlink(&b->q, w);
        if (km__claim(w->g, w->tok)) {
            w->next = woken;
            woken = w;
            n++;
        }
    }
    km__lock_release(&b->lock);
    while (woken) {
        km__waiter *w = woken;
        woken = w->next;
        km__ready(w->g);
    }
    return n;
}

int km__lot_with_lock(const void *addr, int (*fn)(void *ud), void *ud)
{
    struct bucket *b = bucket_of(addr);
    km__lock_acquire(&b->lock);
    int r = fn(ud);
    km__lock_release(&b->lock);
    return r;
}
