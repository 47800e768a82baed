/* SPDX-License-Identifier: MIT */
/* km_mutex: mutual exclusion, trylock, lock_dl, FIFO hand-off, misuse aborts. */
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

/* ---- mutual exclusion ---- */

enum { WORKERS = 8 };
typedef struct {
    km_mutex  *m;
    km_wg     *wg;
    long       counter;     /* plain: the mutex is the only protection */
    atomic_int inside, overlap;
    long       iters;
} mx_t;
static mx_t mx;

static void incrementer(void *arg)
{
    long mode = (long)(intptr_t)arg;
    for (long i = 0; i < mx.iters; i++) {
        if (mode == 1 && (i & 1)) {
            while (km_mutex_trylock(mx.m) != 0)
                km_yield();
        } else if (mode == 2 && (i & 1)) {
            int rc;
            while ((rc = km_mutex_lock_dl(mx.m, km_now() + 50 * 1000)) == -ETIMEDOUT)
                ;
            REQUIRE_EQ(rc, 0);
        } else {
            km_mutex_lock(mx.m);
        }
        if (atomic_fetch_add(&mx.inside, 1) != 0) atomic_store(&mx.overlap, 1);
        long v = mx.counter;
        if ((i & 3) == 0) km_yield();     /* hold the lock across a reschedule */
        mx.counter = v + 1;
        atomic_fetch_sub(&mx.inside, 1);
        km_mutex_unlock(mx.m);
    }
    km_wg_done(mx.wg);
}

static void exclusion_body(void *arg)
{
    (void)arg;
    for (long mode = 0; mode < 3; mode++) {
        memset(&mx, 0, sizeof mx);
        mx.iters = 5000 / SCALE;
        REQUIRE_EQ(km_mutex_new(&mx.m), 0);
        REQUIRE_EQ(km_wg_new(&mx.wg), 0);
        km_wg_add(mx.wg, WORKERS);
        for (int i = 0; i < WORKERS; i++)
            REQUIRE_EQ(km_go(incrementer, (void *)(intptr_t)mode), 0);
        REQUIRE_EQ(km_wg_wait(mx.wg), 0);
        REQUIRE_EQ(atomic_load(&mx.overlap), 0);
        REQUIRE_EQ(mx.counter, WORKERS * mx.iters);
        REQUIRE_EQ(km_mutex_trylock(mx.m), 0);
        km_mutex_unlock(mx.m);
        km_mutex_free(mx.m);
        km_wg_free(mx.wg);
    }
}

START_TEST(mutual_exclusion)
{
    t_procs(procs_tab[_i]);
    t_run(exclusion_body, NULL);
}
END_TEST

/* ---- trylock ---- */

typedef struct { km_mutex *m; int rc; km_wg *wg; } try_t;
static void try_from_other(void *arg)
{
    try_t *t = arg;
    t->rc = km_mutex_trylock(t->m);
    if (t->rc == 0) km_mutex_unlock(t->m);
    km_wg_done(t->wg);
}

static void trylock_body(void *arg)
{
    (void)arg;
    static try_t t;
    REQUIRE_EQ(km_mutex_new(&t.m), 0);
    REQUIRE_EQ(km_wg_new(&t.wg), 0);
    REQUIRE_EQ(km_mutex_trylock(t.m), 0);
    REQUIRE_EQ(km_mutex_trylock(t.m), -EBUSY);    /* not recursive */
    t.rc = 99;
    km_wg_add(t.wg, 1);
    REQUIRE_EQ(km_go(try_from_other, &t), 0);
    REQUIRE_EQ(km_wg_wait(t.wg), 0);
    REQUIRE_EQ(t.rc, -EBUSY);
    km_mutex_unlock(t.m);
    t.rc = 99;
    km_wg_add(t.wg, 1);
    REQUIRE_EQ(km_go(try_from_other, &t), 0);
    REQUIRE_EQ(km_wg_wait(t.wg), 0);
    REQUIRE_EQ(t.rc, 0);
    km_mutex_lock(t.m);
    REQUIRE_EQ(km_mutex_trylock(t.m), -EBUSY);
    km_mutex_unlock(t.m);
    REQUIRE_EQ(km_mutex_trylock(t.m), 0);
    km_mutex_unlock(t.m);
    km_mutex_free(t.m);
    km_wg_free(t.wg);
}

START_TEST(trylock)
{
    t_procs(procs_tab[_i]);
    t_run(trylock_body, NULL);
}
END_TEST

/* ---- lock_dl ---- */

static void lock_dl_waiter(void *arg)
{
    try_t *t = arg;
    int64_t dl = km_now() + 20 * MS;
    t->rc = km_mutex_lock_dl(t->m, dl);
    if (t->rc == -ETIMEDOUT && km_now() < dl) t->rc = -1000;  /* early */
    if (t->rc == 0) km_mutex_unlock(t->m);
    km_wg_done(t->wg);
}

static void lock_dl_body(void *arg)
{
    (void)arg;
    static try_t t;
    REQUIRE_EQ(km_mutex_new(&t.m), 0);
    REQUIRE_EQ(km_wg_new(&t.wg), 0);
    /* Free: 0 even with a past deadline. */
    REQUIRE_EQ(km_mutex_lock_dl(t.m, 0), 0);
    /* Held: times out, not early; a past deadline does not wait. */
    REQUIRE_EQ(km_mutex_lock_dl(t.m, 0), -ETIMEDOUT);
    REQUIRE_EQ(km_mutex_lock_dl(t.m, km_now() - MS), -ETIMEDOUT);
    for (int r = 0; r < 3; r++) {
        t.rc = 99;
        km_wg_add(t.wg, 1);
        REQUIRE_EQ(km_go(lock_dl_waiter, &t), 0);
        REQUIRE_EQ(km_wg_wait(t.wg), 0);
        REQUIRE_EQ(t.rc, -ETIMEDOUT);
    }
    /* The timed-out waiters left the queue: unlock leaves it free. */
    km_mutex_unlock(t.m);
    REQUIRE_EQ(km_mutex_trylock(t.m), 0);
    km_mutex_unlock(t.m);
    /* A waiter whose deadline is far gets it once released. */
    km_mutex_lock(t.m);
    t.rc = 99;
    km_wg_add(t.wg, 1);
    REQUIRE_EQ(km_go(lock_dl_waiter, &t), 0);
    km_sleep(2 * MS);
    km_mutex_unlock(t.m);
    REQUIRE_EQ(km_wg_wait(t.wg), 0);
    REQUIRE_EQ(t.rc, 0);
    km_mutex_free(t.m);
    km_wg_free(t.wg);
}

START_TEST(lock_dl_timeout)
{
    t_procs(procs_tab[_i]);
    t_run(lock_dl_body, NULL);
}
END_TEST

/* Deadlines expiring around the unlock: the lock is never handed to a
 * waiter that already gave up, so it never gets stuck. */
typedef struct { km_mutex *m; km_wg *wg; int64_t dl; atomic_int got, timedout, bad; } race_t;
static race_t rc_;

static void racing_waiter(void *arg)
{
    (void)arg;
    int rc = km_mutex_lock_dl(rc_.m, rc_.dl);
    if (rc == 0) {
        atomic_fetch_add(&rc_.got, 1);
        km_mutex_unlock(rc_.m);
    } else if (rc == -ETIMEDOUT) {
        atomic_fetch_add(&rc_.timedout, 1);
    } else {
        atomic_fetch_add(&rc_.bad, 1);
    }
    km_wg_done(rc_.wg);
}

static void lock_dl_race_body(void *arg)
{
    (void)arg;
    memset(&rc_, 0, sizeof rc_);
    REQUIRE_EQ(km_mutex_new(&rc_.m), 0);
    REQUIRE_EQ(km_wg_new(&rc_.wg), 0);
    uint32_t rng = 3;
    long total = 0;
    for (int r = 0; r < 2000 / SCALE; r++) {
        km_mutex_lock(rc_.m);
        rng = rng * 1103515245u + 12345u;
        int n = 1 + (int)((rng >> 16) % 4);
        rc_.dl = km_now() + (int64_t)((rng >> 8) % 200) * 1000;
        km_wg_add(rc_.wg, n);
        for (int i = 0; i < n; i++)
            REQUIRE_EQ(km_go(racing_waiter, NULL), 0);
        total += n;
        rng = rng * 1103515245u + 12345u;
        km_sleep((int64_t)((rng >> 8) % 200) * 1000);
        km_mutex_unlock(rc_.m);
        REQUIRE_EQ(km_wg_wait(rc_.wg), 0);
        REQUIRE_EQ(km_mutex_trylock(rc_.m), 0);
        km_mutex_unlock(rc_.m);
    }
    REQUIRE_EQ(atomic_load(&rc_.bad), 0);
    REQUIRE_EQ(atomic_load(&rc_.got) + atomic_load(&rc_.timedout), total);
    km_mutex_free(rc_.m);
    km_wg_free(rc_.wg);
}

START_TEST(lock_dl_races_unlock)
{
    t_procs(procs_tab[_i]);
    t_run(lock_dl_race_body, NULL);
}
END_TEST

/* ---- FIFO hand-off ---- */

enum { FIFO_N = 10 };
typedef struct {
    km_mutex  *m;
    km_wg     *wg;
    atomic_int arrived[FIFO_N];
    int        order[FIFO_N];
    int        pos;
} fifo_t;
static fifo_t ff;

static void fifo_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    atomic_store(&ff.arrived[i], 1);
    km_mutex_lock(ff.m);
    ff.order[ff.pos++] = i;
    km_mutex_unlock(ff.m);
    km_wg_done(ff.wg);
}

static void fifo_body(void *arg)
{
    (void)arg;
    memset(&ff, 0, sizeof ff);
    REQUIRE_EQ(km_mutex_new(&ff.m), 0);
    REQUIRE_EQ(km_wg_new(&ff.wg), 0);
    km_mutex_lock(ff.m);
    km_wg_add(ff.wg, FIFO_N);
    /* One worker and cooperative scheduling: once a waiter has announced
     * itself and we run again, it is parked in the lock. So the waiters
     * queue in index order. */
    for (int i = 0; i < FIFO_N; i++) {
        REQUIRE_EQ(km_go(fifo_waiter, (void *)(intptr_t)i), 0);
        while (!atomic_load(&ff.arrived[i]))
            km_yield();
    }
    km_mutex_unlock(ff.m);
    /* Handed off, not released: the unlocker cannot barge back in. */
    REQUIRE_EQ(km_mutex_trylock(ff.m), -EBUSY);
    REQUIRE_EQ(km_wg_wait(ff.wg), 0);
    REQUIRE_EQ(ff.pos, FIFO_N);
    for (int i = 0; i < FIFO_N; i++)
        ck_assert_msg(ff.order[i] == i, "waiter %d acquired in position %d", ff.order[i], i);
    km_mutex_free(ff.m);
    km_wg_free(ff.wg);
}

START_TEST(fifo_handoff)
{
    t_procs(1);
    t_run(fifo_body, NULL);
}
END_TEST

/* No starvation: a goroutine that re-locks in a tight loop cannot keep a
 * waiter out. */
typedef struct { km_mutex *m; atomic_int stop, waiter_got, hog_gave_up; km_wg *wg; } starve_t;
static starve_t sv;

static void hog(void *arg)
{
    (void)arg;
    long n = 0;
    while (!atomic_load(&sv.stop) && n < 10000000) {
        km_mutex_lock(sv.m);
        n++;
        km_mutex_unlock(sv.m);
        if ((n & 63) == 0) km_yield();
    }
    if (!atomic_load(&sv.stop)) atomic_store(&sv.hog_gave_up, 1);
    km_wg_done(sv.wg);
}

static void starved(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        km_mutex_lock(sv.m);
        atomic_fetch_add(&sv.waiter_got, 1);
        km_mutex_unlock(sv.m);
    }
    atomic_store(&sv.stop, 1);
    km_wg_done(sv.wg);
}

static void starve_body(void *arg)
{
    (void)arg;
    memset(&sv, 0, sizeof sv);
    REQUIRE_EQ(km_mutex_new(&sv.m), 0);
    REQUIRE_EQ(km_wg_new(&sv.wg), 0);
    km_wg_add(sv.wg, 3);
    REQUIRE_EQ(km_go(hog, NULL), 0);
    REQUIRE_EQ(km_go(hog, NULL), 0);
    REQUIRE_EQ(km_go(starved, NULL), 0);
    REQUIRE_EQ(km_wg_wait(sv.wg), 0);
    REQUIRE_EQ(atomic_load(&sv.waiter_got), 100);
    ck_assert_msg(!atomic_load(&sv.hog_gave_up), "a waiter starved for 10M lock/unlock cycles of a hog");
    km_mutex_free(sv.m);
    km_wg_free(sv.wg);
}

START_TEST(no_starvation)
{
    t_procs(procs_tab[_i]);
    t_run(starve_body, NULL);
}
END_TEST

/* Unlock from a goroutine other than the locker is allowed, as in Go. */
typedef struct { km_mutex *m; km_wg *wg; } xu_t;
static void unlock_other(void *arg)
{
    xu_t *x = arg;
    km_mutex_unlock(x->m);
    km_wg_done(x->wg);
}

static void cross_unlock_body(void *arg)
{
    (void)arg;
    static xu_t x;
    REQUIRE_EQ(km_mutex_new(&x.m), 0);
    REQUIRE_EQ(km_wg_new(&x.wg), 0);
    km_mutex_lock(x.m);
    km_wg_add(x.wg, 1);
    REQUIRE_EQ(km_go(unlock_other, &x), 0);
    REQUIRE_EQ(km_wg_wait(x.wg), 0);
    REQUIRE_EQ(km_mutex_trylock(x.m), 0);
    km_mutex_unlock(x.m);
    km_mutex_free(x.m);
    km_wg_free(x.wg);
}

START_TEST(unlock_by_other_goroutine)
{
    t_procs(2);
    t_run(cross_unlock_body, NULL);
}
END_TEST

/* ---- lifetime: free right after the last unlock, while the unlocker that
 * handed the lock over may still be inside km_mutex_unlock ---- */

typedef struct { km_mutex *m; km_chan *done; } lt_t;
static void lt_waiter(void *arg)
{
    lt_t *l = arg;
    km_mutex_lock(l->m);
    km_mutex_unlock(l->m);
    km_mutex_free(l->m);
    km_chan_send(l->done, NULL);
}

static void lifetime_body(void *arg)
{
    (void)arg;
    static lt_t l;
    REQUIRE_EQ(km_chan_new(&l.done, 0, 0), 0);
    for (int i = 0; i < 5000 / SCALE; i++) {
        REQUIRE_EQ(km_mutex_new(&l.m), 0);
        km_mutex_lock(l.m);
        REQUIRE_EQ(km_go(lt_waiter, &l), 0);
        if (i & 1) km_yield();
        km_mutex_unlock(l.m);       /* our last call on m */
        REQUIRE_EQ(km_chan_recv(l.done, NULL), 0);
    }
    km_chan_free(l.done);
}

START_TEST(lifetime_free_after_handoff)
{
    t_procs(procs_tab[_i]);
    t_run(lifetime_body, NULL);
}
END_TEST

/* ---- misuse aborts ---- */

static void unlock_unlocked_body(void *arg)
{
    (void)arg;
    km_mutex *m;
    REQUIRE_EQ(km_mutex_new(&m), 0);
    km_mutex_unlock(m);
}

START_TEST(unlock_unlocked_aborts)
{
    t_procs(1);
    t_run(unlock_unlocked_body, NULL);
}
END_TEST

static void double_unlock_body(void *arg)
{
    (void)arg;
    km_mutex *m;
    REQUIRE_EQ(km_mutex_new(&m), 0);
    km_mutex_lock(m);
    km_mutex_unlock(m);
    km_mutex_unlock(m);
}

START_TEST(double_unlock_aborts)
{
    t_procs(2);
    t_run(double_unlock_body, NULL);
}
END_TEST

static Suite *mutex_suite(void)
{
    Suite *s = suite_create("sync/mutex");
    TCase *tc = tcase_create("mutex");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, mutual_exclusion, 0, 3);
    tcase_add_loop_test(tc, trylock, 0, 3);
    tcase_add_loop_test(tc, lock_dl_timeout, 0, 3);
    tcase_add_loop_test(tc, lock_dl_races_unlock, 0, 3);
    tcase_add_test(tc, fifo_handoff);
    tcase_add_loop_test(tc, no_starvation, 0, 3);
    tcase_add_test(tc, unlock_by_other_goroutine);
    tcase_add_loop_test(tc, lifetime_free_after_handoff, 0, 3);
    tcase_add_test_raise_signal(tc, unlock_unlocked_aborts, SIGABRT);
    tcase_add_test_raise_signal(tc, double_unlock_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(mutex_suite)
