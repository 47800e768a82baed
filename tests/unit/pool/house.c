/* SPDX-License-Identifier: MIT */
/* The pool's housekeeper: min idle refill (with backoff after failed opens), lifetime with jitter, idle timeout, keep-alive, leak reports exactly once. */
#include "fake.h"
#include <stdio.h>
#include <unistd.h>

/* ---- min idle ---- */

static void min_idle_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 5, .min_idle = 3 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    REQUIRE(EVENTUALLY(1000, stats(p).idle == 3));
    km_pool_res *a, *b;
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &b), 0);
    /* refilled up to max_size: 3 idle besides the 2 in use */
    REQUIRE(EVENTUALLY(1000, stats(p).idle == 3 && stats(p).open == 5));
    put(p, a, true);                    /* broken: 4 open, 3 idle: enough */
    put(p, b, false);
    REQUIRE(EVENTUALLY(1000, stats(p).idle == 4));
    km_sleep(20 * MS);
    REQUIRE_EQ(stats(p).open, 4);
    REQUIRE_EQ(atomic_load(&f->opens), 5);
    close_free(p);
    fake_check_free(f);
}

START_TEST(min_idle) { t_run(min_idle_body, NULL); }
END_TEST

static void backoff_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    atomic_store(&f->fail_opens, 4);
    km_pool_config c = { .max_size = 2, .min_idle = 1, .backoff_min = 20 * MS,
                         .backoff_max = 60 * MS };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    REQUIRE(EVENTUALLY(2000, stats(p).idle == 1));
    REQUIRE_EQ(atomic_load(&f->attempts), 5);
    REQUIRE_EQ(stats(p).open_errors, 4);
    /* 20, 40, 60 (capped), 60 ms between attempts */
    static const int64_t want[] = { 20 * MS, 40 * MS, 60 * MS, 60 * MS };
    for (int i = 0; i < 4; i++) {
        int64_t gap = f->attempt_at[i + 1] - f->attempt_at[i];
        ck_assert_msg(gap >= want[i] && gap < want[i] + SLACK,
                      "attempt %d after %lld us, want %lld", i + 1, (long long)gap / 1000,
                      (long long)want[i] / 1000);
    }
    /* a success resets the backoff: the next failure waits 20 ms again */
    km_pool_res *r;
    int n0 = atomic_load(&f->attempts);
    atomic_store(&f->fail_opens, 1);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);      /* the idle one; the refill fails once */
    REQUIRE(EVENTUALLY(1000, stats(p).idle == 1));
    REQUIRE_EQ(atomic_load(&f->attempts), n0 + 2);
    int64_t gap = f->attempt_at[n0 + 1] - f->attempt_at[n0];
    ck_assert_msg(gap >= 20 * MS && gap < 20 * MS + SLACK, "%lld us", (long long)gap / 1000);
    put(p, r, false);
    close_free(p);
    fake_check_free(f);
}

START_TEST(backoff) { t_run(backoff_body, NULL); }
END_TEST

/* ---- lifetime with jitter ---- */

enum { LT_N = 20 };

static void lifetime_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = LT_N + 1, .max_lifetime = 100 * MS,
                         .lifetime_jitter = 50 * MS };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *r[LT_N + 1];
    for (int i = 0; i < LT_N + 1; i++)
        REQUIRE_EQ(get(p, KM_FOREVER, &r[i]), 0);
    for (int i = 0; i < LT_N; i++)
        put(p, r[i], false);
    /* one in use past its lifetime: never closed under its holder */
    km_pool_res *held = r[LT_N];
    fake_res *hr = km_pool_res_value(held);
    REQUIRE(EVENTUALLY(1000, atomic_load(&f->closed_by[KM_POOL_LIFETIME]) == LT_N));
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < LT_N + 1; i++) {
        fake_res *x = f->res[i];
        if (x == hr)
            continue;
        REQUIRE_EQ(atomic_load(&x->reason), KM_POOL_LIFETIME);
        int64_t age = x->closed_at - x->opened_at;
        ck_assert_msg(age >= 50 * MS && age < 100 * MS + SLACK, "closed at %lld us",
                      (long long)age / 1000);
        if (age < lo) lo = age;
        if (age > hi) hi = age;
    }
    /* jitter: they did not all go together */
    ck_assert_msg(hi - lo >= 10 * MS, "spread %lld us", (long long)(hi - lo) / 1000);
    km_sleep_until(hr->opened_at + 120 * MS);
    REQUIRE_EQ(atomic_load(&hr->closes), 0);
    put(p, held, false);                /* returned past its lifetime: closed */
    REQUIRE_EQ(atomic_load(&hr->closes), 1);
    REQUIRE_EQ(atomic_load(&hr->reason), KM_POOL_LIFETIME);
    REQUIRE_EQ(stats(p).open, 0);
    close_free(p);
    fake_check_free(f);
}

START_TEST(lifetime) { t_run(lifetime_body, NULL); }
END_TEST

/* ---- idle timeout ---- */

static void idle_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 4, .min_idle = 1, .idle_timeout = 50 * MS,
                         .max_lifetime = KM_FOREVER };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *r[4];
    for (int i = 0; i < 4; i++)
        REQUIRE_EQ(get(p, KM_FOREVER, &r[i]), 0);
    int64_t t0 = km_now();
    for (int i = 0; i < 4; i++)
        put(p, r[i], false);
    REQUIRE(EVENTUALLY(1000, atomic_load(&f->closed_by[KM_POOL_IDLE]) == 3));
    for (int i = 0; i < 4; i++) {
        fake_res *x = f->res[i];
        if (!atomic_load(&x->closes))
            continue;
        int64_t idle = x->closed_at - t0;
        ck_assert_msg(idle >= 50 * MS && idle < 50 * MS + SLACK, "closed after %lld us",
                      (long long)idle / 1000);
    }
    /* min_idle stays */
    km_sleep(100 * MS);
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_IDLE]), 3);
    REQUIRE_EQ(stats(p).idle, 1);
    REQUIRE_EQ(stats(p).closed[KM_POOL_IDLE], 3);
    close_free(p);
    fake_check_free(f);
}

START_TEST(idle) { t_run(idle_body, NULL); }
END_TEST

/* ---- keep-alive ---- */

static void keepalive_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 1, .min_idle = 1, .keepalive = 30 * MS,
                         .alive_bypass = KM_FOREVER, .backoff_min = 5 * MS };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    REQUIRE(EVENTUALLY(1000, stats(p).idle == 1));
    int v0 = atomic_load(&f->validates);
    km_sleep(200 * MS);
    int v = atomic_load(&f->validates) - v0;
    ck_assert_msg(v >= 4 && v <= 7, "%d keep-alive checks in 200 ms", v);
    /* not while in use */
    km_pool_res *r;
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    v0 = atomic_load(&f->validates);
    km_sleep(100 * MS);
    REQUIRE_EQ(atomic_load(&f->validates), v0);
    put(p, r, false);
    /* a dead one is closed and min_idle opens another */
    atomic_store(&f->fail_all_validates, 1);
    REQUIRE(EVENTUALLY(1000, atomic_load(&f->closed_by[KM_POOL_VALIDATION]) >= 1));
    atomic_store(&f->fail_all_validates, 0);
    REQUIRE(EVENTUALLY(1000, stats(p).idle == 1 && atomic_load(&f->opens) >= 2));
    close_free(p);
    fake_check_free(f);
}

START_TEST(keepalive) { t_run(keepalive_body, NULL); }
END_TEST

/* ---- leak reports ---- */

typedef struct {
    atomic_int n;
    uint64_t   goid;
    int64_t    held;
    int        npcs;
    void      *pcs[16];
    char       stack[4096];
    void      *res;
} leaks_seen;

static void on_leak(void *ud, const km_pool_leak *l)
{
    leaks_seen *s = ud;
    s->goid = l->goid;
    s->held = l->held;
    s->npcs = l->npcs;
    s->res = l->res;
    memcpy(s->pcs, l->pcs, (size_t)l->npcs * sizeof *l->pcs);
    snprintf(s->stack, sizeof s->stack, "%s", l->stack);
    ck_assert_str_eq(l->pool, "leaky");
    atomic_fetch_add(&s->n, 1);
}

typedef struct { km_pool *p; int64_t hold; uint64_t goid; km_wg *wg; } leaker_arg;

__attribute__((noinline))
static void leaker(void *arg)
{
    leaker_arg *a = arg;
    km_pool_res *r;
    a->goid = km_goid();
    REQUIRE_EQ(get(a->p, KM_FOREVER, &r), 0);
    km_sleep(a->hold);
    put(a->p, r, false);
    km_wg_done(a->wg);
}

static void hold_once(km_pool *p, int64_t hold, uint64_t *goid)
{
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, 1);
    leaker_arg a = { p, hold, 0, wg };
    km_go_opts named = { 0, "leaker" };
    REQUIRE_EQ(km_go_opt(leaker, &a, &named), 0);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    *goid = a.goid;
}

static void leak_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    leaks_seen *seen = calloc(1, sizeof *seen);
    km_pool_config c = { .name = "leaky", .max_size = 2, .leak_threshold = 30 * MS,
                         .on_leak = on_leak, .leak_ud = seen };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    /* held 150 ms: reported once, after 30 ms */
    uint64_t goid;
    hold_once(p, 150 * MS, &goid);
    REQUIRE_EQ(atomic_load(&seen->n), 1);
    REQUIRE_EQ(seen->goid, goid);
    ck_assert_msg(seen->held >= 30 * MS && seen->held < 30 * MS + SLACK, "%lld us",
                  (long long)seen->held / 1000);
    REQUIRE(seen->res == f->res[0]);
    /* the holder's stack from the dump: named, parked in its sleep */
    char want[64];
    snprintf(want, sizeof want, "goroutine %llu \"leaker\" [waiting, sleep", (unsigned long long)goid);
    ck_assert_msg(strstr(seen->stack, want) != NULL, "want %s in:\n%s", want, seen->stack);
    /* the acquire site: a return address inside leaker() (or get(), inlined
     * into it or called from it) */
    REQUIRE(seen->npcs > 0);
    bool in_leaker = false;
    for (int i = 0; i < seen->npcs && i < 3; i++)
        in_leaker |= (char *)seen->pcs[i] > (char *)leaker && (char *)seen->pcs[i] < (char *)leaker + 1024;
    ck_assert_msg(in_leaker, "%p %p %p, leaker at %p", seen->pcs[0], seen->pcs[1], seen->pcs[2],
                  (void *)leaker);
    REQUIRE_EQ(stats(p).leaks, 1);
    /* a short loan is not reported; a new long one is, once */
    hold_once(p, 5 * MS, &goid);
    km_sleep(50 * MS);
    REQUIRE_EQ(atomic_load(&seen->n), 1);
    hold_once(p, 80 * MS, &goid);
    REQUIRE_EQ(atomic_load(&seen->n), 2);
    REQUIRE_EQ(seen->goid, goid);
    close_free(p);
    fake_check_free(f);

    /* the loan starts after the validation: a slow one is no leak, nor is
     * the previous loan's time */
    f = fake_new();
    o = fake_ops(f);
    f->validate_delay = 50 * MS;
    km_pool_config cv = { .name = "leaky", .leak_threshold = 30 * MS, .alive_bypass = 10 * MS,
                          .on_leak = on_leak, .leak_ud = seen };
    REQUIRE_EQ(km_pool_new(&p, &o, &cv), 0);
    hold_once(p, 5 * MS, &goid);
    km_sleep(60 * MS);
    /* validated for 50 ms, then held 5; meanwhile another acquire wakes
     * the housekeeper, which looks at the slot being validated */
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, 1);
    leaker_arg la = { p, 5 * MS, 0, wg };
    REQUIRE_EQ(km_go(leaker, &la), 0);
    km_sleep(10 * MS);
    km_pool_res *r2;
    REQUIRE_EQ(get(p, KM_FOREVER, &r2), 0);
    km_sleep(2 * MS);
    put(p, r2, false);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    REQUIRE_EQ(atomic_load(&f->validates), 1);
    km_sleep(40 * MS);
    REQUIRE_EQ(atomic_load(&seen->n), 2);
    close_free(p);
    fake_check_free(f);

    /* without a callback: a warning through the logger */
    char path[] = "/tmp/kumo-pool-leak-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    km_logger *log;
    km_log_config lc = { .fd = fd };
    REQUIRE_EQ(km_log_new(&log, &lc), 0);
    f = fake_new();
    o = fake_ops(f);
    km_pool_config c2 = { .name = "logged", .leak_threshold = 20 * MS, .log = log };
    REQUIRE_EQ(km_pool_new(&p, &o, &c2), 0);
    hold_once(p, 60 * MS, &goid);
    close_free(p);
    fake_check_free(f);
    km_log_free(log);
    char buf[8192] = { 0 };
    REQUIRE(pread(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    unlink(path);
    ck_assert_msg(strstr(buf, "\"msg\":\"pool: resource held past the leak threshold\"") &&
                  strstr(buf, "\"pool\":\"logged\"") && strstr(buf, "\"held_ms\":") &&
                  strstr(buf, "\"stack\":\"goroutine "), "%s", buf);
    /* once */
    const char *first = strstr(buf, "held past");
    REQUIRE(first && !strstr(first + 1, "held past"));
    free(seen);
}

START_TEST(leak) { t_run(leak_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool/house");
    TCase *tc = tcase_create("house");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, min_idle);
    tcase_add_test(tc, backoff);
    tcase_add_test(tc, lifetime);
    tcase_add_test(tc, idle);
    tcase_add_test(tc, keepalive);
    tcase_add_test(tc, leak);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
