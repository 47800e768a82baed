/* SPDX-License-Identifier: MIT */
/* Resilience internals: injected clocks and randomness, lock-free sliding windows. */
#ifndef KM_RESIL_INT_H
#define KM_RESIL_INT_H

#include <kumo/resil.h>
#include <stdatomic.h>
#include "rt/rt-int.h"

#define KM__SEC 1000000000LL

/* An injectable clock: fn(ud), or km_now(). */
typedef struct { km_clock_fn *fn; void *ud; } km__clock;
static inline int64_t km__clock_now(const km__clock *c)
{
    return c->fn ? c->fn(c->ud) : km_now();
}

/* Uniform in [0, 1) from an injectable source. */
static inline double km__rand01(km_rand_fn *fn, void *ud)
{
    uint32_t v = fn ? fn(ud) : km__rand();
    return v / 4294967296.0;
}

/* A sliding window of n buckets of bucket_ns each. Every slot is one
 * 64-bit word: the bucket's number (32 bits of now / bucket_ns) and its
 * value. Updating is a CAS that also recycles a stale slot, so counts are
 * exact without a lock, and a reader skips slots whose number lies outside
 * the window (no timer has to clear them). */
#define KM__WIN_MAX 64
typedef struct {
    int64_t          bucket_ns;
    int              n;
    _Atomic uint64_t slot[KM__WIN_MAX];
} km__window;

/* 0 or -EINVAL (span <= 0, n outside 1..KM__WIN_MAX, span < n ns). */
int      km__win_init(km__window *w, int64_t span_ns, int n);
uint32_t km__win_epoch(const km__window *w, int64_t now);
/* Adds delta (may be negative; never below 0) to now's bucket. */
void     km__win_add(km__window *w, int64_t now, int32_t delta);
/* Keeps the smallest v (>= 1) seen in now's bucket; 0 reads as empty. */
void     km__win_min(km__window *w, int64_t now, uint32_t v);
/* Sum over the n buckets ending with now's. */
uint64_t km__win_sum(km__window *w, int64_t now);
/* Largest and smallest non-zero value over the buckets before now's that
 * are within the window (complete buckets only); 0 if there are none. */
uint32_t km__win_max_done(km__window *w, int64_t now);
uint32_t km__win_min_done(km__window *w, int64_t now);

/* GCRA (ratelimit.c): interval and tolerance for rate and burst (0 or
 * -EINVAL); one take against tat at now (0, or -EAGAIN and *wait). */
int km__gcra_params(double rate, int burst, int64_t *interval, int64_t *tau);
int km__gcra_take(_Atomic int64_t *tat, int64_t interval, int64_t tau, int64_t now,
                  int64_t *wait);

/* Answers status with Retry-After: wait rounded up to seconds (>= 1). */
void km__send_retry_after(km_http_resp *w, int status, int64_t wait, const char *msg);

#endif
