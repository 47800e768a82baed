/* SPDX-License-Identifier: MIT */
/* Fans P producers x M timestamped messages into one consumer over one channel: throughput, p50/p99 latency. */
#include "bench.h"

static long producers, msgs, cap;

struct fan {
    km_chan *ch;
    km_wg   *done;
};

static void producer(void *arg)
{
    struct fan *f = arg;
    for (long i = 0; i < msgs; i++) {
        int64_t t = km_now();
        BENCH_CHECK(km_chan_send(f->ch, &t));
    }
    km_wg_done(f->done);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void body(void *unused)
{
    struct fan f;
    long total = producers * msgs;
    int64_t *lat = malloc((size_t)total * sizeof *lat);
    if (!lat)
        bench_die("fanin: out of memory");
    memset(lat, 0, (size_t)total * sizeof *lat); /* fault the pages in before timing, as the Go side does */
    BENCH_CHECK(km_chan_new(&f.ch, sizeof(int64_t), (size_t)cap));
    BENCH_CHECK(km_wg_new(&f.done));
    km_wg_add(f.done, (int)producers);

    int64_t t0 = km_now();
    for (long i = 0; i < producers; i++)
        BENCH_CHECK(km_go(producer, &f));
    for (long i = 0; i < total; i++) {
        int64_t t;
        BENCH_CHECK(km_chan_recv(f.ch, &t));
        lat[i] = km_now() - t;
    }
    int64_t dt = km_now() - t0;

    BENCH_CHECK(km_wg_wait(f.done));
    km_chan_free(f.ch);
    km_wg_free(f.done);
    qsort(lat, (size_t)total, sizeof *lat, cmp_i64);
    printf("info procs=%d producers=%ld msgs=%ld cap=%ld\n", km_procs(), producers, msgs, cap);
    bench_metric("throughput", (double)total / ((double)dt / 1e9), "msgs/s");
    bench_metric("latency_p50", (double)lat[total * 50 / 100] / 1e3, "us");
    bench_metric("latency_p99", (double)lat[total * 99 / 100] / 1e3, "us");
    free(lat);
}

int main(int argc, char **argv)
{
    producers = bench_arg(argc, argv, 1, 10000);
    msgs = bench_arg(argc, argv, 2, 100);
    cap = bench_arg(argc, argv, 3, 0);
    if (producers < 1 || msgs < 1 || producers > 1 << 30)
        bench_die("usage: fanin [PRODUCERS [MSGS [CAP]]]");
    return bench_run(body, NULL);
}
