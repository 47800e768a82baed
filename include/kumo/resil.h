/* SPDX-License-Identifier: MIT */
/* Resilience: rate limiting, adaptive load shedding, circuit breaking, retries, deadlines. */
#ifndef KUMO_RESIL_H
#define KUMO_RESIL_H

#include <stdbool.h>
#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every object here keeps its state in atomics: no lock is taken on the
 * request path (the keyed limiter locks one of 64 shards for a few dozen
 * instructions). Objects are safe to share between goroutines and threads.
 *
 * Injection points, for tests and simulations: */

/* A monotonic clock in nanoseconds; NULL in a config means km_now(). */
typedef int64_t km_clock_fn(void *ud);
/* 32 uniformly random bits; NULL in a config means kumo's per-worker PRNG. */
typedef uint32_t km_rand_fn(void *ud);

/* ================= token-bucket rate limiter ================= */

/* A token bucket holding at most `burst` tokens, refilled at `rate` per
 * second. Kept as one atomic "theoretical arrival time" (the generic cell
 * rate algorithm, equivalent to a token bucket), so a take is one CAS. */
typedef struct km_ratelimit km_ratelimit;

typedef struct {
    double       rate;          /* tokens per second, > 0 (at most 1e9) */
    int          burst;         /* bucket size, >= 1 */
    km_clock_fn *clock;         /* NULL: km_now */
    void        *clock_ud;
} km_ratelimit_config;

/* Creates a full bucket; the caller frees it with km_ratelimit_free.
 * 0, -EINVAL (rate <= 0 or > 1e9, burst < 1), -ENOMEM. */
int  km_ratelimit_new(km_ratelimit **out, const km_ratelimit_config *cfg);
void km_ratelimit_free(km_ratelimit *l);

/* Takes one token without blocking. 0; or -EAGAIN and, if wait is not
 * NULL, *wait = nanoseconds until a token will be there. */
int  km_ratelimit_take(km_ratelimit *l, int64_t *wait);

/* Takes one token, sleeping (km_sleep) until it is there. A token that
 * would come after deadline is not taken and the call returns -ETIMEDOUT
 * at once, without sleeping. 0, -ETIMEDOUT, or -ECANCELED (the reserved
 * token is handed back). Waiters are served in the order they called. */
int  km_ratelimit_wait(km_ratelimit *l, int64_t deadline);

/* ---- keyed: one bucket per key (client address, route, tenant) ---- */

/* At most max_keys buckets live at once. A key's bucket that has refilled
 * completely carries no information, so such idle buckets are dropped
 * first when room is needed; if none is idle, the bucket closest to full
 * goes (its key gets at most that much extra). Keys are compared on
 * their first KM_RATELIMIT_KEY_MAX bytes plus a hash of the whole key. */
#define KM_RATELIMIT_KEY_MAX 64
typedef struct km_ratelimit_keyed km_ratelimit_keyed;

typedef struct {
    double       rate;          /* per key, tokens per second, > 0 */
    int          burst;         /* per key, >= 1 */
    int          max_keys;      /* 0: 10,000 */
    km_clock_fn *clock;         /* NULL: km_now */
    void        *clock_ud;
} km_ratelimit_keyed_config;

/* 0, -EINVAL, -ENOMEM. The caller frees it with km_ratelimit_keyed_free. */
int  km_ratelimit_keyed_new(km_ratelimit_keyed **out, const km_ratelimit_keyed_config *cfg);
void km_ratelimit_keyed_free(km_ratelimit_keyed *k);
/* As km_ratelimit_take for key's bucket (created full on first use).
 * 0 or -EAGAIN (and *wait). */
int  km_ratelimit_keyed_take(km_ratelimit_keyed *k, const void *key, size_t n, int64_t *wait);
/* Buckets held now (for tests and metrics). */
int  km_ratelimit_keyed_len(km_ratelimit_keyed *k);

/* ---- HTTP middleware: 429 Too Many Requests with Retry-After ---- */

enum {
    KM_RATELIMIT_BY_NONE = 0,   /* one bucket for the server: `global` */
    KM_RATELIMIT_BY_PATH,       /* per request path (without query): `keyed` */
    KM_RATELIMIT_BY_PEER,       /* per client IP address (no port): `keyed` */
};

/* The middleware's ud. The limiters are the caller's and must outlive the
 * server. A request over the limit is answered 429 with Retry-After (the
 * wait in seconds, rounded up) and does not reach the handler. */
typedef struct {
    int                  by;        /* KM_RATELIMIT_BY_* */
    km_ratelimit        *global;    /* for BY_NONE */
    km_ratelimit_keyed  *keyed;     /* for BY_PATH and BY_PEER */
} km_ratelimit_mw_config;

void km_ratelimit_http_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);

/* ================= adaptive load shedding (BBR) ================= */

/* Counts requests in flight and, over a sliding window of buckets, the
 * largest number of completions in one bucket (maxPass) and the smallest
 * response time (minRT). Their product, the throughput the server has shown
 * times the latency it can serve at, is by Little's law the concurrency it
 * can sustain without queueing; beyond it, requests only wait longer, so
 * they are refused early. With a CPU threshold, refusal starts only while
 * the CPU is busy, and then continues for cool_off after the last refusal
 * (refusing lowers the CPU, which must not switch shedding off at once). */
typedef struct km_shedder km_shedder;

/* CPU use in permille (0..1000) of what the process may use. */
typedef int km_cpu_fn(void *ud);

typedef struct {
    int64_t      window;        /* ns; 0: 1 s */
    int          buckets;       /* 0: 10 (at most 64) */
    int          cpu_threshold; /* permille; 0: shed on the in-flight limit alone */
    km_cpu_fn   *cpu;           /* NULL: process CPU time (getrusage) over the
                                   CPUs the process may run on, sampled at most
                                   every 100 ms, smoothed */
    void        *cpu_ud;
    int64_t      cool_off;      /* ns; 0: 1 s */
    km_clock_fn *clock;         /* NULL: km_now */
    void        *clock_ud;
} km_shedder_config;

/* cfg may be NULL (all defaults). 0, -EINVAL, -ENOMEM. */
int  km_shedder_new(km_shedder **out, const km_shedder_config *cfg);
void km_shedder_free(km_shedder *s);

/* Admits a request: 0 and *start (pass it to km_shedder_done), or -EBUSY
 * (shed: nothing to undo). Until a full bucket of completions has been
 * seen, everything is admitted. */
int  km_shedder_allow(km_shedder *s, int64_t *start);
/* Ends an admitted request; its response time counts toward minRT. */
void km_shedder_done(km_shedder *s, int64_t start);
/* Current in-flight count and limit (INT64_MAX when not known yet). */
int64_t km_shedder_inflight(km_shedder *s);
int64_t km_shedder_limit(km_shedder *s);

/* HTTP middleware, ud = the km_shedder (outlives the server): a shed
 * request is answered 503 with Retry-After: 1. */
void km_shedder_http_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);

/* ================= client-side adaptive throttling (SRE breaker) ================= */

/* Google SRE's client-side throttling: over a sliding window, `requests`
 * the client attempted (locally rejected ones included) and `accepts` the
 * backend took; a new request is rejected locally with probability
 * max(0, (requests - k * accepts) / (requests + 1)). A healthy backend is
 * never throttled (requests < k * accepts); a dead one is probed at a rate
 * that falls with its failures, and as the probes succeed, throttling
 * fades. There are no states to tune, no half-open timer. */
typedef struct km_breaker km_breaker;

typedef struct {
    double       k;             /* 0: 2.0 (lower is more aggressive; > 1 sensible) */
    int64_t      window;        /* ns; 0: 10 s */
    int          buckets;       /* 0: 10 (at most 64) */
    int          min_requests;  /* no throttling below this many requests in the window */
    km_clock_fn *clock;         /* NULL: km_now */
    void        *clock_ud;
    km_rand_fn  *rand;          /* NULL: kumo's PRNG */
    void        *rand_ud;
} km_breaker_config;

/* cfg may be NULL. 0, -EINVAL (k < 0...), -ENOMEM. */
int  km_breaker_new(km_breaker **out, const km_breaker_config *cfg);
void km_breaker_free(km_breaker *b);
/* 0: send the request, then call km_breaker_done; -ECONNREFUSED: rejected
 * locally (do not call km_breaker_done). Either way it counts as a request. */
int  km_breaker_allow(km_breaker *b);
/* ok: the backend accepted the request. An answer that the request itself
 * was wrong (a 4xx, a not-found) is accepted too; only overload, refusal,
 * timeouts, 5xx count as not ok. */
void km_breaker_done(km_breaker *b, bool ok);
/* The current probability of local rejection, 0..1 (for metrics). */
double km_breaker_reject_prob(km_breaker *b);

/* ================= retries ================= */

/* A retry budget shared by every caller of one backend: retries within the
 * window may add at most `ratio` of the first attempts plus `min_per_sec`
 * per second (Finagle's budget). It keeps retries from multiplying the
 * load on a backend that is already failing. */
typedef struct km_retry_budget km_retry_budget;

typedef struct {
    double       ratio;         /* e.g. 0.1: retries add at most 10% */
    double       min_per_sec;   /* allowed regardless of traffic */
    int64_t      window;        /* ns; 0: 10 s */
    km_clock_fn *clock;         /* NULL: km_now */
    void        *clock_ud;
} km_retry_budget_config;

/* cfg NULL: ratio 0.1, 10 per second, 10 s. 0, -EINVAL, -ENOMEM. */
int  km_retry_budget_new(km_retry_budget **out, const km_retry_budget_config *cfg);
void km_retry_budget_free(km_retry_budget *b);
/* Counts a first attempt (km_retry_do does it). */
void km_retry_budget_request(km_retry_budget *b);
/* Withdraws one retry: 0, or -EAGAIN when the budget is spent. */
int  km_retry_budget_take(km_retry_budget *b);

/* Returns true if err (negative errno from the attempt) is worth retrying. */
typedef bool km_retry_pred(int err, void *ud);
/* Sleeps ns (relative); 0 or -ECANCELED. */
typedef int km_sleep_fn(int64_t ns, void *ud);

/* Zero-initialise, set what you need. Backoff before retry i (1-based) is
 * uniform in [0, min(max_backoff, base * 2^(i-1))] ("full jitter"), so
 * clients that failed together do not retry together. */
typedef struct {
    int              max_attempts;  /* first attempt included; 0: 3 */
    int64_t          base;          /* ns; 0: 10 ms */
    int64_t          max_backoff;   /* ns; 0: 1 s */
    km_retry_budget *budget;        /* NULL: no budget */
    km_retry_pred   *retryable;     /* NULL: km_retry_default_pred */
    void            *retryable_ud;
    km_rand_fn      *rand;          /* NULL: kumo's PRNG */
    void            *rand_ud;
    km_sleep_fn     *sleep;         /* NULL: km_sleep */
    void            *sleep_ud;
    km_clock_fn     *clock;         /* NULL: km_now (deadline checks) */
    void            *clock_ud;
} km_retry_policy;

/* Connection-level and overload errors: -EAGAIN, -EBUSY, -ECONNREFUSED,
 * -ECONNRESET, -ECONNABORTED, -EPIPE, -ENETUNREACH, -EHOSTUNREACH,
 * -ETIMEDOUT. Never -ECANCELED. */
bool km_retry_default_pred(int err, void *ud);

/* One attempt: 0 on success or a negative errno. */
typedef int km_retry_fn(void *arg);

/* Runs fn(arg) until it returns 0, an error the policy does not retry, the
 * attempts run out, the budget refuses a retry, or the next attempt could
 * not start before deadline (then no sleep happens). The first attempt
 * always runs. policy NULL: the defaults. Returns 0, fn's last error, or
 * -ECANCELED if a backoff sleep was cancelled. *attempts (may be NULL)
 * gets the number of calls made. */
int  km_retry_do(const km_retry_policy *policy, km_retry_fn *fn, void *arg,
                 int64_t deadline, int *attempts);
/* The backoff before retry i (1-based) under policy: for callers that run
 * their own loop. */
int64_t km_retry_backoff(const km_retry_policy *policy, int retry);

/* ================= deadline propagation ================= */

/* A deadline crosses the wire as the time left, in whole milliseconds
 * (rounded down), in the header X-Kumo-Deadline-Ms: hosts do not share a
 * monotonic clock, but they agree on durations. */
#define KM_DEADLINE_HEADER "X-Kumo-Deadline-Ms"
#define KM_DEADLINE_BUF 24

/* Fills *out with the header for deadline (value stored in buf). 1 if
 * set, 0 for KM_FOREVER (nothing to send), -ETIMEDOUT if already past. */
int  km_deadline_header(int64_t deadline, km_http_kv *out, char buf[KM_DEADLINE_BUF]);

/* The calling goroutine's deadline: its cancellation group's (the one the
 * deadline middleware or km_http_mw_timeout runs the handler in), or
 * KM_FOREVER. */
int64_t km_deadline_current(void);

/* Server middleware: runs the rest of the chain with the deadline the
 * caller sent in X-Kumo-Deadline-Ms, capped by *(int64_t *)ud ns if ud is
 * not NULL and positive (the server's own limit, also applied when no
 * header came). It uses km_http_mw_timeout: blocking calls of the handler
 * return -ECANCELED past the deadline, and a handler that has not
 * answered by then gets 503. A header of 0 (already expired) is answered
 * 504 without calling the handler; a malformed header is ignored. */
void km_deadline_http_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);

#ifdef __cplusplus
}
#endif
#endif
