/* SPDX-License-Identifier: MIT */
/* Adaptive load shedding: in-flight limit from max pass rate x min response time (BBR). */
#include "resil/resil-int.h"
#include <sched.h>
#include <sys/resource.h>

#define UNKNOWN UINT32_MAX

struct km_shedder {
    km__window       pass;          /* completions per bucket */
    km__window       rt;            /* smallest response time per bucket, µs */
    _Alignas(64) _Atomic int64_t inflight;
    _Alignas(64) _Atomic uint64_t cache;    /* bucket number << 32 | limit */
    _Atomic int64_t  last_drop;     /* 0: never */
    int              cpu_threshold;
    km_cpu_fn       *cpu;
    void            *cpu_ud;
    int64_t          cool_off;
    km__clock        clock;
    /* the built-in CPU source */
    _Atomic int64_t  cpu_at;        /* km_now of the last sample, 0: none */
    _Atomic int64_t  cpu_used;      /* process CPU ns at that sample */
    _Atomic int      cpu_val;       /* smoothed permille */
    int              ncpu;
};

static int64_t process_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * KM__SEC +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* Process CPU time over wall time and the CPUs the process may use. One
 * caller per 100 ms wins the CAS and samples (one system call); the rest
 * read the last value. Smoothed so one busy burst does not start shedding. */
static int builtin_cpu(void *ud)
{
    km_shedder *s = ud;
    int64_t now = km_now(), at = atomic_load(&s->cpu_at);
    if (now - at >= KM__SEC / 10 && atomic_compare_exchange_strong(&s->cpu_at, &at, now)) {
        int64_t used = process_cpu_ns();
        int64_t prev = atomic_exchange(&s->cpu_used, used);
        if (at) {
            double cur = (double)(used - prev) * 1000 / ((double)(now - at) * s->ncpu);
            if (cur < 0) cur = 0;
            if (cur > 1000) cur = 1000;
            int old = atomic_load(&s->cpu_val);
            atomic_store(&s->cpu_val, (int)(old * 0.6 + cur * 0.4 + 0.5));
        }
    }
    return atomic_load(&s->cpu_val);
}

int km_shedder_new(km_shedder **out, const km_shedder_config *cfg)
{
    static const km_shedder_config none;
    if (!out)
        return -EINVAL;
    if (!cfg)
        cfg = &none;
    if (cfg->cpu_threshold < 0 || cfg->cpu_threshold > 1000 || cfg->cool_off < 0)
        return -EINVAL;
    km_shedder *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int64_t span = cfg->window ? cfg->window : KM__SEC;
    int n = cfg->buckets ? cfg->buckets : 10;
    if (km__win_init(&s->pass, span, n) || km__win_init(&s->rt, span, n)) {
        km__free(s);
        return -EINVAL;
    }
    atomic_init(&s->cache, (uint64_t)(UINT32_MAX / 2) << 32);
    s->cpu_threshold = cfg->cpu_threshold;
    s->cpu = cfg->cpu ? cfg->cpu : builtin_cpu;
    s->cpu_ud = cfg->cpu ? cfg->cpu_ud : s;
    s->cool_off = cfg->cool_off ? cfg->cool_off : KM__SEC;
    s->clock = (km__clock){ cfg->clock, cfg->clock_ud };
    cpu_set_t set;
    s->ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    if (s->ncpu < 1)
        s->ncpu = 1;
    *out = s;
    return 0;
}

void km_shedder_free(km_shedder *s)
{
    km__free(s);
}

/* maxPass x minRT in requests, recomputed once per bucket (the inputs only
 * change when a bucket completes). */
static uint32_t limit_at(km_shedder *s, int64_t now)
{
    uint32_t e = km__win_epoch(&s->pass, now);
    uint64_t c = atomic_load_explicit(&s->cache, memory_order_relaxed);
    if ((uint32_t)(c >> 32) == e)
        return (uint32_t)c;
    uint32_t maxp = km__win_max_done(&s->pass, now);
    uint32_t minrt = km__win_min_done(&s->rt, now);
    uint32_t lim = UNKNOWN;
    if (maxp && minrt) {
        double l = (double)maxp * minrt * 1000.0 / (double)s->pass.bucket_ns;
        lim = l >= UNKNOWN - 1 ? UNKNOWN - 1 : (uint32_t)l + (l > (uint32_t)l);
    }
    atomic_store_explicit(&s->cache, (uint64_t)e << 32 | lim, memory_order_relaxed);
    return lim;
}

/* Called only once the in-flight limit is exceeded, so a costly CPU
 * source is not read on the common path. */
static bool should_drop(km_shedder *s, int64_t now)
{
    if (!s->cpu_threshold)
        return true;
    if (s->cpu(s->cpu_ud) >= s->cpu_threshold) {
        atomic_store_explicit(&s->last_drop, now, memory_order_relaxed);
        return true;
    }
    int64_t last = atomic_load_explicit(&s->last_drop, memory_order_relaxed);
    return last && now - last <= s->cool_off;
}

int km_shedder_allow(km_shedder *s, int64_t *start)
{
    int64_t now = km__clock_now(&s->clock);
    int64_t n = atomic_fetch_add_explicit(&s->inflight, 1, memory_order_relaxed) + 1;
    if (n > 1) {
        uint32_t lim = limit_at(s, now);
        if (lim != UNKNOWN && n > lim && should_drop(s, now)) {
            atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
            return -EBUSY;
        }
    }
    *start = now;
    return 0;
}

void km_shedder_done(km_shedder *s, int64_t start)
{
    int64_t now = km__clock_now(&s->clock);
    int64_t us = (now - start) / 1000;
    atomic_fetch_sub_explicit(&s->inflight, 1, memory_order_relaxed);
    km__win_add(&s->pass, now, 1);
    km__win_min(&s->rt, now, us <= 0 ? 1 : us >= UINT32_MAX ? UINT32_MAX : (uint32_t)us);
}

int64_t km_shedder_inflight(km_shedder *s)
{
    return atomic_load_explicit(&s->inflight, memory_order_relaxed);
}

int64_t km_shedder_limit(km_shedder *s)
{
    uint32_t l = limit_at(s, km__clock_now(&s->clock));
    return l == UNKNOWN ? INT64_MAX : l;
}

void km_shedder_http_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    km_shedder *s = ud;
    int64_t start;
    if (km_shedder_allow(s, &start) < 0) {
        km__send_retry_after(w, 503, KM__SEC, "overloaded\n");
        return;
    }
    km_http_next_call(next, r, w);
    km_shedder_done(s, start);
}
