/* SPDX-License-Identifier: MIT */
/* Parks N goroutines on one channel's receive: RSS per parked goroutine, time to wake all by close and join. */
#include "bench.h"

static long n;

struct park {
    km_chan *start;
    km_wg   *ready, *done;
};

static void parker(void *arg)
{
    struct park *p = arg;
    km_wg_done(p->ready);
    if (km_chan_recv(p->start, NULL) != -EPIPE)
        bench_die("parked: woke without the close");
    km_wg_done(p->done);
}

static void body(void *unused)
{
    struct park p;
    BENCH_CHECK(km_chan_new(&p.start, 0, 0));
    BENCH_CHECK(km_wg_new(&p.ready));
    BENCH_CHECK(km_wg_new(&p.done));
    km_wg_add(p.ready, (int)n);
    km_wg_add(p.done, (int)n);

    long rss0 = bench_status_kb("VmRSS:");
    int64_t t0 = km_now();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(km_go(parker, &p));
    BENCH_CHECK(km_wg_wait(p.ready));
    int64_t t1 = km_now();
    /* The last few goroutines may be between wg_done and recv; let them park. */
    BENCH_CHECK(km_sleep(10 * 1000 * 1000));
    long rss1 = bench_status_kb("VmRSS:");

    int64_t t2 = km_now();
    BENCH_CHECK(km_chan_close(p.start));
    BENCH_CHECK(km_wg_wait(p.done));
    int64_t t3 = km_now();

    km_chan_free(p.start);
    km_wg_free(p.ready);
    km_wg_free(p.done);
    printf("info procs=%d n=%ld rss_before_kb=%ld rss_parked_kb=%ld\n",
           km_procs(), n, rss0, rss1);
    bench_metric("spawn_park", (double)(t1 - t0) / (double)n, "ns/goroutine");
    bench_metric("rss_per_goroutine", (double)(rss1 - rss0) * 1024.0 / (double)n, "bytes");
    bench_metric("wake_join", (double)(t3 - t2) / 1e6, "ms");
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    if (n < 1 || n > 1 << 30)
        bench_die("usage: parked [N]");
    return bench_run(body, NULL);
}
