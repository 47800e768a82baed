/* SPDX-License-Identifier: MIT */
/* Pool metrics in a Prometheus registry: gauges, the acquire histogram, timeouts, creations and closures by reason, one series per pool. */
#include "fake.h"
#include <stdio.h>

static char *scrape(km_metrics *reg)
{
    char *t;
    size_t len;
    REQUIRE_EQ(km_metrics_text(reg, &t, &len), 0);
    return t;
}

static void expect(const char *text, const char *line)
{
    ck_assert_msg(strstr(text, line) != NULL, "missing \"%s\" in\n%s", line, text);
}

typedef struct { km_pool *p; int rc; km_wg *wg; } w_arg;

static void waiter(void *arg)
{
    w_arg *w = arg;
    km_pool_res *r;
    w->rc = get(w->p, km_now() + 5 * SEC, &r);
    if (w->rc == 0)
        put(w->p, r, false);
    km_wg_done(w->wg);
}

static void metrics_body(void *arg)
{
    (void)arg;
    km_metrics *reg;
    km_pool_metrics *pm, *pm2;
    REQUIRE_EQ(km_metrics_new(&reg), 0);
    REQUIRE_EQ(km_pool_metrics_new(&pm, reg, NULL, 0), 0);
    REQUIRE_EQ(km_pool_metrics_new(&pm2, reg, NULL, 0), -EEXIST);
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p, *q;
    km_pool_config c = { .name = "db", .max_size = 2, .metrics = pm };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    /* one series per pool name */
    REQUIRE_EQ(km_pool_new(&q, &o, &c), -EEXIST);

    km_pool_res *a, *b, *r;
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &b), 0);
    REQUIRE_EQ(get(p, km_now() + MS, &r), -ETIMEDOUT);
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, 1);
    w_arg w = { p, 1, wg };
    REQUIRE_EQ(km_go(waiter, &w), 0);
    REQUIRE(EVENTUALLY(2000, stats(p).waiting == 1));
    char *t = scrape(reg);
    expect(t, "# TYPE kumo_pool_open gauge\n");
    expect(t, "\nkumo_pool_open{pool=\"db\"} 2\n");
    expect(t, "\nkumo_pool_in_use{pool=\"db\"} 2\n");
    expect(t, "\nkumo_pool_idle{pool=\"db\"} 0\n");
    expect(t, "\nkumo_pool_waiting{pool=\"db\"} 1\n");
    expect(t, "\nkumo_pool_acquire_timeouts_total{pool=\"db\"} 1\n");
    expect(t, "\nkumo_pool_created_total{pool=\"db\"} 2\n");
    expect(t, "\nkumo_pool_acquire_seconds_count{pool=\"db\"} 2\n");
    expect(t, "# TYPE kumo_pool_acquire_seconds histogram\n");
    expect(t, "\nkumo_pool_acquire_seconds_bucket{pool=\"db\",le=\"1e-05\"} ");
    km_metrics_text_free(t);

    put(p, a, true);                    /* the waiter opens a new one */
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    REQUIRE_EQ(w.rc, 0);
    put(p, b, false);
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    put(p, a, true);                    /* broken: room for one */
    atomic_store(&f->fail_opens, 1);
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);          /* the idle one */
    REQUIRE_EQ(get(p, KM_FOREVER, &b), -ECONNREFUSED);
    put(p, a, false);
    t = scrape(reg);
    expect(t, "\nkumo_pool_open{pool=\"db\"} 1\n");
    expect(t, "\nkumo_pool_idle{pool=\"db\"} 1\n");
    expect(t, "\nkumo_pool_in_use{pool=\"db\"} 0\n");
    expect(t, "\nkumo_pool_waiting{pool=\"db\"} 0\n");
    expect(t, "\nkumo_pool_created_total{pool=\"db\"} 3\n");
    expect(t, "\nkumo_pool_open_errors_total{pool=\"db\"} 1\n");
    expect(t, "\nkumo_pool_closed_total{pool=\"db\",reason=\"broken\"} 2\n");
    expect(t, "\nkumo_pool_closed_total{pool=\"db\",reason=\"idle\"} 0\n");
    expect(t, "\nkumo_pool_closed_total{pool=\"db\",reason=\"lifetime\"} 0\n");
    expect(t, "\nkumo_pool_acquire_timeouts_total{pool=\"db\"} 1\n");
    expect(t, "\nkumo_pool_acquire_seconds_count{pool=\"db\"} 5\n");
    expect(t, "\nkumo_pool_leaks_total{pool=\"db\"} 0\n");
    km_metrics_text_free(t);

    /* a second pool in the same families */
    km_pool_config c2 = { .name = "cache", .max_size = 1, .metrics = pm };
    REQUIRE_EQ(km_pool_new(&q, &o, &c2), 0);
    REQUIRE_EQ(get(q, KM_FOREVER, &r), 0);
    put(q, r, false);
    close_free(p);                      /* p's series stay, with their last values */
    t = scrape(reg);
    expect(t, "\nkumo_pool_closed_total{pool=\"db\",reason=\"shutdown\"} 1\n");
    expect(t, "\nkumo_pool_open{pool=\"cache\"} 1\n");
    expect(t, "\nkumo_pool_created_total{pool=\"cache\"} 1\n");
    km_metrics_text_free(t);
    close_free(q);
    km_pool_metrics_free(pm);
    km_metrics_free(reg);
    fake_check_free(f);
}

START_TEST(metrics) { t_run(metrics_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool/metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, metrics);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
