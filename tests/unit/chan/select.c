/* SPDX-License-Identifier: MIT */
/* km_select: send and recv cases, nil channels, deadlines, closed channels, validation and fairness. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MS (1000 * 1000LL)

static const int procs_tab[] = { 1, 2, 8 };

/* ---- ready cases complete at once ---- */

static void ready_body(void *arg)
{
    (void)arg;
    km_chan *a, *b;
    REQUIRE_EQ(km_chan_new(&a, sizeof(int), 1), 0);
    REQUIRE_EQ(km_chan_new(&b, sizeof(int), 1), 0);
    int x = 5, y = 0;
    REQUIRE_EQ(km_chan_send(b, &x), 0);

    /* recv: only b has a value. */
    km_case rc[2] = { { a, KM_RECV, &y, 99 }, { b, KM_RECV, &y, 99 } };
    REQUIRE_EQ(km_select(rc, 2, KM_FOREVER), 1);
    REQUIRE_EQ(rc[1].rc, 0);
    REQUIRE_EQ(y, 5);
    REQUIRE_EQ(km_chan_len(b), 0);

    /* send: only a has room after filling b. */
    REQUIRE_EQ(km_chan_send(b, &x), 0);
    int z = 6;
    km_case sc[2] = { { b, KM_SEND, &z, 99 }, { a, KM_SEND, &z, 99 } };
    REQUIRE_EQ(km_select(sc, 2, 0), 1);
    REQUIRE_EQ(sc[1].rc, 0);
    REQUIRE_EQ(km_chan_len(a), 1);
    REQUIRE_EQ(km_chan_len(b), 1);
    REQUIRE_EQ(km_chan_recv(a, &y), 0);
    REQUIRE_EQ(y, 6);
    REQUIRE_EQ(km_chan_recv(b, &y), 0);
    REQUIRE_EQ(y, 5);

    /* The same channel twice: exactly one case runs. */
    REQUIRE_EQ(km_chan_send(a, &x), 0);
    int y1 = -1, y2 = -1;
    km_case twice[2] = { { a, KM_RECV, &y1, 99 }, { a, KM_RECV, &y2, 99 } };
    int i = km_select(twice, 2, 0);
    REQUIRE(i == 0 || i == 1);
    REQUIRE_EQ(twice[i].rc, 0);
    REQUIRE_EQ(i == 0 ? y1 : y2, 5);
    REQUIRE_EQ(i == 0 ? y2 : y1, -1);
    REQUIRE_EQ(km_chan_len(a), 0);

    km_chan_free(a);
    km_chan_free(b);
}

START_TEST(ready_cases)
{
    t_procs(1);
    t_run(ready_body, NULL);
}
END_TEST

/* ---- nil channels ---- */

static void nil_body(void *arg)
{
    (void)arg;
    km_chan *c;
    REQUIRE_EQ(km_chan_new(&c, sizeof(int), 1), 0);
    int v = 0, w = 3;
    for (int r = 0; r < 1000; r++) {
        REQUIRE_EQ(km_chan_send(c, &r), 0);
        km_case cs[4] = {
            { NULL, KM_RECV, &w, 99 }, { NULL, KM_SEND, &w, 99 },
            { c, KM_RECV, &v, 99 }, { NULL, KM_RECV, &w, 99 },
        };
        REQUIRE_EQ(km_select(cs, 4, KM_FOREVER), 2);
        REQUIRE_EQ(cs[2].rc, 0);
        REQUIRE_EQ(v, r);
        REQUIRE_EQ(w, 3);
    }
    km_case nil[2] = { { NULL, KM_RECV, &w, 99 }, { NULL, KM_SEND, &w, 99 } };
    REQUIRE_EQ(km_select(nil, 2, 0), -EAGAIN);
    int64_t dl = km_now() + 5 * MS;
    REQUIRE_EQ(km_select(nil, 2, dl), -ETIMEDOUT);
    ck_assert_int_ge(km_now(), dl);
    /* Zero cases: nothing can ever be ready. */
    REQUIRE_EQ(km_select(NULL, 0, 0), -EAGAIN);
    dl = km_now() + 5 * MS;
    REQUIRE_EQ(km_select(NULL, 0, dl), -ETIMEDOUT);
    ck_assert_int_ge(km_now(), dl);
    /* A closed channel behind a nil case is never looked at either. */
    REQUIRE_EQ(km_chan_close(c), 0);
    REQUIRE_EQ(km_select(nil, 2, 0), -EAGAIN);
    km_chan_free(c);
}

START_TEST(nil_cases_never_chosen)
{
    t_procs(1);
    t_run(nil_body, NULL);
}
END_TEST

/* ---- deadlines ---- */

typedef struct { km_chan *c; int rc; int v; km_wg *wg; } peer_t;
static void peer_recv_dl(void *arg)
{
    peer_t *p = arg;
    p->rc = km_chan_recv_dl(p->c, &p->v, km_now() + 20 * MS);
    km_wg_done(p->wg);
}
static void peer_send_dl(void *arg)
{
    peer_t *p = arg;
    p->rc = km_chan_send_dl(p->c, &p->v, km_now() + 20 * MS);
    km_wg_done(p->wg);
}

static void deadline_body(void *arg)
{
    (void)arg;
    km_chan *u, *full, *empty;
    km_wg *wg;
    REQUIRE_EQ(km_chan_new(&u, sizeof(int), 0), 0);
    REQUIRE_EQ(km_chan_new(&full, sizeof(int), 1), 0);
    REQUIRE_EQ(km_chan_new(&empty, sizeof(int), 1), 0);
    REQUIRE_EQ(km_wg_new(&wg), 0);
    int one = 1, v = 77;
    REQUIRE_EQ(km_chan_send(full, &one), 0);
    km_case cs[4] = {
        { u, KM_RECV, &v, 99 }, { u, KM_SEND, &one, 99 },
        { full, KM_SEND, &one, 99 }, { empty, KM_RECV, &v, 99 },
    };
    /* deadline 0: Go's default case. */
    REQUIRE_EQ(km_select(cs, 4, 0), -EAGAIN);
    REQUIRE_EQ(v, 77);
    /* Past deadlines other than 0 time out. */
    REQUIRE_EQ(km_select(cs, 4, 1), -ETIMEDOUT);
    REQUIRE_EQ(km_select(cs, 4, km_now() - MS), -ETIMEDOUT);
    /* A future deadline: no earlier. A select cannot pair its own send and
     * receive on the same unbuffered channel. */
    for (int r = 0; r < 5; r++) {
        int64_t dl = km_now() + (r + 1) * MS;
        REQUIRE_EQ(km_select(cs, 4, dl), -ETIMEDOUT);
        int64_t t = km_now();
        ck_assert_msg(t >= dl, "select returned %lld ns early", (long long)(dl - t));
    }
    REQUIRE_EQ(v, 77);
    REQUIRE_EQ(km_chan_len(full), 1);
    REQUIRE_EQ(km_chan_len(empty), 0);

    /* A timed-out select left no registration behind: a later peer on u
     * finds nobody. */
    static peer_t p;
    p = (peer_t){ u, 99, 0, wg };
    km_wg_add(wg, 1);
    REQUIRE_EQ(km_go(peer_recv_dl, &p), 0);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    REQUIRE_EQ(p.rc, -ETIMEDOUT);
    p = (peer_t){ u, 99, 5, wg };
    km_wg_add(wg, 1);
    REQUIRE_EQ(km_go(peer_send_dl, &p), 0);
    REQUIRE_EQ(km_wg_wait(wg), 0);
    REQUIRE_EQ(p.rc, -ETIMEDOUT);
    REQUIRE_EQ(v, 77);

    km_chan_free(u);
    km_chan_free(full);
    km_chan_free(empty);
    km_wg_free(wg);
}

START_TEST(deadlines)
{
    t_procs(procs_tab[_i]);
    t_run(deadline_body, NULL);
}
END_TEST

/* ---- closed channels ---- */

typedef struct { unsigned char b[64]; } blob_t;
static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) if (b[i]) return 0;
    return 1;
}

static void closer_after(void *arg)
{
    km_sleep(10 * MS);
    km_chan_close(arg);
}

static void closed_body(void *arg)
{
    (void)arg;
    km_chan *open, *closed, *later;
    REQUIRE_EQ(km_chan_new(&open, sizeof(blob_t), 0), 0);
    REQUIRE_EQ(km_chan_new(&closed, sizeof(blob_t), 2), 0);
    REQUIRE_EQ(km_chan_new(&later, sizeof(blob_t), 0), 0);
    blob_t in, out;
    memset(&in, 0x42, sizeof in);
    REQUIRE_EQ(km_chan_send(closed, &in), 0);
    REQUIRE_EQ(km_chan_close(closed), 0);

    /* The buffered value first, with rc 0. */
    memset(&out, 0xaa, sizeof out);
    km_case cs[2] = { { open, KM_RECV, &in, 99 }, { closed, KM_RECV, &out, 99 } };
    REQUIRE_EQ(km_select(cs, 2, KM_FOREVER), 1);
    REQUIRE_EQ(cs[1].rc, 0);
    REQUIRE_EQ(out.b[0], 0x42);
    /* Then -EPIPE with a zeroed element, every time. */
    for (int r = 0; r < 3; r++) {
        memset(&out, 0xaa, sizeof out);
        cs[1].rc = 99;
        REQUIRE_EQ(km_select(cs, 2, r == 0 ? 0 : KM_FOREVER), 1);
        REQUIRE_EQ(cs[1].rc, -EPIPE);
        REQUIRE(all_zero(&out, sizeof out));
    }
    /* Sending to a closed channel: the case completes with -EPIPE. */
    km_case sc[2] = { { open, KM_SEND, &in, 99 }, { closed, KM_SEND, &in, 99 } };
    REQUIRE_EQ(km_select(sc, 2, KM_FOREVER), 1);
    REQUIRE_EQ(sc[1].rc, -EPIPE);
    REQUIRE_EQ(km_chan_len(closed), 0);

    /* A parked select is woken by close: recv and send cases. */
    memset(&out, 0xaa, sizeof out);
    km_case pc[2] = { { open, KM_RECV, &in, 99 }, { later, KM_RECV, &out, 99 } };
    REQUIRE_EQ(km_go(closer_after, later), 0);
    REQUIRE_EQ(km_select(pc, 2, km_now() + 60 * 1000 * MS), 1);
    REQUIRE_EQ(pc[1].rc, -EPIPE);
    REQUIRE(all_zero(&out, sizeof out));
    km_chan_free(later);
    REQUIRE_EQ(km_chan_new(&later, sizeof(blob_t), 0), 0);
    km_case ps[2] = { { open, KM_RECV, &out, 99 }, { later, KM_SEND, &in, 99 } };
    REQUIRE_EQ(km_go(closer_after, later), 0);
    REQUIRE_EQ(km_select(ps, 2, KM_FOREVER), 1);
    REQUIRE_EQ(ps[1].rc, -EPIPE);

    km_chan_free(open);
    km_chan_free(closed);
    km_chan_free(later);
}

START_TEST(closed_cases)
{
    t_procs(procs_tab[_i]);
    t_run(closed_body, NULL);
}
END_TEST

/* ---- a parked select woken by a peer ---- */

enum { NCH = 5 };
typedef struct {
    km_chan *c[NCH];
    km_chan *back;
    km_wg   *wg;
    int      rounds;
} wake_t;

/* The peer picks a channel per round; for even rounds it sends, for odd ones
 * it receives what the selecting goroutine offers. */
static void waker(void *arg)
{
    wake_t *w = arg;
    uint32_t rng = 99;
    for (int r = 0; r < w->rounds; r++) {
        rng = rng * 1103515245u + 12345u;
        int k = (int)((rng >> 16) % NCH);
        REQUIRE_EQ(km_chan_send(w->back, &k), 0);   /* tell which */
        if ((r & 1) == 0) {
            long v = r * 10L + k;
            REQUIRE_EQ(km_chan_send(w->c[k], &v), 0);
        } else {
            long v = -1;
            REQUIRE_EQ(km_chan_recv(w->c[k], &v), 0);
            REQUIRE_EQ(v, r * 100L + k);
        }
    }
    km_wg_done(w->wg);
}

static void woken_body(void *arg)
{
    (void)arg;
    static wake_t w;
    memset(&w, 0, sizeof w);
    w.rounds = 4000;
    for (int k = 0; k < NCH; k++)
        REQUIRE_EQ(km_chan_new(&w.c[k], sizeof(long), 0), 0);
    REQUIRE_EQ(km_chan_new(&w.back, sizeof(int), 1), 0);
    REQUIRE_EQ(km_wg_new(&w.wg), 0);
    km_wg_add(w.wg, 1);
    REQUIRE_EQ(km_go(waker, &w), 0);
    for (int r = 0; r < w.rounds; r++) {
        int k;
        REQUIRE_EQ(km_chan_recv(w.back, &k), 0);
        long vals[NCH];
        km_case cs[NCH];
        for (int j = 0; j < NCH; j++) {
            vals[j] = (r & 1) ? r * 100L + j : -1;
            cs[j] = (km_case){ w.c[j], (r & 1) ? KM_SEND : KM_RECV, &vals[j], 99 };
        }
        int i = km_select(cs, NCH, KM_FOREVER);
        REQUIRE_EQ(i, k);
        REQUIRE_EQ(cs[i].rc, 0);
        if ((r & 1) == 0)
            REQUIRE_EQ(vals[i], r * 10L + k);
        for (int j = 0; j < NCH; j++)
            if (j != i && (r & 1) == 0) REQUIRE_EQ(vals[j], -1);
    }
    REQUIRE_EQ(km_wg_wait(w.wg), 0);
    /* The losing cases left nothing registered. */
    for (int k = 0; k < NCH; k++) {
        long v = 1;
        REQUIRE_EQ(km_chan_send_dl(w.c[k], &v, 0), -ETIMEDOUT);
        REQUIRE_EQ(km_chan_recv_dl(w.c[k], &v, 0), -ETIMEDOUT);
        km_chan_free(w.c[k]);
    }
    km_chan_free(w.back);
    km_wg_free(w.wg);
}

START_TEST(parked_select_woken)
{
    t_procs(procs_tab[_i]);
    t_run(woken_body, NULL);
}
END_TEST

/* Two selects meet each other. */
enum { SVS_ROUNDS = 20000 };
typedef struct {
    km_chan    *a, *b;
    km_wg      *wg;
    atomic_long sum_sent, sum_got;
} svs_t;
static svs_t svs;

static void select_sender(void *arg)
{
    (void)arg;
    for (long r = 1; r <= SVS_ROUNDS; r++) {
        long va = r, vb = -r;
        km_case cs[2] = { { svs.a, KM_SEND, &va, 99 }, { svs.b, KM_SEND, &vb, 99 } };
        int i = km_select(cs, 2, KM_FOREVER);
        REQUIRE(i == 0 || i == 1);
        REQUIRE_EQ(cs[i].rc, 0);
        atomic_fetch_add(&svs.sum_sent, i == 0 ? va : vb);
    }
    km_wg_done(svs.wg);
}

static void select_receiver(void *arg)
{
    (void)arg;
    for (long r = 1; r <= SVS_ROUNDS; r++) {
        long va = 0, vb = 0;
        km_case cs[2] = { { svs.b, KM_RECV, &vb, 99 }, { svs.a, KM_RECV, &va, 99 } };
        int i = km_select(cs, 2, KM_FOREVER);
        REQUIRE(i == 0 || i == 1);
        REQUIRE_EQ(cs[i].rc, 0);
        long v = i == 0 ? vb : va;
        REQUIRE(i == 0 ? v < 0 : v > 0);
        REQUIRE(v == r || v == -r);
        atomic_fetch_add(&svs.sum_got, v);
    }
    km_wg_done(svs.wg);
}

static void svs_body(void *arg)
{
    (void)arg;
    memset(&svs, 0, sizeof svs);
    REQUIRE_EQ(km_chan_new(&svs.a, sizeof(long), 0), 0);
    REQUIRE_EQ(km_chan_new(&svs.b, sizeof(long), 0), 0);
    REQUIRE_EQ(km_wg_new(&svs.wg), 0);
    km_wg_add(svs.wg, 2);
    REQUIRE_EQ(km_go(select_receiver, NULL), 0);
    REQUIRE_EQ(km_go(select_sender, NULL), 0);
    REQUIRE_EQ(km_wg_wait(svs.wg), 0);
    REQUIRE_EQ(atomic_load(&svs.sum_sent), atomic_load(&svs.sum_got));
    km_chan_free(svs.a);
    km_chan_free(svs.b);
    km_wg_free(svs.wg);
}

START_TEST(select_meets_select)
{
    t_procs(procs_tab[_i]);
    t_run(svs_body, NULL);
}
END_TEST

/* ---- validation and size ---- */

static void invalid_body(void *arg)
{
    (void)arg;
    km_chan *c;
    REQUIRE_EQ(km_chan_new(&c, sizeof(int), 1), 0);
    int v = 0;
    km_case bad0[1] = { { c, 0, &v, 99 } };
    km_case bad3[2] = { { c, KM_RECV, &v, 99 }, { c, 3, &v, 99 } };
    km_case badn[1] = { { c, -1, &v, 99 } };
    REQUIRE_EQ(km_select(bad0, 1, 0), -EINVAL);
    REQUIRE_EQ(km_select(bad3, 2, KM_FOREVER), -EINVAL);
    REQUIRE_EQ(km_select(badn, 1, KM_FOREVER), -EINVAL);
    REQUIRE_EQ(km_select(NULL, 1, 0), -EINVAL);
    REQUIRE_EQ(km_select(NULL, 3, KM_FOREVER), -EINVAL);
    /* Validation happens before anything completes. */
    REQUIRE_EQ(km_chan_send(c, &v), 0);
    REQUIRE_EQ(km_select(bad3, 2, 0), -EINVAL);
    REQUIRE_EQ(km_chan_len(c), 1);
    km_chan_free(c);
}

START_TEST(invalid_cases)
{
    t_procs(1);
    t_run(invalid_body, NULL);
}
END_TEST

enum { WIDE = 1000 };
typedef struct { km_chan *c[WIDE]; int k[50]; km_wg *wg; } wide_t;
static wide_t wd;

static void wide_sender(void *arg)
{
    (void)arg;
    for (int r = 0; r < 50; r++) {
        km_sleep(100 * 1000);
        long v = wd.k[r];
        REQUIRE_EQ(km_chan_send(wd.c[wd.k[r]], &v), 0);
    }
    km_wg_done(wd.wg);
}

static void wide_body(void *arg)
{
    (void)arg;
    static km_case cs[WIDE];
    static long vals[WIDE];
    REQUIRE_EQ(km_wg_new(&wd.wg), 0);
    for (int i = 0; i < WIDE; i++)
        REQUIRE_EQ(km_chan_new(&wd.c[i], sizeof(long), 0), 0);
    uint32_t rng = 5;
    for (int r = 0; r < 50; r++) {
        rng = rng * 1103515245u + 12345u;
        wd.k[r] = (int)((rng >> 8) % WIDE);
    }
    km_wg_add(wd.wg, 1);
    REQUIRE_EQ(km_go(wide_sender, NULL), 0);
    for (int r = 0; r < 50; r++) {
        for (int i = 0; i < WIDE; i++) {
            vals[i] = -1;
            cs[i] = (km_case){ wd.c[i], KM_RECV, &vals[i], 99 };
        }
        int i = km_select(cs, WIDE, KM_FOREVER);
        REQUIRE_EQ(i, wd.k[r]);
        REQUIRE_EQ(vals[i], wd.k[r]);
    }
    REQUIRE_EQ(km_wg_wait(wd.wg), 0);
    for (int i = 0; i < WIDE; i++)
        km_chan_free(wd.c[i]);
    km_wg_free(wd.wg);
}

START_TEST(wide_select)
{
    t_procs(procs_tab[_i]);
    t_run(wide_body, NULL);
}
END_TEST

/* Very many cases on one channel, with and without allocation failure. */
static void huge_n_body(void *arg)
{
    (void)arg;
    enum { N = 20000 };
    static km_case cs[N];
    static long v;
    km_chan *c;
    REQUIRE_EQ(km_chan_new(&c, sizeof(long), 1), 0);
    for (int i = 0; i < N; i++)
        cs[i] = (km_case){ c, KM_RECV, &v, 99 };
    REQUIRE_EQ(km_select(cs, N, 0), -EAGAIN);
    REQUIRE_EQ(km_select(cs, N, km_now() + MS), -ETIMEDOUT);
    t_fail_alloc_after(1);
    int rc = km_select(cs, N, km_now() + MS);
    t_fail_alloc_after(0);
    ck_assert_msg(rc == -ETIMEDOUT || rc == -ENOMEM, "select under allocation failure: %s",
                  km_strerror(rc));
    long x = 7;
    REQUIRE_EQ(km_chan_send(c, &x), 0);
    int i = km_select(cs, N, KM_FOREVER);
    REQUIRE(i >= 0 && i < N);
    REQUIRE_EQ(v, 7);
    km_chan_free(c);
}

START_TEST(huge_n)
{
    t_procs(1);
    t_run(huge_n_body, NULL);
}
END_TEST

/* ---- fairness ---- */

enum { FAIR_ROUNDS = 100000 };

/* Always-ready cases: k cap-1 channels each holding a value (recv) or empty
 * (send), refilled/drained after each round. Each count must be within 5% of
 * n/k: about 9 standard deviations for k = 4, so it cannot flake. */
static void fairness_run(int k, int mixed, int with_nil)
{
    km_chan *ch[4];
    long counts[8] = { 0 };
    long val = 1, sink;
    km_case cs[8];
    int n = 0, real[8];
    for (int j = 0; j < k; j++) {
        REQUIRE_EQ(km_chan_new(&ch[j], sizeof(long), 1), 0);
        int op = mixed && (j & 1) ? KM_SEND : KM_RECV;
        if (op == KM_RECV) REQUIRE_EQ(km_chan_send(ch[j], &val), 0);
        if (with_nil) { real[n] = 0; cs[n++] = (km_case){ NULL, KM_RECV, &sink, 0 }; }
        real[n] = 1;
        cs[n++] = (km_case){ ch[j], op, op == KM_RECV ? (void *)&sink : (void *)&val, 0 };
    }
    for (int r = 0; r < FAIR_ROUNDS; r++) {
        int i = km_select(cs, (size_t)n, r & 1 ? 0 : KM_FOREVER);
        REQUIRE(i >= 0 && i < n);
        REQUIRE(real[i]);
        REQUIRE_EQ(cs[i].rc, 0);
        counts[i]++;
        /* Make the case ready again. */
        if (cs[i].op == KM_RECV) REQUIRE_EQ(km_chan_send_dl(cs[i].chan, &val, 0), 0);
        else REQUIRE_EQ(km_chan_recv_dl(cs[i].chan, &sink, 0), 0);
    }
    double expect = (double)FAIR_ROUNDS / k;
    for (int i = 0; i < n; i++) {
        if (!real[i]) { REQUIRE_EQ(counts[i], 0); continue; }
        ck_assert_msg(counts[i] > expect * 0.95 && counts[i] < expect * 1.05,
                      "k=%d mixed=%d nil=%d: case %d chosen %ld times, expected about %.0f",
                      k, mixed, with_nil, i, counts[i], expect);
    }
    for (int j = 0; j < k; j++)
        km_chan_free(ch[j]);
}

static void fairness_body(void *arg)
{
    (void)arg;
    for (int k = 2; k <= 4; k++) {
        fairness_run(k, 0, 0);
        fairness_run(k, 1, 0);
        fairness_run(k, 1, 1);
    }
}

START_TEST(fairness)
{
    t_procs(1);
    t_run(fairness_body, NULL);
}
END_TEST

static Suite *select_suite(void)
{
    Suite *s = suite_create("chan/select");
    TCase *tc = tcase_create("select");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ready_cases);
    tcase_add_test(tc, nil_cases_never_chosen);
    tcase_add_loop_test(tc, deadlines, 0, 3);
    tcase_add_loop_test(tc, closed_cases, 0, 3);
    tcase_add_loop_test(tc, parked_select_woken, 0, 3);
    tcase_add_loop_test(tc, select_meets_select, 0, 3);
    tcase_add_test(tc, invalid_cases);
    tcase_add_loop_test(tc, wide_select, 0, 3);
    tcase_add_test(tc, huge_n);
    tcase_add_test(tc, fairness);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(select_suite)
