/* SPDX-License-Identifier: MIT */
/* km_cond: condition variables for goroutines holding a km_mutex. */
#include <kumo/sync.h>
#include "rt/wait.h"

struct km_cond {
    km__lock  lock;
    km__waitq q;
};

int km_cond_new(km_cond **out)
{
    if (!out)
        return -EINVAL;
    km_cond *c = km__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    *out = c;
    return 0;
}

void km_cond_free(km_cond *c)
{
    km__free(c);
}

int km_cond_wait_dl(km_cond *c, km_mutex *m, int64_t deadline)
{
    km__g *g = km__curg();
    if (!g)
        return -EPERM;
    km__waiter me = { .g = g, .tok = KM__WAKE_SIGNAL };
    km__lock_acquire(&c->lock);
    km__park_arm(g, "cond", c, true);
    km__wq_push(&c->q, &me);
    km__lock_release(&c->lock);
    /* Queued before unlocking m: a signal sent after the unlock finds us. */
    km_mutex_unlock(m);
    int tok = km__park(g, deadline, true);
    if (tok != KM__WAKE_SIGNAL) {
        km__lock_acquire(&c->lock);
        if (me.queued)
            km__wq_unlink(&c->q, &me);
        km__lock_release(&c->lock);
    }
    km_mutex_lock(m);
    return tok == KM__WAKE_SIGNAL ? 0 : km__wake_err(tok);
}

int km_cond_wait(km_cond *c, km_mutex *m)
{
    return km_cond_wait_dl(c, m, KM_FOREVER);
}

void km_cond_signal(km_cond *c)
{
    km__lock_acquire(&c->lock);
    km__waiter *w = km__wq_claim(&c->q);
    km__lock_release(&c->lock);
    if (w)
        km__ready(w->g);
}

void km_cond_broadcast(km_cond *c)
{
    km__waiter *woken = NULL, *w;
    km__lock_acquire(&c->lock);
    while ((w = km__wq_claim(&c->q))) {
        w->next = woken;
        woken = w;
    }
    km__lock_release(&c->lock);
    while (woken) {
        w = woken;
        woken = w->next;
        km__ready(w->g);
    }
}
