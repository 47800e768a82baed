/* SPDX-License-Identifier: MIT */
/* km_pool: reuse, exhaustion and exact timeouts, FIFO waiters, broken eviction, validation bypass window, open errors, cancellation, close, no allocation in the steady state, many goroutines on several workers. */
#include "fake.h"

/* ---- basics ---- */

static void basics_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .name = "basic", .max_size = 3 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *r, *a, *b, *d;
    for (int i = 0; i < 100; i++) {
        REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
        put(p, r, false);
    }
    REQUIRE_EQ(atomic_load(&f->opens), 1);         /* one resource, reused */
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &b), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &d), 0);
    REQUIRE_EQ(atomic_load(&f->opens), 3);
    REQUIRE(km_pool_res_value(a) != km_pool_res_value(b));
    km_pool_stats s = stats(p);
    REQUIRE_EQ(s.in_use, 3);
    REQUIRE_EQ(s.open, 3);
    REQUIRE_EQ(s.idle, 0);
    REQUIRE_EQ(s.max_size, 3);
    void *last = km_pool_res_value(d);
    put(p, a, false);
    put(p, b, false);
    put(p, d, false);
    s = stats(p);
    REQUIRE_EQ(s.idle, 3);
    REQUIRE_EQ(s.in_use, 0);
    REQUIRE_EQ(s.acquires, 103);
    /* most recently released first: it is the warmest */
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    REQUIRE(km_pool_res_value(r) == last);
    put(p, r, false);
    close_free(p);
    s = (km_pool_stats){ 0 };
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_SHUTDOWN]), 3);
    fake_check_free(f);

    /* bad settings */
    f = fake_new();
    o = fake_ops(f);
    REQUIRE_EQ(km_pool_new(&p, NULL, NULL), -EINVAL);
    km_pool_ops no_close = { fake_open, NULL, NULL, f };
    REQUIRE_EQ(km_pool_new(&p, &no_close, NULL), -EINVAL);
    km_pool_config bad1 = { .max_size = 2, .min_idle = 3 };
    REQUIRE_EQ(km_pool_new(&p, &o, &bad1), -EINVAL);
    km_pool_config bad2 = { .idle_timeout = -5 };
    REQUIRE_EQ(km_pool_new(&p, &o, &bad2), -EINVAL);
    km_pool_config bad3 = { .max_lifetime = 10 * MS, .lifetime_jitter = 10 * MS };
    REQUIRE_EQ(km_pool_new(&p, &o, &bad3), -EINVAL);
    km_pool_config bad4 = { .max_size = -1 };
    REQUIRE_EQ(km_pool_new(&p, &o, &bad4), -EINVAL);
    fake_check_free(f);
    ck_assert_str_eq(km_pool_reason_name(KM_POOL_IDLE), "idle");
    ck_assert_str_eq(km_pool_reason_name(KM_POOL_VALIDATION), "validation");
    ck_assert_str_eq(km_pool_reason_name(KM_POOL_SHUTDOWN), "shutdown");
    ck_assert_str_eq(km_pool_reason_name(99), "?");
}

START_TEST(basics) { t_run(basics_body, NULL); }
END_TEST

/* ---- exhaustion and exact timeouts ---- */

static void timeout_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 2, .acquire_timeout = 30 * MS };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *a, *b, *r;
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &b), 0);
    /* exhausted: never before the deadline, and (best of five, against a
     * noisy machine) within a couple of ms after it */
    int64_t best = INT64_MAX;
    for (int i = 0; i < 5; i++) {
        int64_t dl = km_now() + 20 * MS;
        REQUIRE_EQ(get(p, dl, &r), -ETIMEDOUT);
        int64_t late = km_now() - dl;
        ck_assert_msg(late >= 0 && late < SLACK, "woke %lld us after the deadline",
                      (long long)late / 1000);
        if (late < best)
            best = late;
    }
    ck_assert_msg(best < 2 * MS * SCALE, "woke %lld us late at best", (long long)best / 1000);
    /* a deadline already past never blocks */
    int64_t t0 = km_now();
    REQUIRE_EQ(get(p, 0, &r), -ETIMEDOUT);
    REQUIRE_EQ(get(p, t0 - SEC, &r), -ETIMEDOUT);
    REQUIRE(km_now() - t0 < 2 * MS * SCALE);
    /* KM_FOREVER means acquire_timeout: never a silent wait */
    t0 = km_now();
    REQUIRE_EQ(get(p, KM_FOREVER, &r), -ETIMEDOUT);
    int64_t el = km_now() - t0;
    ck_assert_msg(el >= 30 * MS && el < 30 * MS + SLACK, "%lld us", (long long)el / 1000);
    km_pool_stats s = stats(p);
    REQUIRE_EQ(s.timeouts, 8);
    REQUIRE_EQ(s.waiting, 0);
    REQUIRE_EQ(s.in_use, 2);
    REQUIRE_EQ(atomic_load(&f->opens), 2);          /* never more than max_size */
    put(p, a, false);
    put(p, b, false);
    close_free(p);
    fake_check_free(f);
}

START_TEST(timeouts) { t_run(timeout_body, NULL); }
END_TEST

/* ---- FIFO among waiters ---- */

enum { FIFO_N = 12 };

typedef struct {
    km_pool    *p;
    int         idx;
    int        *order;
    atomic_int *next;
    km_wg      *wg;
} fifo_arg;

static void fifo_waiter(void *arg)
{
    fifo_arg *a = arg;
    km_pool_res *r;
    REQUIRE_EQ(get(a->p, km_now() + 10 * SEC, &r), 0);
    a->order[atomic_fetch_add(a->next, 1)] = a->idx;
    km_yield();
    put(a->p, r, false);
    km_wg_done(a->wg);
}

static void fifo_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 1 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *h, *r;
    REQUIRE_EQ(get(p, KM_FOREVER, &h), 0);
    int order[FIFO_N];
    atomic_int next = 0;
    fifo_arg args[FIFO_N];
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, FIFO_N);
    for (int i = 0; i < FIFO_N; i++) {
        args[i] = (fifo_arg){ p, i, order, &next, wg };
        REQUIRE_EQ(km_go(fifo_waiter, &args[i]), 0);
        /* queued before the next one starts */
        REQUIRE(EVENTUALLY(2000, stats(p).waiting == i + 1));
    }
    put(p, h, false);
    /* handed to the first waiter: the releaser cannot barge back in */
    REQUIRE_EQ(get(p, 0, &r), -ETIMEDOUT);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    for (int i = 0; i < FIFO_N; i++)
        REQUIRE_EQ(order[i], i);
    REQUIRE_EQ(atomic_load(&f->opens), 1);
    close_free(p);
    fake_check_free(f);
}

START_TEST(fifo)
{
    t_procs(_i ? 2 : 1);
    t_run(fifo_body, NULL);
}
END_TEST

/* ---- broken eviction, open errors and the room they leave ---- */

typedef struct {
    km_pool *p;
    int      rc;
    km_wg   *wg;
    bool     keep;      /* hold what it got until told */
    km_pool_res *got;
} waiter_arg;

static void waiter(void *arg)
{
    waiter_arg *w = arg;
    w->rc = get(w->p, km_now() + 10 * SEC, &w->got);
    if (w->rc == 0 && !w->keep)
        put(w->p, w->got, false);
    km_wg_done(w->wg);
}

static void broken_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 1 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *r;
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    fake_res *first = km_pool_res_value(r);
    put(p, r, true);
    REQUIRE_EQ(atomic_load(&first->closes), 1);
    REQUIRE_EQ(atomic_load(&first->reason), KM_POOL_BROKEN);
    REQUIRE_EQ(stats(p).open, 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    REQUIRE(km_pool_res_value(r) != first);
    REQUIRE_EQ(atomic_load(&f->opens), 2);

    /* a broken release hands the room to the first waiter, who opens */
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    waiter_arg w = { p, 1, wg, false, NULL };
    km_wg_add(wg, 1);
    REQUIRE_EQ(km_go(waiter, &w), 0);
    REQUIRE(EVENTUALLY(2000, stats(p).waiting == 1));
    put(p, r, true);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    REQUIRE_EQ(w.rc, 0);
    REQUIRE_EQ(atomic_load(&f->opens), 3);

    /* open errors reach the acquirer that opened */
    atomic_store(&f->fail_opens, 1);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);          /* the idle one */
    put(p, r, true);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), -ECONNREFUSED);
    REQUIRE_EQ(stats(p).open_errors, 1);
    REQUIRE_EQ(stats(p).opening, 0);
    /* ... and to a waiter given room that then fails to open */
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    w = (waiter_arg){ p, 1, wg, false, NULL };
    km_wg_add(wg, 1);
    REQUIRE_EQ(km_go(waiter, &w), 0);
    REQUIRE(EVENTUALLY(2000, stats(p).waiting == 1));
    atomic_store(&f->fail_opens, 1);
    put(p, r, true);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    REQUIRE_EQ(w.rc, -ECONNREFUSED);
    km_wg_free(wg);
    km_pool_stats s = stats(p);
    REQUIRE_EQ(s.open, 0);
    REQUIRE_EQ(s.open_errors, 2);
    REQUIRE_EQ(s.closed[KM_POOL_BROKEN], 4);
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_BROKEN]), 4);
    close_free(p);
    fake_check_free(f);
}

START_TEST(broken) { t_run(broken_body, NULL); }
END_TEST

/* ---- validation: only after the bypass window ---- */

static void validation_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 3, .alive_bypass = 30 * MS };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *r, *r2;
    for (int i = 0; i < 10; i++) {
        REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
        put(p, r, false);
    }
    REQUIRE_EQ(atomic_load(&f->validates), 0);      /* used within the window */
    km_sleep(60 * MS);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    REQUIRE_EQ(atomic_load(&f->validates), 1);
    REQUIRE_EQ(((fake_res *)km_pool_res_value(r))->id, 0);
    put(p, r, false);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    REQUIRE_EQ(atomic_load(&f->validates), 1);
    put(p, r, false);
    /* a failed validation closes it and the search goes on: two idle ones
     * fail, a third is opened */
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &r2), 0);
    put(p, r, false);
    put(p, r2, false);
    km_sleep(60 * MS);
    atomic_store(&f->fail_validates, 2);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    REQUIRE_EQ(atomic_load(&f->validates), 3);
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_VALIDATION]), 2);
    REQUIRE_EQ(((fake_res *)km_pool_res_value(r))->id, 2);   /* fresh: not validated */
    REQUIRE_EQ(atomic_load(&f->opens), 3);
    put(p, r, false);
    REQUIRE_EQ(stats(p).closed[KM_POOL_VALIDATION], 2);
    close_free(p);
    fake_check_free(f);

    /* KM_FOREVER: never validated */
    f = fake_new();
    o = fake_ops(f);
    km_pool_config never = { .alive_bypass = KM_FOREVER };
    REQUIRE_EQ(km_pool_new(&p, &o, &never), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    put(p, r, false);
    km_sleep(10 * MS);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    put(p, r, false);
    REQUIRE_EQ(atomic_load(&f->validates), 0);
    close_free(p);
    fake_check_free(f);
}

START_TEST(validation) { t_run(validation_body, NULL); }
END_TEST

/* ---- cancellation ---- */

typedef struct { km_pool *p; int rc; int64_t took; } cancel_arg;

static void cancel_inner(void *arg)
{
    cancel_arg *a = arg;
    km_pool_res *r;
    int64_t t0 = km_now();
    a->rc = get(a->p, t0 + 10 * SEC, &r);
    a->took = km_now() - t0;
    if (a->rc == 0)
        put(a->p, r, false);
}

static void cancel_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 1 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *h;
    REQUIRE_EQ(get(p, KM_FOREVER, &h), 0);

    /* the group's deadline */
    km_group *g;
    REQUIRE_EQ(km_group_new(&g, NULL, km_now() + 40 * MS), 0);
    cancel_arg a = { p, 1, 0 };
    REQUIRE_EQ(km_group_run(g, cancel_inner, &a), -ECANCELED);
    REQUIRE_EQ(a.rc, -ECANCELED);
    ck_assert_msg(a.took >= 35 * MS && a.took < 40 * MS + SLACK, "%lld us",
                  (long long)a.took / 1000);
    REQUIRE_EQ(km_group_free(g), 0);

    /* an explicit cancel wakes a waiter at once */
    REQUIRE_EQ(km_group_new(&g, NULL, KM_FOREVER), 0);
    a = (cancel_arg){ p, 1, 0 };
    REQUIRE_EQ(km_group_go(g, cancel_inner, &a), 0);
    REQUIRE(EVENTUALLY(2000, stats(p).waiting == 1));
    km_group_cancel(g);
    REQUIRE_EQ(km_group_wait(g, km_now() + 5 * SEC), 0);
    REQUIRE_EQ(a.rc, -ECANCELED);
    REQUIRE_EQ(stats(p).waiting, 0);
    REQUIRE_EQ(km_group_free(g), 0);

    /* a cancelled caller still gets what is there at once (like a channel
     * operation that can complete) */
    put(p, h, false);
    REQUIRE_EQ(km_group_new(&g, NULL, KM_FOREVER), 0);
    km_group_cancel(g);
    a = (cancel_arg){ p, 1, 0 };
    REQUIRE_EQ(km_group_run(g, cancel_inner, &a), -ECANCELED);
    REQUIRE_EQ(a.rc, 0);
    REQUIRE_EQ(km_group_free(g), 0);
    REQUIRE_EQ(stats(p).timeouts, 0);
    close_free(p);
    fake_check_free(f);
}

START_TEST(cancel) { t_run(cancel_body, NULL); }
END_TEST

/* ---- close: waiters, idle and in-use resources ---- */

typedef struct { km_pool *p; km_pool_res *a, *b; } late_arg;

static void late_release(void *arg)
{
    late_arg *l = arg;
    km_sleep(30 * MS);
    put(l->p, l->a, false);
    put(l->p, l->b, false);
}

static void close_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_pool *p;
    km_pool_config c = { .max_size = 3 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    km_pool_res *a, *b, *r;
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &b), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &r), 0);
    enum { W = 4 };
    waiter_arg w[W];
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, W);
    for (int i = 0; i < W; i++) {
        w[i] = (waiter_arg){ p, 1, wg, false, NULL };
        REQUIRE_EQ(km_go(waiter, &w[i]), 0);
    }
    REQUIRE(EVENTUALLY(2000, stats(p).waiting == W));

    /* resources in use: close times out; waiters leave with -ESHUTDOWN */
    int64_t t0 = km_now();
    REQUIRE_EQ(km_pool_close(p, t0 + 20 * MS), -ETIMEDOUT);
    REQUIRE(km_now() - t0 >= 20 * MS);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    for (int i = 0; i < W; i++)
        REQUIRE_EQ(w[i].rc, -ESHUTDOWN);
    REQUIRE_EQ(stats(p).waiting, 0);
    REQUIRE_EQ(atomic_load(&f->closes), 0);         /* never while in use */
    km_pool_res *x;
    REQUIRE_EQ(get(p, KM_FOREVER, &x), -ESHUTDOWN);
    REQUIRE_EQ(km_pool_free(p), -EBUSY);
    /* in-use ones are closed when returned (a broken one as broken); close
     * waits for them */
    put(p, r, true);
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_BROKEN]), 1);
    late_arg l = { p, a, b };
    REQUIRE_EQ(km_go(late_release, &l), 0);
    t0 = km_now();
    REQUIRE_EQ(km_pool_close(p, t0 + 5 * SEC), 0);
    REQUIRE(km_now() - t0 >= 25 * MS);
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_SHUTDOWN]), 2);
    REQUIRE_EQ(km_pool_close(p, 0), 0);             /* idempotent */
    REQUIRE_EQ(km_pool_free(p), 0);
    fake_check_free(f);

    /* idle resources are closed by close itself */
    f = fake_new();
    o = fake_ops(f);
    REQUIRE_EQ(km_pool_new(&p, &o, NULL), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &a), 0);
    REQUIRE_EQ(get(p, KM_FOREVER, &b), 0);
    put(p, a, false);
    put(p, b, false);
    REQUIRE_EQ(km_pool_free(p), -EBUSY);            /* not closed */
    /* deadline 0: the housekeeper may not have seen its cancellation yet,
     * but the idle ones are closed before close returns */
    int rc = km_pool_close(p, 0);
    REQUIRE(rc == 0 || rc == -ETIMEDOUT);
    REQUIRE_EQ(atomic_load(&f->closed_by[KM_POOL_SHUTDOWN]), 2);
    REQUIRE_EQ(km_pool_close(p, km_now() + 5 * SEC), 0);
    REQUIRE_EQ(km_pool_free(p), 0);
    fake_check_free(f);

    /* and an empty pool closes at once */
    f = fake_new();
    o = fake_ops(f);
    REQUIRE_EQ(km_pool_new(&p, &o, NULL), 0);
    close_free(p);
    fake_check_free(f);
}

START_TEST(close_pool) { t_run(close_body, NULL); }
END_TEST

/* ---- no allocation per acquire/release once warm ---- */

enum { NA_G = 16, NA_N = 300 };

typedef struct { km_pool *p; km_chan *start; km_wg *wg; atomic_int *bad; } na_arg;

static void na_worker(void *arg)
{
    na_arg *a = arg;
    char c;
    km_chan_recv(a->start, &c);         /* -EPIPE: closed, go */
    for (int i = 0; i < NA_N; i++) {
        km_pool_res *r;
        int rc = km_pool_acquire(a->p, km_now() + 10 * SEC, &r);
        if (rc) {
            atomic_fetch_add(a->bad, 1);
            continue;
        }
        km_yield();                     /* hold across a switch: others wait */
        km_pool_release(a->p, r, false);
    }
    km_wg_done(a->wg);
}

static void run_round(km_pool *p, bool fail_allocs, atomic_int *bad)
{
    km_chan *start;
    km_wg *wg;
    REQUIRE_EQ(km_chan_new(&start, 1, 0), 0);
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, NA_G);
    na_arg a = { p, start, wg, bad };
    for (int i = 0; i < NA_G; i++)
        REQUIRE_EQ(km_go(na_worker, &a), 0);
    km_yield();
    if (fail_allocs)
        t_fail_alloc_after(1);          /* any allocation from here fails */
    km_chan_close(start);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    if (fail_allocs) {
        /* still armed: the next allocation is the first since */
        km_chan *probe;
        REQUIRE_EQ(km_chan_new(&probe, 1, 0), -ENOMEM);
        t_fail_alloc_after(0);
    }
    km_wg_free(wg);
    km_chan_free(start);
}

static void noalloc_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_metrics *reg;
    km_pool_metrics *pm;
    REQUIRE_EQ(km_metrics_new(&reg), 0);
    REQUIRE_EQ(km_pool_metrics_new(&pm, reg, NULL, 0), 0);
    km_pool *p;
    /* everything on: metrics, leak detection (a backtrace per acquire),
     * validation after the window */
    km_pool_config c = { .max_size = 4, .metrics = pm, .leak_threshold = 60 * SEC,
                         .alive_bypass = 1 };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    atomic_int bad = 0;
    run_round(p, false, &bad);          /* warm: resources, waiter channels, timers */
    run_round(p, false, &bad);
    run_round(p, true, &bad);
    REQUIRE_EQ(atomic_load(&bad), 0);
    km_pool_stats s = stats(p);
    REQUIRE_EQ(s.acquires, 3 * NA_G * NA_N);
    REQUIRE_EQ(atomic_load(&f->opens), 4);
    close_free(p);
    km_pool_metrics_free(pm);
    km_metrics_free(reg);
    fake_check_free(f);
}

START_TEST(noalloc)
{
    t_procs(1);         /* per-worker timer heaps warm deterministically */
    t_run(noalloc_body, NULL);
}
END_TEST

/* ---- many goroutines on several workers (the TSan workout) ---- */

enum { ST_G = 32, ST_N = 1500, ST_MAX = 4 };

typedef struct {
    km_pool    *p;
    atomic_int *held, *peak, *errs;
    km_wg      *wg;
    uint32_t    seed;
} st_arg;

static void st_worker(void *arg)
{
    st_arg *a = arg;
    int n = ST_N / SCALE;
    for (int i = 0; i < n; i++) {
        a->seed = a->seed * 1103515245u + 12345u;
        uint32_t rnd = a->seed >> 8;
        km_pool_res *r;
        int rc = get(a->p, km_now() + (rnd % 4 == 0 ? 1 * MS : 10 * SEC), &r);
        if (rc) {
            if (rc != -ETIMEDOUT)
                atomic_fetch_add(a->errs, 1);
            continue;
        }
        int h = atomic_fetch_add(a->held, 1) + 1;
        int pk = atomic_load(a->peak);
        while (h > pk && !atomic_compare_exchange_weak(a->peak, &pk, h))
            ;
        if (rnd % 3 == 0)
            km_yield();
        atomic_fetch_sub(a->held, 1);
        put(a->p, r, rnd % 1999 == 0);
    }
    km_wg_done(a->wg);
}

static void stress_body(void *arg)
{
    (void)arg;
    fake *f = fake_new();
    km_pool_ops o = fake_ops(f);
    km_metrics *reg;
    km_pool_metrics *pm;
    REQUIRE_EQ(km_metrics_new(&reg), 0);
    REQUIRE_EQ(km_pool_metrics_new(&pm, reg, NULL, 0), 0);
    km_pool *p;
    km_pool_config c = {
        .name = "stress", .max_size = ST_MAX, .min_idle = 2, .metrics = pm,
        .max_lifetime = 2 * MS, .lifetime_jitter = 1 * MS, .idle_timeout = 10 * MS,
        .keepalive = 3 * MS, .alive_bypass = 1 * MS, .leak_threshold = 30 * SEC,
        .backoff_min = 1 * MS, .backoff_max = 4 * MS,
    };
    REQUIRE_EQ(km_pool_new(&p, &o, &c), 0);
    atomic_int held = 0, peak = 0, errs = 0;
    st_arg a[ST_G];
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, ST_G);
    for (int i = 0; i < ST_G; i++) {
        a[i] = (st_arg){ p, &held, &peak, &errs, wg, (uint32_t)i * 2654435761u };
        REQUIRE_EQ(km_go(st_worker, &a[i]), 0);
    }
    /* scrapes and failures meanwhile */
    for (int i = 0; i < 20; i++) {
        char *t;
        size_t len;
        REQUIRE_EQ(km_metrics_text(reg, &t, &len), 0);
        km_metrics_text_free(t);
        atomic_store(&f->fail_validates, 1);
        atomic_store(&f->fail_opens, 1);
        km_sleep(2 * MS);
    }
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    /* open errors reach acquirers; nothing else may fail */
    km_pool_stats s = stats(p);
    REQUIRE(atomic_load(&errs) <= (int)s.open_errors);
    ck_assert_int_le(atomic_load(&peak), ST_MAX);
    REQUIRE(s.open + s.opening + s.closing <= ST_MAX);
    REQUIRE_EQ(s.in_use, 0);
    REQUIRE_EQ(s.waiting, 0);
    /* the paths were taken: lifetime and broken closes, hand-offs */
    REQUIRE(s.closed[KM_POOL_LIFETIME] > 0);
    REQUIRE(s.closed[KM_POOL_BROKEN] > 0);
    close_free(p);
    km_pool_metrics_free(pm);
    km_metrics_free(reg);
    fake_check_free(f);
}

START_TEST(stress)
{
    t_procs(4);
    t_run(stress_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pool/pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, basics);
    tcase_add_test(tc, timeouts);
    tcase_add_loop_test(tc, fifo, 0, 2);
    tcase_add_test(tc, broken);
    tcase_add_test(tc, validation);
    tcase_add_test(tc, cancel);
    tcase_add_test(tc, close_pool);
    tcase_add_test(tc, noalloc);
    tcase_add_test(tc, stress);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
