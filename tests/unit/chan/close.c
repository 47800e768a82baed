/* SPDX-License-Identifier: MIT */
/* Channel close: drain then -EPIPE with a zeroed element, senders refused, every parked peer woken, double close. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MS (1000 * 1000LL)

static const int procs_tab[] = { 1, 2, 8 };

/* The lifetime rounds are for ASan, which catches a touch after free; a
 * goroutine costs TSan about 3 ms, so it runs fewer (30 s each became 6). */
#if defined(__SANITIZE_THREAD__)
#define LIFETIME_ROUNDS 1000
#else
#define LIFETIME_ROUNDS 5000
#endif

typedef struct { unsigned char b[256]; } blob_t;

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) if (b[i]) return 0;
    return 1;
}

/* ---- receivers drain, then -EPIPE with a zeroed element ---- */

static void drain_body(void *arg)
{
    (void)arg;
    km_chan *c;
    REQUIRE_EQ(km_chan_new(&c, sizeof(blob_t), 4), 0);
    blob_t in, out;
    for (int i = 0; i < 3; i++) {
        memset(&in, i + 1, sizeof in);
        REQUIRE_EQ(km_chan_send(c, &in), 0);
    }
    REQUIRE_EQ(km_chan_close(c), 0);
    REQUIRE_EQ(km_chan_len(c), 3);
    REQUIRE_EQ(km_chan_cap(c), 4);
    for (int i = 0; i < 3; i++) {
        memset(&out, 0xaa, sizeof out);
        REQUIRE_EQ(km_chan_recv(c, &out), 0);
        memset(&in, i + 1, sizeof in);
        REQUIRE(memcmp(&in, &out, sizeof in) == 0);
        REQUIRE_EQ(km_chan_len(c), 2 - (size_t)i);
    }
    for (int k = 0; k < 3; k++) {
        memset(&out, 0xaa, sizeof out);
        REQUIRE_EQ(km_chan_recv(c, &out), -EPIPE);
        REQUIRE(all_zero(&out, sizeof out));
        memset(&out, 0xaa, sizeof out);
        REQUIRE_EQ(km_chan_recv_dl(c, &out, 0), -EPIPE);
        REQUIRE(all_zero(&out, sizeof out));
        memset(&out, 0xaa, sizeof out);
        REQUIRE_EQ(km_chan_recv_dl(c, &out, km_now() + 10 * MS), -EPIPE);
        REQUIRE(all_zero(&out, sizeof out));
    }
    km_chan_free(c);

    /* Unbuffered: -EPIPE at once. */
    REQUIRE_EQ(km_chan_new(&c, sizeof(blob_t), 0), 0);
    REQUIRE_EQ(km_chan_close(c), 0);
    memset(&out, 0xff, sizeof out);
    REQUIRE_EQ(km_chan_recv(c, &out), -EPIPE);
    REQUIRE(all_zero(&out, sizeof out));
    km_chan_free(c);
}

START_TEST(recv_drains_then_epipe)
{
    t_procs(1);
    t_run(drain_body, NULL);
}
END_TEST

/* ---- senders get -EPIPE and nothing is enqueued ---- */

static void send_closed_body(void *arg)
{
    (void)arg;
    static const size_t caps[] = { 0, 1, 4 };
    for (size_t k = 0; k < 3; k++) {
        km_chan *c;
        int v = 9;
        REQUIRE_EQ(km_chan_new(&c, sizeof(int), caps[k]), 0);
        REQUIRE_EQ(km_chan_close(c), 0);
        REQUIRE_EQ(km_chan_send(c, &v), -EPIPE);
        REQUIRE_EQ(km_chan_send_dl(c, &v, 0), -EPIPE);
        REQUIRE_EQ(km_chan_send_dl(c, &v, km_now() + 10 * MS), -EPIPE);
        REQUIRE_EQ(km_chan_send_dl(c, &v, KM_FOREVER), -EPIPE);
        REQUIRE_EQ(km_chan_len(c), 0);
        REQUIRE_EQ(km_chan_recv(c, &v), -EPIPE);
        REQUIRE_EQ(v, 0);
        km_chan_free(c);
    }
}

START_TEST(send_on_closed)
{
    t_procs(1);
    t_run(send_closed_body, NULL);
}
END_TEST

static void double_close_body(void *arg)
{
    (void)arg;
    for (size_t cap = 0; cap < 3; cap++) {
        km_chan *c;
        REQUIRE_EQ(km_chan_new(&c, 8, cap), 0);
        REQUIRE_EQ(km_chan_close(c), 0);
        REQUIRE_EQ(km_chan_close(c), -EPIPE);
        REQUIRE_EQ(km_chan_close(c), -EPIPE);
        km_chan_free(c);
    }
    REQUIRE_EQ(km_chan_close(NULL), -EINVAL);
}

START_TEST(close_twice)
{
    t_procs(1);
    t_run(double_close_body, NULL);
}
END_TEST

/* ---- close wakes every parked receiver and sender ---- */

enum { NPEERS = 200 };
typedef struct {
    km_chan    *c;
    km_wg      *started, *done;
    atomic_int  epipe, other, nonzero;
} peers_t;
static peers_t pr;

static void parked_recv(void *arg)
{
    (void)arg;
    blob_t b;
    memset(&b, 0xcc, sizeof b);
    km_wg_done(pr.started);
    int rc = km_chan_recv(pr.c, &b);
    if (rc == -EPIPE) atomic_fetch_add(&pr.epipe, 1);
    else atomic_fetch_add(&pr.other, 1);
    if (!all_zero(&b, sizeof b)) atomic_fetch_add(&pr.nonzero, 1);
    km_wg_done(pr.done);
}

static void parked_recv_dl(void *arg)
{
    (void)arg;
    blob_t b;
    memset(&b, 0xcc, sizeof b);
    km_wg_done(pr.started);
    int rc = km_chan_recv_dl(pr.c, &b, km_now() + 60 * 1000 * MS);
    if (rc == -EPIPE) atomic_fetch_add(&pr.epipe, 1);
    else atomic_fetch_add(&pr.other, 1);
    if (!all_zero(&b, sizeof b)) atomic_fetch_add(&pr.nonzero, 1);
    km_wg_done(pr.done);
}

static void parked_send(void *arg)
{
    (void)arg;
    blob_t b;
    memset(&b, 0x11, sizeof b);
    km_wg_done(pr.started);
    int rc = arg ? km_chan_send_dl(pr.c, &b, km_now() + 60 * 1000 * MS) : km_chan_send(pr.c, &b);
    if (rc == -EPIPE) atomic_fetch_add(&pr.epipe, 1);
    else atomic_fetch_add(&pr.other, 1);
    km_wg_done(pr.done);
}

static void peers_setup(size_t cap)
{
    memset(&pr, 0, sizeof pr);
    REQUIRE_EQ(km_chan_new(&pr.c, sizeof(blob_t), cap), 0);
    REQUIRE_EQ(km_wg_new(&pr.started), 0);
    REQUIRE_EQ(km_wg_new(&pr.done), 0);
}

static void peers_spawn(km_fn *fn, void *arg, int n)
{
    km_wg_add(pr.started, n);
    km_wg_add(pr.done, n);
    for (int i = 0; i < n; i++)
        REQUIRE_EQ(km_go(fn, arg), 0);
    REQUIRE_EQ(km_wg_wait(pr.started), 0);
    /* Let them reach their park; if some are late they meet a closed
     * channel instead, which must give the same result. */
    km_sleep(10 * MS);
}

static void peers_finish(int want_epipe)
{
    REQUIRE_EQ(km_wg_wait(pr.done), 0);
    REQUIRE_EQ(atomic_load(&pr.epipe), want_epipe);
    REQUIRE_EQ(atomic_load(&pr.other), 0);
    REQUIRE_EQ(atomic_load(&pr.nonzero), 0);
    km_chan_free(pr.c);
    km_wg_free(pr.started);
    km_wg_free(pr.done);
}

static void close_wakes_receivers_body(void *arg)
{
    (void)arg;
    for (size_t cap = 0; cap <= 3; cap += 3) {
        peers_setup(cap);
        peers_spawn(parked_recv, NULL, NPEERS / 2);
        peers_spawn(parked_recv_dl, NULL, NPEERS / 2);
        REQUIRE_EQ(atomic_load(&pr.epipe) + atomic_load(&pr.other), 0);
        REQUIRE_EQ(km_chan_close(pr.c), 0);
        peers_finish(NPEERS);
    }
}

START_TEST(close_wakes_receivers)
{
    t_procs(procs_tab[_i]);
    t_run(close_wakes_receivers_body, NULL);
}
END_TEST

static void close_wakes_senders_body(void *arg)
{
    (void)arg;
    for (size_t cap = 0; cap <= 3; cap += 3) {
        peers_setup(cap);
        blob_t b;
        for (size_t i = 0; i < cap; i++) {
            memset(&b, (int)i + 1, sizeof b);
            REQUIRE_EQ(km_chan_send(pr.c, &b), 0);
        }
        peers_spawn(parked_send, NULL, NPEERS / 2);
        peers_spawn(parked_send, (void *)1, NPEERS / 2);
        REQUIRE_EQ(atomic_load(&pr.epipe) + atomic_load(&pr.other), 0);
        REQUIRE_EQ(km_chan_len(pr.c), cap);
        REQUIRE_EQ(km_chan_close(pr.c), 0);
        REQUIRE_EQ(km_wg_wait(pr.done), 0);
        /* The buffered values (and only those) are still there. */
        REQUIRE_EQ(km_chan_len(pr.c), cap);
        for (size_t i = 0; i < cap; i++) {
            blob_t want;
            memset(&want, (int)i + 1, sizeof want);
            REQUIRE_EQ(km_chan_recv(pr.c, &b), 0);
            REQUIRE(memcmp(&b, &want, sizeof b) == 0);
        }
        REQUIRE_EQ(km_chan_recv(pr.c, &b), -EPIPE);
        REQUIRE(all_zero(&b, sizeof b));
        peers_finish(NPEERS);
    }
}

START_TEST(close_wakes_senders)
{
    t_procs(procs_tab[_i]);
    t_run(close_wakes_senders_body, NULL);
}
END_TEST

/* ---- close racing with traffic: every successful send is received ---- */

enum { RACE_SENDERS = 8, RACE_RECEIVERS = 8 };
typedef struct {
    km_chan    *c;
    km_wg      *wg;
    atomic_long sent_sum, sent_n, got_sum, got_n, bad;
} race_t;
static race_t rc_;

static void race_sender(void *arg)
{
    long base = (long)(intptr_t)arg * 1000000;
    for (long i = 1;; i++) {
        long v = base + i;
        int rc = km_chan_send(rc_.c, &v);
        if (rc == -EPIPE) break;
        if (rc != 0) { atomic_fetch_add(&rc_.bad, 1); break; }
        atomic_fetch_add(&rc_.sent_sum, v);
        atomic_fetch_add(&rc_.sent_n, 1);
        if ((i & 15) == 0) km_yield();
    }
    km_wg_done(rc_.wg);
}

static void race_receiver(void *arg)
{
    (void)arg;
    for (;;) {
        long v = -1;
        int rc = km_chan_recv(rc_.c, &v);
        if (rc == -EPIPE) { if (v != 0) atomic_fetch_add(&rc_.bad, 1); break; }
        if (rc != 0) { atomic_fetch_add(&rc_.bad, 1); break; }
        atomic_fetch_add(&rc_.got_sum, v);
        atomic_fetch_add(&rc_.got_n, 1);
    }
    km_wg_done(rc_.wg);
}

static void close_race_body(void *arg)
{
    (void)arg;
    static const size_t caps[] = { 0, 1, 16 };
    for (int round = 0; round < 30; round++) {
        memset(&rc_, 0, sizeof rc_);
        REQUIRE_EQ(km_chan_new(&rc_.c, sizeof(long), caps[round % 3]), 0);
        REQUIRE_EQ(km_wg_new(&rc_.wg), 0);
        km_wg_add(rc_.wg, RACE_SENDERS + RACE_RECEIVERS);
        for (long i = 0; i < RACE_SENDERS; i++)
            REQUIRE_EQ(km_go(race_sender, (void *)(intptr_t)(i + 1)), 0);
        for (long i = 0; i < RACE_RECEIVERS; i++)
            REQUIRE_EQ(km_go(race_receiver, NULL), 0);
        km_sleep((round % 5) * MS);
        REQUIRE_EQ(km_chan_close(rc_.c), 0);
        REQUIRE_EQ(km_wg_wait(rc_.wg), 0);
        REQUIRE_EQ(atomic_load(&rc_.bad), 0);
        REQUIRE_EQ(atomic_load(&rc_.got_n), atomic_load(&rc_.sent_n));
        REQUIRE_EQ(atomic_load(&rc_.got_sum), atomic_load(&rc_.sent_sum));
        km_chan_free(rc_.c);
        km_wg_free(rc_.wg);
    }
}

START_TEST(close_races_traffic)
{
    t_procs(procs_tab[_i]);
    t_run(close_race_body, NULL);
}
END_TEST

/* ---- lifetime: the woken receiver frees the channel at once ---- */

static void closer(void *arg) { km_chan_close(arg); }

typedef struct { km_chan *c; long v; } sendfree_t;
static void sender_then_gone(void *arg)
{
    sendfree_t *s = arg;
    km_chan_send(s->c, &s->v);
}

static void lifetime_body(void *arg)
{
    (void)arg;
    /* The closer (or sender) may still be inside its call when the receiver
     * it woke frees the channel: the runtime must not touch the channel after
     * making the receiver runnable. ASan catches a violation. */
    for (int i = 0; i < LIFETIME_ROUNDS; i++) {
        km_chan *c;
        REQUIRE_EQ(km_chan_new(&c, sizeof(long), (size_t)(i & 1)), 0);
        REQUIRE_EQ(km_go(closer, c), 0);
        long v = 1;
        REQUIRE_EQ(km_chan_recv(c, &v), -EPIPE);
        km_chan_free(c);
    }
    static sendfree_t s[LIFETIME_ROUNDS];
    for (int i = 0; i < LIFETIME_ROUNDS; i++) {
        REQUIRE_EQ(km_chan_new(&s[i].c, sizeof(long), 0), 0);
        s[i].v = i;
        REQUIRE_EQ(km_go(sender_then_gone, &s[i]), 0);
        long v = -1;
        REQUIRE_EQ(km_chan_recv(s[i].c, &v), 0);
        REQUIRE_EQ(v, i);
        km_chan_free(s[i].c);
    }
}

START_TEST(lifetime_free_after_wake)
{
    t_procs(procs_tab[_i]);
    t_run(lifetime_body, NULL);
}
END_TEST

static Suite *close_suite(void)
{
    Suite *s = suite_create("chan/close");
    TCase *tc = tcase_create("close");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, recv_drains_then_epipe);
    tcase_add_test(tc, send_on_closed);
    tcase_add_test(tc, close_twice);
    tcase_add_loop_test(tc, close_wakes_receivers, 0, 3);
    tcase_add_loop_test(tc, close_wakes_senders, 0, 3);
    tcase_add_loop_test(tc, close_races_traffic, 0, 3);
    tcase_add_loop_test(tc, lifetime_free_after_wake, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(close_suite)
