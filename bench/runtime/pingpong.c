/* SPDX-License-Identifier: MIT */
/* Bounces a value between two goroutines over two unbuffered channels: ns per one-way hop. */
#include "bench.h"

static long n;

struct pp {
    km_chan *ping, *pong;
    km_wg   *done;
};

static void ponger(void *arg)
{
    struct pp *p = arg;
    int64_t v;
    while (km_chan_recv(p->ping, &v) == 0)
        BENCH_CHECK(km_chan_send(p->pong, &v));
    km_wg_done(p->done);
}

static void body(void *unused)
{
    struct pp p;
    BENCH_CHECK(km_chan_new(&p.ping, sizeof(int64_t), 0));
    BENCH_CHECK(km_chan_new(&p.pong, sizeof(int64_t), 0));
    BENCH_CHECK(km_wg_new(&p.done));
    km_wg_add(p.done, 1);
    BENCH_CHECK(km_go(ponger, &p));

    int64_t t0 = km_now();
    for (int64_t i = 0; i < n; i++) {
        int64_t v = i;
        BENCH_CHECK(km_chan_send(p.ping, &v));
        BENCH_CHECK(km_chan_recv(p.pong, &v));
        if (v != i)
            bench_die("pingpong: wrong value came back");
    }
    int64_t dt = km_now() - t0;

    BENCH_CHECK(km_chan_close(p.ping));
    BENCH_CHECK(km_wg_wait(p.done));
    km_chan_free(p.ping);
    km_chan_free(p.pong);
    km_wg_free(p.done);
    printf("info procs=%d round_trips=%ld\n", km_procs(), n);
    bench_metric("hop", (double)dt / (double)(2 * n), "ns/hop");
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 1000000);
    if (n < 1)
        bench_die("usage: pingpong [ROUND_TRIPS]");
    return bench_run(body, NULL);
}
