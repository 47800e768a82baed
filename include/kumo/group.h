/* SPDX-License-Identifier: MIT */
/* Cancellation groups: Go's context.Context for goroutines, done the C way. */
#ifndef KUMO_GROUP_H
#define KUMO_GROUP_H

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A group of goroutines that can be cancelled together.
 *
 * Members are the goroutines started with km_group_go() and, recursively,
 * every goroutine they start with km_go(). Cancelling the group (or any
 * ancestor group, or reaching its deadline) makes every blocking call of
 * every member — channel operations, select, sleeps, mutex lock_dl, wait
 * groups, conditions — return -ECANCELED promptly, now and for each later
 * call. Members finish on their own terms (they must return); the owner
 * waits for them with km_group_wait().
 *
 *     km_group *g;
 *     km_group_new(&g, NULL, km_now() + 2 * 1000000000LL);  // 2 s budget
 *     km_group_go(g, fetch, &req);       // fetch's calls see -ECANCELED
 *     ...                                // after 2 s or km_group_cancel(g)
 *     km_group_cancel(g);
 *     km_group_wait(g, KM_FOREVER);      // every member has returned
 *     km_group_free(g);
 */
typedef struct km_group km_group;

/* Creates a group. parent (may be NULL) cancels it when cancelled itself;
 * the group's deadline is the earlier of deadline and the parent's
 * (KM_FOREVER: none). The caller owns *out. 0, -EINVAL or -ENOMEM. */
int  km_group_new(km_group **out, km_group *parent, int64_t deadline);

/* Starts fn(arg) as a member. 0, -ECANCELED if the group is already
 * cancelled (nothing started), or km_go's errors. */
int  km_group_go(km_group *g, km_fn *fn, void *arg);

/* Runs fn(arg) in the calling goroutine as if it were a member of g: its
 * blocking calls see g's deadline and cancellation (Go's
 * context.WithTimeout around one call). Goroutines fn starts join g.
 * Returns km_group_err(g) after fn returned: 0 or -ECANCELED; -EINVAL,
 * -EPERM outside a goroutine. */
int  km_group_run(km_group *g, km_fn *fn, void *arg);

/* Cancels g and its descendant groups. Idempotent; callable from any
 * goroutine, members included. */
void km_group_cancel(km_group *g);

/* 0 while live; -ECANCELED once cancelled or past its deadline. */
int  km_group_err(km_group *g);

/* Parks until every member has returned. 0, or -ETIMEDOUT. Not itself
 * cancellable by g (a member waiting for its own group would wait forever:
 * -EDEADLK). */
int  km_group_wait(km_group *g, int64_t deadline);

/* Frees g: no member may be running and no child group may remain.
 * Returns 0 or -EBUSY (then nothing is freed). */
int  km_group_free(km_group *g);

/* The calling goroutine's group, or NULL. */
km_group *km_group_current(void);

#ifdef __cplusplus
}
#endif
#endif
