/* SPDX-License-Identifier: MIT */
/* Goroutines, the scheduler, time, the allocator hook and error names. */
#ifndef KUMO_RT_H
#define KUMO_RT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Conventions: functions return 0 (or a count) on success and a negative errno
 * value on failure. errno itself is never part of the contract. Blocking calls
 * take an absolute deadline in monotonic nanoseconds (see km_now()). */

typedef void km_fn(void *arg);

/* No deadline. A deadline already past (0 included) never blocks: the call
 * completes if it can at once, else returns -ETIMEDOUT. */
#define KM_FOREVER ((int64_t)-1)

/* Starts the worker threads (KM_PROCS env, default: the CPUs the process may
 * run on, as sched_getaffinity tells), runs fn(arg)
 * as the first goroutine on the calling thread's worker and returns when fn
 * returns. Goroutines still alive then are abandoned, as in Go. Environment:
 *   KM_PROCS        worker threads (1..1024)
 *   KM_STACK_SIZE   default goroutine stack, bytes, K/M suffix allowed (min 16K)
 *   KM_STACK_GUARD  1: every stack gets a PROT_NONE guard page (debug; one
 *                   memory mapping per goroutine)
 *   KM_POLL_SPIN_US how long an idle worker may keep polling fds before it
 *                   blocks in epoll, while recent waits were short
 *                   (0..10000, default 50; 0: block at once)
 *   KM_BLOCKING_THREADS  helper threads for km_blocking (default 64)
 * Returns 0, -EBUSY if the runtime is already running, -EINVAL for a bad
 * environment value, -ENOMEM or -EAGAIN if threads or memory are missing. */
int km_main(km_fn *fn, void *arg);

/* Options for km_go_opt(). Zero-initialise, then set what you need. */
typedef struct {
    size_t      stack_size; /* 0: the default (KM_STACK_SIZE); else 16 KiB..1 GiB */
    const char *name;       /* shown by km_dump(); must outlive the goroutine */
} km_go_opts;

/* Spawns fn(arg) as a new goroutine. It runs when a worker picks it up; the
 * spawner keeps running, except that a goroutine which has spawned far more
 * than the workers keep up with (4,096 waiting in the global queue) yields
 * once per spawn until they catch up. Callable from any thread while km_main
 * runs.
 * The goroutine's stack is secured before km_go returns: a goroutine that
 * was spawned always runs, and running out of memory never aborts the
 * process. When no stack (or goroutine record) can be had, km_go returns
 * -ENOMEM, nothing was spawned and fn(arg) will not run: arg still belongs
 * to the caller, which should refuse the work it stood for (close the
 * connection, answer 503) and may try again once memory is freed.
 * Returns 0, -ENOMEM, -EINVAL (fn NULL, bad stack size) or -ESRCH (runtime
 * not running). */
int km_go(km_fn *fn, void *arg);
int km_go_opt(km_fn *fn, void *arg, const km_go_opts *opts);

/* Lets other runnable goroutines run. Scheduling is cooperative: a goroutine
 * that never blocks and never yields keeps its worker thread to itself. */
void km_yield(void);

/* Monotonic clock, nanoseconds. */
int64_t km_now(void);

/* Sleeps ns nanoseconds (relative; <= 0 just yields). 0, or -ECANCELED if the
 * goroutine's cancellation group was cancelled, or -ENOMEM if the deadline
 * could not be armed for want of memory (then at once). Every wait with a
 * deadline (channels, locks, fds) may likewise fail with -ENOMEM. */
int km_sleep(int64_t ns);
/* Sleeps until the absolute monotonic deadline. 0, -ECANCELED or -ENOMEM. */
int km_sleep_until(int64_t deadline);

/* Id of the calling goroutine (>= 1), 0 outside goroutines. */
uint64_t km_goid(void);
/* Number of worker threads of the running runtime (0 if not running). */
int km_procs(void);

/* Name of a negative (or positive) errno value, e.g. "ETIMEDOUT: timed out". */
const char *km_strerror(int err);

/* One allocator hook for every allocation kumo makes (stacks excepted: they
 * are mmap'd). Set it before km_main; NULL restores malloc/realloc/free.
 * The realloc hook may be NULL, then kumo never reallocs. */
typedef struct {
    void *(*malloc_fn)(size_t n, void *ud);
    void *(*realloc_fn)(void *p, size_t n, void *ud);
    void  (*free_fn)(void *p, void *ud);
    void  *ud;
} km_allocator;
void km_set_allocator(const km_allocator *a);

#ifdef __cplusplus
}
#endif
#endif
