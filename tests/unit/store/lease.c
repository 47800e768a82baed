/* SPDX-License-Identifier: MIT */
/* Store leases: grant, attach, revoke, keepalive, time-to-live and expiry. */
#include "st.h"

#define MS 1000000LL

static void grant_revoke_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    int64_t id, rev, id2;
    REQUIRE_EQ(km_lease_grant(s, 0, 1, &id, &rev), 0);
    REQUIRE(id > 0);
    REQUIRE_EQ(rev, 1);   /* a grant takes no revision */
    km_lease_info li;
    km_store_res res;
    REQUIRE_EQ(km_lease_ttl(s, id, false, &li, &res), 0);
    REQUIRE_EQ(li.granted_ttl, 2);   /* etcd's minimum */
    REQUIRE(li.ttl >= 1 && li.ttl <= 2);
    km_store_res_free(&res);
    REQUIRE_EQ(km_lease_grant(s, id, 10, NULL, NULL), -EEXIST);
    REQUIRE_EQ(km_lease_grant(s, 77, 100, &id2, NULL), 0);
    REQUIRE_EQ(id2, 77);
    REQUIRE_EQ(km_lease_grant(s, 78, 9000000001LL, NULL, NULL), -EFBIG);
    REQUIRE_EQ(km_lease_grant(s, 79, -5, NULL, NULL), 0);   /* raised to the minimum, as etcd */
    REQUIRE_EQ(km_lease_revoke(s, 79, NULL), 0);
    int64_t *ids;
    size_t n;
    REQUIRE_EQ(km_lease_list(s, &ids, &n, &res), 0);
    REQUIRE_EQ(n, 2);
    REQUIRE(ids[0] == id && ids[1] == 77);      /* soonest expiry first, as etcd */
    km_store_res_free(&res);

    REQUIRE_EQ(st_put(s, "l/a", "1", 77, &rev), 0);     /* 2 */
    REQUIRE_EQ(st_put(s, "l/b", "2", 77, NULL), 0);     /* 3 */
    REQUIRE_EQ(st_put(s, "l/c", "3", 77, NULL), 0);     /* 4 */
    REQUIRE_EQ(st_put(s, "l/c", "3", 0, NULL), 0);      /* 5: detached */
    REQUIRE_EQ(st_del(s, "l/b", NULL, NULL, NULL), 0);  /* 6: detached too */
    REQUIRE_EQ(st_put(s, "l/d", "4", 77, NULL), 0);     /* 7 */
    km_kv kv;
    REQUIRE_EQ(st_get(s, "l/a", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.lease, 77);
    km_op keep = { .type = KM_OP_PUT, .put = { .key = B("l/d"), .value = B("5"), .ignore_lease = true } };
    REQUIRE_EQ(km_store_do(s, &keep, &res), 0);         /* 8 */
    km_store_res_free(&res);
    REQUIRE_EQ(st_get(s, "l/d", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.lease, 77);
    REQUIRE_EQ(km_lease_ttl(s, 77, true, &li, &res), 0);
    REQUIRE_EQ(li.nkeys, 2);
    REQUIRE(bytes_is(li.keys[0], "l/a"));
    REQUIRE(bytes_is(li.keys[1], "l/d"));
    REQUIRE_EQ(li.granted_ttl, 100);
    km_store_res_free(&res);
    int64_t ttl;
    REQUIRE_EQ(km_lease_keepalive(s, 77, &ttl), 0);
    REQUIRE_EQ(ttl, 100);
    REQUIRE_EQ(km_lease_keepalive(s, 12345, &ttl), -ENOENT);
    REQUIRE_EQ(km_lease_revoke(s, 77, &rev), 0);
    REQUIRE_EQ(rev, 9);   /* both keys in one revision */
    REQUIRE_EQ(st_get(s, "l/a", 0, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "l/c", 0, NULL, NULL, 0), 1);
    REQUIRE_EQ(km_lease_revoke(s, 77, &rev), -ENOENT);
    REQUIRE_EQ(km_lease_ttl(s, 77, false, &li, &res), -ENOENT);
    REQUIRE_EQ(li.ttl, -1);
    km_store_res_free(&res);
    REQUIRE_EQ(km_lease_revoke(s, id, &rev), 0);
    REQUIRE_EQ(rev, 9);   /* no keys, no revision */
    REQUIRE_EQ(st_put(s, "x", "1", id, NULL), -ENOENT);
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.leases, 0);
    st_close(&e);
}

START_TEST(grant_revoke) { t_run(grant_revoke_body, NULL); }
END_TEST

typedef struct {
    int     deletes;
    int64_t rev;
} exp_log;

static void on_feed(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    exp_log *l = ud;
    for (size_t i = 0; i < n; i++)
        if (ev[i].type == KM_EV_DELETE) {
            __atomic_add_fetch(&l->deletes, 1, __ATOMIC_SEQ_CST);
            __atomic_store_n(&l->rev, rev, __ATOMIC_SEQ_CST);
        }
}

static void expiry_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    static exp_log log;
    memset(&log, 0, sizeof log);
    km_store_sub *sub;
    REQUIRE_EQ(km_store_subscribe(s, on_feed, &log, &sub), 0);
    int64_t a, b;
    REQUIRE_EQ(km_lease_grant(s, 0, 2, &a, NULL), 0);
    REQUIRE_EQ(km_lease_grant(s, 0, 2, &b, NULL), 0);
    REQUIRE_EQ(st_put(s, "ea", "1", a, NULL), 0);
    REQUIRE_EQ(st_put(s, "eb", "1", a, NULL), 0);
    REQUIRE_EQ(st_put(s, "kept", "1", b, NULL), 0);
    /* b is kept alive past its TTL, a expires */
    for (int i = 0; i < 6; i++) {
        km_sleep(500 * MS);
        int64_t ttl;
        REQUIRE_EQ(km_lease_keepalive(s, b, &ttl), 0);
    }
    REQUIRE_EQ(st_get(s, "ea", 0, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "eb", 0, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "kept", 0, NULL, NULL, 0), 1);
    REQUIRE_EQ(__atomic_load_n(&log.deletes, __ATOMIC_SEQ_CST), 2);
    REQUIRE_EQ(__atomic_load_n(&log.rev, __ATOMIC_SEQ_CST), 5);
    km_lease_info li;
    km_store_res res;
    REQUIRE_EQ(km_lease_ttl(s, a, false, &li, &res), -ENOENT);
    km_store_res_free(&res);
    REQUIRE_EQ(km_lease_keepalive(s, a, NULL), -ENOENT);
    km_store_unsubscribe(s, sub);
    st_close(&e);
}

START_TEST(expiry) { t_run(expiry_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_lease");
    TCase *tc = tcase_create("lease");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, grant_revoke);
    tcase_add_test(tc, expiry);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
