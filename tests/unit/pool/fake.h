/* SPDX-License-Identifier: MIT */
/* A fake pooled resource for the pool tests: counts opens, validations and closes (by reason), can be told to fail, and checks that every resource it opened was closed exactly once. */
#ifndef KUMO_TEST_POOL_FAKE_H
#define KUMO_TEST_POOL_FAKE_H

#include "util.h"
#include <stdatomic.h>
#include <string.h>

#define MS  1000000LL
#define SEC (1000 * MS)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
enum { SCALE = 4 };
#else
enum { SCALE = 1 };
#endif

/* Upper bounds of timing checks: a loaded machine deschedules workers for
 * a few ms now and then. Lower bounds (never early) are exact. */
#define SLACK (20 * MS * SCALE)

enum { FAKE_MAX = 4096 };

typedef struct {
    int        id;
    atomic_int closes;          /* must end at exactly 1 */
    atomic_int reason;
    atomic_int held;            /* 1 while on loan (the tests set it) */
    int64_t    opened_at, closed_at;
} fake_res;

typedef struct {
    atomic_int opens, attempts, validates, closes;
    atomic_int closed_by[KM_POOL_NREASONS];
    atomic_int fail_opens;      /* the next n opens fail with -ECONNREFUSED */
    atomic_int fail_validates;  /* the next n validations fail with -EPIPE */
    atomic_int fail_all_validates;
    int64_t    open_delay;      /* each open sleeps this long first */
    int64_t    validate_delay;  /* each validation sleeps this long first */
    int64_t    attempt_at[64];  /* times of the first open attempts */
    atomic_int nres;
    fake_res  *res[FAKE_MAX];
} fake;

static int fake_open(void *ud, int64_t deadline, void **out)
{
    fake *f = ud;
    int a = atomic_fetch_add(&f->attempts, 1);
    if (a < 64)
        f->attempt_at[a] = km_now();
    if (f->open_delay) {
        int64_t until = km_now() + f->open_delay;
        if (deadline != KM_FOREVER && deadline < until) {
            km_sleep_until(deadline);
            return -ETIMEDOUT;
        }
        int rc = km_sleep_until(until);
        if (rc)
            return rc;
    }
    int n = atomic_load(&f->fail_opens);
    while (n > 0 && !atomic_compare_exchange_weak(&f->fail_opens, &n, n - 1))
        ;
    if (n > 0)
        return -ECONNREFUSED;
    fake_res *r = calloc(1, sizeof *r);
    REQUIRE(r != NULL);
    r->id = atomic_fetch_add(&f->nres, 1);
    REQUIRE(r->id < FAKE_MAX);
    r->opened_at = km_now();
    f->res[r->id] = r;
    atomic_fetch_add(&f->opens, 1);
    *out = r;
    return 0;
}

static int fake_validate(void *ud, void *res, int64_t deadline)
{
    fake *f = ud;
    fake_res *r = res;
    (void)deadline;
    REQUIRE_EQ(atomic_load(&r->closes), 0);
    atomic_fetch_add(&f->validates, 1);
    if (f->validate_delay)
        km_sleep(f->validate_delay);
    if (atomic_load(&f->fail_all_validates))
        return -EPIPE;
    int n = atomic_load(&f->fail_validates);
    while (n > 0 && !atomic_compare_exchange_weak(&f->fail_validates, &n, n - 1))
        ;
    return n > 0 ? -EPIPE : 0;
}

static void fake_close(void *ud, void *res, int reason)
{
    fake *f = ud;
    fake_res *r = res;
    REQUIRE(reason >= 0 && reason < KM_POOL_NREASONS);
    /* never while on loan */
    REQUIRE_EQ(atomic_load(&r->held), 0);
    r->closed_at = km_now();
    atomic_store(&r->reason, reason);
    atomic_fetch_add(&r->closes, 1);
    atomic_fetch_add(&f->closed_by[reason], 1);
    atomic_fetch_add(&f->closes, 1);
}

static fake *fake_new(void)
{
    fake *f = calloc(1, sizeof *f);
    REQUIRE(f != NULL);
    return f;
}

static km_pool_ops fake_ops(fake *f)
{
    km_pool_ops o = { fake_open, fake_validate, fake_close, f };
    return o;
}

/* Every resource opened was closed exactly once; frees f. */
static void fake_check_free(fake *f)
{
    int n = atomic_load(&f->nres);
    REQUIRE_EQ(atomic_load(&f->opens), n);
    REQUIRE_EQ(atomic_load(&f->closes), n);
    for (int i = 0; i < n; i++) {
        REQUIRE_EQ(atomic_load(&f->res[i]->closes), 1);
        free(f->res[i]);
    }
    free(f);
}

/* Acquire and mark held (the fake's close asserts it is not). */
static int get(km_pool *p, int64_t deadline, km_pool_res **r)
{
    int rc = km_pool_acquire(p, deadline, r);
    if (rc == 0) {
        fake_res *fr = km_pool_res_value(*r);
        REQUIRE_EQ(atomic_exchange(&fr->held, 1), 0);
    }
    return rc;
}

static void put(km_pool *p, km_pool_res *r, bool broken)
{
    fake_res *fr = km_pool_res_value(r);
    REQUIRE_EQ(atomic_exchange(&fr->held, 0), 1);
    km_pool_release(p, r, broken);
}

static km_pool_stats stats(km_pool *p)
{
    km_pool_stats s;
    REQUIRE_EQ(km_pool_stats_read(p, &s), 0);
    return s;
}

/* Polls cond (an expression over the pool's stats `st` or anything else)
 * every millisecond until it holds or ms pass; returns whether it held. */
#define EVENTUALLY(ms, cond) __extension__ ({                          \
        bool ok_ = false;                                               \
        int64_t end_ = km_now() + (ms) * MS * SCALE;                    \
        for (;;) {                                                      \
            if (cond) { ok_ = true; break; }                            \
            if (km_now() > end_) break;                                 \
            km_sleep(MS);                                               \
        }                                                               \
        ok_; })

static void close_free(km_pool *p)
{
    REQUIRE_EQ(km_pool_close(p, km_now() + 5 * SEC), 0);
    REQUIRE_EQ(km_pool_free(p), 0);
}

#endif
