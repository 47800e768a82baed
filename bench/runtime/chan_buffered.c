/* SPDX-License-Identifier: MIT */
/* Streams N items from one producer to one consumer through a buffered channel: ns per item. */
#include "bench.h"

static long n, cap;

struct prod {
    km_chan *ch;
    km_wg   *done;
};

static void producer(void *arg)
{
    struct prod *p = arg;
    for (int64_t i = 0; i < n; i++)
        BENCH_CHECK(km_chan_send(p->ch, &i));
    BENCH_CHECK(km_chan_close(p->ch));
    km_wg_done(p->done);
}

static void body(void *unused)
{
    struct prod p;
    BENCH_CHECK(km_chan_new(&p.ch, sizeof(int64_t), (size_t)cap));
    BENCH_CHECK(km_wg_new(&p.done));
    km_wg_add(p.done, 1);

    int64_t t0 = km_now();
    BENCH_CHECK(km_go(producer, &p));
    int64_t v, count = 0, sum = 0;
    int rc;
    while ((rc = km_chan_recv(p.ch, &v)) == 0) {
        sum += v;
        count++;
    }
    int64_t dt = km_now() - t0;

    if (rc != -EPIPE)
        bench_die("chan_buffered: recv failed");
    if (count != n || sum != (int64_t)n * (n - 1) / 2)
        bench_die("chan_buffered: items lost or corrupted");
    BENCH_CHECK(km_wg_wait(p.done));
    km_chan_free(p.ch);
    km_wg_free(p.done);
    printf("info procs=%d items=%ld cap=%ld\n", km_procs(), n, cap);
    bench_metric("item", (double)dt / (double)n, "ns/item");
}

int main(int argc, char **argv)
{
    n = bench_arg(argc, argv, 1, 10000000);
    cap = bench_arg(argc, argv, 2, 100);
    if (n < 1)
        bench_die("usage: chan_buffered [ITEMS [CAP]]");
    return bench_run(body, NULL);
}
