/* SPDX-License-Identifier: MIT */
/* The housekeeper: one goroutine per pool that retires idle resources (lifetime, idle timeout), keeps idle ones alive, refills min_idle with backoff and reports leaks. */
#include "pool/pool-int.h"
#include <string.h>

enum { NONE, CLOSE, CHECK, LEAK, OPEN };

/* Under the lock: the first thing to do, or NONE and *next, the earliest
 * time something will be due. One thing at a time, then a fresh look:
 * callbacks run unlocked and the pool changes meanwhile. A look is
 * O(max_size) with the lock held, which is a few microseconds for
 * thousands of slots, and happens only when something is due or kicked. */
static int look(km_pool *p, int64_t now, km_pool_res **sp, int *reason, int64_t *next)
{
    int64_t nx = INT64_MAX;
    /* Oldest idle first: those are the ones to retire. */
    for (km_pool_res *s = p->idle_tail; s; s = s->prev) {
        if (now >= s->expires) {
            *sp = s;
            *reason = KM_POOL_LIFETIME;
            return CLOSE;
        }
        if (s->expires < nx)
            nx = s->expires;
        if (p->idle_timeout != KM_FOREVER && p->n_idle > p->min_idle) {
            int64_t t = s->last_used + p->idle_timeout;
            if (now >= t) {
                *sp = s;
                *reason = KM_POOL_IDLE;
                return CLOSE;
            }
            if (t < nx)
                nx = t;
        }
        if (p->keepalive != KM_FOREVER && p->ops.validate) {
            int64_t t = s->last_alive + p->keepalive;
            if (now >= t) {
                *sp = s;
                return CHECK;
            }
            if (t < nx)
                nx = t;
        }
    }
    if (p->leak_threshold != KM_FOREVER) {
        for (int i = 0; i < p->max_size; i++) {
            km_pool_res *s = &p->slots[i];
            if (s->state != KM__PS_INUSE || s->leak_reported)
                continue;
            int64_t t = s->taken + p->leak_threshold;
            if (now >= t) {
                *sp = s;
                return LEAK;
            }
            if (t < nx)
                nx = t;
        }
    }
    if (p->n_idle + p->n_checking < p->min_idle && p->free) {
        if (now >= p->refill_at)
            return OPEN;
        if (p->refill_at < nx)
            nx = p->refill_at;
    }
    *next = nx;
    return NONE;
}

/* Each do_* is entered locked and returns unlocked. */

static void do_close(km_pool *p, km_pool_res *s, int reason)
{
    km__pool_idle_unlink(p, s);
    p->n_idle--;
    s->state = KM__PS_CLOSING;
    p->n_closing++;
    km__pool_unlock(p);
    km__pool_close_res(p, s, reason);
}

static void do_check(km_pool *p, km_pool_res *s, int64_t now)
{
    km__pool_idle_unlink(p, s);
    p->n_idle--;
    s->state = KM__PS_CHECKING;
    p->n_checking++;
    km__pool_unlock(p);
    int rc = p->ops.validate(p->ops.ud, s->res,
                             km__pool_rt_dl(km__pool_after(now, p->validation_timeout)));
    int64_t t = km_now();
    km__pool_lock(p);
    p->n_checking--;
    if (rc || p->closed) {
        s->state = KM__PS_CLOSING;
        p->n_closing++;
        km__pool_unlock(p);
        km__pool_close_res(p, s, rc ? KM_POOL_VALIDATION : KM_POOL_SHUTDOWN);
        return;
    }
    s->last_alive = t;
    km_chan *ch = km__pool_put_idle(p, s, t);
    km__pool_unlock(p);
    if (ch)
        km_chan_send(ch, &s);
}

static void do_leak(km_pool *p, km_pool_res *s, int64_t now)
{
    void *pcs[KM__POOL_PCS];
    km_pool_leak l = {
        .pool = p->name, .res = s->res, .goid = s->goid, .held = now - s->taken,
        .pcs = pcs, .npcs = s->npcs,
    };
    memcpy(pcs, s->pcs, (size_t)s->npcs * sizeof pcs[0]);
    s->leak_reported = true;
    p->leaks++;
    km__pool_unlock(p);
    km_counter_inc(p->m_leaks);
    km__pool_leak_report(p, &l);
}

static void do_open(km_pool *p)
{
    km_pool_res *s = p->free;
    p->free = s->next;
    s->state = KM__PS_OPENING;
    p->n_opening++;
    km__pool_unlock(p);
    int rc = km__pool_open_res(p, s, INT64_MAX);
    /* locked again */
    if (rc) {
        /* Retry later, backing off, so that a dead backend is not hammered
         * by every pool's refill. */
        int64_t wait = p->backoff;
        p->refill_at = km_now() + wait;
        p->backoff = p->backoff > p->backoff_max / 2 ? p->backoff_max : p->backoff * 2;
        bool drained = false;
        km_chan *ch = km__pool_slot_free(p, s, &drained);
        km_chan *d = p->drained;
        km__pool_unlock(p);
        if (ch)
            km_chan_send(ch, &s);
        if (drained)
            km_chan_close(d);   /* km_pool_free also waits for us */
        km_warn(p->log, "pool: open failed", km_lf_str("pool", p->name),
                km_lf_str("error", km_strerror(rc)), km_lf_int("retry_ms", wait / 1000000));
        return;
    }
    p->backoff = p->backoff_min;
    p->refill_at = 0;
    if (p->closed) {
        s->state = KM__PS_CLOSING;
        p->n_closing++;
        km__pool_unlock(p);
        km__pool_close_res(p, s, KM_POOL_SHUTDOWN);
        return;
    }
    km_chan *ch = km__pool_put_idle(p, s, s->last_used);
    km__pool_unlock(p);
    if (ch)
        km_chan_send(ch, &s);
}

void km__pool_housekeeper(void *arg)
{
    km_pool *p = arg;
    for (;;) {
        int64_t now = km_now(), next = INT64_MAX;
        km_pool_res *s = NULL;
        int reason = 0;
        km__pool_lock(p);
        if (p->closed) {
            km__pool_unlock(p);
            return;
        }
        p->hk_kicked = false;
        switch (look(p, now, &s, &reason, &next)) {
        case CLOSE: p->hk_next = INT64_MIN; do_close(p, s, reason); continue;
        case CHECK: p->hk_next = INT64_MIN; do_check(p, s, now);   continue;
        case LEAK:  p->hk_next = INT64_MIN; do_leak(p, s, now);    continue;
        case OPEN:  p->hk_next = INT64_MIN; do_open(p);            continue;
        default:    break;
        }
        /* Asleep until next: whatever becomes due earlier kicks us (a
         * release, an acquire with leak detection, a freed slot below
         * min_idle); hk_next tells them when we look anyway. */
        p->hk_next = next;
        km__pool_unlock(p);
        char c;
        int rc = km_chan_recv_dl(p->hk_wake, &c, km__pool_rt_dl(next));
        if (rc == -ECANCELED)
            return;             /* km_pool_close */
        if (rc == -ENOMEM)
            km_yield();
    }
}
