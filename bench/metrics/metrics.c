/* SPDX-License-Identifier: MIT */
/* Cost of metric updates: ns per counter increment, histogram observation and labelled lookup, on 1 or 2 goroutines.
 *
 * Usage: KM_PROCS=P metrics [GOROUTINES [N]]   (defaults 1, 20,000,000)
 * Each goroutine runs N updates of one shared series in a tight loop; the
 * line gives wall ns per update per goroutine, and the CPU ns each update
 * took on its thread (the figure that holds on a busy machine). An atomic fetch-add on one
 * shared word is measured alongside as the unsharded reference. */
#include <kumo.h>
#include <kumo/metrics.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long goroutines = 1, n = 20000000;
static km_series *counter, *hist;
static km_metric *labelled;
static _Atomic unsigned long shared_word;
static atomic_int started;

typedef void op_fn(long i);

static void op_counter(long i) { (void)i; km_counter_inc(counter); }
static void op_hist(long i) { km_histogram_observe(hist, (double)(i & 63) * 0.004); }
static void op_with(long i) { (void)i; km_counter_inc(km_metric_with(labelled, "GET", "/v3/kv/range", "200")); }
static void op_atomic(long i) { (void)i; atomic_fetch_add_explicit(&shared_word, 1, memory_order_relaxed); }

typedef struct { op_fn *op; long iters; km_wg *wg; _Atomic int64_t cpu_ns; } job;

/* CPU time of the calling thread: a goroutine that never blocks stays on
 * its worker thread for the whole loop, so this is the loop's own cost even
 * on a machine busy with other work. */
static int64_t thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void worker(void *arg)
{
    job *j = arg;
    /* Start together, so that two goroutines really overlap on two workers. */
    atomic_fetch_add(&started, 1);
    while (atomic_load(&started) < goroutines)
        km_yield();
    int64_t c0 = thread_cpu();
    for (long i = 0; i < j->iters; i++)
        j->op(i);
    atomic_fetch_add(&j->cpu_ns, thread_cpu() - c0);
    km_wg_done(j->wg);
}

static void run(const char *label, op_fn *op, long iters)
{
    km_wg *wg;
    if (km_wg_new(&wg))
        exit(1);
    job j = { op, iters, wg, 0 };
    atomic_store(&started, 0);
    km_wg_add(wg, (int)goroutines);
    int64_t t0 = km_now();
    for (long g = 0; g < goroutines; g++)
        if (km_go(worker, &j))
            exit(1);
    km_wg_wait(wg);
    int64_t dt = km_now() - t0;
    km_wg_free(wg);
    printf("%-20s goroutines=%ld procs=%d  wall %6.2f ns/op  cpu %6.2f ns/op\n", label,
           goroutines, km_procs(), (double)dt / (double)iters,
           (double)atomic_load(&j.cpu_ns) / (double)goroutines / (double)iters);
}

static void body(void *arg)
{
    (void)arg;
    km_metrics *r;
    km_metric *c, *h;
    if (km_metrics_new(&r) || km_counter_new(r, &c, "c_total", "", NULL) ||
        km_histogram_new(r, &h, "h_seconds", "", NULL, NULL, 0) ||
        km_counter_new(r, &labelled, "l_total", "", "method,route,code"))
        exit(1);
    counter = km_metric_with(c);
    hist = km_metric_with(h);
    run("counter_inc", op_counter, n);
    run("histogram_observe", op_hist, n);
    run("with3_counter_inc", op_with, n / 4);
    run("atomic_fetch_add", op_atomic, n);
    double want = (double)goroutines * (double)n;
    if (km_series_value(counter) != want || km_histogram_count(hist) != (uint64_t)want)
        fprintf(stderr, "metrics: lost updates\n");
    km_metrics_free(r);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        goroutines = atol(argv[1]);
    if (argc > 2)
        n = atol(argv[2]);
    if (goroutines < 1 || n < 1)
        return 2;
    return km_main(body, NULL) ? 1 : 0;
}
