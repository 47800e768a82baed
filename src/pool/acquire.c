/* SPDX-License-Identifier: MIT */
/* km_pool_acquire and km_pool_release: the idle list, FIFO waiters, hand-off, and opening in the caller's goroutine. */
#include "pool/pool-int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *km_pool_res_value(const km_pool_res *r)
{
    return r ? r->res : NULL;
}

/* ---- lists (under the lock) ---- */

static void idle_push(km_pool *p, km_pool_res *s)
{
    s->prev = NULL;
    s->next = p->idle_head;
    if (p->idle_head) p->idle_head->prev = s; else p->idle_tail = s;
    p->idle_head = s;
}

void km__pool_idle_unlink(km_pool *p, km_pool_res *s)
{
    if (s->prev) s->prev->next = s->next; else p->idle_head = s->next;
    if (s->next) s->next->prev = s->prev; else p->idle_tail = s->prev;
    s->next = s->prev = NULL;
}

static void wq_push(km_pool *p, km__pool_waiter *w)
{
    w->next = NULL;
    w->prev = p->wq_tail;
    if (p->wq_tail) p->wq_tail->next = w; else p->wq_head = w;
    p->wq_tail = w;
    w->queued = true;
    p->n_waiting++;
}

static void wq_unlink(km_pool *p, km__pool_waiter *w)
{
    if (w->prev) w->prev->next = w->next; else p->wq_head = w->next;
    if (w->next) w->next->prev = w->prev; else p->wq_tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = false;
    p->n_waiting--;
}

static km__pool_waiter *wq_pop(km_pool *p)
{
    km__pool_waiter *w = p->wq_head;
    if (w)
        wq_unlink(p, w);
    return w;
}

/* ---- helpers under the lock ---- */

int64_t km__pool_expiry(km_pool *p, int64_t now)
{
    if (p->max_lifetime == KM_FOREVER)
        return INT64_MAX;
    int64_t j = 0;
    if (p->lifetime_jitter > 0) {
        /* xorshift64*: the pool's own stream, under its lock */
        p->rng ^= p->rng >> 12;
        p->rng ^= p->rng << 25;
        p->rng ^= p->rng >> 27;
        j = (int64_t)((p->rng * 0x2545F4914F6CDD1DULL) % (uint64_t)p->lifetime_jitter);
    }
    return now + p->max_lifetime - j;
}

void km__pool_kick(km_pool *p, int64_t due)
{
    if (p->closed || p->hk_kicked || due >= p->hk_next)
        return;
    p->hk_kicked = true;
    /* Under the lock, so that p outlives the send; cap 1 and at most one
     * kick in flight, so it never blocks (and a kick that finds the buffer
     * full is one already on its way). */
    char one = 1;
    (void)km_chan_send_dl(p->hk_wake, &one, 0);
}

km_chan *km__pool_put_idle(km_pool *p, km_pool_res *s, int64_t now)
{
    km__pool_waiter *w = wq_pop(p);
    if (w) {
        /* Straight to the longest waiter: the resource never shows on the
         * idle list, so a newcomer cannot take it first. */
        s->state = KM__PS_INUSE;
        p->n_inuse++;
        s->taken = now;
        s->goid = 0;
        s->npcs = 0;
        s->leak_reported = false;
        return w->ch;
    }
    s->state = KM__PS_IDLE;
    idle_push(p, s);
    p->n_idle++;
    int64_t due = s->expires;
    if (p->idle_timeout != KM_FOREVER && p->n_idle > p->min_idle && s->last_used + p->idle_timeout < due)
        due = s->last_used + p->idle_timeout;
    if (p->keepalive != KM_FOREVER && p->ops.validate && s->last_alive + p->keepalive < due)
        due = s->last_alive + p->keepalive;
    km__pool_kick(p, due);
    return NULL;
}

km_chan *km__pool_slot_free(km_pool *p, km_pool_res *s, bool *drained)
{
    s->res = NULL;
    if (!p->closed) {
        km__pool_waiter *w = wq_pop(p);
        if (w) {
            /* Room to open one: the first waiter opens it itself. */
            s->state = KM__PS_OPENING;
            p->n_opening++;
            return w->ch;
        }
    }
    s->state = KM__PS_FREE;
    s->next = p->free;
    s->prev = NULL;
    p->free = s;
    if (p->n_idle + p->n_checking < p->min_idle)
        km__pool_kick(p, p->refill_at);
    if (km__pool_drained_now(p))
        *drained = true;
    return NULL;
}

/* ---- without the lock ---- */

void km__pool_close_res(km_pool *p, km_pool_res *s, int reason)
{
    p->ops.close(p->ops.ud, s->res, reason);
    km_counter_inc(p->m_closed[reason]);
    bool drained = false;
    km__pool_lock(p);
    p->closed_n[reason]++;
    p->n_closing--;
    km_chan *ch = km__pool_slot_free(p, s, &drained);
    km_chan *d = p->drained;
    km__pool_unlock(p);
    if (ch)
        km_chan_send(ch, &s);
    if (drained)
        km_chan_close(d);       /* the last touch of p */
}

int km__pool_open_res(km_pool *p, km_pool_res *s, int64_t deadline)
{
    int64_t now = km_now();
    int64_t dl = km__pool_dl_min(deadline, km__pool_after(now, p->open_timeout));
    void *res = NULL;
    int rc = p->ops.open(p->ops.ud, km__pool_rt_dl(dl), &res);
    if (rc > 0)
        rc = -rc;
    now = km_now();
    km_counter_inc(rc ? p->m_open_errors : p->m_created);
    km__pool_lock(p);
    p->n_opening--;
    if (rc) {
        p->open_errors++;
        return rc;
    }
    p->created++;
    s->res = res;
    s->created = s->last_used = s->last_alive = now;
    s->expires = km__pool_expiry(p, now);
    return 0;
}

/* ---- acquire ---- */

/* What an acquire records about its caller for leak reports. */
typedef struct {
    uint64_t goid;
    int      npcs;
    void    *pcs[KM__POOL_PCS];
} acq_who;

static void stamp(km_pool *p, km_pool_res *s, int64_t now, const acq_who *a)
{
    if (p->leak_threshold == KM_FOREVER)
        return;
    s->taken = now;
    s->goid = a->goid;
    s->leak_reported = false;
    s->npcs = a->npcs;
    memcpy(s->pcs, a->pcs, (size_t)a->npcs * sizeof a->pcs[0]);
    km__pool_kick(p, now + p->leak_threshold);
}

/* The caller holds a reference (p->n_ref) and owns s (OPENING), unlocked.
 * Opens into s and returns locked: 0 with s on loan, or an error with the
 * slot freed (*give_ch: a waiter to pass the room to, after unlocking). */
static int open_for(km_pool *p, km_pool_res *s, int64_t deadline, const acq_who *a,
                    km_chan **give_ch)
{
    int rc = km__pool_open_res(p, s, deadline);
    if (rc) {
        bool drained = false;   /* cannot be: we hold a reference */
        *give_ch = km__pool_slot_free(p, s, &drained);
        return rc;
    }
    if (p->closed) {
        s->state = KM__PS_CLOSING;
        p->n_closing++;
        km__pool_unlock(p);
        km__pool_close_res(p, s, KM_POOL_SHUTDOWN);
        km__pool_lock(p);
        return -ESHUTDOWN;
    }
    s->state = KM__PS_INUSE;
    p->n_inuse++;
    stamp(p, s, km_now(), a);
    return 0;
}

/* Grows the spare waiter channels by one; unlocked on entry and exit. */
static int grow_chans(km_pool *p)
{
    km_chan *c;
    int rc = km_chan_new(&c, sizeof(km_pool_res *), 1);
    if (rc)
        return rc;
    for (;;) {
        km__pool_lock(p);
        /* room for every channel, those out with waiters included */
        if (p->totchans < p->capchans) {
            p->chans[p->nchans++] = c;
            p->totchans++;
            km__pool_unlock(p);
            return 0;
        }
        int cap = p->capchans;
        km__pool_unlock(p);
        int ncap = cap ? cap * 2 : 8;
        km_chan **a = km__malloc((size_t)ncap * sizeof *a);
        if (!a) {
            km_chan_free(c);
            return -ENOMEM;
        }
        km__pool_lock(p);
        if (p->capchans == cap) {
            if (p->nchans)
                memcpy(a, p->chans, (size_t)p->nchans * sizeof *a);
            km_chan **old = p->chans;
            p->chans = a;
            p->capchans = ncap;
            a = old;
        }
        km__pool_unlock(p);
        km__free(a);            /* the old array, or ours if someone grew it first */
    }
}

#define REF() do { if (!ref) { ref = true; p->n_ref++; } } while (0)

int km_pool_acquire(km_pool *p, int64_t deadline, km_pool_res **out)
{
    if (!p || !out)
        return -EINVAL;
    const int64_t t0 = km_now();
    int64_t now = t0;
    if (deadline == KM_FOREVER)
        deadline = km__pool_after(t0, p->acquire_timeout);
    else if (deadline < 0)
        deadline = 0;
    acq_who a;
    a.npcs = 0;
    a.goid = 0;
    if (p->leak_threshold != KM_FOREVER) {
        a.goid = km_goid();
        a.npcs = km__pool_leak_capture(a.pcs);
    }
    /* ref: this call will unlock and come back, so the pool must not be
     * reported drained (and freed) under it. */
    bool ref = false;
    km_pool_res *s = NULL;
    km_chan *give_ch = NULL;
    int rc;
    km__pool_lock(p);
    for (;;) {
        if (p->closed) {
            rc = -ESHUTDOWN;
            break;
        }
        /* Waiters first: a newcomer takes an idle resource only when nobody
         * queues (the idle list is empty while anybody does, anyway). */
        if (!p->wq_head && (s = p->idle_head)) {
            km__pool_idle_unlink(p, s);
            p->n_idle--;
            if (now >= s->expires) {
                s->state = KM__PS_CLOSING;
                p->n_closing++;
                REF();
                km__pool_unlock(p);
                km__pool_close_res(p, s, KM_POOL_LIFETIME);
                now = km_now();
                km__pool_lock(p);
                continue;
            }
            s->state = KM__PS_INUSE;
            p->n_inuse++;
            /* the loan starts once validated; until then the leak scan
             * must not judge it by the previous loan's time */
            s->leak_reported = true;
            int64_t alive = s->last_used > s->last_alive ? s->last_used : s->last_alive;
            if (p->ops.validate && p->alive_bypass != KM_FOREVER && now - alive > p->alive_bypass) {
                REF();
                km__pool_unlock(p);
                int64_t vdl = km__pool_dl_min(deadline, km__pool_after(now, p->validation_timeout));
                rc = p->ops.validate(p->ops.ud, s->res, km__pool_rt_dl(vdl));
                now = km_now();
                km__pool_lock(p);
                if (rc || p->closed) {
                    p->n_inuse--;
                    s->state = KM__PS_CLOSING;
                    p->n_closing++;
                    km__pool_unlock(p);
                    km__pool_close_res(p, s, rc ? KM_POOL_VALIDATION : KM_POOL_SHUTDOWN);
                    now = km_now();
                    km__pool_lock(p);
                    continue;
                }
                s->last_alive = now;
            }
            if (p->n_idle + p->n_checking < p->min_idle && p->free)
                km__pool_kick(p, p->refill_at);
            stamp(p, s, now, &a);
            rc = 0;
            break;
        }
        if ((s = p->free)) {
            p->free = s->next;
            s->state = KM__PS_OPENING;
            p->n_opening++;
            REF();
            km__pool_unlock(p);
            rc = open_for(p, s, deadline, &a, &give_ch);
            break;
        }
        /* Full: wait, unless the deadline has passed or the caller is
         * cancelled (a deadline already past never blocks). */
        if (now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        km_group *g = km_group_current();
        if (g && km_group_err(g)) {
            rc = -ECANCELED;
            break;
        }
        if (!p->nchans) {
            REF();
            km__pool_unlock(p);
            rc = grow_chans(p);
            now = km_now();
            km__pool_lock(p);
            if (rc)
                break;
            continue;
        }
        km__pool_waiter w = { .ch = p->chans[--p->nchans] };
        wq_push(p, &w);
        REF();
        km__pool_unlock(p);
        km_pool_res *got = NULL;
        rc = km_chan_recv_dl(w.ch, &got, km__pool_rt_dl(deadline));
        if (rc) {
            km__pool_lock(p);
            if (w.queued) {
                wq_unlink(p, &w);
                p->chans[p->nchans++] = w.ch;
                break;
            }
            km__pool_unlock(p);
            /* Handed over as we gave up: the sender is between its unlock
             * and its send, on another worker (nothing in between parks). */
            while (km_chan_recv_dl(w.ch, &got, 0) != 0)
                km_yield();
        }
        now = km_now();
        km__pool_lock(p);
        p->chans[p->nchans++] = w.ch;
        if (!got) {
            rc = -ESHUTDOWN;
            break;
        }
        s = got;
        if (s->state == KM__PS_OPENING) {
            km__pool_unlock(p);
            rc = open_for(p, s, deadline, &a, &give_ch);
            break;
        }
        stamp(p, s, now, &a);
        rc = 0;
        break;
    }
    if (rc == 0)
        p->acquires++;
    else if (rc == -ETIMEDOUT)
        p->timeouts++;          /* waiting, or an open that ran out of time */
    if (ref)
        p->n_ref--;
    bool drained = km__pool_drained_now(p);
    km_chan *d = p->drained;
    km_series *m_to = rc == -ETIMEDOUT ? p->m_timeouts : NULL;
    km_series *m_acq = rc == 0 ? p->m_acquire : NULL;
    km__pool_unlock(p);
    if (give_ch)
        km_chan_send(give_ch, &s);
    if (drained)
        km_chan_close(d);
    if (m_to)
        km_counter_inc(m_to);
    if (m_acq)
        km_histogram_observe(m_acq, (double)(km_now() - t0) / 1e9);
    if (rc == 0)
        *out = s;
    return rc;
}

/* ---- release ---- */

void km_pool_release(km_pool *p, km_pool_res *s, bool broken)
{
    if (!p || !s)
        return;
    int64_t now = km_now();
    km__pool_lock(p);
    if (s < p->slots || s >= p->slots + p->max_size || s->state != KM__PS_INUSE) {
        km__pool_unlock(p);
        fprintf(stderr, "kumo: km_pool_release of a resource not on loan from pool %s\n", p->name);
        abort();
    }
    p->n_inuse--;
    int reason = broken ? KM_POOL_BROKEN
               : p->closed ? KM_POOL_SHUTDOWN
               : now >= s->expires ? KM_POOL_LIFETIME : -1;
    if (reason >= 0) {
        s->state = KM__PS_CLOSING;
        p->n_closing++;
        km__pool_unlock(p);
        km__pool_close_res(p, s, reason);
        return;
    }
    s->last_used = now;
    km_chan *ch = km__pool_put_idle(p, s, now);
    km__pool_unlock(p);
    if (ch)
        km_chan_send(ch, &s);   /* the waiter holds a reference: p lives */
}
