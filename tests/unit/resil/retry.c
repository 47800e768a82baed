/* SPDX-License-Identifier: MIT */
/* Retries: backoff bounds with full jitter, budget, deadline, cancellation. */
#include "util.h"
#include <kumo/resil.h>

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t fake_now;
static int64_t fake_clock(void *ud) { (void)ud; return fake_now; }
static uint32_t fixed;
static uint32_t fake_rand(void *ud) { (void)ud; return fixed; }

/* Records the backoffs asked for and advances the fake clock instead. */
static int64_t slept[32];
static int nslept;
static int fake_sleep(int64_t ns, void *ud)
{
    (void)ud;
    if (nslept < 32)
        slept[nslept] = ns;
    nslept++;
    fake_now += ns;
    return 0;
}

static int calls;
static int always(void *arg) { calls++; return *(int *)arg; }
static int fail_twice(void *arg) { (void)arg; return ++calls <= 2 ? -ECONNRESET : 0; }

static void backoff_body(void *arg)
{
    (void)arg;
    km_retry_policy p = { .max_attempts = 8, .base = 10 * MS, .max_backoff = 200 * MS,
                          .rand = fake_rand, .sleep = fake_sleep, .clock = fake_clock };
    /* the largest draw reaches (just under) each step's ceiling: 10, 20,
     * 40, 80, 160, then capped at 200 ms */
    fixed = UINT32_MAX;
    int err = -ECONNREFUSED, n;
    calls = nslept = 0;
    REQUIRE_EQ(km_retry_do(&p, always, &err, KM_FOREVER, &n), -ECONNREFUSED);
    REQUIRE_EQ(n, 8);
    REQUIRE_EQ(nslept, 7);
    const int64_t top[] = { 10, 20, 40, 80, 160, 200, 200 };
    for (int i = 0; i < 7; i++) {
        REQUIRE(slept[i] <= top[i] * MS);
        REQUIRE(slept[i] >= top[i] * MS - top[i] * MS / 1000000);
    }
    /* the smallest draw: no wait at all (full jitter starts at 0) */
    fixed = 0;
    calls = nslept = 0;
    REQUIRE_EQ(km_retry_do(&p, always, &err, KM_FOREVER, &n), -ECONNREFUSED);
    for (int i = 0; i < 7; i++)
        REQUIRE_EQ(slept[i], 0);
    /* the real PRNG stays within the bounds */
    p.rand = NULL;
    for (int r = 1; r < 40; r++) {
        int64_t b = km_retry_backoff(&p, r);
        int64_t t = r >= 6 ? 200 * MS : (10 * MS) << (r - 1);
        REQUIRE(b >= 0 && b <= t);
    }
    /* success ends it; a non-retryable error ends it at once */
    calls = 0;
    REQUIRE_EQ(km_retry_do(&p, fail_twice, NULL, KM_FOREVER, &n), 0);
    REQUIRE_EQ(n, 3);
    err = -EINVAL;
    calls = 0;
    REQUIRE_EQ(km_retry_do(&p, always, &err, KM_FOREVER, &n), -EINVAL);
    REQUIRE_EQ(n, 1);
    /* defaults: 3 attempts */
    err = -EAGAIN;
    REQUIRE_EQ(km_retry_do(NULL, always, &err, KM_FOREVER, &n), -EAGAIN);
    REQUIRE_EQ(n, 3);
}

START_TEST(backoff_bounds) { t_run(backoff_body, NULL); }
END_TEST

/* Persistent failure from 100 callers, 5 attempts each: a 20% budget lets
 * 20 retries through, not 400. */
static void budget_body(void *arg)
{
    (void)arg;
    fake_now = 10 * SEC;
    km_retry_budget *bud;
    km_retry_budget_config bc = { .ratio = 0.2, .min_per_sec = 0, .clock = fake_clock };
    REQUIRE_EQ(km_retry_budget_new(&bud, &bc), 0);
    km_retry_policy p = { .max_attempts = 5, .budget = bud, .sleep = fake_sleep,
                          .rand = fake_rand, .clock = fake_clock };
    fixed = 0;
    int err = -ECONNREFUSED;
    calls = 0;
    for (int i = 0; i < 100; i++)
        REQUIRE_EQ(km_retry_do(&p, always, &err, KM_FOREVER, NULL), -ECONNREFUSED);
    REQUIRE_EQ(calls, 100 + 20);
    REQUIRE_EQ(km_retry_budget_take(bud), -EAGAIN);
    /* after the window, the spent retries age out with their requests */
    fake_now += 11 * SEC;
    REQUIRE_EQ(km_retry_budget_take(bud), -EAGAIN);     /* no requests: no ratio */
    km_retry_budget_request(bud);
    for (int i = 0; i < 4; i++)
        km_retry_budget_request(bud);
    REQUIRE_EQ(km_retry_budget_take(bud), 0);           /* 5 * 0.2 = 1 */
    REQUIRE_EQ(km_retry_budget_take(bud), -EAGAIN);
    km_retry_budget_free(bud);

    /* the floor: 2 per second over 10 s with no traffic at all */
    km_retry_budget_config fc = { .ratio = 0, .min_per_sec = 2, .clock = fake_clock };
    REQUIRE_EQ(km_retry_budget_new(&bud, &fc), 0);
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += km_retry_budget_take(bud) == 0;
    REQUIRE_EQ(ok, 20);
    km_retry_budget_free(bud);
    REQUIRE_EQ(km_retry_budget_new(&bud, NULL), 0);
    km_retry_budget_free(bud);
}

START_TEST(budget) { t_run(budget_body, NULL); }
END_TEST

/* Real time: 30 ms backoffs against a 100 ms deadline. */
static void deadline_body(void *arg)
{
    (void)arg;
    km_retry_policy p = { .max_attempts = 100, .base = 30 * MS, .max_backoff = 30 * MS };
    fixed = UINT32_MAX;
    p.rand = fake_rand;
    int err = -ETIMEDOUT, n;
    calls = 0;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_retry_do(&p, always, &err, t0 + 100 * MS, &n), -ETIMEDOUT);
    int64_t took = km_now() - t0;
    /* It gives up when the next wait would pass the deadline (after the
     * attempt at about 90 ms), never sleeping past it: on a loaded machine
     * the last attempt may itself start late, hence the slack. */
    ck_assert_msg(took < 140 * MS, "ran %lld ns past a 100 ms deadline", (long long)took);
    ck_assert_msg(n >= 3 && n <= 4, "%d attempts", n);
    /* a deadline already past: one attempt, no sleep */
    REQUIRE_EQ(km_retry_do(&p, always, &err, 0, &n), -ETIMEDOUT);
    REQUIRE_EQ(n, 1);
}

START_TEST(deadline) { t_run(deadline_body, NULL); }
END_TEST

static int cancel_rc, cancel_n;
static void cancel_inner(void *arg)
{
    (void)arg;
    km_retry_policy p = { .max_attempts = 10, .base = 10 * SEC, .max_backoff = 10 * SEC };
    static int err = -EBUSY;
    fixed = UINT32_MAX;
    p.rand = fake_rand;
    cancel_rc = km_retry_do(&p, always, &err, KM_FOREVER, &cancel_n);
}

static void cancel_body(void *arg)
{
    (void)arg;
    km_group *g;
    REQUIRE_EQ(km_group_new(&g, NULL, km_now() + 30 * MS), 0);
    int64_t t0 = km_now();
    REQUIRE_EQ(km_group_run(g, cancel_inner, NULL), -ECANCELED);
    REQUIRE_EQ(cancel_rc, -ECANCELED);
    REQUIRE_EQ(cancel_n, 1);
    REQUIRE(km_now() - t0 < 2 * SEC);
    km_group_free(g);
}

START_TEST(cancelled) { t_run(cancel_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resil/retry");
    TCase *tc = tcase_create("retry");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, backoff_bounds);
    tcase_add_test(tc, budget);
    tcase_add_test(tc, deadline);
    tcase_add_test(tc, cancelled);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
