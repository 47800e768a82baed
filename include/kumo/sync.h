/* SPDX-License-Identifier: MIT */
/* Goroutine synchronisation: mutex, wait group, once, condition variable. */
#ifndef KUMO_SYNC_H
#define KUMO_SYNC_H

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mutex that parks the goroutine, never the thread. Under contention the lock
 * is handed to waiters in FIFO order, so no waiter starves. Not recursive.
 * km_mutex_new: 0 or -ENOMEM. Unlocking a mutex that is not locked aborts
 * with a message (as Go's "unlock of unlocked mutex" does). */
typedef struct km_mutex km_mutex;
int  km_mutex_new(km_mutex **out);
void km_mutex_lock(km_mutex *m);
/* 0 once locked; -ETIMEDOUT or -ECANCELED without the lock. */
int  km_mutex_lock_dl(km_mutex *m, int64_t deadline);
/* 0 if locked now, -EBUSY otherwise; never blocks. */
int  km_mutex_trylock(km_mutex *m);
void km_mutex_unlock(km_mutex *m);
void km_mutex_free(km_mutex *m);

/* Wait group: km_wg_add(n) before starting work, km_wg_done() per finished
 * unit, km_wg_wait() parks until the counter is zero. A counter going below
 * zero aborts with a message (Go panics). */
typedef struct km_wg km_wg;
int  km_wg_new(km_wg **out);
void km_wg_add(km_wg *wg, int delta);
void km_wg_done(km_wg *wg);
/* 0; -ECANCELED if the caller's group is cancelled. */
int  km_wg_wait(km_wg *wg);
/* 0, -ETIMEDOUT or -ECANCELED. */
int  km_wg_wait_dl(km_wg *wg, int64_t deadline);
void km_wg_free(km_wg *wg);

/* Runs fn exactly once; concurrent callers park until that run has returned.
 * Statically initialised with KM_ONCE_INIT; no cleanup needed. */
typedef struct { int state; } km_once;
#define KM_ONCE_INIT { 0 }
void km_once_do(km_once *o, km_fn *fn, void *arg);

/* Condition variable used with a km_mutex. */
typedef struct km_cond km_cond;
int  km_cond_new(km_cond **out);
/* Unlocks m, parks until signalled, relocks m before returning (also on
 * error). 0, -ETIMEDOUT or -ECANCELED. Spurious wake-ups do not happen, but
 * callers should still re-check their predicate, as with any condition. */
int  km_cond_wait(km_cond *c, km_mutex *m);
int  km_cond_wait_dl(km_cond *c, km_mutex *m, int64_t deadline);
void km_cond_signal(km_cond *c);
void km_cond_broadcast(km_cond *c);
void km_cond_free(km_cond *c);

#ifdef __cplusplus
}
#endif
#endif
