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
    km_store_subscribe(s, feed, &log);
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
    km_store_subscribe(s, NULL, NULL);
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

static Suite *suite(void)
{
    Suite *s = suite_create("store_history");
    TCase *tc = tcase_create("history");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, feed_order);
    tcase_add_test(tc, history);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
