/* SPDX-License-Identifier: MIT */
/* Pool internals: slots, the waiter queue, the lock discipline shared by acquire, release and the housekeeper. */
#ifndef KM_POOL_INT_H
#define KM_POOL_INT_H

#include <kumo/pool.h>
#include <kumo/chan.h>
#include <kumo/group.h>
#include <stdatomic.h>
#include "rt/alloc.h"
#include "rt/lock.h"

/* Return addresses kept per loan for leak reports. */
#define KM__POOL_PCS 16

/* A slot's states. A pool has exactly max_size slots: a slot that is not
 * FREE holds (or is about to hold, or is releasing) a resource, which is
 * what bounds the resources in existence, closing ones included. */
enum {
    KM__PS_FREE = 0,        /* no resource; on the free list */
    KM__PS_OPENING,         /* its opener (an acquirer or the housekeeper) owns it */
    KM__PS_IDLE,            /* on the idle list */
    KM__PS_INUSE,           /* on loan, or validated for an acquirer */
    KM__PS_CHECKING,        /* off the idle list for a keep-alive validation */
    KM__PS_CLOSING,         /* its closer owns it */
};

/* The public km_pool_res is a slot. Fields other than state and the list
 * links are written only by whoever owns the slot in its current state
 * (opener, holder, closer) or under the lock. */
struct km_pool_res {
    void               *res;
    struct km_pool_res *next, *prev;    /* free list (next only) or idle list */
    int                 state;
    int64_t             created, expires;
    int64_t             last_used;      /* released (or opened) at */
    int64_t             last_alive;     /* last successful validation, or opened at */
    /* the loan, for leak reports (under the lock) */
    int64_t             taken;
    uint64_t            goid;
    bool                leak_reported;
    int                 npcs;
    void               *pcs[KM__POOL_PCS];
};

/* An acquirer waiting for a resource: on its stack while it waits. The
 * waker sends what it hands over on ch, a channel of the pool's (never the
 * waiter's stack: the waiter may be gone by the time the send completes). */
typedef struct km__pool_waiter {
    struct km__pool_waiter *next, *prev;
    km_chan                *ch;
    bool                    queued;
} km__pool_waiter;

struct km_pool {
    km__lock         lock;          /* everything below that changes */
    char            *name;
    km_pool_ops      ops;
    /* settings, normalised: KM_FOREVER for "off" */
    int              max_size, min_idle;
    int64_t          acquire_timeout, open_timeout, validation_timeout;
    int64_t          alive_bypass, max_lifetime, lifetime_jitter, idle_timeout;
    int64_t          keepalive, backoff_min, backoff_max, leak_threshold;
    km_pool_leak_fn *on_leak;
    void            *leak_ud;
    km_logger       *log;

    km_pool_res     *slots;
    km_pool_res     *free;          /* FREE slots */
    km_pool_res     *idle_head;     /* most recently released first */
    km_pool_res     *idle_tail;
    int              n_idle, n_inuse, n_checking, n_opening, n_closing;
    km__pool_waiter *wq_head, *wq_tail;
    int              n_waiting;
    /* Waiters' channels (cap 1, element: km_pool_res *), reused: the
     * array grows to the most goroutines that ever waited at once
     * (totchans: spare ones and those out with waiters). */
    km_chan        **chans;
    int              nchans, totchans, capchans;
    uint64_t         rng;
    bool             closed;
    int              n_ref;         /* acquires that unlocked and will come back */
    km_chan         *drained;       /* closed once closed and every slot FREE */
    bool             drained_sent;

    /* housekeeper */
    km_group        *hk_group;
    km_chan         *hk_wake;       /* cap 1: a kick */
    int64_t          hk_next;       /* when it will look next (KM_FOREVER: asleep) */
    bool             hk_kicked;
    int64_t          backoff, refill_at;

    /* cumulative counts (under the lock) */
    uint64_t         acquires, timeouts, created, open_errors, leaks;
    uint64_t         closed_n[KM_POOL_NREASONS];

    /* metrics: series resolved once; NULL without metrics */
    km_pool_metrics *pm;
    struct km_pool  *pm_next;       /* pm's list of pools */
    km_series       *m_acquire, *m_timeouts, *m_created, *m_open_errors, *m_leaks;
    km_series       *m_closed[KM_POOL_NREASONS];
    km_series       *m_open, *m_idle, *m_inuse, *m_waiting;
};

static inline void km__pool_lock(km_pool *p)   { km__lock_acquire(&p->lock); }
static inline void km__pool_unlock(km_pool *p) { km__lock_release(&p->lock); }

/* ---- under the lock (acquire.c) ---- */

/* Gives s (just released, opened, or validated: state set by the caller to
 * anything but IDLE) to the first waiter, as INUSE, or puts it on the idle
 * list. Returns the channel to send s on after unlocking, or NULL. */
km_chan *km__pool_put_idle(km_pool *p, km_pool_res *s, int64_t now);
/* s no longer holds a resource: hands it to the first waiter as a permit
 * to open (state OPENING), or puts it on the free list. Returns the
 * channel to send s on after unlocking, or NULL; *drained is set when the
 * pool is closed and this was the last slot in use (the caller closes
 * p->drained after unlocking, as its last touch of p). */
km_chan *km__pool_slot_free(km_pool *p, km_pool_res *s, bool *drained);
/* Unlinks s from the idle list. */
void km__pool_idle_unlink(km_pool *p, km_pool_res *s);
/* Wakes the housekeeper if due is before it means to look. */
void km__pool_kick(km_pool *p, int64_t due);
/* The expiry of a resource created at now: lifetime less jitter. */
int64_t km__pool_expiry(km_pool *p, int64_t now);

/* ---- without the lock ---- */

/* Closes s's resource (state CLOSING, counted in n_closing, set by the
 * caller), counts it, and frees the slot. May be the caller's last touch
 * of p. */
void km__pool_close_res(km_pool *p, km_pool_res *s, int reason);
/* Opens a resource into s (state OPENING, owned by the caller) before
 * deadline; on success fills s's times. 0 or the open callback's error
 * (counted; the caller frees the slot). */
int  km__pool_open_res(km_pool *p, km_pool_res *s, int64_t deadline);
/* Internally "never" is INT64_MAX, so that times compare plainly;
 * KM_FOREVER only at the edges (settings, callers, the runtime). */
static inline int64_t km__pool_dl_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}
/* now + d, or INT64_MAX when d is KM_FOREVER. */
static inline int64_t km__pool_after(int64_t now, int64_t d)
{
    return d == KM_FOREVER ? INT64_MAX : now + d;
}
/* A deadline for the runtime or a callback. */
static inline int64_t km__pool_rt_dl(int64_t t)
{
    return t == INT64_MAX ? KM_FOREVER : t;
}

/* Under the lock: true once, when the pool is closed and nothing is left
 * in it (every slot FREE, no acquire inside); the caller then closes
 * p->drained after unlocking, as its last touch of p. */
static inline bool km__pool_drained_now(km_pool *p)
{
    if (!p->closed || p->drained_sent)
        return false;
    if (p->n_idle | p->n_inuse | p->n_checking | p->n_opening | p->n_closing | p->n_ref)
        return false;
    p->drained_sent = true;
    return true;
}

/* ---- housekeeper (house.c) ---- */
void km__pool_housekeeper(void *arg);

/* ---- leaks (leak.c) ---- */
/* Records the calling goroutine's stack into pcs (at most KM__POOL_PCS);
 * returns how many. */
int  km__pool_leak_capture(void **pcs);
/* Reports a leak through p's callback, logger or stderr. */
void km__pool_leak_report(km_pool *p, const km_pool_leak *leak);

/* ---- metrics (metrics.c) ---- */
/* Resolves p's series and links p into pm's list. 0, -EEXIST, -ENOMEM. */
int  km__pool_metrics_attach(km_pool_metrics *pm, km_pool *p);
void km__pool_metrics_detach(km_pool_metrics *pm, km_pool *p);

#endif
