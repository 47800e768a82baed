/* SPDX-License-Identifier: MIT */
/* Metrics under concurrency: exact sums across workers and threads, racing series creation, bucket math. */
#include "util.h"
#include <kumo/metrics.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define GOROUTINES 16
#define ITERS 20000
#define LABELS 37

typedef struct {
    km_metric *labeled, *hist;
    km_series *plain, *gauge;
    km_wg *wg;
    int id;
} work;

static void incr(void *arg)
{
    work *w = arg;
    char v[16];
    for (int i = 0; i < ITERS; i++) {
        km_counter_inc(w->plain);
        km_gauge_inc(w->gauge);
        snprintf(v, sizeof v, "l%d", (i + w->id) % LABELS);
        km_counter_add(km_metric_with(w->labeled, v), 2);
        km_histogram_observe(km_metric_with(w->hist, "x"), (double)(i % 4));
        if (i % 64 == 0)
            km_yield();     /* so that goroutines spread over the workers */
    }
    km_wg_done(w->wg);
}

/* The same loop on a helper thread (not a worker): the shared shard. */
static void incr_blocking(void *arg)
{
    work *w = arg;
    for (int i = 0; i < ITERS; i++) {
        km_counter_inc(w->plain);
        km_gauge_dec(w->gauge);
        km_histogram_observe(km_metric_with(w->hist, "x"), 0.5);
    }
}

static void offloaded(void *arg)
{
    work *w = arg;
    ck_assert_int_eq(km_blocking(incr_blocking, w), 0);
    km_wg_done(w->wg);
}

static void body(void *arg)
{
    (void)arg;
    km_metrics *r;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    km_metric *c, *g, *l, *h;
    ck_assert_int_eq(km_counter_new(r, &c, "plain_total", "", NULL), 0);
    ck_assert_int_eq(km_gauge_new(r, &g, "gauge", "", NULL), 0);
    ck_assert_int_eq(km_counter_new(r, &l, "labeled_total", "", "l"), 0);
    static const double b[] = { 0, 1, 2 };
    ck_assert_int_eq(km_histogram_new(r, &h, "h", "", "k", b, 3), 0);
    km_wg *wg;
    ck_assert_int_eq(km_wg_new(&wg), 0);
    work ws[GOROUTINES + 4];
    for (int i = 0; i < GOROUTINES + 4; i++) {
        ws[i] = (work){ l, h, km_metric_with(c), km_metric_with(g), wg, i };
        km_wg_add(wg, 1);
        ck_assert_int_eq(km_go(i < GOROUTINES ? incr : offloaded, &ws[i]), 0);
    }
    /* Scrapes racing with the updates must not disturb them. */
    for (int i = 0; i < 5; i++) {
        char *t;
        size_t n;
        ck_assert_int_eq(km_metrics_text(r, &t, &n), 0);
        km_metrics_text_free(t);
        km_sleep(1000000);
    }
    km_wg_wait(wg);
    km_wg_free(wg);

    REQUIRE_EQ(km_series_value(km_metric_with(c)), (GOROUTINES + 4) * ITERS);
    REQUIRE_EQ(km_series_value(km_metric_with(g)), (GOROUTINES - 4) * ITERS);
    double total = 0;
    for (int i = 0; i < LABELS; i++) {
        char v[16];
        snprintf(v, sizeof v, "l%d", i);
        total += km_series_value(km_metric_with(l, v));
    }
    REQUIRE_EQ(total, 2.0 * GOROUTINES * ITERS);
    km_series *hs = km_metric_with(h, "x");
    REQUIRE_EQ(km_histogram_count(hs), (GOROUTINES + 4) * ITERS);
    /* i % 4 gives 0,1,2,3 equally (sum 6 per 4), the helpers 0.5 each */
    REQUIRE_EQ(km_series_value(hs), GOROUTINES * (ITERS / 4) * 6.0 + 4 * ITERS * 0.5);

    char *t;
    size_t n;
    ck_assert_int_eq(km_metrics_text(r, &t, &n), 0);
    char want[512];
    int q = GOROUTINES * ITERS / 4, e = 4 * ITERS;
    snprintf(want, sizeof want,
             "h_bucket{k=\"x\",le=\"0\"} %d\nh_bucket{k=\"x\",le=\"1\"} %d\n"
             "h_bucket{k=\"x\",le=\"2\"} %d\nh_bucket{k=\"x\",le=\"+Inf\"} %d\n",
             q, 2 * q + e, 3 * q + e, 4 * q + e);
    ck_assert_msg(strstr(t, want), "%.1500s", t);
    km_metrics_text_free(t);
    km_metrics_free(r);
}

START_TEST(exact_sums_two_workers)
{
    t_procs(2);
    t_run(body, NULL);
}
END_TEST

/* More workers than shards: the extra ones share the last shard. */
START_TEST(exact_sums_many_workers)
{
    t_procs(20);
    t_run(body, NULL);
}
END_TEST

/* Bucket placement against a reference, for the linear (few buckets) and
 * binary (many) searches. */
static size_t reference(const double *b, size_t n, double v)
{
    size_t i = 0;
    while (i < n && !(v <= b[i]))
        i++;
    return i;
}

static void buckets(void *arg)
{
    (void)arg;
    km_metrics *r;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    for (size_t nb = 1; nb <= 40; nb += 13) {
        double b[40];
        for (size_t i = 0; i < nb; i++)
            b[i] = (double)i * 1.5 - 3;
        char name[16];
        snprintf(name, sizeof name, "h%zu", nb);
        km_metric *h;
        ck_assert_int_eq(km_histogram_new(r, &h, name, "", NULL, b, nb), 0);
        km_series *s = km_metric_with(h);
        uint64_t want[41] = { 0 };
        double vs[] = { -1e9, -3, -2.9, 0, 1.5, 1.4999, 55, 1e9, INFINITY, -INFINITY, NAN };
        for (size_t k = 0; k < sizeof vs / sizeof vs[0]; k++) {
            km_histogram_observe(s, vs[k]);
            want[reference(b, nb, vs[k])]++;
        }
        for (int v = -100; v <= 100; v++) {
            km_histogram_observe(s, v / 7.0);
            want[reference(b, nb, v / 7.0)]++;
        }
        char *t;
        size_t n;
        ck_assert_int_eq(km_metrics_text(r, &t, &n), 0);
        uint64_t cum = 0;
        for (size_t i = 0; i <= nb; i++) {
            cum += want[i];
            char line[96], le[32];
            if (i < nb)
                snprintf(le, sizeof le, "%g", b[i]);
            else
                snprintf(le, sizeof le, "+Inf");
            snprintf(line, sizeof line, "\n%s_bucket{le=\"%s\"} %llu\n", name, le,
                     (unsigned long long)cum);
            ck_assert_msg(strstr(t, line), "missing %s", line);
        }
        km_metrics_text_free(t);
        ck_assert_uint_eq(km_histogram_count(s), cum);
    }
    km_metrics_free(r);
}

START_TEST(bucket_math)
{
    t_run(buckets, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics/concurrent");
    TCase *tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exact_sums_two_workers);
    tcase_add_test(tc, exact_sums_many_workers);
    tcase_add_test(tc, bucket_math);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
