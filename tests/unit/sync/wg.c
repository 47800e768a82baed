/* SPDX-License-Identifier: MIT */
/* km_wg: zero-counter waits, many waiters and workers, wait_dl timeouts, reuse, negative counter aborts. */
#include "util.h"
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MS (1000 * 1000LL)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
enum { SCALE = 5 };
#else
enum { SCALE = 1 };
#endif

static const int procs_tab[] = { 1, 2, 8 };

/* ---- a zero counter never blocks ---- */

static void zero_body(void *arg)
{
    (void)arg;
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    int64_t t0 = km_now();
    REQUIRE_EQ(km_wg_wait(wg), 0);
    REQUIRE_EQ(km_wg_wait_dl(wg, 0), 0);
    REQUIRE_EQ(km_wg_wait_dl(wg, km_now() - MS), 0);
    REQUIRE_EQ(km_wg_wait_dl(wg, km_now() + 60 * 1000 * MS), 0);
    km_wg_add(wg, 3);
    km_wg_add(wg, -3);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_add(wg, 2);
    km_wg_done(wg);
    km_wg_done(wg);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_add(wg, 0);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    ck_assert_int_lt(km_now() - t0, 1000 * MS);   /* generous: nothing waited */
    km_wg_free(wg);
}

START_TEST(wait_zero_returns_at_once)
{
    t_procs(1);
    t_run(zero_body, NULL);
}
END_TEST

/* ---- many workers, many waiters ---- */

enum { WAITERS = 100, WORKERS = 1000 };
typedef struct {
    km_wg      *wg, *waiters_done;
    atomic_long work, saw_all, bad;
} many_t;
static many_t mn;

static void worker(void *arg)
{
    (void)arg;
    if ((atomic_fetch_add(&mn.work, 1) & 7) == 0) km_sleep(100 * 1000);
    km_wg_done(mn.wg);
}

static void waiter(void *arg)
{
    long use_dl = (long)(intptr_t)arg;
    int rc = use_dl ? km_wg_wait_dl(mn.wg, km_now() + 60 * 1000 * MS) : km_wg_wait(mn.wg);
    if (rc != 0) atomic_fetch_add(&mn.bad, 1);
    /* Every done() happened before any waiter returns. */
    if (atomic_load(&mn.work) == WORKERS) atomic_fetch_add(&mn.saw_all, 1);
    km_wg_done(mn.waiters_done);
}

static void many_body(void *arg)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        memset(&mn, 0, sizeof mn);
        REQUIRE_EQ(km_wg_new(&mn.wg), 0);
        REQUIRE_EQ(km_wg_new(&mn.waiters_done), 0);
        km_wg_add(mn.wg, WORKERS);
        km_wg_add(mn.waiters_done, WAITERS);
        for (long i = 0; i < WAITERS; i++)
            REQUIRE_EQ(km_go(waiter, (void *)(intptr_t)(i & 1)), 0);
        for (int i = 0; i < WORKERS; i++)
            REQUIRE_EQ(km_go(worker, NULL), 0);
        REQUIRE_EQ(km_wg_wait(mn.waiters_done), 0);
        REQUIRE_EQ(atomic_load(&mn.bad), 0);
        REQUIRE_EQ(atomic_load(&mn.saw_all), WAITERS);
        km_wg_free(mn.wg);
        km_wg_free(mn.waiters_done);
    }
}

START_TEST(many_waiters)
{
    t_procs(procs_tab[_i]);
    t_run(many_body, NULL);
}
END_TEST

/* Reuse: once a wait has returned the group can count again. */
typedef struct { km_wg *wg; atomic_long n; } reuse_t;
static reuse_t ru;
static void reuse_worker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ru.n, 1);
    km_wg_done(ru.wg);
}

static void reuse_body(void *arg)
{
    (void)arg;
    REQUIRE_EQ(km_wg_new(&ru.wg), 0);
    long want = 0;
    for (long r = 1; r <= 2000 / SCALE; r++) {
        int n = (int)(r % 7);
        km_wg_add(ru.wg, n);
        for (int i = 0; i < n; i++)
            REQUIRE_EQ(km_go(reuse_worker, NULL), 0);
        REQUIRE_EQ(km_wg_wait(ru.wg), 0);
        want += n;
        REQUIRE_EQ(atomic_load(&ru.n), want);
    }
    km_wg_free(ru.wg);
}

START_TEST(reuse)
{
    t_procs(procs_tab[_i]);
    t_run(reuse_body, NULL);
}
END_TEST

/* ---- wait_dl ---- */

typedef struct { km_wg *wg, *done; int rc; int64_t dl, woke; } dl_t;
static void dl_waiter(void *arg)
{
    dl_t *d = arg;
    d->rc = km_wg_wait_dl(d->wg, d->dl);
    d->woke = km_now();
    km_wg_done(d->done);
}

static void wait_dl_body(void *arg)
{
    (void)arg;
    static dl_t d;
    REQUIRE_EQ(km_wg_new(&d.wg), 0);
    REQUIRE_EQ(km_wg_new(&d.done), 0);
    km_wg_add(d.wg, 1);
    /* Past deadlines: at once. */
    REQUIRE_EQ(km_wg_wait_dl(d.wg, 0), -ETIMEDOUT);
    REQUIRE_EQ(km_wg_wait_dl(d.wg, 1), -ETIMEDOUT);
    REQUIRE_EQ(km_wg_wait_dl(d.wg, km_now() - MS), -ETIMEDOUT);
    /* Future: not early. */
    for (int r = 1; r <= 3; r++) {
        int64_t dl = km_now() + r * 5 * MS;
        REQUIRE_EQ(km_wg_wait_dl(d.wg, dl), -ETIMEDOUT);
        ck_assert_int_ge(km_now(), dl);
    }
    /* A timed-out waiter does not disturb the others: a second waiter with
     * a far deadline is released by done(). */
    d.dl = km_now() + 60 * 1000 * MS;
    d.rc = 99;
    km_wg_add(d.done, 1);
    REQUIRE_EQ(km_go(dl_waiter, &d), 0);
    REQUIRE_EQ(km_wg_wait_dl(d.wg, km_now() + 5 * MS), -ETIMEDOUT);
    km_wg_done(d.wg);
    REQUIRE_EQ(km_wg_wait(d.done), 0);
    REQUIRE_EQ(d.rc, 0);
    ck_assert_int_lt(d.woke, d.dl);
    REQUIRE_EQ(km_wg_wait_dl(d.wg, 0), 0);
    km_wg_free(d.wg);
    km_wg_free(d.done);
}

START_TEST(wait_dl_timeout)
{
    t_procs(procs_tab[_i]);
    t_run(wait_dl_body, NULL);
}
END_TEST

/* Deadlines expiring just as the counter reaches zero: each waiter either
 * times out (and the counter was not yet zero at its deadline) or returns 0;
 * none is left parked. */
typedef struct { km_wg *wg, *done; int64_t dl; atomic_int ok, to, bad; } race_t;
static race_t rc_;
static void race_waiter(void *arg)
{
    (void)arg;
    int rc = km_wg_wait_dl(rc_.wg, rc_.dl);
    if (rc == 0) atomic_fetch_add(&rc_.ok, 1);
    else if (rc == -ETIMEDOUT) atomic_fetch_add(&rc_.to, 1);
    else atomic_fetch_add(&rc_.bad, 1);
    km_wg_done(rc_.done);
}

static void race_body(void *arg)
{
    (void)arg;
    memset(&rc_, 0, sizeof rc_);
    REQUIRE_EQ(km_wg_new(&rc_.done), 0);
    uint32_t rng = 11;
    long total = 0;
    for (int r = 0; r < 1000 / SCALE; r++) {
        REQUIRE_EQ(km_wg_new(&rc_.wg), 0);
        km_wg_add(rc_.wg, 1);
        rng = rng * 1103515245u + 12345u;
        rc_.dl = km_now() + (int64_t)((rng >> 8) % 200) * 1000;
        int n = 1 + (int)((rng >> 20) % 4);
        km_wg_add(rc_.done, n);
        total += n;
        for (int i = 0; i < n; i++)
            REQUIRE_EQ(km_go(race_waiter, NULL), 0);
        rng = rng * 1103515245u + 12345u;
        km_sleep((int64_t)((rng >> 8) % 200) * 1000);
        km_wg_done(rc_.wg);
        REQUIRE_EQ(km_wg_wait(rc_.done), 0);
        km_wg_free(rc_.wg);
    }
    REQUIRE_EQ(atomic_load(&rc_.bad), 0);
    REQUIRE_EQ(atomic_load(&rc_.ok) + atomic_load(&rc_.to), total);
    km_wg_free(rc_.done);
}

START_TEST(wait_dl_races_done)
{
    t_procs(procs_tab[_i]);
    t_run(race_body, NULL);
}
END_TEST

/* ---- lifetime: the waiter frees the group as soon as its wait returns,
 * while the last done() may still be running ---- */

static void done_and_go(void *arg) { km_wg_done(arg); }

static void lifetime_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000 / SCALE; i++) {
        km_wg *wg;
        REQUIRE_EQ(km_wg_new(&wg), 0);
        int n = 1 + i % 3;
        km_wg_add(wg, n);
        for (int k = 0; k < n; k++)
            REQUIRE_EQ(km_go(done_and_go, wg), 0);
        if (i & 1) km_yield();
        REQUIRE_EQ(km_wg_wait(wg), 0);
        km_wg_free(wg);
    }
}

START_TEST(lifetime_free_after_wait)
{
    t_procs(procs_tab[_i]);
    t_run(lifetime_body, NULL);
}
END_TEST

/* ---- a negative counter aborts ---- */

static void negative_add_body(void *arg)
{
    (void)arg;
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, -1);
}

START_TEST(negative_add_aborts)
{
    t_procs(1);
    t_run(negative_add_body, NULL);
}
END_TEST

static void extra_done_body(void *arg)
{
    (void)arg;
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, 2);
    km_wg_done(wg);
    km_wg_done(wg);
    km_wg_done(wg);
}

START_TEST(extra_done_aborts)
{
    t_procs(2);
    t_run(extra_done_body, NULL);
}
END_TEST

static Suite *wg_suite(void)
{
    Suite *s = suite_create("sync/wg");
    TCase *tc = tcase_create("wg");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, wait_zero_returns_at_once);
    tcase_add_loop_test(tc, many_waiters, 0, 3);
    tcase_add_loop_test(tc, reuse, 0, 3);
    tcase_add_loop_test(tc, wait_dl_timeout, 0, 3);
    tcase_add_loop_test(tc, wait_dl_races_done, 0, 3);
    tcase_add_loop_test(tc, lifetime_free_after_wait, 0, 3);
    tcase_add_test_raise_signal(tc, negative_add_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, extra_done_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(wg_suite)
