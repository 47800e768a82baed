/* SPDX-License-Identifier: MIT */
/* Scheduler state: Ps (one per worker thread) and the global scheduler. */
#ifndef KM_RT_SCHED_INT_H
#define KM_RT_SCHED_INT_H

#include "rt-int.h"

#define KM__RUNQ    256     /* local run queue slots (power of two) */
#define KM__GCACHE  64      /* free goroutines (with stacks) cached per P */

/* What the goroutine that just switched back to g0 asked for. */
enum { KM__SW_PARK = 1, KM__SW_YIELD, KM__SW_EXIT };

/* Per-worker counters. Written only by the owning worker (relaxed stores),
 * read by anybody: no shared cache line is written on the hot path. */
typedef struct {
    atomic_ulong spawned, exited, parks, readies, steals, polls, switches;
} km__pstats;

struct km__p {
    int          id;
    /* Local run queue: a bounded ring. The owner writes tail; the owner and
     * thieves advance head by CAS, so it is lock-free for both. */
    atomic_uint  runqhead, runqtail;
    _Atomic(km__g *) runq[KM__RUNQ];
    /* The goroutine to run next: a peer just woken by this worker runs
     * before older work, keeping ping-pong pairs on one cache. */
    _Atomic(km__g *) runnext;
    _Atomic(km__g *) curg;      /* read by thieves: relaxed atomics */
    km__ctx      g0;            /* the worker thread's own stack */
    int          after;         /* KM__SW_* */
    km__g       *back;          /* the goroutine that switched back to g0 */
    km__g       *prev;          /* switched directly to its runnext peer;
                                   the resumed goroutine finishes it */
    uint32_t     schedtick;     /* scheduling rounds, for fairness checks */
    uint32_t     inherited;     /* runnext runs since schedtick last moved */
    bool         from_next;     /* the G about to run came from runnext */
    uint64_t     rng;
    bool         spinning;      /* looking for work to steal */
    /* Idle bookkeeping, under the scheduler lock. */
    km__p       *idlenext;
    bool         idle;
    atomic_uint  wakeseq;       /* futex word for sleeping */
    /* Free goroutine structs and stacks ready for reuse. */
    km__g       *gcache[KM__GCACHE];
    int          ngcache;
    char        *scache[KM__GCACHE];
    int          nscache;
    uint64_t     id_next, id_end;
    pthread_t    thread;
    void        *asan_lo;       /* g0 stack bounds, for ASan fiber switches */
    size_t       asan_size;
    void        *tsan_g0;
    km__pstats   st;
} __attribute__((aligned(64)));

struct km__sched {
    int          nprocs;
    km__p       *allp;
    km__lock     lock;          /* global queue, idle list, poller */
    km__g       *gq_head, *gq_tail;
    atomic_int   gq_size;
    km__p       *idle;          /* stack of idle Ps */
    atomic_int   npidle;
    atomic_int   nspinning;
    km__p       *poller;        /* idle P blocked in epoll, or NULL */
    km__p       *leaving;       /* former poller woken but not yet out of epoll */
    atomic_int   has_poller;    /* poller != NULL, readable without the lock */
    atomic_int   running;
    atomic_int   stop;
    atomic_ulong next_id;
    atomic_ulong foreign_spawned; /* goroutines spawned off the workers (km_main's,
                                   * other threads'); the rest count per P */
};
extern struct km__sched km__s;

km__p *km__getp(void);

/* run queue (runq.c) */
bool   km__runq_put(km__p *p, km__g *g, bool next);
km__g *km__runq_get(km__p *p);
bool   km__runq_empty(km__p *p);
int    km__runq_len(km__p *p);
km__g *km__runq_steal(km__p *p, km__p *victim, bool stealnext);
void   km__globq_put_locked(km__g *g);
km__g *km__globq_get_locked(km__p *p, int max);
/* The same, taking the lock itself; the batch is spread outside it. */
km__g *km__globq_get(km__p *p, int max);

/* idle and wake-ups (sched.c) */
void km__wakep(void);
void km__sched_timer_changed(void);
/* Makes sure some worker polls fds: wakes an idle one if none does. */
void km__sched_need_poller(void);

/* poller (poll.c) */
int  km__poll_init(void);
void km__poll_fini(void);
/* Waits for fd events until deadline (0: just look; KM_FOREVER: until
 * broken) and returns the goroutines they made runnable, linked by
 * schedlink (already claimed: the caller must ready them). Only the poller
 * (poller true) takes a km__poll_break wake-up, and then sets *woken. */
km__g *km__poll_wait(int64_t deadline, bool poller, bool *woken);
void km__poll_break(void);
/* Goroutines parked on fds (0 until the netpoller has users). */
int  km__poll_waiters(void);

#endif
