/* SPDX-License-Identifier: MIT */
/* Wait queues of parked goroutines, shared by channels and sync objects. */
#ifndef KM_RT_WAIT_H
#define KM_RT_WAIT_H

#include "rt-int.h"

/* A parked goroutine in some object's wait queue: lives on the waiter's
 * stack while it is parked. tok is what a waker claims the G with (for
 * select, 1 + the case index). */
typedef struct km__waiter {
    km__g              *g;
    struct km__waiter  *next, *prev;
    void               *elem;   /* channels: recv destination, send source */
    const void         *addr;   /* parking lot: the address waited on */
    int                 tok;
    int                 rc;     /* set by the waker: 0 or -EPIPE */
    bool                queued;
} km__waiter;

typedef struct { km__waiter *head, *tail; } km__waitq;

static inline void km__wq_push(km__waitq *q, km__waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail) q->tail->next = w; else q->head = w;
    q->tail = w;
    w->queued = true;
}

static inline void km__wq_unlink(km__waitq *q, km__waiter *w)
{
    if (w->prev) w->prev->next = w->next; else q->head = w->next;
    if (w->next) w->next->prev = w->prev; else q->tail = w->prev;
    w->next = w->prev = NULL;
    w->queued = false;
}

/* Pops waiters until one can be claimed (others already woke for another
 * reason: a select case elsewhere, a deadline, cancellation). */
static inline km__waiter *km__wq_claim(km__waitq *q)
{
    km__waiter *w;
    while ((w = q->head)) {
        km__wq_unlink(q, w);
        if (km__claim(w->g, w->tok))
            return w;
    }
    return NULL;
}

/* Parks the current G (armed, waiter w filled in) on q, whose lock l the
 * caller holds; releases l. Returns the token: w->tok when a waker took
 * w off q, else a timeout or cancellation token (w is then off q too). */
int km__wq_wait(km__waitq *q, km__lock *l, km__waiter *w, int64_t deadline,
                bool cancellable);

/* Parking lot: wait queues keyed by address, for objects that must not be
 * touched by their waker once the waiter may return (wait group, once).
 * Parks the current G on addr unless validate(addr, ud), run under the
 * queue's lock, returns false. If the G leaves on its deadline or by
 * cancellation before any unpark reached it, gone(ud) runs under the same
 * lock. 0 once unparked, 1 if not parked, -ETIMEDOUT, -ECANCELED (when
 * cancellable), or -EPERM outside a goroutine. */
int km__lot_park(const void *addr, bool (*validate)(const void *addr, void *ud),
                 void (*gone)(void *ud), void *ud, int64_t deadline, bool cancellable,
                 const char *reason);
/* Wakes every G parked on addr. locked(ud), if given, runs first under
 * the queue's lock. Returns how many were woken. */
int km__lot_unpark_all(const void *addr, void (*locked)(void *ud), void *ud);
/* Runs fn(ud) under the lock of addr's queue; returns its result. */
int km__lot_with_lock(const void *addr, int (*fn)(void *ud), void *ud);

#endif
