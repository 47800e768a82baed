/* SPDX-License-Identifier: MIT */
/* km_once (runs once, every caller sees its effect) and km_cond (signal, broadcast, wait_dl). */
#include "util.h"
#include <errno.h>
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

/* ---- once ---- */

enum { CALLERS = 200 };
typedef struct {
    km_once    once;
    atomic_int runs;
    long       value;         /* plain: published by km_once_do */
    void      *arg_seen;
    km_wg     *wg;
    atomic_int bad;
} once_t;
static once_t on = { KM_ONCE_INIT, 0, 0, NULL, NULL, 0 };

static void once_init(void *arg)
{
    atomic_fetch_add(&on.runs, 1);
    on.arg_seen = arg;
    /* Park inside fn: the other callers must wait for it, not run it. */
    km_sleep(10 * MS);
    km_yield();
    on.value = 42;
}

static void once_caller(void *arg)
{
    (void)arg;
    km_once_do(&on.once, once_init, &on);
    if (on.value != 42) atomic_fetch_add(&on.bad, 1);
    km_wg_done(on.wg);
}

static void once_body(void *arg)
{
    (void)arg;
    REQUIRE_EQ(km_wg_new(&on.wg), 0);
    km_wg_add(on.wg, CALLERS);
    for (int i = 0; i < CALLERS; i++)
        REQUIRE_EQ(km_go(once_caller, NULL), 0);
    REQUIRE_EQ(km_wg_wait(on.wg), 0);
    REQUIRE_EQ(atomic_load(&on.bad), 0);
    REQUIRE_EQ(atomic_load(&on.runs), 1);
    ck_assert_ptr_eq(on.arg_seen, &on);
    /* Later calls return at once without running fn. */
    int64_t t0 = km_now();
    for (int i = 0; i < 1000; i++)
        km_once_do(&on.once, once_init, NULL);
    ck_assert_int_lt(km_now() - t0, 5 * MS * 100);   /* generous: no 10 ms sleeps */
    REQUIRE_EQ(atomic_load(&on.runs), 1);
    ck_assert_ptr_eq(on.arg_seen, &on);
    km_wg_free(on.wg);
}

START_TEST(once_runs_once)
{
    t_procs(procs_tab[_i]);
    t_run(once_body, NULL);
}
END_TEST

/* Independent once objects, one of them zero-initialised in a struct, and a
 * once fn that itself uses another once. */
static atomic_int cnt_a, cnt_b;
static km_once once_b = KM_ONCE_INIT;
static void inc_b(void *arg) { (void)arg; atomic_fetch_add(&cnt_b, 1); }
static void inc_a(void *arg)
{
    atomic_fetch_add(&cnt_a, 1);
    km_once_do(&once_b, inc_b, arg);
}

static void once_indep_body(void *arg)
{
    (void)arg;
    struct { int pad; km_once o; } s;
    memset(&s, 0, sizeof s);
    km_once a2 = KM_ONCE_INIT;
    for (int i = 0; i < 3; i++) {
        km_once_do(&s.o, inc_a, NULL);
        km_once_do(&a2, inc_a, NULL);
        km_once_do(&once_b, inc_b, NULL);
    }
    REQUIRE_EQ(atomic_load(&cnt_a), 2);
    REQUIRE_EQ(atomic_load(&cnt_b), 1);
}

START_TEST(once_independent)
{
    t_procs(2);
    t_run(once_indep_body, NULL);
}
END_TEST

/* Many once objects raced by many goroutines. */
enum { ONCES = 64, RACERS = 32 };
typedef struct { km_once o[ONCES]; atomic_int runs[ONCES]; long val[ONCES]; km_wg *wg; atomic_int bad; } many_once_t;
static many_once_t mo;
static void mo_init(void *arg)
{
    long i = (long)(intptr_t)arg;
    atomic_fetch_add(&mo.runs[i], 1);
    if (i & 1) km_yield();
    mo.val[i] = i + 1000;
}
static void mo_racer(void *arg)
{
    long start = (long)(intptr_t)arg;
    for (long k = 0; k < ONCES; k++) {
        long i = (start + k) % ONCES;
        km_once_do(&mo.o[i], mo_init, (void *)(intptr_t)i);
        if (mo.val[i] != i + 1000) atomic_fetch_add(&mo.bad, 1);
    }
    km_wg_done(mo.wg);
}

static void many_once_body(void *arg)
{
    (void)arg;
    memset(&mo, 0, sizeof mo);
    REQUIRE_EQ(km_wg_new(&mo.wg), 0);
    km_wg_add(mo.wg, RACERS);
    for (long r = 0; r < RACERS; r++)
        REQUIRE_EQ(km_go(mo_racer, (void *)(intptr_t)(r * 7)), 0);
    REQUIRE_EQ(km_wg_wait(mo.wg), 0);
    REQUIRE_EQ(atomic_load(&mo.bad), 0);
    for (int i = 0; i < ONCES; i++)
        REQUIRE_EQ(atomic_load(&mo.runs[i]), 1);
    km_wg_free(mo.wg);
}

START_TEST(once_many_objects)
{
    t_procs(procs_tab[_i]);
    t_run(many_once_body, NULL);
}
END_TEST

/* ---- cond ---- */

enum { NW = 10 };
typedef struct {
    km_mutex *m;
    km_cond  *cv;
    km_wg    *wg;
    int       waiting, tokens, consumed, wakes, go;
    int       bad;
} cv_t;
static cv_t cv;

static void cv_setup(void)
{
    memset(&cv, 0, sizeof cv);
    REQUIRE_EQ(km_mutex_new(&cv.m), 0);
    REQUIRE_EQ(km_cond_new(&cv.cv), 0);
    REQUIRE_EQ(km_wg_new(&cv.wg), 0);
}

static void cv_teardown(void)
{
    km_mutex_free(cv.m);
    km_cond_free(cv.cv);
    km_wg_free(cv.wg);
}

/* Returns with m held once `waiting` reached n: every waiter is then parked
 * in km_cond_wait (it counted itself under m, and only the wait released m). */
static void wait_for_waiters(int n)
{
    for (;;) {
        km_mutex_lock(cv.m);
        if (cv.waiting == n) return;
        km_mutex_unlock(cv.m);
        km_sleep(MS);
    }
}

static void token_waiter(void *arg)
{
    (void)arg;
    km_mutex_lock(cv.m);
    cv.waiting++;
    while (cv.tokens == 0) {
        if (km_cond_wait(cv.cv, cv.m) != 0) cv.bad++;
        cv.wakes++;
    }
    cv.tokens--;
    cv.consumed++;
    cv.waiting--;
    km_mutex_unlock(cv.m);
    km_wg_done(cv.wg);
}

static void signal_body(void *arg)
{
    (void)arg;
    cv_setup();
    km_wg_add(cv.wg, NW);
    for (int i = 0; i < NW; i++)
        REQUIRE_EQ(km_go(token_waiter, NULL), 0);
    wait_for_waiters(NW);
    cv.tokens = 1;
    km_cond_signal(cv.cv);
    km_mutex_unlock(cv.m);
    /* Wait for the effect, then check nobody else was woken. */
    for (;;) {
        km_mutex_lock(cv.m);
        int c = cv.consumed;
        km_mutex_unlock(cv.m);
        if (c) break;
        km_sleep(MS);
    }
    km_sleep(20 * MS);
    km_mutex_lock(cv.m);
    REQUIRE_EQ(cv.consumed, 1);
    ck_assert_msg(cv.wakes == 1, "one signal woke %d waiters", cv.wakes);
    REQUIRE_EQ(cv.waiting, NW - 1);
    /* One signal per token for the rest. */
    for (int i = 1; i < NW; i++) {
        cv.tokens++;
        km_cond_signal(cv.cv);
    }
    km_mutex_unlock(cv.m);
    REQUIRE_EQ(km_wg_wait(cv.wg), 0);
    REQUIRE_EQ(cv.consumed, NW);
    REQUIRE_EQ(cv.bad, 0);
    cv_teardown();
}

START_TEST(cond_signal_wakes_one)
{
    t_procs(procs_tab[_i]);
    t_run(signal_body, NULL);
}
END_TEST

static void go_waiter(void *arg)
{
    (void)arg;
    km_mutex_lock(cv.m);
    cv.waiting++;
    while (!cv.go) {
        if (km_cond_wait(cv.cv, cv.m) != 0) cv.bad++;
        cv.wakes++;
    }
    cv.consumed++;
    km_mutex_unlock(cv.m);
    km_wg_done(cv.wg);
}

static void broadcast_body(void *arg)
{
    (void)arg;
    enum { N = 100 };
    cv_setup();
    km_wg_add(cv.wg, N);
    for (int i = 0; i < N; i++)
        REQUIRE_EQ(km_go(go_waiter, NULL), 0);
    wait_for_waiters(N);
    cv.go = 1;
    km_cond_broadcast(cv.cv);
    km_mutex_unlock(cv.m);
    REQUIRE_EQ(km_wg_wait(cv.wg), 0);
    REQUIRE_EQ(cv.consumed, N);
    REQUIRE_EQ(cv.wakes, N);     /* one broadcast, no spurious wake-ups */
    REQUIRE_EQ(cv.bad, 0);
    /* Broadcast and signal with nobody waiting are no-ops. */
    km_cond_broadcast(cv.cv);
    km_cond_signal(cv.cv);
    cv_teardown();
}

START_TEST(cond_broadcast_wakes_all)
{
    t_procs(procs_tab[_i]);
    t_run(broadcast_body, NULL);
}
END_TEST

/* A signal with no waiter is not remembered; wait_dl times out no earlier
 * than asked and returns with the mutex held. */
typedef struct { km_mutex *m; km_wg *wg; int rc; } probe_t;
static void trylock_probe(void *arg)
{
    probe_t *p = arg;
    p->rc = km_mutex_trylock(p->m);
    if (p->rc == 0) km_mutex_unlock(p->m);
    km_wg_done(p->wg);
}

static void wait_dl_body(void *arg)
{
    (void)arg;
    cv_setup();
    km_cond_signal(cv.cv);
    km_cond_broadcast(cv.cv);
    km_mutex_lock(cv.m);
    for (int r = 0; r < 3; r++) {
        int64_t dl = km_now() + (r + 1) * 5 * MS;
        REQUIRE_EQ(km_cond_wait_dl(cv.cv, cv.m, dl), -ETIMEDOUT);
        ck_assert_int_ge(km_now(), dl);
        /* Held by us: another goroutine cannot take it. */
        static probe_t p;
        p = (probe_t){ cv.m, cv.wg, 99 };
        km_wg_add(cv.wg, 1);
        REQUIRE_EQ(km_go(trylock_probe, &p), 0);
        REQUIRE_EQ(km_wg_wait(cv.wg), 0);
        REQUIRE_EQ(p.rc, -EBUSY);
    }
    REQUIRE_EQ(km_cond_wait_dl(cv.cv, cv.m, 0), -ETIMEDOUT);
    REQUIRE_EQ(km_cond_wait_dl(cv.cv, cv.m, km_now() - MS), -ETIMEDOUT);
    REQUIRE_EQ(km_mutex_trylock(cv.m), -EBUSY);
    km_mutex_unlock(cv.m);
    REQUIRE_EQ(km_mutex_trylock(cv.m), 0);
    km_mutex_unlock(cv.m);
    cv_teardown();
}

START_TEST(cond_wait_dl_timeout)
{
    t_procs(procs_tab[_i]);
    t_run(wait_dl_body, NULL);
}
END_TEST

/* A signal racing a waiter's deadline is never lost: if the short-deadline
 * waiter timed out, the signal went to the other one. */
typedef struct {
    km_mutex *m;
    km_cond  *cv;
    km_wg    *a_done, *b_done;
    int       a_in, b_in, b_woken;
    int64_t   a_dl;
    int       a_rc;
} sr_t;
static sr_t sr;

static void sr_a(void *arg)
{
    (void)arg;
    km_mutex_lock(sr.m);
    sr.a_in = 1;
    sr.a_rc = km_cond_wait_dl(sr.cv, sr.m, sr.a_dl);
    km_mutex_unlock(sr.m);
    km_wg_done(sr.a_done);
}

static void sr_b(void *arg)
{
    (void)arg;
    km_mutex_lock(sr.m);
    sr.b_in = 1;
    while (!sr.b_woken) {
        if (km_cond_wait(sr.cv, sr.m) != 0) break;
        sr.b_woken = 1;
    }
    km_mutex_unlock(sr.m);
    km_wg_done(sr.b_done);
}

static void signal_race_body(void *arg)
{
    (void)arg;
    memset(&sr, 0, sizeof sr);
    REQUIRE_EQ(km_mutex_new(&sr.m), 0);
    REQUIRE_EQ(km_cond_new(&sr.cv), 0);
    REQUIRE_EQ(km_wg_new(&sr.a_done), 0);
    REQUIRE_EQ(km_wg_new(&sr.b_done), 0);
    uint32_t rng = 17;
    int a_got = 0, a_to = 0;
    for (int r = 0; r < 1000 / SCALE; r++) {
        sr.a_in = sr.b_in = sr.b_woken = 0;
        sr.a_rc = 99;
        rng = rng * 1103515245u + 12345u;
        sr.a_dl = km_now() + (int64_t)((rng >> 8) % 300) * 1000;
        km_wg_add(sr.a_done, 1);
        km_wg_add(sr.b_done, 1);
        REQUIRE_EQ(km_go(sr_b, NULL), 0);
        REQUIRE_EQ(km_go(sr_a, NULL), 0);
        for (;;) {
            km_mutex_lock(sr.m);
            if (sr.a_in && sr.b_in) break;
            km_mutex_unlock(sr.m);
            km_yield();
        }
        km_mutex_unlock(sr.m);
        rng = rng * 1103515245u + 12345u;
        km_sleep((int64_t)((rng >> 8) % 300) * 1000);
        km_mutex_lock(sr.m);
        km_cond_signal(sr.cv);
        km_mutex_unlock(sr.m);
        REQUIRE_EQ(km_wg_wait(sr.a_done), 0);
        if (sr.a_rc == -ETIMEDOUT) {
            /* The signal must have reached b. */
            a_to++;
            REQUIRE_EQ(km_wg_wait(sr.b_done), 0);
        } else {
            REQUIRE_EQ(sr.a_rc, 0);
            a_got++;
            km_mutex_lock(sr.m);
            km_cond_broadcast(sr.cv);
            km_mutex_unlock(sr.m);
            REQUIRE_EQ(km_wg_wait(sr.b_done), 0);
        }
        REQUIRE_EQ(sr.b_woken, 1);
    }
    REQUIRE_EQ(a_got + a_to, 1000 / SCALE);
    km_mutex_free(sr.m);
    km_cond_free(sr.cv);
    km_wg_free(sr.a_done);
    km_wg_free(sr.b_done);
}

START_TEST(cond_signal_races_timeout)
{
    t_procs(procs_tab[_i]);
    t_run(signal_race_body, NULL);
}
END_TEST

/* Bounded queue with two conditions and signal (not broadcast): the classic
 * lost-wake-up trap. Consumers optionally wait with short deadlines. */
enum { QCAP = 8, QPROD = 4, QCONS = 4 };
typedef struct {
    km_mutex *m;
    km_cond  *not_full, *not_empty;
    long      q[QCAP];
    int       head, count, closed;
    long      per_producer;
    int       use_dl;
    km_wg    *prod, *cons;
    atomic_long sum, n;
} bq_t;
static bq_t bq;

static void bq_producer(void *arg)
{
    long base = (long)(intptr_t)arg * 1000000;
    for (long i = 1; i <= bq.per_producer; i++) {
        km_mutex_lock(bq.m);
        while (bq.count == QCAP)
            km_cond_wait(bq.not_full, bq.m);
        bq.q[(bq.head + bq.count) % QCAP] = base + i;
        bq.count++;
        km_cond_signal(bq.not_empty);
        km_mutex_unlock(bq.m);
    }
    km_wg_done(bq.prod);
}

static void bq_consumer(void *arg)
{
    (void)arg;
    long sum = 0, n = 0;
    for (;;) {
        km_mutex_lock(bq.m);
        while (bq.count == 0 && !bq.closed) {
            if (bq.use_dl) {
                int rc = km_cond_wait_dl(bq.not_empty, bq.m, km_now() + 100 * 1000);
                REQUIRE(rc == 0 || rc == -ETIMEDOUT);
            } else {
                REQUIRE_EQ(km_cond_wait(bq.not_empty, bq.m), 0);
            }
        }
        if (bq.count == 0) {
            km_mutex_unlock(bq.m);
            break;
        }
        long v = bq.q[bq.head];
        bq.head = (bq.head + 1) % QCAP;
        bq.count--;
        km_cond_signal(bq.not_full);
        km_mutex_unlock(bq.m);
        sum += v;
        n++;
    }
    atomic_fetch_add(&bq.sum, sum);
    atomic_fetch_add(&bq.n, n);
    km_wg_done(bq.cons);
}

static void bq_run(int use_dl)
{
    memset(&bq, 0, sizeof bq);
    bq.per_producer = 20000 / SCALE;
    bq.use_dl = use_dl;
    REQUIRE_EQ(km_mutex_new(&bq.m), 0);
    REQUIRE_EQ(km_cond_new(&bq.not_full), 0);
    REQUIRE_EQ(km_cond_new(&bq.not_empty), 0);
    REQUIRE_EQ(km_wg_new(&bq.prod), 0);
    REQUIRE_EQ(km_wg_new(&bq.cons), 0);
    km_wg_add(bq.prod, QPROD);
    km_wg_add(bq.cons, QCONS);
    for (int i = 0; i < QCONS; i++)
        REQUIRE_EQ(km_go(bq_consumer, NULL), 0);
    for (long p = 0; p < QPROD; p++)
        REQUIRE_EQ(km_go(bq_producer, (void *)(intptr_t)(p + 1)), 0);
    REQUIRE_EQ(km_wg_wait(bq.prod), 0);
    km_mutex_lock(bq.m);
    bq.closed = 1;
    km_cond_broadcast(bq.not_empty);
    km_mutex_unlock(bq.m);
    REQUIRE_EQ(km_wg_wait(bq.cons), 0);
    long want = 0;
    for (long p = 1; p <= QPROD; p++)
        want += p * 1000000 * bq.per_producer + bq.per_producer * (bq.per_producer + 1) / 2;
    REQUIRE_EQ(atomic_load(&bq.n), QPROD * bq.per_producer);
    REQUIRE_EQ(atomic_load(&bq.sum), want);
    km_mutex_free(bq.m);
    km_cond_free(bq.not_full);
    km_cond_free(bq.not_empty);
    km_wg_free(bq.prod);
    km_wg_free(bq.cons);
}

static void bq_body(void *arg)
{
    (void)arg;
    bq_run(0);
    bq_run(1);
}

START_TEST(cond_bounded_queue)
{
    t_procs(procs_tab[_i]);
    t_run(bq_body, NULL);
}
END_TEST

static Suite *once_cond_suite(void)
{
    Suite *s = suite_create("sync/once_cond");
    TCase *tc = tcase_create("once_cond");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, once_runs_once, 0, 3);
    tcase_add_test(tc, once_independent);
    tcase_add_loop_test(tc, once_many_objects, 0, 3);
    tcase_add_loop_test(tc, cond_signal_wakes_one, 0, 3);
    tcase_add_loop_test(tc, cond_broadcast_wakes_all, 0, 3);
    tcase_add_loop_test(tc, cond_wait_dl_timeout, 0, 3);
    tcase_add_loop_test(tc, cond_signal_races_timeout, 0, 3);
    tcase_add_loop_test(tc, cond_bounded_queue, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(once_cond_suite)
