/* SPDX-License-Identifier: MIT */
/* Cancelling a group wakes every member parked in socket reads, accept, fd waits, sleeps, channels and offloaded calls. */
#include "util.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define MEMBERS 1500    /* TSan caps live threads + fibers near 8,000 */
#elif defined(__SANITIZE_ADDRESS__)
#define MEMBERS 4000
#else
#define MEMBERS 10000
#endif

#define MS  1000000LL
#define SEC 1000000000LL

/* Member kinds by index modulo 10. An fd direction takes one parked
 * goroutine at a time, so every reader and fd waiter has its own socket:
 * 3,000 TCP pairs and 1,000 socketpairs at 10,000 members, 8,000 fds. */
enum { K_READ0, K_READ1, K_READ2, K_FDWAIT, K_SLEEP0, K_SLEEP1, K_CHAN0, K_CHAN1,
       K_BLOCKING, K_SELECT, KINDS };
#define N_READERS  (MEMBERS / KINDS * 3)
#define N_WAITERS  (MEMBERS / KINDS)
static const char *kind_name[KINDS + 1] = {
    "km_read", "km_read", "km_read", "km_fd_wait", "km_sleep", "km_sleep",
    "km_chan_recv", "km_chan_recv", "km_blocking", "km_select", "km_accept",
};

typedef struct {
    int         rd[N_READERS], rd_peer[N_READERS];
    int         fw[N_WAITERS], fw_peer[N_WAITERS];
    int         lfd;
    km_chan    *chan, *chan2;
    atomic_int  started, canceled, other;
    atomic_int  bad_kind, bad_rc;
    atomic_int  release;            /* lets the offloaded functions return */
    atomic_int  fn_started, fn_finished;
} world;
static world w;

typedef struct { int kind, slot; } member_arg;
static member_arg args[MEMBERS + 1];

/* Blocks its helper thread until the test releases it (at most 10 s), so
 * no offloaded call can finish before the cancel. */
static void hold_thread(void *arg)
{
    (void)arg;
    atomic_fetch_add(&w.fn_started, 1);
    for (int i = 0; i < 10000 && !atomic_load(&w.release); i++)
        usleep(1000);
    atomic_fetch_add(&w.fn_finished, 1);
}

static void member(void *arg)
{
    member_arg *m = arg;
    char buf[16];
    int v = 0;
    long rc;
    atomic_fetch_add(&w.started, 1);
    switch (m->kind) {
    case K_READ0: case K_READ1: case K_READ2:
        rc = km_read(w.rd[m->slot], buf, sizeof buf, KM_FOREVER);
        break;
    case K_FDWAIT:
        rc = km_fd_wait(w.fw[m->slot], KM_FD_READ, KM_FOREVER);
        break;
    case K_SLEEP0: case K_SLEEP1:
        rc = km_sleep(3600 * SEC);
        break;
    case K_CHAN0: case K_CHAN1:
        rc = km_chan_recv(w.chan, &v);
        break;
    case K_BLOCKING:
        rc = km_blocking(hold_thread, NULL);
        break;
    case K_SELECT: {
        km_case c[2] = { { w.chan, KM_RECV, &v, 0 }, { w.chan2, KM_RECV, &v, 0 } };
        rc = km_select(c, 2, KM_FOREVER);
        break;
    }
    default:
        rc = km_accept(w.lfd, KM_FOREVER);
        break;
    }
    if (rc == -ECANCELED) {
        atomic_fetch_add(&w.canceled, 1);
    } else {
        atomic_fetch_add(&w.other, 1);
        atomic_store(&w.bad_kind, m->kind);
        atomic_store(&w.bad_rc, (int)rc);
        if (rc >= 0 && m->kind == KINDS)
            km_close((int)rc);
    }
}

static void tcp_pairs(void)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_local_port(w.lfd));
    for (int i = 0; i < N_READERS; i++) {
        w.rd[i] = km_dial(addr, km_now() + 10 * SEC);
        ck_assert_msg(w.rd[i] >= 0, "km_dial #%d: %s", i, km_strerror(w.rd[i]));
        w.rd_peer[i] = km_accept(w.lfd, km_now() + 10 * SEC);
        ck_assert_msg(w.rd_peer[i] >= 0, "km_accept #%d: %s", i, km_strerror(w.rd_peer[i]));
    }
}

static void cancel_body(void *arg)
{
    (void)arg;
    memset(&w, 0, sizeof w);
    w.lfd = km_listen("127.0.0.1:0", 4096);
    ck_assert_int_ge(w.lfd, 0);
    tcp_pairs();
    for (int i = 0; i < N_WAITERS; i++) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        w.fw[i] = sv[0];
        w.fw_peer[i] = sv[1];
    }
    ck_assert_int_eq(km_chan_new(&w.chan, sizeof(int), 0), 0);
    ck_assert_int_eq(km_chan_new(&w.chan2, sizeof(int), 0), 0);

    km_group *g;
    ck_assert_int_eq(km_group_new(&g, NULL, KM_FOREVER), 0);
    int next[KINDS] = { 0 };
    for (int i = 0; i < MEMBERS; i++) {
        int k = i % KINDS;
        args[i].kind = k;
        /* the three read kinds share the reader sockets */
        args[i].slot = (k <= K_READ2) ? (i / KINDS) * 3 + k : next[k]++;
        ck_assert_int_eq(km_group_go(g, member, &args[i]), 0);
    }
    args[MEMBERS].kind = KINDS;                     /* the one acceptor */
    ck_assert_int_eq(km_group_go(g, member, &args[MEMBERS]), 0);
    while (atomic_load(&w.started) < MEMBERS + 1)
        km_sleep(1 * MS);
    km_sleep(50 * MS);                             /* let every member reach its park */
    ck_assert_msg(atomic_load(&w.canceled) + atomic_load(&w.other) == 0,
                  "a member returned before the cancel: %s gave %s",
                  kind_name[atomic_load(&w.bad_kind)], km_strerror(atomic_load(&w.bad_rc)));

    km_group_cancel(g);
    /* returns while offloaded functions still hold their threads */
    ck_assert_int_eq(km_group_wait(g, km_now() + 30 * SEC), 0);
    ck_assert_msg(atomic_load(&w.other) == 0, "%d members did not see ECANCELED, e.g. %s gave %s",
                  atomic_load(&w.other), kind_name[atomic_load(&w.bad_kind)],
                  km_strerror(atomic_load(&w.bad_rc)));
    ck_assert_int_eq(atomic_load(&w.canceled), MEMBERS + 1);
    ck_assert_int_eq(km_group_free(g), 0);

    /* offloaded calls that had started finish on their own; queued ones
     * never start */
    atomic_store(&w.release, 1);
    while (atomic_load(&w.fn_finished) < atomic_load(&w.fn_started))
        km_sleep(1 * MS);
    km_sleep(100 * MS);
    ck_assert_int_eq(atomic_load(&w.fn_finished), atomic_load(&w.fn_started));
    ck_assert_msg(atomic_load(&w.fn_started) <= 64, "%d offloaded calls ran on a pool of 64",
                  atomic_load(&w.fn_started));

    /* the sockets survive a cancelled wait: data sent now is read */
    char buf[8];
    ck_assert_int_eq(km_write(w.rd_peer[0], "after", 5, km_now() + 10 * SEC), 5);
    ck_assert_int_eq(km_read(w.rd[0], buf, sizeof buf, km_now() + 10 * SEC), 5);
    ck_assert_int_eq(write(w.fw_peer[0], "x", 1), 1);
    ck_assert_int_eq(km_fd_wait(w.fw[0], KM_FD_READ, km_now() + 10 * SEC), 0);
    /* and the listener still accepts */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_local_port(w.lfd));
    int c = km_dial(addr, km_now() + 10 * SEC);
    ck_assert_int_ge(c, 0);
    int s = km_accept(w.lfd, km_now() + 10 * SEC);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(km_close(c), 0);
    ck_assert_int_eq(km_close(s), 0);

    for (int i = 0; i < N_READERS; i++) {
        ck_assert_int_eq(km_close(w.rd[i]), 0);
        ck_assert_int_eq(km_close(w.rd_peer[i]), 0);
    }
    for (int i = 0; i < N_WAITERS; i++) {
        ck_assert_int_eq(km_close(w.fw[i]), 0);
        ck_assert_int_eq(km_close(w.fw_peer[i]), 0);
    }
    ck_assert_int_eq(km_close(w.lfd), 0);
    km_chan_free(w.chan);
    km_chan_free(w.chan2);
}

START_TEST(cancel_wakes_every_member)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    t_procs(_i + 1);
    t_run(cancel_body, NULL);
}
END_TEST

/* Waits that are not cancellable stay asleep when their group is
 * cancelled: a mutex is still acquired, an offloaded call still finishes
 * before the caller goes on (its argument may live on the caller's stack). */
typedef struct {
    km_mutex  *mu;
    atomic_int got_lock, job_done, job_seen_done;
    km_wg     *wg;
} hard;

static void slow_job(void *arg)
{
    hard *h = arg;
    usleep(100 * 1000);
    atomic_store(&h->job_done, 1);
}

static void lock_member(void *arg)
{
    hard *h = arg;
    km_mutex_lock(h->mu);               /* held by the test: parks */
    atomic_store(&h->got_lock, 1);
    km_mutex_unlock(h->mu);
    km_wg_done(h->wg);
}

int km__blocking(km_fn *fn, void *arg, bool cancellable);

static void offload_member(void *arg)
{
    hard *h = arg;
    ck_assert_int_eq(km__blocking(slow_job, h, false), 0);
    atomic_store(&h->job_seen_done, atomic_load(&h->job_done));
    km_wg_done(h->wg);
}

static void hard_body(void *arg)
{
    (void)arg;
    hard h = { 0 };
    ck_assert_int_eq(km_mutex_new(&h.mu), 0);
    ck_assert_int_eq(km_wg_new(&h.wg), 0);
    km_group *g;
    ck_assert_int_eq(km_group_new(&g, NULL, KM_FOREVER), 0);
    km_mutex_lock(h.mu);
    km_wg_add(h.wg, 2);
    ck_assert_int_eq(km_group_go(g, lock_member, &h), 0);
    ck_assert_int_eq(km_group_go(g, offload_member, &h), 0);
    km_sleep(20 * 1000000LL);           /* both parked */
    km_group_cancel(g);
    km_sleep(20 * 1000000LL);
    ck_assert_int_eq(atomic_load(&h.got_lock), 0);  /* still waiting for the lock */
    km_mutex_unlock(h.mu);
    km_wg_wait(h.wg);
    ck_assert_int_eq(atomic_load(&h.got_lock), 1);
    ck_assert_int_eq(atomic_load(&h.job_seen_done), 1);
    km_group_wait(g, KM_FOREVER);
    km_group_free(g);
    km_wg_free(h.wg);
    km_mutex_free(h.mu);
}

START_TEST(cancel_passes_hard_waits) { t_procs(2); t_run(hard_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net/cancel");
    TCase *tc = tcase_create("cancel");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, cancel_wakes_every_member, 0, 2);
    tcase_add_test(tc, cancel_passes_hard_waits);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
