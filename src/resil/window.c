/* SPDX-License-Identifier: MIT */
/* Lock-free sliding windows of counters, shared by the shedder, breaker and retry budget. */
#include "resil/resil-int.h"

static inline uint64_t pack(uint32_t epoch, uint32_t v) { return (uint64_t)epoch << 32 | v; }
static inline uint32_t ep(uint64_t w) { return (uint32_t)(w >> 32); }
static inline uint32_t val(uint64_t w) { return (uint32_t)w; }

int km__win_init(km__window *w, int64_t span_ns, int n)
{
    if (span_ns <= 0 || n < 1 || n > KM__WIN_MAX || span_ns < n)
        return -EINVAL;
    w->bucket_ns = span_ns / n;
    w->n = n;
    /* A slot numbered far from any real bucket, so a clock starting at 0
     * does not find "bucket 0, value 0" slots that look filled. */
    for (int i = 0; i < KM__WIN_MAX; i++)
        atomic_init(&w->slot[i], pack(UINT32_MAX / 2, 0));
    return 0;
}

uint32_t km__win_epoch(const km__window *w, int64_t now)
{
    return (uint32_t)((now < 0 ? 0 : now) / w->bucket_ns);
}

void km__win_add(km__window *w, int64_t now, int32_t delta)
{
    uint32_t e = km__win_epoch(w, now);
    _Atomic uint64_t *s = &w->slot[e % (uint32_t)w->n];
    uint64_t old = atomic_load_explicit(s, memory_order_relaxed), nw;
    do {
        int64_t v = ep(old) == e ? (int64_t)val(old) : 0;
        v += delta;
        if (v < 0)
            v = 0;
        if (v > UINT32_MAX)
            v = UINT32_MAX;
        nw = pack(e, (uint32_t)v);
    } while (!atomic_compare_exchange_weak_explicit(s, &old, nw, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void km__win_min(km__window *w, int64_t now, uint32_t v)
{
    if (v == 0)
        v = 1;
    uint32_t e = km__win_epoch(w, now);
    _Atomic uint64_t *s = &w->slot[e % (uint32_t)w->n];
    uint64_t old = atomic_load_explicit(s, memory_order_relaxed);
    for (;;) {
        if (ep(old) == e && val(old) && val(old) <= v)
            return;
        if (atomic_compare_exchange_weak_explicit(s, &old, pack(e, v), memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

uint64_t km__win_sum(km__window *w, int64_t now)
{
    uint32_t e = km__win_epoch(w, now);
    uint64_t sum = 0;
    for (int i = 0; i < w->n; i++) {
        uint64_t s = atomic_load_explicit(&w->slot[i], memory_order_relaxed);
        if ((uint32_t)(e - ep(s)) < (uint32_t)w->n)    /* unsigned: wraps safely */
            sum += val(s);
    }
    return sum;
}

static uint32_t scan_done(km__window *w, int64_t now, bool want_max)
{
    uint32_t e = km__win_epoch(w, now), best = 0;
    for (int i = 0; i < w->n; i++) {
        uint64_t s = atomic_load_explicit(&w->slot[i], memory_order_relaxed);
        uint32_t age = e - ep(s), v = val(s);
        if (age == 0 || age >= (uint32_t)w->n || !v)
            continue;
        if (!best || (want_max ? v > best : v < best))
            best = v;
    }
    return best;
}

uint32_t km__win_max_done(km__window *w, int64_t now) { return scan_done(w, now, true); }
uint32_t km__win_min_done(km__window *w, int64_t now) { return scan_done(w, now, false); }
