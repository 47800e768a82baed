/* SPDX-License-Identifier: MIT */
/* Resource pools with HikariCP's guarantees for any resource: bounded size, minimum idle, deadlines, lifetime, validation, leak reports, metrics. */
#ifndef KUMO_POOL_H
#define KUMO_POOL_H

#include <stdbool.h>
#include "rt.h"
#include "log.h"
#include "metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pool of resources (connections, sessions, handles) that the program
 * opens, checks and closes through three callbacks. At most max_size exist
 * at once (those being opened or closed included); acquirers wait in FIFO
 * order for one, never past their deadline. A goroutine of the pool (the
 * housekeeper) keeps min_idle resources idle, retires idle ones past their
 * idle timeout or lifetime, validates idle ones every keepalive interval
 * and reports resources held past the leak threshold. Safe to share between
 * goroutines on any number of workers; acquire and release take a spinlock
 * for a few dozen instructions and allocate nothing once the pool has
 * warmed up. */
typedef struct km_pool km_pool;

/* A resource on loan: what km_pool_acquire hands out and km_pool_release
 * takes back. Owned by the pool; valid from the acquire to the release. */
typedef struct km_pool_res km_pool_res;

/* Why a resource was closed (the close callback's reason, and the reason
 * label of kumo_pool_closed_total). */
enum {
    KM_POOL_IDLE = 0,       /* idle longer than idle_timeout (beyond min_idle) */
    KM_POOL_LIFETIME,       /* older than its lifetime (when idle or returned) */
    KM_POOL_BROKEN,         /* released with broken = true */
    KM_POOL_VALIDATION,     /* the validate callback failed */
    KM_POOL_SHUTDOWN,       /* the pool was closed */
    KM_POOL_NREASONS
};
/* "idle", "lifetime", "broken", "validation", "shutdown"; "?" otherwise. */
const char *km_pool_reason_name(int reason);

/* The resource's callbacks; ud is passed to each. They run in the goroutine
 * of an acquire or a release, or in the pool's housekeeper, never under a
 * lock of the pool, and may block (park) as long as their deadline allows.
 * The housekeeper belongs to no cancellation group of the caller's; it is
 * cancelled by km_pool_close. */
typedef struct {
    /* Opens a resource before deadline (absolute, monotonic ns) and stores
     * it in *out. 0, or -errno: an acquirer that needed the resource gets
     * that error; the housekeeper retries later with backoff. Required. */
    int  (*open)(void *ud, int64_t deadline, void **out);
    /* Checks that res still works (a ping). 0, or -errno: res is closed
     * with KM_POOL_VALIDATION. NULL: resources are never validated. */
    int  (*validate)(void *ud, void *res, int64_t deadline);
    /* Closes res for reason (KM_POOL_*); res is never used again. Cannot
     * fail. Required. */
    void (*close)(void *ud, void *res, int reason);
    void *ud;
} km_pool_ops;

/* A leak report: a resource held longer than leak_threshold, given once
 * per loan. Everything is borrowed for the duration of the call. */
typedef struct {
    const char  *pool;          /* the pool's name */
    void        *res;           /* the resource, to tell which one: its holder
                                   may be releasing it as the report runs */
    uint64_t     goid;          /* goroutine that acquired it (0: not a goroutine) */
    int64_t      held;          /* ns since it was acquired */
    void *const *pcs;           /* return addresses at the acquire, innermost
                                   first (glibc backtrace(); symbolise with
                                   dladdr or `addr2line -f -e PROGRAM`) */
    int          npcs;
    /* That goroutine's entry in a km_dump() taken now: its name, state,
     * what it waits on and its parked stack; "" if it has exited. */
    const char  *stack;
} km_pool_leak;
typedef void km_pool_leak_fn(void *ud, const km_pool_leak *leak);

/* Metrics of every pool that names this object in its configuration, in
 * one registry, each series labelled pool="NAME":
 *   kumo_pool_open, kumo_pool_idle, kumo_pool_in_use, kumo_pool_waiting
 *       gauges, read from the pools at each scrape
 *   kumo_pool_acquire_seconds       histogram: acquire latency (successful
 *                                   acquires, waiting, opening and
 *                                   validating included)
 *   kumo_pool_acquire_timeouts_total  acquires that ended in -ETIMEDOUT
 *   kumo_pool_created_total         resources opened
 *   kumo_pool_open_errors_total     failed opens
 *   kumo_pool_closed_total{reason}  closed, by KM_POOL_* reason name
 *   kumo_pool_leaks_total           leak reports */
typedef struct km_pool_metrics km_pool_metrics;
/* Registers the families in r. buckets: histogram upper bounds in seconds
 * (NULL: 10 us, 100 us, 500 us, 1 ms, 5 ms, 10 ms, 50 ms, 100 ms, 500 ms,
 * 1 s, 5 s, 10 s, 30 s). The caller owns *out. 0; -EEXIST (r already has
 * them); -EINVAL (bad buckets); -ENOMEM. */
int  km_pool_metrics_new(km_pool_metrics **out, km_metrics *r,
                         const double *buckets, size_t nbuckets);
/* Frees pm (the families stay in the registry): every pool using it must
 * have been freed, and no scrape of r may be in progress. */
void km_pool_metrics_free(km_pool_metrics *pm);

/* Settings; zero-initialise and set what you need. Durations are ns; for
 * those marked so, KM_FOREVER switches the feature off. */
typedef struct {
    const char *name;           /* metrics label and logs; NULL: "pool"; copied */
    int     max_size;           /* resources at most, in any state; 0: 10 */
    int     min_idle;           /* idle resources kept open (0..max_size): the
                                   housekeeper opens more whenever fewer are idle
                                   and max_size allows; 0: none */
    /* How long an acquire called with KM_FOREVER may wait (HikariCP's
     * connectionTimeout: a pool never waits silently forever). 0: 30 s;
     * KM_FOREVER: no bound. */
    int64_t acquire_timeout;
    int64_t open_timeout;       /* bound of one open (the housekeeper's, and an
                                   acquirer's within its deadline); 0: 30 s */
    int64_t validation_timeout; /* bound of one validate; 0: 5 s */
    /* A resource idle (since its release or its last successful validation)
     * longer than this is validated before it is handed out (HikariCP's
     * aliveBypassWindow). 0: 500 ms; KM_FOREVER: never. */
    int64_t alive_bypass;
    /* Lifetime of a resource, less a random jitter in [0, lifetime_jitter)
     * drawn for each one so that they do not all expire together; past it,
     * it is closed when found idle or when returned, never while in use.
     * 0: 30 min; KM_FOREVER: none. Jitter 0: max_lifetime / 40 (2.5%, as
     * HikariCP); negative: none. */
    int64_t max_lifetime;
    int64_t lifetime_jitter;
    /* An idle resource unused this long is closed, while more than min_idle
     * are idle. 0: 10 min; KM_FOREVER: never. */
    int64_t idle_timeout;
    /* Idle resources are validated this often (HikariCP's keepaliveTime),
     * so that a peer or a middlebox that drops silent connections is
     * noticed before a caller is handed one. 0 or KM_FOREVER: never. */
    int64_t keepalive;
    /* After failed opens, the housekeeper's refill waits this long, doubling
     * up to backoff_max. 0: 50 ms and 5 s. */
    int64_t backoff_min, backoff_max;
    /* A resource held longer than this is reported once per loan. When on,
     * each acquire records the caller's stack (a glibc backtrace(), about a
     * microsecond). 0 or KM_FOREVER: off. */
    int64_t leak_threshold;
    /* Receives leak reports, in the housekeeper. NULL: a warning through
     * log (fields pool, goroutine, held_ms, acquired_at, stack), or on
     * stderr without a logger. */
    km_pool_leak_fn *on_leak;
    void            *leak_ud;
    /* Leak warnings and failed background opens (warn). NULL: stderr for
     * leaks, nothing for opens. The caller's; it outlives the pool. */
    km_logger       *log;
    /* The pool's metrics; the caller's, it outlives the pool. NULL: none. */
    km_pool_metrics *metrics;
} km_pool_config;

/* Creates a pool and starts its housekeeper (a goroutine, in a
 * cancellation group of its own), which opens min_idle resources in the
 * background; must run while km_main runs. ops is copied. The caller owns
 * *out: km_pool_close, then km_pool_free.
 * 0; -EINVAL (ops, open or close NULL, a size or duration out of range);
 * -EEXIST (metrics already has a pool of that name); -ENOMEM; -ESRCH (the
 * runtime is not running). */
int  km_pool_new(km_pool **out, const km_pool_ops *ops, const km_pool_config *cfg);

/* Takes a resource: an idle one (validated first if it sat idle past
 * alive_bypass), else a new one opened in the calling goroutine if fewer
 * than max_size exist, else waits in FIFO order for one that is released
 * (or for room to open one), until deadline (KM_FOREVER: now +
 * acquire_timeout). Idle resources past their lifetime or failing
 * validation are closed on the way and the search goes on. A deadline
 * already past never blocks. Waiting needs a goroutine; the rest works on
 * any thread. On success *out is the caller's until km_pool_release.
 * 0; -ETIMEDOUT (deadline passed: counted in kumo_pool_acquire_timeouts_total);
 * -ECANCELED (the caller's cancellation group was cancelled); -ESHUTDOWN
 * (the pool is closed, or was closed while waiting); the open callback's
 * error; -ENOMEM (no memory for the first wait of this many goroutines at
 * once); -EPERM (would wait outside a goroutine). */
int  km_pool_acquire(km_pool *p, int64_t deadline, km_pool_res **out);

/* The resource that r stands for (what the open callback made). */
void *km_pool_res_value(const km_pool_res *r);

/* Gives r back. broken: the caller saw it fail (a reset connection, a
 * protocol error): it is closed (KM_POOL_BROKEN) instead of being reused.
 * A resource past its lifetime, or returned to a closed pool, is closed
 * too, in the calling goroutine; otherwise it goes to the first waiter or
 * to the idle list. r must have come from p and be released once (a
 * resource that is not on loan aborts the process with a message, as the
 * unlock of an unlocked km_mutex does). */
void km_pool_release(km_pool *p, km_pool_res *r, bool broken);

/* Closes the pool: later acquires and every waiter get -ESHUTDOWN, idle
 * resources are closed now (in the caller), the housekeeper stops, and
 * resources in use are closed when they are returned. Then waits until all
 * of that is done, until deadline. Idempotent: call again to wait more.
 * 0 (every resource closed); -ETIMEDOUT (some still in use or being
 * opened); -ECANCELED (the caller's group was cancelled while waiting). */
int  km_pool_close(km_pool *p, int64_t deadline);

/* Frees a pool that km_pool_close has drained. 0, or -EBUSY (not closed,
 * or resources still out: nothing is freed). */
int  km_pool_free(km_pool *p);

/* Counts now (gauges) and since creation (counters). */
typedef struct {
    int      max_size;
    int      open;              /* idle + in use (being opened or closed not included) */
    int      idle;              /* idle ones being keep-alive checked included */
    int      in_use;            /* on loan, or being validated for an acquirer */
    int      waiting;           /* acquirers waiting */
    int      opening, closing;
    uint64_t acquires, timeouts, created, open_errors, leaks;
    uint64_t closed[KM_POOL_NREASONS];
} km_pool_stats;
/* Fills *out. 0 or -EINVAL. */
int  km_pool_stats_read(km_pool *p, km_pool_stats *out);

#ifdef __cplusplus
}
#endif
#endif
