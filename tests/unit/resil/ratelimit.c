/* SPDX-License-Identifier: MIT */
/* Token-bucket limiter: exact arithmetic on a fake clock, observed rate, waits, keyed buckets. */
#include "util.h"
#include <kumo/resil.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t fake_now;
static int64_t fake_clock(void *ud) { (void)ud; return fake_now; }

static void exact_body(void *arg)
{
    (void)arg;
    km_ratelimit *l;
    fake_now = 1000 * SEC;
    km_ratelimit_config c = { .rate = 10, .burst = 3, .clock = fake_clock };
    REQUIRE_EQ(km_ratelimit_new(&l, &c), 0);
    int64_t wait = -1;
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(km_ratelimit_take(l, &wait), 0);           /* the burst */
    REQUIRE_EQ(km_ratelimit_take(l, &wait), -EAGAIN);
    REQUIRE_EQ(wait, 100 * MS);                               /* one interval */
    fake_now += 40 * MS;
    REQUIRE_EQ(km_ratelimit_take(l, &wait), -EAGAIN);
    REQUIRE_EQ(wait, 60 * MS);
    fake_now += 60 * MS;
    REQUIRE_EQ(km_ratelimit_take(l, NULL), 0);
    REQUIRE_EQ(km_ratelimit_take(l, NULL), -EAGAIN);
    fake_now += 10 * SEC;                                     /* refills to burst, no more */
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(km_ratelimit_take(l, NULL), 0);
    REQUIRE_EQ(km_ratelimit_take(l, NULL), -EAGAIN);
    km_ratelimit_free(l);

    km_ratelimit_config bad[] = { { .rate = 0, .burst = 1 }, { .rate = 1, .burst = 0 },
                                  { .rate = -5, .burst = 1 }, { .rate = 2e9, .burst = 1 } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        REQUIRE_EQ(km_ratelimit_new(&l, &bad[i]), -EINVAL);
}

START_TEST(exact_on_fake_clock) { t_run(exact_body, NULL); }
END_TEST

/* Four goroutines hammer a 200/s, burst 10 limiter for one second. */
typedef struct { km_ratelimit *l; int64_t until; atomic_int ok; km_wg *wg; } hammer;

static void hammer_one(void *arg)
{
    hammer *h = arg;
    while (km_now() < h->until) {
        int64_t wait;
        if (km_ratelimit_take(h->l, &wait) == 0)
            atomic_fetch_add(&h->ok, 1);
        else
            km_sleep(wait < MS ? wait : MS);
    }
    km_wg_done(h->wg);
}

static void rate_body(void *arg)
{
    (void)arg;
    hammer h = { 0 };
    km_ratelimit_config c = { .rate = 200, .burst = 10 };
    REQUIRE_EQ(km_ratelimit_new(&h.l, &c), 0);
    REQUIRE_EQ(km_wg_new(&h.wg), 0);
    h.until = km_now() + SEC;
    km_wg_add(h.wg, 4);
    for (int i = 0; i < 4; i++)
        REQUIRE_EQ(km_go(hammer_one, &h), 0);
    km_wg_wait(h.wg);
    int ok = atomic_load(&h.ok);
    ck_assert_msg(ok >= 180 && ok <= 230, "accepted %d in 1 s at 200/s burst 10", ok);
    km_wg_free(h.wg);
    km_ratelimit_free(h.l);
}

START_TEST(observed_rate) { t_procs(2); t_run(rate_body, NULL); }
END_TEST

static void wait_body(void *arg)
{
    (void)arg;
    km_ratelimit *l;
    km_ratelimit_config c = { .rate = 100, .burst = 1 };
    REQUIRE_EQ(km_ratelimit_new(&l, &c), 0);
    int64_t t0 = km_now();
    for (int i = 0; i < 11; i++)
        REQUIRE_EQ(km_ratelimit_wait(l, KM_FOREVER), 0);
    int64_t took = km_now() - t0;
    ck_assert_msg(took >= 95 * MS && took < 400 * MS, "10 waits at 100/s took %lld ns",
                  (long long)took);
    /* the next token is 10 ms away: a 1 ms deadline fails at once */
    t0 = km_now();
    REQUIRE_EQ(km_ratelimit_wait(l, km_now() + MS), -ETIMEDOUT);
    REQUIRE(km_now() - t0 < 5 * MS);
    REQUIRE_EQ(km_ratelimit_wait(l, km_now() + SEC), 0);
    km_ratelimit_free(l);
}

START_TEST(blocking_wait) { t_run(wait_body, NULL); }
END_TEST

/* A cancelled wait hands its token back. */
static km_ratelimit *cancel_l;
static int cancel_rc;
static void cancel_inner(void *arg) { (void)arg; cancel_rc = km_ratelimit_wait(cancel_l, KM_FOREVER); }

static void cancel_body(void *arg)
{
    (void)arg;
    fake_now = 0;
    km_ratelimit_config c = { .rate = 1, .burst = 1 };
    REQUIRE_EQ(km_ratelimit_new(&cancel_l, &c), 0);
    REQUIRE_EQ(km_ratelimit_take(cancel_l, NULL), 0);
    km_group *g;
    REQUIRE_EQ(km_group_new(&g, NULL, km_now() + 20 * MS), 0);
    REQUIRE_EQ(km_group_run(g, cancel_inner, NULL), -ECANCELED);
    REQUIRE_EQ(cancel_rc, -ECANCELED);
    km_group_free(g);
    int64_t wait;
    REQUIRE_EQ(km_ratelimit_take(cancel_l, &wait), -EAGAIN);
    REQUIRE(wait <= SEC - 15 * MS);      /* not pushed back by the abandoned reservation */
    km_ratelimit_free(cancel_l);
}

START_TEST(cancelled_wait) { t_run(cancel_body, NULL); }
END_TEST

static void keyed_body(void *arg)
{
    (void)arg;
    km_ratelimit_keyed *k;
    fake_now = 5 * SEC;
    km_ratelimit_keyed_config c = { .rate = 1, .burst = 2, .max_keys = 64, .clock = fake_clock };
    REQUIRE_EQ(km_ratelimit_keyed_new(&k, &c), 0);
    /* keys are independent */
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "a", 1, NULL), 0);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "a", 1, NULL), 0);
    int64_t wait;
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "a", 1, &wait), -EAGAIN);
    REQUIRE_EQ(wait, SEC);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "b", 1, NULL), 0);
    REQUIRE_EQ(km_ratelimit_keyed_len(k), 2);
    /* long keys: compared on prefix + hash */
    char long1[200], long2[200];
    memset(long1, 'x', sizeof long1);
    memcpy(long2, long1, sizeof long2);
    long2[199] = 'y';
    REQUIRE_EQ(km_ratelimit_keyed_take(k, long1, 200, NULL), 0);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, long1, 200, NULL), 0);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, long1, 200, NULL), -EAGAIN);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, long2, 200, NULL), 0);
    /* thousands of keys: the table stays bounded */
    for (int i = 0; i < 5000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i);
        REQUIRE_EQ(km_ratelimit_keyed_take(k, key, (size_t)n, NULL), 0);
        fake_now += MS;
    }
    REQUIRE(km_ratelimit_keyed_len(k) <= 64);
    /* "a" was idle long enough to refill: evicted or not, it is full again */
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "a", 1, NULL), 0);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "a", 1, NULL), 0);
    REQUIRE_EQ(km_ratelimit_keyed_take(k, "a", 1, NULL), -EAGAIN);
    km_ratelimit_keyed_free(k);
}

START_TEST(keyed) { t_run(keyed_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resil/ratelimit");
    TCase *tc = tcase_create("ratelimit");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, exact_on_fake_clock);
    tcase_add_test(tc, observed_rate);
    tcase_add_test(tc, blocking_wait);
    tcase_add_test(tc, cancelled_wait);
    tcase_add_test(tc, keyed);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
