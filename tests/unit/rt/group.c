/* SPDX-License-Identifier: MIT */
/* Cancellation groups: every blocking call of every member returns -ECANCELED. */
#include "util.h"
#include "rt/rt-int.h"
#include <stdatomic.h>

#if defined(__SANITIZE_THREAD__)
#define MEMBERS 1500    /* TSan caps live threads + fibers near 8,000 */
#elif defined(__SANITIZE_ADDRESS__)
#define MEMBERS 4000
#else
#define MEMBERS 10000
#endif

typedef struct {
    km_chan   *unbuf, *full;
    km_wg     *never;       /* counter stays 1 */
    km_mutex  *held;
    km_cond   *cond;
    km_mutex  *cmu;
    atomic_int canceled, other, started;
} world;

static void member(void *arg)
{
    world *w = arg;
    int kind = atomic_fetch_add(&w->started, 1) % 7;
    int v = 0, rc;
    switch (kind) {
    case 0: rc = km_chan_recv(w->unbuf, &v); break;
    case 1: rc = km_chan_send(w->full, &v); break;
    case 2: {
        km_case c[2] = { { w->unbuf, KM_RECV, &v, 0 }, { w->full, KM_SEND, &v, 0 } };
        rc = km_select(c, 2, KM_FOREVER);
        break;
    }
    case 3: rc = km_sleep(3600 * 1000000000LL); break;
    case 4: rc = km_wg_wait(w->never); break;
    case 5: rc = km_mutex_lock_dl(w->held, KM_FOREVER); break;
    default:
        km_mutex_lock(w->cmu);
        rc = km_cond_wait(w->cond, w->cmu);
        km_mutex_unlock(w->cmu);
        break;
    }
    if (rc == -ECANCELED) atomic_fetch_add(&w->canceled, 1);
    else atomic_fetch_add(&w->other, 1);
}

static void cancel_many(void *arg)
{
    (void)arg;
    world w = { 0 };
    ck_assert_int_eq(km_chan_new(&w.unbuf, sizeof(int), 0), 0);
    ck_assert_int_eq(km_chan_new(&w.full, sizeof(int), 1), 0);
    int one = 1;
    ck_assert_int_eq(km_chan_send(w.full, &one), 0);
    ck_assert_int_eq(km_wg_new(&w.never), 0);
    km_wg_add(w.never, 1);
    ck_assert_int_eq(km_mutex_new(&w.held), 0);
    km_mutex_lock(w.held);
    ck_assert_int_eq(km_mutex_new(&w.cmu), 0);
    ck_assert_int_eq(km_cond_new(&w.cond), 0);

    km_group *g;
    ck_assert_int_eq(km_group_new(&g, NULL, KM_FOREVER), 0);
    for (int i = 0; i < MEMBERS; i++)
        ck_assert_int_eq(km_group_go(g, member, &w), 0);
    while (atomic_load(&w.started) < MEMBERS)
        km_sleep(1000000);
    km_sleep(20 * 1000000);            /* let every member reach its park */
    ck_assert_int_eq(atomic_load(&w.canceled) + atomic_load(&w.other), 0);
    ck_assert_int_eq(km_group_err(g), 0);
    km_group_cancel(g);
    ck_assert_int_eq(km_group_err(g), -ECANCELED);
    ck_assert_int_eq(km_group_wait(g, km_now() + 30 * 1000000000LL), 0);
    ck_assert_int_eq(atomic_load(&w.canceled), MEMBERS);
    ck_assert_int_eq(atomic_load(&w.other), 0);
    ck_assert_int_eq(km_group_free(g), 0);

    /* the objects are intact and usable after the cancelled waits left */
    ck_assert_int_eq(km_chan_len(w.full), 1);
    km_mutex_unlock(w.held);
    ck_assert_int_eq(km_mutex_trylock(w.held), 0);
    km_mutex_unlock(w.held);
    km_wg_done(w.never);
    ck_assert_int_eq(km_wg_wait(w.never), 0);
    km_chan_free(w.unbuf); km_chan_free(w.full); km_wg_free(w.never);
    km_mutex_free(w.held); km_mutex_free(w.cmu); km_cond_free(w.cond);
}

START_TEST(cancel_wakes_every_member)
{
    t_procs(_i + 1);
    t_run(cancel_many, NULL);
}
END_TEST

static atomic_int deep_rc;

static void grandchild(void *arg)
{
    (void)arg;
    atomic_store(&deep_rc, km_sleep(3600 * 1000000000LL));
}

static void child(void *arg)
{
    (void)arg;
    ck_assert_ptr_nonnull(km_group_current());
    ck_assert_int_eq(km_go(grandchild, NULL), 0);   /* inherits the group */
    ck_assert_int_eq(km_group_wait(km_group_current(), 0), -EDEADLK);
    km_sleep(3600 * 1000000000LL);
}

static void nested(void *arg)
{
    (void)arg;
    km_group *parent, *kid;
    ck_assert_int_eq(km_group_new(&parent, NULL, KM_FOREVER), 0);
    ck_assert_int_eq(km_group_new(&kid, parent, KM_FOREVER), 0);
    atomic_store(&deep_rc, 1);
    ck_assert_int_eq(km_group_go(kid, child, NULL), 0);
    km_sleep(10 * 1000000);
    ck_assert_int_eq(km_group_wait(kid, km_now() + 5000000), -ETIMEDOUT);
    ck_assert_int_eq(km_group_free(parent), -EBUSY);   /* has a child group */
    ck_assert_int_eq(km_group_free(kid), -EBUSY);      /* has members */
    km_group_cancel(parent);                            /* reaches kid's members */
    ck_assert_int_eq(km_group_wait(kid, KM_FOREVER), 0);
    ck_assert_int_eq(atomic_load(&deep_rc), -ECANCELED);
    ck_assert_int_eq(km_group_go(kid, child, NULL), -ECANCELED);
    ck_assert_int_eq(km_group_free(kid), 0);
    ck_assert_int_eq(km_group_free(parent), 0);
}

START_TEST(nested_groups_and_inheritance)
{
    t_run(nested, NULL);
}
END_TEST

static atomic_llong woke_at;

static void sleeper(void *arg)
{
    (void)arg;
    int rc = km_sleep(3600 * 1000000000LL);
    ck_assert_int_eq(rc, -ECANCELED);
    int v;
    km_chan *c;
    ck_assert_int_eq(km_chan_new(&c, sizeof v, 0), 0);
    /* past the group's deadline every call fails at once */
    ck_assert_int_eq(km_chan_recv(c, &v), -ECANCELED);
    km_chan_free(c);
    atomic_store(&woke_at, km_now());
}

static void deadline_body(void *arg)
{
    (void)arg;
    km_group *g;
    int64_t dl = km_now() + 50 * 1000000;
    ck_assert_int_eq(km_group_new(&g, NULL, dl), 0);
    ck_assert_int_eq(km_group_go(g, sleeper, NULL), 0);
    ck_assert_int_eq(km_group_wait(g, KM_FOREVER), 0);
    ck_assert_int_ge(atomic_load(&woke_at), dl);       /* never early */
    ck_assert_int_eq(km_group_err(g), -ECANCELED);
    ck_assert_int_eq(km_group_free(g), 0);
}

START_TEST(group_deadline)
{
    t_run(deadline_body, NULL);
}
END_TEST

/* A group kept under its parent and made new for each use (the HTTP
 * timeout middleware's, per request): a cancel or a passed deadline does
 * not outlive the rearm, the parent's deadline and cancel still apply. */
typedef struct { km_group *g; km_wg *wg; atomic_int stop; } rearmer;

static void rearm_loop(void *arg)
{
    rearmer *a = arg;
    while (!atomic_load(&a->stop))
        km__group_rearm(a->g, KM_FOREVER);
    km_wg_done(a->wg);
}

static void rearm_body(void *arg)
{
    (void)arg;
    const int64_t ms = 1000000;
    km_group *parent, g;
    ck_assert_int_eq(km_group_new(&parent, NULL, KM_FOREVER), 0);
    km__group_init(&g, parent, km_now() + 1000 * ms);
    km_group_cancel(&g);
    ck_assert_int_eq(km_group_err(&g), -ECANCELED);
    km__group_rearm(&g, km_now() + 1000 * ms);
    ck_assert_int_eq(km_group_err(&g), 0);
    km__group_rearm(&g, km_now() + 20 * ms);
    ck_assert_int_eq(km_group_go(&g, sleeper, NULL), 0);       /* usable again */
    ck_assert_int_eq(km_group_wait(&g, KM_FOREVER), 0);
    km__group_rearm(&g, km_now() - ms);
    ck_assert_int_eq(km_group_err(&g), -ECANCELED);
    km__group_rearm(&g, KM_FOREVER);
    ck_assert_int_eq(km_group_err(&g), 0);
    ck_assert_int_eq(km__group_fini(&g), 0);
    ck_assert_int_eq(km_group_free(parent), 0);                 /* g left it */

    /* the parent's deadline caps the child's, its cancel reaches it */
    int64_t dl = km_now() + 3600 * 1000 * ms;
    ck_assert_int_eq(km_group_new(&parent, NULL, dl), 0);
    km__group_init(&g, parent, KM_FOREVER);
    km__group_rearm(&g, KM_FOREVER);
    ck_assert_int_eq(g.deadline, dl);
    km_group_cancel(parent);
    ck_assert_int_eq(km_group_err(&g), -ECANCELED);
    km__group_rearm(&g, KM_FOREVER);
    ck_assert_int_eq(km_group_err(&g), -ECANCELED);
    ck_assert_int_eq(km__group_fini(&g), 0);
    ck_assert_int_eq(km_group_free(parent), 0);

    /* a parent's cancel racing rearms on another worker is never lost */
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(km_group_new(&parent, NULL, KM_FOREVER), 0);
        km__group_init(&g, parent, KM_FOREVER);
        rearmer a = { &g, NULL, 0 };
        ck_assert_int_eq(km_wg_new(&a.wg), 0);
        km_wg_add(a.wg, 1);
        ck_assert_int_eq(km_go(rearm_loop, &a), 0);
        km_sleep(i % 7 * 10000);
        km_group_cancel(parent);
        atomic_store(&a.stop, 1);
        km_wg_wait(a.wg);
        km_wg_free(a.wg);
        ck_assert_int_eq(km_group_err(&g), -ECANCELED);
        ck_assert_int_eq(km__group_fini(&g), 0);
        ck_assert_int_eq(km_group_free(parent), 0);
    }
}

START_TEST(group_rearm)
{
    t_procs(2);
    t_run(rearm_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt/group");
    TCase *tc = tcase_create("group");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, cancel_wakes_every_member, 0, 2);
    tcase_add_test(tc, nested_groups_and_inheritance);
    tcase_add_test(tc, group_deadline);
    tcase_add_test(tc, group_rearm);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
