/* SPDX-License-Identifier: MIT */
/* The hot path: counter, gauge and histogram updates on per-worker shards. */
#include "metrics-int.h"
#include <math.h>

/* A worker's shard of s (-1: not a worker). *own: the shard has this
 * worker as its only writer, so a plain load and store suffice (a
 * goroutine cannot be moved between them); the shared shard, for the
 * other threads, needs atomic read-modify-writes. */
static inline char *shard_of(const km_series *s, int worker, bool *own)
{
    *own = worker >= 0 && worker < s->nown;
    return s->cells + (size_t)(*own ? worker : s->nown) * s->stride;
}

/* The calling thread's. */
static inline char *shard(const km_series *s, bool *own)
{
    return shard_of(s, km__worker_index(), own);
}

static inline _Atomic uint64_t *word(char *cell, size_t i)
{
    return (_Atomic uint64_t *)(cell + i * sizeof(uint64_t));
}

static inline void add_d(_Atomic uint64_t *w, double v, bool own)
{
    uint64_t old = atomic_load_explicit(w, memory_order_relaxed);
    if (own) {
        atomic_store_explicit(w, km__d2bits(km__bits2d(old) + v), memory_order_relaxed);
        return;
    }
    while (!atomic_compare_exchange_weak_explicit(w, &old, km__d2bits(km__bits2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

static inline void add_u(_Atomic uint64_t *w, uint64_t v, bool own)
{
    if (own)
        atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) + v,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(w, v, memory_order_relaxed);
}

/* Counters keep whole increments in an integer word (one add, exact to
 * 2^64) and fractional ones in a double. */
void km_counter_add(km_series *s, double v)
{
    if (!s || s->kind != KM__COUNTER || !(v >= 0))
        return;
    bool own;
    char *c = shard(s, &own);
    if (v == 1)
        add_u(word(c, 1), 1, own);
    else if (v < 9007199254740992.0 && v == (double)(uint64_t)v)
        add_u(word(c, 1), (uint64_t)v, own);
    else
        add_d(word(c, 0), v, own);
}

void km_counter_inc(km_series *s)
{
    if (!s || s->kind != KM__COUNTER)
        return;
    bool own;
    char *c = shard(s, &own);
    add_u(word(c, 1), 1, own);
}

void km_counter_set(km_series *s, double v)
{
    if (!s || s->kind != KM__COUNTER)
        return;
    atomic_store_explicit(&s->value, km__d2bits(v - km__counter_shards(s)), memory_order_relaxed);
}

/* A gauge's whole-number adds (inc, dec) go to the calling worker's shard,
 * as a counter's do, so that a gauge moved on every request (requests in
 * flight) costs no locked instruction on a line all workers share. Its
 * word holds what set stored, less the shards at that moment, plus the
 * fractional adds. */
static int64_t gauge_shards(const km_series *s)
{
    return (int64_t)km__shards_sumu(s, 0);
}

void km_gauge_set(km_series *s, double v)
{
    if (!s || s->kind != KM__GAUGE)
        return;
    /* Exact when the gauge is only ever set (the shards stay 0). */
    int64_t n = gauge_shards(s);
    atomic_store_explicit(&s->value, km__d2bits(n ? v - (double)n : v), memory_order_relaxed);
}

static bool whole(double v)
{
    return v > -9007199254740992.0 && v < 9007199254740992.0 && v == (double)(int64_t)v;
}

static void gauge_add_whole(km_series *s, int64_t v)
{
    bool own;
    char *c = shard(s, &own);
    add_u(word(c, 0), (uint64_t)v, own);
}

void km_gauge_add(km_series *s, double v)
{
    if (!s || s->kind != KM__GAUGE)
        return;
    if (whole(v))
        gauge_add_whole(s, (int64_t)v);
    else
        add_d(&s->value, v, false);
}

void km_gauge_inc(km_series *s)
{
    if (s && s->kind == KM__GAUGE)
        gauge_add_whole(s, 1);
}

void km_gauge_dec(km_series *s)
{
    if (s && s->kind == KM__GAUGE)
        gauge_add_whole(s, -1);
}

/* Bucket index of v: the first bound at or above it (n: +Inf). */
static inline size_t bucket(const km_series *s, double v)
{
    const double *b = s->m->bounds;
    size_t n = s->m->nbounds, i;
    if (n <= 16) {
        for (i = 0; i < n && !(v <= b[i]); i++)
            ;
        return i;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= b[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static inline void observe_in(char *c, size_t i, double v, bool own)
{
    add_u(word(c, 1 + i), 1, own);
    add_d(word(c, 0), v, own);
}

void km_histogram_observe(km_series *s, double v)
{
    if (!s || s->kind != KM__HISTOGRAM)
        return;
    size_t i = bucket(s, v);
    bool own;
    char *c = shard(s, &own);
    observe_in(c, i, v, own);
}

void km__request_done(km_series *in_flight, km_series *requests, km_series *duration, double secs)
{
    size_t i = bucket(duration, secs);
    int worker = km__worker_index();
    bool own;
    char *c = shard_of(in_flight, worker, &own);
    add_u(word(c, 0), (uint64_t)-1, own);
    c = shard_of(requests, worker, &own);
    add_u(word(c, 1), 1, own);
    c = shard_of(duration, worker, &own);
    observe_in(c, i, secs, own);
}

double km_series_value(const km_series *s)
{
    if (!s)
        return NAN;
    double base = km__bits2d(atomic_load_explicit(&s->value, memory_order_relaxed));
    if (s->kind == KM__GAUGE)
        return base + (double)gauge_shards(s);
    if (s->kind == KM__HISTOGRAM)
        return km__shards_sumd(s, 0);
    return base + km__counter_shards(s);
}

uint64_t km_histogram_count(const km_series *s)
{
    if (!s || s->kind != KM__HISTOGRAM)
        return 0;
    uint64_t n = 0;
    for (size_t i = 0; i <= s->m->nbounds; i++)
        n += km__shards_sumu(s, (1 + i) * sizeof(uint64_t));
    return n;
}
