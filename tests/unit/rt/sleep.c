/* SPDX-License-Identifier: MIT */
/* Timers and deadlines: sleeps and every _dl call fire no earlier than asked, past deadlines never block. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MS (1000 * 1000LL)

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
enum { N_SLEEPERS = 300, N_TIMERS = 3000 };
#else
enum { N_SLEEPERS = 1000, N_TIMERS = 10000 };
#endif

static const int procs_tab[] = { 1, 2, 8 };

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

/* ---- sleeps are never early ---- */

static void sleep_body(void *arg)
{
    (void)arg;
    static const int64_t d[] = { 100 * 1000, 1 * MS, 5 * MS, 20 * MS };
    for (int r = 0; r < 3; r++)
        for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
            int64_t t0 = km_now();
            REQUIRE_EQ(km_sleep(d[i]), 0);
            int64_t t1 = km_now();
            ck_assert_msg(t1 - t0 >= d[i], "km_sleep(%lld) returned after %lld ns",
                          (long long)d[i], (long long)(t1 - t0));
            int64_t dl = km_now() + d[i];
            REQUIRE_EQ(km_sleep_until(dl), 0);
            t1 = km_now();
            ck_assert_msg(t1 >= dl, "km_sleep_until woke %lld ns early", (long long)(dl - t1));
        }
}

START_TEST(sleep_not_early)
{
    t_procs(procs_tab[_i]);
    t_run(sleep_body, NULL);
}
END_TEST

START_TEST(now_monotonic)
{
    int64_t prev = km_now();
    ck_assert_int_gt(prev, 0);
    for (int i = 0; i < 100000; i++) {
        int64_t t = km_now();
        ck_assert_int_ge(t, prev);
        prev = t;
    }
}
END_TEST

/* km_sleep(<= 0) and a past km_sleep_until return at once; km_sleep(0)
 * yields, so a spinner on one worker lets its peer run. */
typedef struct { atomic_int flag; km_wg *wg; } spin_t;
static void set_flag(void *arg)
{
    spin_t *s = arg;
    atomic_store(&s->flag, 1);
    km_wg_done(s->wg);
}

static void sleep_nonpositive_body(void *arg)
{
    (void)arg;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_sleep(0), 0);
    REQUIRE_EQ(km_sleep(-1), 0);
    REQUIRE_EQ(km_sleep(INT64_MIN), 0);
    REQUIRE_EQ(km_sleep_until(0), 0);
    REQUIRE_EQ(km_sleep_until(1), 0);
    REQUIRE_EQ(km_sleep_until(km_now() - 10 * MS), 0);
    /* Generous: nothing above may wait for a timer. */
    ck_assert_int_lt(km_now() - t0, 1000 * MS);

    static spin_t s;
    REQUIRE_EQ(km_wg_new(&s.wg), 0);
    km_wg_add(s.wg, 1);
    REQUIRE_EQ(km_go(set_flag, &s), 0);
    while (!atomic_load(&s.flag))
        REQUIRE_EQ(km_sleep(0), 0);
    REQUIRE_EQ(km_wg_wait(s.wg), 0);
    km_wg_free(s.wg);
}

START_TEST(sleep_nonpositive)
{
    t_procs(1);
    t_run(sleep_nonpositive_body, NULL);
}
END_TEST

/* ---- every _dl call: future deadlines not early, past ones never block ---- */

typedef struct {
    km_mutex *m;
    km_chan  *hold, *release;
    km_wg    *done;
} holder_t;

/* Holds m until told to let go, so the test goroutine sees it contended. */
static void holder(void *arg)
{
    holder_t *h = arg;
    km_mutex_lock(h->m);
    REQUIRE_EQ(km_chan_send(h->hold, NULL), 0);
    REQUIRE_EQ(km_chan_recv(h->release, NULL), 0);
    km_mutex_unlock(h->m);
    km_wg_done(h->done);
}

/* Runs every blocking _dl call where it cannot complete: with future
 * deadlines none may return before its deadline; with past ones (`past`)
 * all must time out without waiting. */
static void all_dl_timeout(int64_t (*mkdl)(void), int past)
{
    km_chan *unbuf, *full, *empty;
    km_wg *wg;
    km_mutex *m;
    km_cond *cv;
    REQUIRE_EQ(km_chan_new(&unbuf, sizeof(int), 0), 0);
    REQUIRE_EQ(km_chan_new(&full, sizeof(int), 2), 0);
    REQUIRE_EQ(km_chan_new(&empty, sizeof(int), 2), 0);
    REQUIRE_EQ(km_wg_new(&wg), 0);
    REQUIRE_EQ(km_mutex_new(&m), 0);
    REQUIRE_EQ(km_cond_new(&cv), 0);
    int one = 1, two = 2;
    REQUIRE_EQ(km_chan_send(full, &one), 0);
    REQUIRE_EQ(km_chan_send(full, &two), 0);
    km_wg_add(wg, 1);

    holder_t h;
    REQUIRE_EQ(km_chan_new(&h.hold, 0, 0), 0);
    REQUIRE_EQ(km_chan_new(&h.release, 0, 0), 0);
    REQUIRE_EQ(km_wg_new(&h.done), 0);
    h.m = m;
    km_wg_add(h.done, 1);
    REQUIRE_EQ(km_go(holder, &h), 0);
    REQUIRE_EQ(km_chan_recv(h.hold, NULL), 0);   /* m is held now */

    for (int op = 0; op < 9; op++) {
        int v = 77, rc;
        int64_t t0 = km_now(), dl = mkdl();
        km_case cs[3] = {
            { unbuf, KM_RECV, &v, 99 }, { full, KM_SEND, &one, 99 }, { empty, KM_RECV, &v, 99 },
        };
        const char *what;
        switch (op) {
        case 0: what = "recv_dl unbuffered"; rc = km_chan_recv_dl(unbuf, &v, dl); break;
        case 1: what = "send_dl unbuffered"; rc = km_chan_send_dl(unbuf, &one, dl); break;
        case 2: what = "recv_dl empty";      rc = km_chan_recv_dl(empty, &v, dl); break;
        case 3: what = "send_dl full";       rc = km_chan_send_dl(full, &one, dl); break;
        case 4: what = "select";             rc = km_select(cs, 3, dl); break;
        case 5: what = "mutex_lock_dl";      rc = km_mutex_lock_dl(m, dl); break;
        case 6: what = "wg_wait_dl";         rc = km_wg_wait_dl(wg, dl); break;
        case 7: {
            km_mutex *m2;
            REQUIRE_EQ(km_mutex_new(&m2), 0);
            km_mutex_lock(m2);
            what = "cond_wait_dl";
            rc = km_cond_wait_dl(cv, m2, dl);
            /* Relocked on return, also on error. */
            REQUIRE_EQ(km_mutex_trylock(m2), -EBUSY);
            km_mutex_unlock(m2);
            km_mutex_free(m2);
            break;
        }
        default: {
            /* A select whose only cases are nil channels. */
            km_case nil[2] = { { NULL, KM_RECV, &v, 99 }, { NULL, KM_SEND, &one, 99 } };
            what = "select nil";
            rc = km_select(nil, 2, dl);
            break;
        }
        }
        int64_t t1 = km_now();
        int want = -ETIMEDOUT;
        if ((op == 4 || op == 8) && dl == 0) want = -EAGAIN;
        ck_assert_msg(rc == want, "%s(dl %lld): %s", what, (long long)dl, km_strerror(rc));
        ck_assert_msg(v == 77, "%s: wrote the element on timeout", what);
        if (past)
            ck_assert_msg(t1 - t0 < 1000 * MS, "%s with a past deadline took %lld ns",
                          what, (long long)(t1 - t0));
        else
            ck_assert_msg(t1 >= dl, "%s returned %lld ns before its deadline", what,
                          (long long)(dl - t1));
    }
    /* Nothing changed. */
    REQUIRE_EQ(km_chan_len(full), 2);
    REQUIRE_EQ(km_chan_len(empty), 0);
    REQUIRE_EQ(km_chan_send(h.release, NULL), 0);
    REQUIRE_EQ(km_wg_wait(h.done), 0);
    REQUIRE_EQ(km_mutex_trylock(m), 0);
    km_mutex_unlock(m);
    km_wg_done(wg);
    REQUIRE_EQ(km_wg_wait_dl(wg, 0), 0);
    km_chan_free(h.hold);
    km_chan_free(h.release);
    km_wg_free(h.done);
    km_chan_free(unbuf);
    km_chan_free(full);
    km_chan_free(empty);
    km_wg_free(wg);
    km_mutex_free(m);
    km_cond_free(cv);
}

static int64_t dl_future(void) { return km_now() + 5 * MS; }
static int64_t dl_zero(void) { return 0; }
static int64_t dl_one(void) { return 1; }
static int64_t dl_recent(void) { return km_now() - 1; }
static int64_t dl_past(void) { return km_now() - 1000 * MS; }

static void dl_future_body(void *arg) { (void)arg; all_dl_timeout(dl_future, 0); }
static void dl_past_body(void *arg)
{
    (void)arg;
    all_dl_timeout(dl_zero, 1);
    all_dl_timeout(dl_one, 1);
    all_dl_timeout(dl_recent, 1);
    all_dl_timeout(dl_past, 1);
}

START_TEST(dl_calls_not_early)
{
    t_procs(procs_tab[_i]);
    t_run(dl_future_body, NULL);
}
END_TEST

START_TEST(dl_past_never_blocks)
{
    t_procs(procs_tab[_i]);
    t_run(dl_past_body, NULL);
}
END_TEST

/* A past deadline still completes what can complete at once. */
typedef struct { km_chan *c; int v; km_wg *wg; int rc; } peer_t;
static void peer_recv(void *arg)
{
    peer_t *p = arg;
    p->rc = km_chan_recv(p->c, &p->v);
    km_wg_done(p->wg);
}
static void peer_send(void *arg)
{
    peer_t *p = arg;
    p->rc = km_chan_send(p->c, &p->v);
    km_wg_done(p->wg);
}

static void dl_past_completes_body(void *arg)
{
    (void)arg;
    static const int64_t past[] = { 0, 1, -2 /* now - 1 ms */ };
    for (size_t k = 0; k < 3; k++) {
        int64_t dl = past[k] == -2 ? km_now() - MS : past[k];
        km_chan *b, *u;
        km_mutex *m;
        km_wg *wg;
        int v = 0, x = 42;
        REQUIRE_EQ(km_chan_new(&b, sizeof(int), 1), 0);
        REQUIRE_EQ(km_chan_new(&u, sizeof(int), 0), 0);
        REQUIRE_EQ(km_mutex_new(&m), 0);
        REQUIRE_EQ(km_wg_new(&wg), 0);

        REQUIRE_EQ(km_chan_send_dl(b, &x, dl), 0);        /* buffer space */
        REQUIRE_EQ(km_chan_recv_dl(b, &v, dl), 0);        /* buffered value */
        REQUIRE_EQ(v, 42);
        REQUIRE_EQ(km_mutex_lock_dl(m, dl), 0);          /* free mutex */
        km_mutex_unlock(m);
        REQUIRE_EQ(km_wg_wait_dl(wg, dl), 0);            /* zero counter */
        REQUIRE_EQ(km_chan_send(b, &x), 0);
        km_case cs[2] = { { NULL, KM_RECV, &v, 99 }, { b, KM_RECV, &v, 99 } };
        v = 0;
        REQUIRE_EQ(km_select(cs, 2, dl), 1);              /* ready case */
        REQUIRE_EQ(cs[1].rc, 0);
        REQUIRE_EQ(v, 42);

        /* Unbuffered: completes once a peer is parked on the other side. */
        static peer_t p;
        p = (peer_t){ u, 0, wg, 99 };
        km_wg_add(wg, 1);
        REQUIRE_EQ(km_go(peer_recv, &p), 0);
        int rc = -ETIMEDOUT, tries = 0;
        for (; tries < 100000 && rc == -ETIMEDOUT; tries++) {
            x = 1000 + tries;
            rc = km_chan_send_dl(u, &x, dl);
            if (rc == -ETIMEDOUT) km_yield();
        }
        ck_assert_msg(rc == 0, "send_dl to a parked receiver: %s", km_strerror(rc));
        REQUIRE_EQ(km_wg_wait(wg), 0);
        REQUIRE_EQ(p.rc, 0);
        REQUIRE_EQ(p.v, x);

        p = (peer_t){ u, 4242, wg, 99 };
        km_wg_add(wg, 1);
        REQUIRE_EQ(km_go(peer_send, &p), 0);
        rc = -ETIMEDOUT;
        v = 0;
        for (tries = 0; tries < 100000 && rc == -ETIMEDOUT; tries++) {
            rc = km_chan_recv_dl(u, &v, dl);
            if (rc == -ETIMEDOUT) km_yield();
        }
        ck_assert_msg(rc == 0, "recv_dl from a parked sender: %s", km_strerror(rc));
        REQUIRE_EQ(v, 4242);
        REQUIRE_EQ(km_wg_wait(wg), 0);
        REQUIRE_EQ(p.rc, 0);

        km_chan_free(b);
        km_chan_free(u);
        km_mutex_free(m);
        km_wg_free(wg);
    }
}

START_TEST(dl_past_completes_if_ready)
{
    t_procs(procs_tab[_i]);
    t_run(dl_past_completes_body, NULL);
}
END_TEST

/* ---- many sleepers with random deadlines ---- */

typedef struct {
    int64_t     dl[N_SLEEPERS];
    long        wake_rank[N_SLEEPERS];
    int         in_time[N_SLEEPERS];
    atomic_long seq, early;
    km_wg      *ready, *gate, *wg;
} sleepers_t;
static sleepers_t sl;

static void sleeper(void *arg)
{
    long i = (long)(intptr_t)arg;
    int rc;
    km_wg_done(sl.ready);
    km_wg_wait(sl.gate);
    /* Only sleepers that start well before their deadline say anything
     * about the order in which timers fire. */
    int64_t now = km_now();
    sl.in_time[i] = now + 2 * MS <= sl.dl[i];
    if (i & 1)
        rc = km_sleep_until(sl.dl[i]);
    else
        rc = km_sleep(sl.dl[i] - now);    /* relative, to the same deadline */
    int64_t t = km_now();
    if (rc != 0 || t < sl.dl[i]) atomic_fetch_add(&sl.early, 1);
    sl.wake_rank[i] = atomic_fetch_add(&sl.seq, 1);
    km_wg_done(sl.wg);
}

static const long *sort_key;
static int cmp_by_key(const void *a, const void *b)
{
    long x = sort_key[*(const long *)a], y = sort_key[*(const long *)b];
    return x < y ? -1 : x > y;
}

static void sleepers_body(void *arg)
{
    (void)arg;
    memset(&sl, 0, sizeof sl);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    REQUIRE_EQ(km_wg_new(&sl.ready), 0);
    REQUIRE_EQ(km_wg_new(&sl.gate), 0);
    REQUIRE_EQ(km_wg_new(&sl.wg), 0);
    km_wg_add(sl.ready, N_SLEEPERS);
    km_wg_add(sl.gate, 1);
    km_wg_add(sl.wg, N_SLEEPERS);
    for (long i = 0; i < N_SLEEPERS; i++)
        REQUIRE_EQ(km_go(sleeper, (void *)(intptr_t)i), 0);
    /* Deadlines count from when every sleeper is ready, so slow spawning
     * (sanitizers) does not push them into the past. */
    REQUIRE_EQ(km_wg_wait(sl.ready), 0);
    int64_t start = km_now() + 20 * MS;
    for (long i = 0; i < N_SLEEPERS; i++)
        sl.dl[i] = start + (int64_t)(rng_next(&rng) % (400 * MS));
    km_wg_done(sl.gate);
    REQUIRE_EQ(km_wg_wait(sl.wg), 0);
    km_wg_free(sl.ready);
    km_wg_free(sl.gate);
    km_wg_free(sl.wg);
    REQUIRE_EQ(atomic_load(&sl.early), 0);
    REQUIRE_EQ(atomic_load(&sl.seq), N_SLEEPERS);

    /* Order-ish: among sleepers that went to sleep in time, the mean distance
     * between deadline rank and wake rank is small. A scheduler that wakes
     * sleepers in arbitrary order scores about n/3; a stall of the machine
     * scrambles (at worst reverses) the sleepers due within it, and only one
     * longer than about 250 ms of the 400 ms spread would reach n/5. */
    static long idx[N_SLEEPERS], by_wake[N_SLEEPERS], dl_key[N_SLEEPERS], rank_of[N_SLEEPERS];
    long n = 0;
    for (long i = 0; i < N_SLEEPERS; i++)
        if (sl.in_time[i]) { idx[n] = i; by_wake[n] = i; n++; }
    ck_assert_msg(n >= N_SLEEPERS / 2, "only %ld of %d sleepers started before their deadline",
                  n, N_SLEEPERS);
    for (long i = 0; i < N_SLEEPERS; i++) dl_key[i] = (long)(sl.dl[i] - start);
    sort_key = dl_key;
    qsort(idx, (size_t)n, sizeof idx[0], cmp_by_key);
    sort_key = sl.wake_rank;
    qsort(by_wake, (size_t)n, sizeof by_wake[0], cmp_by_key);
    for (long r = 0; r < n; r++) rank_of[by_wake[r]] = r;
    double dist = 0;
    for (long r = 0; r < n; r++) {
        long d = rank_of[idx[r]] - r;
        dist += d < 0 ? -d : d;
    }
    dist /= (double)n;
    ck_assert_msg(dist < n / 5.0, "sleepers woke out of deadline order: mean rank distance %.1f of %ld",
                  dist, n);
}

START_TEST(many_sleepers_ordered)
{
    t_procs(procs_tab[_i]);
    t_run(sleepers_body, NULL);
}
END_TEST

/* ---- 10,000 pending timers ---- */

typedef struct {
    atomic_long early, woke, bad;
    km_wg *wg;
} timers_t;
static timers_t tm;

static void timer_sleeper(void *arg)
{
    int64_t d = (int64_t)(intptr_t)arg;
    int64_t t0 = km_now();
    if (km_sleep(d) != 0) atomic_fetch_add(&tm.bad, 1);
    if (km_now() - t0 < d) atomic_fetch_add(&tm.early, 1);
    atomic_fetch_add(&tm.woke, 1);
    km_wg_done(tm.wg);
}

static void timers_body(void *arg)
{
    (void)arg;
    memset(&tm, 0, sizeof tm);
    uint64_t rng = 12345;
    REQUIRE_EQ(km_wg_new(&tm.wg), 0);
    km_wg_add(tm.wg, N_TIMERS);
    for (long i = 0; i < N_TIMERS; i++) {
        int64_t d = 20 * MS + (int64_t)(rng_next(&rng) % (100 * MS));
        REQUIRE_EQ(km_go(timer_sleeper, (void *)(intptr_t)d), 0);
    }
    REQUIRE_EQ(km_wg_wait(tm.wg), 0);
    km_wg_free(tm.wg);
    REQUIRE_EQ(atomic_load(&tm.woke), N_TIMERS);
    REQUIRE_EQ(atomic_load(&tm.early), 0);
    REQUIRE_EQ(atomic_load(&tm.bad), 0);
}

START_TEST(timers_10k_pending)
{
    t_procs(procs_tab[_i]);
    t_run(timers_body, NULL);
}
END_TEST

/* Deadlines that race with hand-offs: each receiver waits with a random
 * deadline, the sender offers values with deadlines too. A value is either
 * delivered (both sides say 0) or not (the sender says -ETIMEDOUT), never
 * lost or duplicated; and a disarmed deadline timer must not cut the
 * receiver's next sleep short. */
typedef struct {
    km_chan    *c;
    atomic_long got_sum, got_n, timedout, early, bad;
    km_wg      *wg;
} race_t;
static race_t rc_;

static void race_receiver(void *arg)
{
    int64_t dl = (int64_t)(intptr_t)arg;
    long v = 0;
    int rc = km_chan_recv_dl(rc_.c, &v, dl);
    if (rc == 0) {
        atomic_fetch_add(&rc_.got_sum, v);
        atomic_fetch_add(&rc_.got_n, 1);
    } else if (rc == -ETIMEDOUT) {
        if (km_now() < dl) atomic_fetch_add(&rc_.early, 1);
        if (v != 0) atomic_fetch_add(&rc_.bad, 1);
        atomic_fetch_add(&rc_.timedout, 1);
    } else {
        atomic_fetch_add(&rc_.bad, 1);
    }
    /* Outlives the old deadline: a stale timer firing now would end it early. */
    int64_t t0 = km_now();
    if (km_sleep(30 * MS) != 0 || km_now() - t0 < 30 * MS)
        atomic_fetch_add(&rc_.early, 1);
    km_wg_done(rc_.wg);
}

static void timer_race_body(void *arg)
{
    (void)arg;
    memset(&rc_, 0, sizeof rc_);
    uint64_t rng = 777;
    REQUIRE_EQ(km_chan_new(&rc_.c, sizeof(long), 0), 0);
    REQUIRE_EQ(km_wg_new(&rc_.wg), 0);
    km_wg_add(rc_.wg, N_TIMERS);
    int64_t start = km_now();
    for (long i = 0; i < N_TIMERS; i++) {
        int64_t dl = start + 5 * MS + (int64_t)(rng_next(&rng) % (40 * MS));
        REQUIRE_EQ(km_go(race_receiver, (void *)(intptr_t)dl), 0);
    }
    long sent_sum = 0, sent_n = 0;
    for (long v = 1; v <= N_TIMERS; v++) {
        int rc = km_chan_send_dl(rc_.c, &v, km_now() + (int64_t)(rng_next(&rng) % (50 * 1000)));
        if (rc == 0) { sent_sum += v; sent_n++; }
        else ck_assert_msg(rc == -ETIMEDOUT, "send_dl: %s", km_strerror(rc));
    }
    REQUIRE_EQ(km_wg_wait(rc_.wg), 0);
    REQUIRE_EQ(atomic_load(&rc_.bad), 0);
    REQUIRE_EQ(atomic_load(&rc_.early), 0);
    REQUIRE_EQ(atomic_load(&rc_.got_n), sent_n);
    REQUIRE_EQ(atomic_load(&rc_.got_sum), sent_sum);
    REQUIRE_EQ(atomic_load(&rc_.got_n) + atomic_load(&rc_.timedout), N_TIMERS);
    km_chan_free(rc_.c);
    km_wg_free(rc_.wg);
}

START_TEST(timers_race_handoff)
{
    t_procs(procs_tab[_i]);
    t_run(timer_race_body, NULL);
}
END_TEST

/* Far deadlines whose waits end early (by close): their timers are removed,
 * they neither delay the test nor fire later into other waits. */
static void far_receiver(void *arg)
{
    (void)arg;
    int64_t far = km_now() + 60 * 1000 * MS;
    long v = 5;
    int rc = km_chan_recv_dl(rc_.c, &v, far);
    if (rc != -EPIPE || v != 0) atomic_fetch_add(&rc_.bad, 1);
    int64_t t0 = km_now();
    if (km_sleep(20 * MS) != 0 || km_now() - t0 < 20 * MS)
        atomic_fetch_add(&rc_.early, 1);
    km_wg_done(rc_.wg);
}

static void far_timers_body(void *arg)
{
    (void)arg;
    memset(&rc_, 0, sizeof rc_);
    REQUIRE_EQ(km_chan_new(&rc_.c, sizeof(long), 0), 0);
    REQUIRE_EQ(km_wg_new(&rc_.wg), 0);
    km_wg_add(rc_.wg, N_TIMERS);
    for (long i = 0; i < N_TIMERS; i++)
        REQUIRE_EQ(km_go(far_receiver, NULL), 0);
    km_sleep(20 * MS);
    REQUIRE_EQ(km_chan_close(rc_.c), 0);
    REQUIRE_EQ(km_wg_wait(rc_.wg), 0);
    REQUIRE_EQ(atomic_load(&rc_.bad), 0);
    REQUIRE_EQ(atomic_load(&rc_.early), 0);
    km_chan_free(rc_.c);
    km_wg_free(rc_.wg);
}

START_TEST(timers_far_removed)
{
    t_procs(procs_tab[_i]);
    t_run(far_timers_body, NULL);
}
END_TEST

static Suite *sleep_suite(void)
{
    Suite *s = suite_create("rt/sleep");
    TCase *tc = tcase_create("sleep");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, now_monotonic);
    tcase_add_loop_test(tc, sleep_not_early, 0, 3);
    tcase_add_test(tc, sleep_nonpositive);
    tcase_add_loop_test(tc, dl_calls_not_early, 0, 3);
    tcase_add_loop_test(tc, dl_past_never_blocks, 0, 3);
    tcase_add_loop_test(tc, dl_past_completes_if_ready, 0, 3);
    tcase_add_loop_test(tc, many_sleepers_ordered, 0, 3);
    tcase_add_loop_test(tc, timers_10k_pending, 0, 3);
    tcase_add_loop_test(tc, timers_race_handoff, 0, 3);
    tcase_add_loop_test(tc, timers_far_removed, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(sleep_suite)
