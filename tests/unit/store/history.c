/* SPDX-License-Identifier: MIT */
/* Store history and change feed: events per revision, prev_kv, order, paging. */
#include "st.h"

typedef struct {
    int64_t revs[64];
    size_t  nev[64];
    int     types[64][4];
    char    keys[64][4][8];
    bool    has_prev[64][4];
    int     n;
} feed_log;

static void feed(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    feed_log *l = ud;
    if (l->n >= 64)
        return;
    l->revs[l->n] = rev;
    l->nev[l->n] = n;
    for (size_t i = 0; i < n && i < 4; i++) {
        l->types[l->n][i] = ev[i].type;
        size_t kn = ev[i].kv.key.n < 7 ? ev[i].kv.key.n : 7;
        memcpy(l->keys[l->n][i], ev[i].kv.key.p, kn);
        l->keys[l->n][i][kn] = 0;
        l->has_prev[l->n][i] = ev[i].has_prev;
        if (ev[i].type == KM_EV_DELETE)
            REQUIRE_EQ(ev[i].kv.mod_revision, rev);
    }
    l->n++;
}

static void feed_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    static feed_log log;
    memset(&log, 0, sizeof log);
    km_store_sub *sub;
    REQUIRE_EQ(km_store_subscribe(s, feed, &log, &sub), 0);
    REQUIRE_EQ(st_put(s, "a", "1", 0, NULL), 0);                 /* 2 */
    REQUIRE_EQ(st_put(s, "a", "2", 0, NULL), 0);                 /* 3 */
    REQUIRE_EQ(st_del(s, "nothing", NULL, NULL, NULL), 0);       /* none */
    km_op ops[] = {
        { .type = KM_OP_PUT, .put = { .key = B("b"), .value = B("x") } },
        { .type = KM_OP_DELETE, .del = { .key = B("a") } },
    };
    km_txn_req t = { .success = ops, .nsuccess = 2 };
    km_store_res res;
    REQUIRE_EQ(km_store_txn(s, &t, &res), 0);                    /* 4 */
    km_store_res_free(&res);
    REQUIRE_EQ(log.n, 3);
    REQUIRE_EQ(log.revs[0], 2);
    REQUIRE_EQ(log.revs[1], 3);
    REQUIRE_EQ(log.revs[2], 4);
    REQUIRE(!log.has_prev[0][0]);
    REQUIRE(log.has_prev[1][0]);
    REQUIRE_EQ(log.nev[2], 2);
    REQUIRE_EQ(log.types[2][0], KM_EV_PUT);
    REQUIRE_EQ(log.types[2][1], KM_EV_DELETE);
    REQUIRE(strcmp(log.keys[2][1], "a") == 0);
    REQUIRE(log.has_prev[2][1]);
    km_store_unsubscribe(s, sub);
    st_close(&e);
}

START_TEST(feed_order) { t_run(feed_body, NULL); }
END_TEST

static void history_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    REQUIRE_EQ(st_put(s, "k/a", "1", 0, NULL), 0);   /* 2 */
    REQUIRE_EQ(st_put(s, "other", "x", 0, NULL), 0); /* 3 */
    REQUIRE_EQ(st_put(s, "k/a", "2", 0, NULL), 0);   /* 4 */
    REQUIRE_EQ(st_put(s, "k/b", "3", 0, NULL), 0);   /* 5 */
    REQUIRE_EQ(st_del(s, "k/", "k0", NULL, NULL), 0); /* 6: two deletes */
    km_event *ev;
    size_t n;
    int64_t next;
    km_store_res res;
    REQUIRE_EQ(km_store_history(s, 1, 0, B("k/"), B("k0"), true, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 5);
    REQUIRE_EQ(next, 7);
    REQUIRE_EQ(ev[0].type, KM_EV_PUT);
    REQUIRE_EQ(ev[0].kv.mod_revision, 2);
    REQUIRE(!ev[0].has_prev);
    REQUIRE_EQ(ev[1].kv.mod_revision, 4);
    REQUIRE_EQ(ev[1].kv.version, 2);
    REQUIRE_EQ(ev[1].kv.create_revision, 2);
    REQUIRE(ev[1].has_prev);
    REQUIRE(bytes_is(ev[1].prev_kv.value, "1"));
    REQUIRE_EQ(ev[3].type, KM_EV_DELETE);
    REQUIRE_EQ(ev[3].kv.mod_revision, 6);
    REQUIRE(bytes_is(ev[3].kv.key, "k/a"));
    REQUIRE(bytes_is(ev[3].prev_kv.value, "2"));
    REQUIRE_EQ(ev[4].kv.mod_revision, 6);
    REQUIRE(bytes_is(ev[4].prev_kv.value, "3"));
    km_store_res_free(&res);
    /* paging never splits a revision */
    REQUIRE_EQ(km_store_history(s, 1, 0, B("k/"), B("k0"), false, 4, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 5);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, 1, 0, B("k/"), B("k0"), false, 2, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 2);
    REQUIRE_EQ(next, 5);
    REQUIRE(!ev[0].has_prev);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, next, 5, B("k/"), B("k0"), false, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 1);
    REQUIRE_EQ(next, 6);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, 3, 3, B("other"), (km_bytes){ 0 }, false, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 1);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, 7, 0, ALL, ALL, false, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 0);
    REQUIRE_EQ(next, 7);
    km_store_res_free(&res);
    st_close(&e);
}

START_TEST(history) { t_run(history_body, NULL); }
END_TEST

/* Subscribing while writes stream in: after subscribing and reading the
 * revision, every later revision arrives, in order; after unsubscribing,
 * no call is in progress or comes. */
typedef struct {
    _Atomic int64_t calls, first, last, gaps;
} sub_log;

static void sub_feed(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    sub_log *l = ud;
    (void)ev; (void)n;
    int64_t last = l->last;
    if (last && rev != last + 1)
        l->gaps++;
    if (!last)
        l->first = rev;
    l->last = rev;
    l->calls++;
}

typedef struct {
    km_store *s;
    km_wg    *wg;
    _Atomic int stop;
} churn_arg;

static void churn(void *arg)
{
    churn_arg *c = arg;
    while (!c->stop)
        REQUIRE_EQ(st_put(c->s, "churn", "x", 0, NULL), 0);
    km_wg_done(c->wg);
}

static void subscribe_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    static churn_arg c;
    c.s = e.s;
    c.stop = 0;
    REQUIRE_EQ(km_wg_new(&c.wg), 0);
    km_wg_add(c.wg, 4);
    for (int i = 0; i < 4; i++)
        REQUIRE_EQ(km_go(churn, &c), 0);
    for (int round = 0; round < 5; round++) {
        static sub_log l;
        memset(&l, 0, sizeof l);
        km_sleep(5 * 1000000LL);
        km_store_sub *sub;
        REQUIRE_EQ(km_store_subscribe(e.s, sub_feed, &l, &sub), 0);
        int64_t from = st_rev(e.s);
        for (int i = 0; i < 500 && l.calls < 3; i++)
            km_sleep(10 * 1000000LL);
        km_store_unsubscribe(e.s, sub);
        int64_t calls = l.calls, last = l.last;
        int64_t now = st_rev(e.s);
        REQUIRE(calls > 0);
        REQUIRE_EQ(l.gaps, 0);
        REQUIRE(last >= from);
        REQUIRE(l.first <= from + 1);   /* nothing after from was missed */
        REQUIRE(last <= now);
        km_sleep(10 * 1000000LL);
        REQUIRE_EQ(l.calls, calls);   /* nothing after unsubscribing */
    }
    c.stop = 1;
    REQUIRE_EQ(km_wg_wait(c.wg), 0);
    km_wg_free(c.wg);
    st_close(&e);
}

START_TEST(subscribe) { t_run(subscribe_body, NULL); }
END_TEST

/* Several subscribers at once: one stays for the whole run while six come
 * and go as fast as they can, under four writers. Each sees every
 * revision after its subscription, in order, exactly once, and the writes
 * keep flowing while the subscribers churn. */
typedef struct {
    km_store *s;
    km_wg    *wg;
    _Atomic int *stop;
    int64_t   rounds, gaps, missed;
} hopper;

static void hop(void *arg)
{
    hopper *h = arg;
    while (!*h->stop) {
        sub_log l;
        memset(&l, 0, sizeof l);
        km_store_sub *sub;
        REQUIRE_EQ(km_store_subscribe(h->s, sub_feed, &l, &sub), 0);
        int64_t from = st_rev(h->s);
        for (int i = 0; i < 200 && l.calls < 2 && !*h->stop; i++)
            km_sleep(1000000LL);
        km_store_unsubscribe(h->s, sub);   /* l goes with this frame */
        h->gaps += l.gaps;
        if (l.calls && l.first > from + 1)
            h->missed++;
        h->rounds++;
    }
    km_wg_done(h->wg);
}

static void many_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    static churn_arg c;
    c.s = e.s;
    c.stop = 0;
    REQUIRE_EQ(km_wg_new(&c.wg), 0);
    static sub_log stay;
    memset(&stay, 0, sizeof stay);
    km_store_sub *stay_sub;
    REQUIRE_EQ(km_store_subscribe(e.s, sub_feed, &stay, &stay_sub), 0);
    int64_t start = st_rev(e.s);
    km_wg_add(c.wg, 4);
    for (int i = 0; i < 4; i++)
        REQUIRE_EQ(km_go(churn, &c), 0);
    static hopper h[6];
    km_wg *hwg;
    REQUIRE_EQ(km_wg_new(&hwg), 0);
    km_wg_add(hwg, 6);
    for (int i = 0; i < 6; i++) {
        h[i] = (hopper){ .s = e.s, .wg = hwg, .stop = &c.stop };
        REQUIRE_EQ(km_go(hop, &h[i]), 0);
    }
    km_sleep(400 * 1000000LL);
    c.stop = 1;
    REQUIRE_EQ(km_wg_wait(c.wg), 0);
    REQUIRE_EQ(km_wg_wait(hwg), 0);
    km_store_unsubscribe(e.s, stay_sub);
    int64_t end = st_rev(e.s);
    REQUIRE_EQ(stay.gaps, 0);
    REQUIRE(stay.first <= start + 1);
    REQUIRE_EQ(stay.last, end);
    REQUIRE_EQ(stay.calls, stay.last - stay.first + 1);
    REQUIRE(end - start > 20);        /* the writers were not held up */
    for (int i = 0; i < 6; i++) {
        REQUIRE(h[i].rounds > 0);
        REQUIRE_EQ(h[i].gaps, 0);
        REQUIRE_EQ(h[i].missed, 0);
    }
    km_wg_free(hwg);
    km_wg_free(c.wg);
    st_close(&e);
}

START_TEST(many_subscribers) { t_run(many_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_history");
    TCase *tc = tcase_create("history");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, feed_order);
    tcase_add_test(tc, history);
    tcase_add_test(tc, subscribe);
    tcase_add_test(tc, many_subscribers);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
