/* SPDX-License-Identifier: MIT */
/* Spawns N goroutines that only call km_wg_done and joins them: ns per goroutine and peak RSS. */
#include "bench.h"

static long n;

static void worker(void *arg)
{
    km_wg_done(arg);
}

static void body(void *unused)
{
    km_wg *wg;
    BENCH_CHECK(km_wg_new(&wg));

    int64_t t0 = km_now();
    km_wg_add(wg, (int)n);
    for (long i = 0; i < n; i++)
        BENCH_CHECK(km_go(worker, wg));
    BENCH_CHECK(km_wg_wait(wg));
    int64_t dt = km_now() - t0;

    km_wg_free(wg);
    printf("info procs=%d n=%ld\n", km_procs(), n);
    bench_metric("spawn_join", (double)dt / (double)n, "ns/goroutine");
    bench_metric("peak_rss", (double)bench_status_kb("VmHWM:") / 1024.0, "MiB");
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    if (n < 1 || n > 1 << 30)
        bench_die("usage: spawn_join [N]");
    return bench_run(body, NULL);
}
