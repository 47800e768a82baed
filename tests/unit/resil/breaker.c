/* SPDX-License-Identifier: MIT */
/* SRE adaptive throttling: the formula, opening on failures, recovering on successes. */
#include "util.h"
#include <kumo/resil.h>

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t fake_now;
static int64_t fake_clock(void *ud) { (void)ud; return fake_now; }

/* A fixed value, or a deterministic sequence (xorshift) when fixed is 0. */
static uint32_t fixed;
static uint32_t seq = 2463534242u;
static uint32_t fake_rand(void *ud)
{
    (void)ud;
    if (fixed)
        return fixed;
    seq ^= seq << 13; seq ^= seq >> 17; seq ^= seq << 5;
    return seq;
}

static void formula_body(void *arg)
{
    (void)arg;
    km_breaker *b;
    fake_now = 100 * SEC;
    km_breaker_config c = { .clock = fake_clock, .rand = fake_rand };
    REQUIRE_EQ(km_breaker_new(&b, &c), 0);
    fixed = 1;
    /* a draw near 0 rejects whenever p > 0: the first call (p = 0) goes
     * out and fails, from then on p >= 1/2 */
    REQUIRE_EQ(km_breaker_allow(b), 0);
    km_breaker_done(b, false);
    for (int i = 0; i < 10; i++)
        REQUIRE_EQ(km_breaker_allow(b), -ECONNREFUSED);
    km_breaker_free(b);

    REQUIRE_EQ(km_breaker_new(&b, &c), 0);
    fixed = UINT32_MAX;                     /* never below p < 1: always allowed */
    for (int i = 0; i < 10; i++) {
        REQUIRE_EQ(km_breaker_allow(b), 0);
        km_breaker_done(b, false);
    }
    double p = km_breaker_reject_prob(b);
    ck_assert_double_eq_tol(p, 10.0 / 11, 1e-9);
    fixed = (uint32_t)(0.90 * 4294967296.0);    /* 0.90 < 0.909: rejected */
    REQUIRE_EQ(km_breaker_allow(b), -ECONNREFUSED);
    /* now 11 requests: p = 11/12 = 0.9167; 0.92 is above it */
    fixed = (uint32_t)(0.92 * 4294967296.0);
    REQUIRE_EQ(km_breaker_allow(b), 0);
    km_breaker_done(b, true);
    /* 12 requests, 1 accept: p = (12 - 2) / 13 */
    ck_assert_double_eq_tol(km_breaker_reject_prob(b), 10.0 / 13, 1e-9);
    /* healthy: requests <= 2 * accepts never rejects */
    fake_now += 20 * SEC;                   /* the window forgets */
    ck_assert_double_eq_tol(km_breaker_reject_prob(b), 0, 1e-12);
    fixed = 1;
    for (int i = 0; i < 100; i++) {
        REQUIRE_EQ(km_breaker_allow(b), 0);
        km_breaker_done(b, i % 2 == 0);     /* half fail: exactly at k = 2 */
    }
    km_breaker_free(b);

    /* min_requests: nothing is throttled below it */
    km_breaker_config m = { .clock = fake_clock, .rand = fake_rand, .min_requests = 20 };
    REQUIRE_EQ(km_breaker_new(&b, &m), 0);
    for (int i = 0; i < 20; i++) {
        REQUIRE_EQ(km_breaker_allow(b), 0);
        km_breaker_done(b, false);
    }
    REQUIRE_EQ(km_breaker_allow(b), -ECONNREFUSED);
    km_breaker_free(b);
    km_breaker_config bad = { .k = -1 };
    REQUIRE_EQ(km_breaker_new(&b, &bad), -EINVAL);
}

START_TEST(formula) { t_run(formula_body, NULL); }
END_TEST

/* A backend that goes down for 3 s and comes back; a call every 10 ms
 * (fake time), window 1 s in 10 buckets. */
static void cycle_body(void *arg)
{
    (void)arg;
    km_breaker *b;
    fake_now = 50 * SEC;
    fixed = 0;
    km_breaker_config c = { .window = SEC, .buckets = 10, .clock = fake_clock, .rand = fake_rand };
    REQUIRE_EQ(km_breaker_new(&b, &c), 0);
    int rejected = 0, sent = 0;
    /* healthy: nothing rejected */
    for (int i = 0; i < 200; i++, fake_now += 10 * MS) {
        REQUIRE_EQ(km_breaker_allow(b), 0);
        km_breaker_done(b, true);
    }
    /* down: after the window fills with failures, nearly everything is
     * rejected locally, but a trickle of probes still goes out */
    for (int i = 0; i < 300; i++, fake_now += 10 * MS) {
        int rc = km_breaker_allow(b);
        if (i >= 200) {
            rejected += rc == -ECONNREFUSED;
            sent += rc == 0;
        }
        if (rc == 0)
            km_breaker_done(b, false);
    }
    ck_assert_msg(rejected >= 90, "only %d of the last 100 calls rejected while down", rejected);
    ck_assert_msg(sent >= 1, "no probe reached the dead backend");
    REQUIRE(km_breaker_reject_prob(b) > 0.9);
    /* up again: each window's successes lower the next window's reject
     * probability (from p to about (200p - 100) / 101 here), so
     * throttling fades within a few windows and then stays off */
    int last_reject = -1;
    for (int i = 0; i < 1000; i++, fake_now += 10 * MS) {
        int rc = km_breaker_allow(b);
        if (rc == 0)
            km_breaker_done(b, true);
        else
            last_reject = i;
    }
    ck_assert_msg(last_reject >= 0 && last_reject < 800,
                  "last local rejection %d calls after recovery", last_reject);
    ck_assert_double_eq_tol(km_breaker_reject_prob(b), 0, 1e-12);
    km_breaker_free(b);
}

START_TEST(opens_and_recovers) { t_run(cycle_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resil/breaker");
    TCase *tc = tcase_create("breaker");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, formula);
    tcase_add_test(tc, opens_and_recovers);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
