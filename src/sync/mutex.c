/* SPDX-License-Identifier: MIT */
/* km_mutex: a goroutine mutex with FIFO hand-off under contention. */
#include <kumo/sync.h>
#include "rt/wait.h"

enum { LOCKED = 1, WAITERS = 2 };

struct km_mutex {
    atomic_int state;
    km__lock   lock;    /* guards q and the WAITERS bit */
    km__waitq  q;
};

int km_mutex_new(km_mutex **out)
{
    if (!out)
        return -EINVAL;
    km_mutex *m = km__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    *out = m;
    return 0;
}

void km_mutex_free(km_mutex *m)
{
    km__free(m);
}

int km_mutex_trylock(km_mutex *m)
{
    int zero = 0;
    return atomic_compare_exchange_strong_explicit(&m->state, &zero, LOCKED,
               memory_order_acquire, memory_order_relaxed) ? 0 : -EBUSY;
}

static int lock_slow(km_mutex *m, int64_t deadline, bool cancellable)
{
    km__g *g = km__curg();
    km__lock_acquire(&m->lock);
    int s = atomic_load(&m->state);
    for (;;) {
        if (!(s & LOCKED)) {
            if (atomic_compare_exchange_weak(&m->state, &s, s | LOCKED)) {
                km__lock_release(&m->lock);
                return 0;
            }
        } else if (atomic_compare_exchange_weak(&m->state, &s, s | WAITERS)) {
            break;
        }
    }
    if (km__expired(deadline) || !g) {
        if (!m->q.head)
            atomic_fetch_and(&m->state, ~WAITERS);
        km__lock_release(&m->lock);
        return g ? -ETIMEDOUT : -EPERM;
    }
    km__waiter me = { .g = g, .tok = KM__WAKE_SIGNAL };
    km__park_arm(g, "mutex", m, cancellable);
    km__wq_push(&m->q, &me);
    km__lock_release(&m->lock);
    int tok = km__park(g, deadline, cancellable);
    if (tok == KM__WAKE_SIGNAL)
        return 0;       /* the unlocker handed the lock to us */
    km__lock_acquire(&m->lock);
    if (me.queued)
        km__wq_unlink(&m->q, &me);
    if (!m->q.head)
        atomic_fetch_and(&m->state, ~WAITERS);
    km__lock_release(&m->lock);
    return km__wake_err(tok);
}

void km_mutex_lock(km_mutex *m)
{
    if (km_mutex_trylock(m) == 0)
        return;
    int rc = lock_slow(m, KM_FOREVER, false);
    if (rc)
        km__fatal("km_mutex_lock: %s", km_strerror(rc));
}

int km_mutex_lock_dl(km_mutex *m, int64_t deadline)
{
    if (km_mutex_trylock(m) == 0)
        return 0;
    return lock_slow(m, deadline, true);
}

void km_mutex_unlock(km_mutex *m)
{
    int locked = LOCKED;
    if (atomic_compare_exchange_strong_explicit(&m->state, &locked, 0,
            memory_order_release, memory_order_relaxed))
        return;
    if (!(locked & LOCKED))
        km__fatal("km_mutex_unlock of an unlocked mutex");
    km__lock_acquire(&m->lock);
    km__waiter *w = km__wq_claim(&m->q);
    if (w) {
        /* Hand-off: the lock stays held, now by the first waiter, so a
         * newcomer cannot barge in ahead of the queue. */
        atomic_store(&m->state, LOCKED | (m->q.head ? WAITERS : 0));
    } else {
        atomic_store(&m->state, 0);
    }
    km__lock_release(&m->lock);
    if (w)
        km__ready(w->g);
}
