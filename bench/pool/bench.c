/* SPDX-License-Identifier: MIT */
/* Pool throughput: acquire+release pairs per second with G goroutines, each holding its resource across a yield, on a pool of 8. */
#include <kumo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* usage: bench G PAIRS [LEAK [YIELD]]
 *   G      goroutines (each does PAIRS / G pairs)
 *   PAIRS  acquire+release pairs in all
 *   LEAK   1: leak detection on (a backtrace per acquire)
 *   YIELD  0: release at once instead of holding across a km_yield (the
 *          pool's own cost; default 1)
 * Prints "metric=pairs value=N unit=pairs/s" and the pool's counters. */

enum { MAX = 8 };

static km_pool *pool;
static int yield;
static long per;
static km_wg *wg;
static int token;

static int fake_open(void *ud, int64_t deadline, void **out)
{
    (void)ud; (void)deadline;
    *out = &token;
    return 0;
}

static void fake_close(void *ud, void *res, int reason)
{
    (void)ud; (void)res; (void)reason;
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "bench: %s: %s\n", what, km_strerror(rc));
        exit(1);
    }
}

static void worker(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++) {
        km_pool_res *r;
        check(km_pool_acquire(pool, KM_FOREVER, &r), "acquire");
        if (yield)
            km_yield();         /* the use: others run (and wait) meanwhile */
        km_pool_release(pool, r, false);
    }
    km_wg_done(wg);
}

static int64_t run(int g, long n)
{
    km_wg_add(wg, g);
    int64_t t0 = km_now();
    for (int i = 0; i < g; i++)
        check(km_go(worker, &n), "km_go");
    check(km_wg_wait(wg), "wait");
    return km_now() - t0;
}

static int G, leak;
static long pairs;

static void body(void *arg)
{
    (void)arg;
    km_pool_ops ops = { fake_open, NULL, fake_close, NULL };
    km_pool_config cfg = { .name = "bench", .max_size = MAX };
    if (leak)
        cfg.leak_threshold = 60LL * 1000000000;
    check(km_pool_new(&pool, &ops, &cfg), "km_pool_new");
    check(km_wg_new(&wg), "km_wg_new");
    per = pairs / G;
    run(G, per / 10 > 1000 ? 1000 : per / 10 + 1);     /* warm: resources, waiter channels */
    int64_t dt = run(G, per);
    km_pool_stats st;
    km_pool_stats_read(pool, &st);
    printf("info procs=%d goroutines=%d pairs=%ld created=%llu timeouts=%llu leak=%d yield=%d\n",
           km_procs(), G, per * G, (unsigned long long)st.created,
           (unsigned long long)st.timeouts, leak, yield);
    printf("metric=pairs value=%.0f unit=pairs/s\n", (double)(per * G) / ((double)dt / 1e9));
    check(km_pool_close(pool, km_now() + 5LL * 1000000000), "close");
    check(km_pool_free(pool), "free");
    km_wg_free(wg);
}

int main(int argc, char **argv)
{
    G = argc > 1 ? atoi(argv[1]) : 8;
    pairs = argc > 2 ? atol(argv[2]) : 2000000;
    leak = argc > 3 ? atoi(argv[3]) : 0;
    yield = argc > 4 ? atoi(argv[4]) : 1;
    if (G < 1 || pairs < G) {
        fprintf(stderr, "usage: bench G PAIRS [leak]\n");
        return 2;
    }
    return km_main(body, NULL) ? 1 : 0;
}
