/* SPDX-License-Identifier: MIT */
/* Metrics: registration rules and the exact text exposition (labels, escaping, floats, order). */
#include "util.h"
#include <kumo/metrics.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static char *render(km_metrics *r)
{
    char *t = NULL;
    size_t n = 0;
    ck_assert_int_eq(km_metrics_text(r, &t, &n), 0);
    ck_assert_uint_eq(n, strlen(t));
    return t;
}

static void exposition(void *arg)
{
    (void)arg;
    km_metrics *r;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    char *t = render(r);
    ck_assert_str_eq(t, "");        /* empty registry: empty text */
    km_metrics_text_free(t);

    km_metric *c, *g, *h, *empty;
    ck_assert_int_eq(km_counter_new(r, &c, "req_total", "Requests\\ with \"quotes\"\nand lines.",
                                    "method,path"), 0);
    ck_assert_int_eq(km_gauge_new(r, &g, "temp", "Temperature.", NULL), 0);
    static const double b[] = { 0.25, 1, 10 };
    ck_assert_int_eq(km_histogram_new(r, &h, "lat_seconds", "Latency.", "op", b, 3), 0);
    ck_assert_int_eq(km_counter_new(r, &empty, "aaa_unused_total", "No series yet.", "x"), 0);

    km_series *get = km_metric_with(c, "GET", "/a");
    ck_assert_ptr_nonnull(get);
    km_counter_inc(get);
    km_counter_inc(km_metric_with(c, "GET", "/a"));
    ck_assert_ptr_eq(km_metric_with(c, "GET", "/a"), get);    /* found, not made again */
    const char *weird[] = { "POST", "we\"ird\\\nvalue" };
    km_counter_add(km_metric_withv(c, weird), 2.5);
    km_counter_add(get, -1);            /* counters only go up */
    km_counter_add(get, NAN);
    ck_assert(km_series_value(get) == 2);

    km_gauge_set(km_metric_with(g), -3.25);
    km_histogram_observe(get, 1);       /* wrong type: ignored */
    km_gauge_set(get, 7);

    km_histogram_observe(km_metric_with(h, "get"), 0.125);
    km_histogram_observe(km_metric_with(h, "get"), 0.25);  /* le is inclusive */
    km_histogram_observe(km_metric_with(h, "get"), 2);
    km_histogram_observe(km_metric_with(h, "get"), 100);
    km_histogram_observe(km_metric_with(h, "put"), 1);
    ck_assert_uint_eq(km_histogram_count(km_metric_with(h, "get")), 4);
    ck_assert(km_series_value(km_metric_with(h, "get")) == 102.375);

    t = render(r);
    ck_assert_str_eq(t,
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{op=\"get\",le=\"0.25\"} 2\n"
        "lat_seconds_bucket{op=\"get\",le=\"1\"} 2\n"
        "lat_seconds_bucket{op=\"get\",le=\"10\"} 3\n"
        "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
        "lat_seconds_sum{op=\"get\"} 102.375\n"
        "lat_seconds_count{op=\"get\"} 4\n"
        "lat_seconds_bucket{op=\"put\",le=\"0.25\"} 0\n"
        "lat_seconds_bucket{op=\"put\",le=\"1\"} 1\n"
        "lat_seconds_bucket{op=\"put\",le=\"10\"} 1\n"
        "lat_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"
        "lat_seconds_sum{op=\"put\"} 1\n"
        "lat_seconds_count{op=\"put\"} 1\n"
        "# HELP req_total Requests\\\\ with \"quotes\"\\nand lines.\n"
        "# TYPE req_total counter\n"
        "req_total{method=\"GET\",path=\"/a\"} 2\n"
        "req_total{method=\"POST\",path=\"we\\\"ird\\\\\\nvalue\"} 2.5\n"
        "# HELP temp Temperature.\n"
        "# TYPE temp gauge\n"
        "temp -3.25\n");
    km_metrics_text_free(t);
    km_metrics_free(r);
}

START_TEST(text_exact)
{
    t_run(exposition, NULL);
}
END_TEST

/* Floats as Prometheus reads them, through a gauge. */
static void floats(void *arg)
{
    (void)arg;
    km_metrics *r;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    km_metric *g;
    ck_assert_int_eq(km_gauge_new(r, &g, "v", "", "k"), 0);
    static const struct { const char *k; double v; } cases[] = {
        { "a", 0 }, { "b", 1 }, { "c", -1 }, { "d", 123456789 }, { "e", 0.1 },
        { "f", 1e20 }, { "g", 1.5e-7 }, { "h", INFINITY }, { "i", -INFINITY },
        { "j", NAN }, { "k", 9007199254740992.0 }, { "l", 1.0 / 3 }, { "m", 4096.5 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        km_gauge_set(km_metric_with(g, cases[i].k), cases[i].v);
    char *t = render(r);
    ck_assert_str_eq(t,
        "# HELP v \n# TYPE v gauge\n"
        "v{k=\"a\"} 0\nv{k=\"b\"} 1\nv{k=\"c\"} -1\nv{k=\"d\"} 123456789\n"
        "v{k=\"e\"} 0.1\nv{k=\"f\"} 1e+20\nv{k=\"g\"} 1.5e-07\nv{k=\"h\"} +Inf\n"
        "v{k=\"i\"} -Inf\nv{k=\"j\"} NaN\nv{k=\"k\"} 9007199254740992\n"
        "v{k=\"l\"} 0.3333333333333333\nv{k=\"m\"} 4096.5\n");
    km_metrics_text_free(t);

    /* gauges: add, inc, dec */
    km_series *s = km_metric_with(g, "a");
    km_gauge_inc(s);
    km_gauge_inc(s);
    km_gauge_dec(s);
    km_gauge_add(s, 0.5);
    ck_assert(km_series_value(s) == 1.5);
    km_gauge_add(s, -3);
    ck_assert(km_series_value(s) == -1.5);
    /* a set replaces what inc, dec and add made; they count from it */
    km_gauge_set(s, 7);
    ck_assert(km_series_value(s) == 7);
    km_gauge_dec(s);
    km_gauge_add(s, 1e300);
    km_gauge_add(s, -1e300);
    km_gauge_add(s, NAN);
    ck_assert(isnan(km_series_value(s)));
    km_gauge_set(s, INFINITY);
    ck_assert(km_series_value(s) == INFINITY);
    km_gauge_set(s, 6);
    ck_assert(km_series_value(s) == 6);
    km_metrics_free(r);
}

START_TEST(float_format)
{
    t_run(floats, NULL);
}
END_TEST

static double forty_two(void *ud) { (void)ud; return 42; }
static double counted(void *ud) { return (double)++*(int *)ud; }

static void on_scrape(km_metrics *r, void *ud)
{
    (void)r;
    km_metric *m = ud;
    km_gauge_set(km_metric_with(m), km_series_value(km_metric_with(m)) + 10);
}

static void funcs(void *arg)
{
    (void)arg;
    km_metrics *r;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    int calls = 0;
    km_metric *hooked;
    ck_assert_int_eq(km_gauge_func_new(r, "answer", "The answer.", forty_two, NULL), 0);
    ck_assert_int_eq(km_counter_func_new(r, "calls_total", "Scrapes.", counted, &calls), 0);
    ck_assert_int_eq(km_gauge_new(r, &hooked, "hooked", "Set by a hook.", NULL), 0);
    ck_assert_int_eq(km_metrics_on_collect(r, on_scrape, hooked), 0);
    char *t = render(r);
    ck_assert_str_eq(t,
        "# HELP answer The answer.\n# TYPE answer gauge\nanswer 42\n"
        "# HELP calls_total Scrapes.\n# TYPE calls_total counter\ncalls_total 1\n"
        "# HELP hooked Set by a hook.\n# TYPE hooked gauge\nhooked 10\n");
    km_metrics_text_free(t);
    ck_assert_int_eq(km_metrics_off_collect(r, on_scrape, hooked), 0);
    ck_assert_int_eq(km_metrics_off_collect(r, on_scrape, hooked), -ENOENT);
    t = render(r);
    ck_assert_ptr_nonnull(strstr(t, "\nhooked 10\n"));
    ck_assert_ptr_nonnull(strstr(t, "\ncalls_total 2\n"));
    km_metrics_text_free(t);

    /* a counter mirrored from elsewhere */
    km_metric *c;
    ck_assert_int_eq(km_counter_new(r, &c, "mirrored_total", "", NULL), 0);
    km_counter_inc(km_metric_with(c));
    km_counter_set(km_metric_with(c), 1000);
    ck_assert(km_series_value(km_metric_with(c)) == 1000);
    km_counter_inc(km_metric_with(c));
    ck_assert(km_series_value(km_metric_with(c)) == 1001);
    km_metrics_free(r);
}

START_TEST(func_and_hooks)
{
    t_run(funcs, NULL);
}
END_TEST

static void rules(void *arg)
{
    (void)arg;
    km_metrics *r;
    km_metric *m;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    ck_assert_int_eq(km_counter_new(r, &m, "ok:name_1", "", "a,b_2"), 0);
    ck_assert_int_eq(km_counter_new(r, &m, "ok:name_1", "", NULL), -EEXIST);
    ck_assert_int_eq(km_gauge_new(r, &m, "1bad", "", NULL), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "bad-name", "", NULL), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "", "", NULL), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "g", "", "a,"), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "g", "", "a,a"), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "g", "", "__reserved"), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "g", "", "a:b"), -EINVAL);
    ck_assert_int_eq(km_gauge_new(r, &m, "g", "", "le"), 0);     /* only histograms reserve le */
    ck_assert_int_eq(km_histogram_new(r, &m, "h", "", "le", NULL, 0), -EINVAL);
    static const double down[] = { 1, 0.5 }, same[] = { 1, 1 }, inf[] = { 1, INFINITY };
    ck_assert_int_eq(km_histogram_new(r, &m, "h", "", NULL, down, 2), -EINVAL);
    ck_assert_int_eq(km_histogram_new(r, &m, "h", "", NULL, same, 2), -EINVAL);
    ck_assert_int_eq(km_histogram_new(r, &m, "h", "", NULL, inf, 2), -EINVAL);
    ck_assert_int_eq(km_histogram_new(r, &m, "h", "", NULL, down, 0), -EINVAL);
    ck_assert_int_eq(km_histogram_new(r, &m, "h", "", NULL, NULL, 0), 0);   /* defaults */
    ck_assert_int_eq(km_gauge_func_new(r, "f", "", NULL, NULL), -EINVAL);
    /* default buckets */
    km_histogram_observe(km_metric_with(m), 0.003);
    char *t = render(r);
    ck_assert_ptr_nonnull(strstr(t,
        "h_bucket{le=\"0.005\"} 1\nh_bucket{le=\"0.01\"} 1\nh_bucket{le=\"0.025\"} 1\n"
        "h_bucket{le=\"0.05\"} 1\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"0.25\"} 1\n"
        "h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2.5\"} 1\n"
        "h_bucket{le=\"5\"} 1\nh_bucket{le=\"10\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 0.003\nh_count 1\n"));
    km_metrics_text_free(t);
    /* NULL values and NULL series are harmless */
    ck_assert_ptr_nonnull(km_metric_withv(m, NULL));   /* no labels: no values needed */
    km_metric *two;
    ck_assert_int_eq(km_counter_new(r, &two, "two_total", "", "a,b"), 0);
    const char *half[] = { "x", NULL };
    ck_assert_ptr_null(km_metric_withv(two, half));
    km_counter_inc(NULL);
    km_histogram_observe(NULL, 1);
    ck_assert(isnan(km_series_value(NULL)));
    km_metrics_free(r);
}

START_TEST(registration_rules)
{
    t_run(rules, NULL);
}
END_TEST

/* Every allocation failure is reported and leaks nothing. */
static void alloc_failures(void *arg)
{
    (void)arg;
    for (long k = 1; k < 200; k++) {
        t_fail_alloc_after(k);
        km_metrics *r;
        if (km_metrics_new(&r) < 0)
            continue;
        km_metric *c, *h;
        int rc = km_counter_new(r, &c, "c_total", "help", "a");
        if (rc == 0) {
            for (int i = 0; i < 20; i++) {
                char v[8];
                snprintf(v, sizeof v, "%d", i);
                km_counter_inc(km_metric_with(c, v));
            }
        }
        if (km_histogram_new(r, &h, "h", "help", NULL, NULL, 0) == 0)
            km_histogram_observe(km_metric_with(h), 1);
        km_metrics_runtime(r);
        char *t;
        size_t n;
        if (km_metrics_text(r, &t, &n) == 0)
            km_metrics_text_free(t);
        km_metrics_free(r);
    }
    t_fail_alloc_after(0);
}

START_TEST(allocation_failures)
{
    t_run(alloc_failures, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics/text");
    TCase *tc = tcase_create("text");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, text_exact);
    tcase_add_test(tc, float_format);
    tcase_add_test(tc, func_and_hooks);
    tcase_add_test(tc, registration_rules);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
