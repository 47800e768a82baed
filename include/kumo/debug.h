/* SPDX-License-Identifier: MIT */
/* Runtime diagnostics: statistics and the goroutine dump. */
#ifndef KUMO_DEBUG_H
#define KUMO_DEBUG_H

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A snapshot of the scheduler, for metrics. Counters are cumulative since
 * km_main started; the per-state counts are approximate while goroutines
 * run (they are read without stopping the world). */
typedef struct {
    int      procs;             /* worker threads */
    int      idle_procs;        /* workers asleep */
    int      spinning;          /* workers looking for work to steal */
    uint64_t goroutines;        /* alive: running + runnable + waiting */
    uint64_t running, runnable, waiting;
    uint64_t global_queue;      /* runnable goroutines in the global queue */
    uint64_t local_queues;      /* ... in the workers' local queues */
    uint64_t spawned, exited;   /* cumulative */
    uint64_t parks, readies, steals, polls, switches;
    int64_t  next_timer;        /* earliest pending deadline, or KM_FOREVER */
    uint64_t fd_waiters;        /* goroutines parked on fds */
    uint64_t offload_queue;     /* km_blocking calls waiting for a thread */
    int      offload_threads;   /* helper threads started */
} km_stats;

/* Fills *out. 0, or -ESRCH when the runtime is not running. */
int km_stats_read(km_stats *out);

/* Writes a dump of every goroutine to fd, like Go's SIGQUIT traceback: id,
 * name, state, what it waits on and for how long, and the return addresses
 * of its parked stack (frame pointers; `addr2line -f -e PROGRAM ADDR...`
 * names them). kumo also writes it to stderr on SIGQUIT, then exits with
 * status 2, as Go does. 0 or -errno from write. */
int km_dump(int fd);

#ifdef __cplusplus
}
#endif
#endif
