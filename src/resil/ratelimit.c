/* SPDX-License-Identifier: MIT */
/* Token-bucket rate limiter kept as one atomic theoretical arrival time (GCRA). */
#include "resil/resil-int.h"

/* The bucket is the time `tat` at which it would be full again if nothing
 * more were taken: each token pushes it one interval further, and a token
 * may be taken while tat stays within burst intervals of now. One word,
 * so a take is a load and a CAS, and there is no refill to schedule. */
struct km_ratelimit {
    _Atomic int64_t tat;
    int64_t         interval;   /* ns per token */
    int64_t         tau;        /* burst * interval */
    km__clock       clock;
};

int km__gcra_params(double rate, int burst, int64_t *interval, int64_t *tau)
{
    if (!(rate > 0) || rate > 1e9 || burst < 1)
        return -EINVAL;
    double t = 1e9 / rate;
    *interval = t < 1 ? 1 : (int64_t)(t + 0.5);
    if (*interval > INT64_MAX / 4 / burst)
        return -EINVAL;
    *tau = *interval * burst;
    return 0;
}

int km__gcra_take(_Atomic int64_t *tat, int64_t interval, int64_t tau, int64_t now,
                  int64_t *wait)
{
    int64_t old = atomic_load_explicit(tat, memory_order_relaxed);
    for (;;) {
        int64_t next = (old > now ? old : now) + interval;
        if (next - now > tau) {
            if (wait)
                *wait = next - tau - now;
            return -EAGAIN;
        }
        if (atomic_compare_exchange_weak_explicit(tat, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 0;
    }
}

int km_ratelimit_new(km_ratelimit **out, const km_ratelimit_config *cfg)
{
    int64_t interval, tau;
    if (!out || !cfg)
        return -EINVAL;
    int rc = km__gcra_params(cfg->rate, cfg->burst, &interval, &tau);
    if (rc)
        return rc;
    km_ratelimit *l = km__calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    atomic_init(&l->tat, INT64_MIN / 2);        /* long ago: the bucket is full */
    l->interval = interval;
    l->tau = tau;
    l->clock = (km__clock){ cfg->clock, cfg->clock_ud };
    *out = l;
    return 0;
}

void km_ratelimit_free(km_ratelimit *l)
{
    km__free(l);
}

int km_ratelimit_take(km_ratelimit *l, int64_t *wait)
{
    return km__gcra_take(&l->tat, l->interval, l->tau, km__clock_now(&l->clock), wait);
}

int km_ratelimit_wait(km_ratelimit *l, int64_t deadline)
{
    int64_t now = km__clock_now(&l->clock);
    int64_t old = atomic_load_explicit(&l->tat, memory_order_relaxed), ready;
    /* Reserve the next token even if it lies in the future: later callers
     * reserve after it, so waiters are served in order. */
    for (;;) {
        int64_t next = (old > now ? old : now) + l->interval;
        ready = next - l->tau;
        if (ready > now && deadline != KM_FOREVER && ready > deadline)
            return -ETIMEDOUT;
        if (atomic_compare_exchange_weak_explicit(&l->tat, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    if (ready <= now)
        return 0;
    /* Relative, so an injected clock and the runtime's agree on durations. */
    int rc = km_sleep(ready - now);
    if (rc) {
        /* Hand the token back; if others reserved after it, they keep
         * their slots and the bucket is one token fuller than exact. */
        atomic_fetch_sub_explicit(&l->tat, l->interval, memory_order_relaxed);
        return rc;
    }
    return 0;
}
