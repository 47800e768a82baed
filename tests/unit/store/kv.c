/* SPDX-License-Identifier: MIT */
/* Store puts, deletes and ranges: revisions, versions and every range option, as etcd numbers them. */
#include "st.h"
#include <unistd.h>

static void revisions_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    REQUIRE_EQ(st_rev(s), 1);
    int64_t rev, del;
    km_kv kv;
    char v[64];
    REQUIRE_EQ(st_put(s, "foo", "bar", 0, &rev), 0);
    REQUIRE_EQ(rev, 2);
    REQUIRE_EQ(st_get(s, "foo", 0, &kv, v, sizeof v), 1);
    REQUIRE(strcmp(v, "bar") == 0);
    REQUIRE_EQ(kv.create_revision, 2);
    REQUIRE_EQ(kv.mod_revision, 2);
    REQUIRE_EQ(kv.version, 1);
    REQUIRE_EQ(st_put(s, "foo", "baz", 0, &rev), 0);
    REQUIRE_EQ(rev, 3);
    REQUIRE_EQ(st_get(s, "foo", 0, &kv, v, sizeof v), 1);
    REQUIRE_EQ(kv.create_revision, 2);
    REQUIRE_EQ(kv.mod_revision, 3);
    REQUIRE_EQ(kv.version, 2);
    REQUIRE_EQ(st_del(s, "foo", NULL, &del, &rev), 0);
    REQUIRE_EQ(del, 1);
    REQUIRE_EQ(rev, 4);
    REQUIRE_EQ(st_get(s, "foo", 0, NULL, NULL, 0), 0);
    /* deleting nothing takes no revision */
    REQUIRE_EQ(st_del(s, "foo", NULL, &del, &rev), 0);
    REQUIRE_EQ(del, 0);
    REQUIRE_EQ(rev, 4);
    REQUIRE_EQ(st_put(s, "foo", "again", 0, &rev), 0);
    REQUIRE_EQ(rev, 5);
    REQUIRE_EQ(st_get(s, "foo", 0, &kv, v, sizeof v), 1);
    REQUIRE_EQ(kv.create_revision, 5);
    REQUIRE_EQ(kv.version, 1);
    /* the past stays readable */
    REQUIRE_EQ(st_get(s, "foo", 2, &kv, v, sizeof v), 1);
    REQUIRE(strcmp(v, "bar") == 0);
    REQUIRE_EQ(kv.mod_revision, 2);
    REQUIRE_EQ(st_get(s, "foo", 3, &kv, v, sizeof v), 1);
    REQUIRE(strcmp(v, "baz") == 0);
    REQUIRE_EQ(kv.version, 2);
    REQUIRE_EQ(st_get(s, "foo", 4, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "foo", 1, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "foo", 6, NULL, NULL, 0), -ERANGE);
    st_close(&e);
}

START_TEST(revisions) { t_run(revisions_body, NULL); }
END_TEST

/* The configuration names the backend: the embedded one by default or by
 * name, anything else refused before touching a disk. */
static void backends_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    REQUIRE(strcmp(km_store_backend(e.s), "lmdb") == 0);
    st_close(&e);
    km_store *s = NULL;
    km_store_config cfg = { .backend = "lmdb", .dir = e.dir };
    REQUIRE_EQ(km_store_open(&s, &cfg), 0);
    REQUIRE(strcmp(km_store_backend(s), "lmdb") == 0);
    km_store_close(s);
    st_rmdir(e.dir);
    cfg.backend = "zookeeper://127.0.0.1:2181";
    REQUIRE_EQ(km_store_open(&s, &cfg), -EPROTONOSUPPORT);
    REQUIRE(s == NULL);
    REQUIRE(access(e.dir, F_OK) != 0);
    cfg = (km_store_config){ .backend = "lmdb" };
    REQUIRE_EQ(km_store_open(&s, &cfg), -EINVAL);   /* no dir */
}

START_TEST(backends) { t_run(backends_body, NULL); }
END_TEST

static km_store_res rres;

static km_range_resp *range(km_store *s, km_range_req r)
{
    km_store_res_free(&rres);
    km_op op = { .type = KM_OP_RANGE, .range = r };
    int rc = km_store_do(s, &op, &rres);
    ck_assert_msg(rc == 0, "range: %s", km_strerror(rc));
    return &rres.txn.resp[0].range;
}

static void keys_are(km_range_resp *r, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; i < r->nkvs; i++) {
        strncat(got, (const char *)r->kvs[i].key.p, r->kvs[i].key.n);
        if (i + 1 < r->nkvs)
            strcat(got, ",");
    }
    ck_assert_str_eq(got, want);
}

static void ranges_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    /* a:2 b:3 c:4 d:5 e:6, then b again (7), d again twice (8, 9) */
    REQUIRE_EQ(st_put(s, "a", "5", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "b", "4", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "c", "3", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "d", "2", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "e", "1", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "b", "9", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "d", "8", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "d", "7", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "zz", "0", 0, NULL), 0);

    km_range_resp *r = range(s, (km_range_req){ .key = B("a"), .range_end = B("e") });
    keys_are(r, "a,b,c,d");
    REQUIRE_EQ(r->count, 4);
    REQUIRE(!r->more);
    REQUIRE_EQ(rres.revision, 10);
    r = range(s, (km_range_req){ .key = B("c"), .range_end = ALL });
    keys_are(r, "c,d,e,zz");
    r = range(s, (km_range_req){ .key = ALL, .range_end = ALL });
    keys_are(r, "a,b,c,d,e,zz");
    r = range(s, (km_range_req){ .key = B("e"), .range_end = B("a") });
    keys_are(r, "");
    REQUIRE_EQ(r->count, 0);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .limit = 2 });
    keys_are(r, "a,b");
    REQUIRE(r->more);
    REQUIRE_EQ(r->count, 5);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .limit = 5 });
    REQUIRE(!r->more);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .sort_order = KM_SORT_DESCEND });
    keys_are(r, "e,d,c,b,a");
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .sort_order = KM_SORT_DESCEND, .limit = 2 });
    keys_are(r, "e,d");
    REQUIRE(r->more);
    REQUIRE_EQ(r->count, 5);
    /* a non-key target without an order sorts ascending, as etcd does */
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .sort_target = KM_SORT_VALUE });
    keys_are(r, "e,c,a,d,b");
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .sort_target = KM_SORT_VERSION,
                                 .sort_order = KM_SORT_DESCEND });
    keys_are(r, "d,b,a,c,e");       /* ties keep key order, as etcd's answer shows */
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .sort_target = KM_SORT_MOD,
                                 .sort_order = KM_SORT_DESCEND, .limit = 3 });
    keys_are(r, "d,b,e");
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .sort_target = KM_SORT_CREATE,
                                 .sort_order = KM_SORT_ASCEND });
    keys_are(r, "a,b,c,d,e");
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .keys_only = true });
    REQUIRE_EQ(r->nkvs, 5);
    REQUIRE_EQ(r->kvs[0].value.n, 0);
    REQUIRE_EQ(r->kvs[1].version, 2);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .count_only = true });
    REQUIRE_EQ(r->nkvs, 0);
    REQUIRE_EQ(r->count, 5);
    /* filters prune after counting, as etcd does */
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .min_mod_revision = 6 });
    keys_are(r, "b,d,e");
    REQUIRE_EQ(r->count, 5);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .max_mod_revision = 4 });
    keys_are(r, "a,c");
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .min_create_revision = 3,
                                 .max_create_revision = 5 });
    keys_are(r, "b,c,d");
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .min_mod_revision = 3, .limit = 2 });
    keys_are(r, "b,c");
    REQUIRE(r->more);
    /* past revisions */
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .revision = 4 });
    keys_are(r, "a,b,c");
    REQUIRE_EQ(r->count, 3);
    REQUIRE_EQ(r->kvs[1].version, 1);
    REQUIRE(bytes_is(r->kvs[1].value, "4"));
    REQUIRE_EQ(rres.revision, 10);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .revision = 8, .limit = 4,
                                 .sort_order = KM_SORT_DESCEND, .sort_target = KM_SORT_VALUE });
    keys_are(r, "b,d,a,c");
    REQUIRE(bytes_is(r->kvs[1].value, "8"));
    REQUIRE(r->more);
    r = range(s, (km_range_req){ .key = B("a"), .range_end = B("z"), .revision = 1 });
    keys_are(r, "");
    km_store_res_free(&rres);
    st_close(&e);
}

START_TEST(ranges) { t_run(ranges_body, NULL); }
END_TEST

static void put_options_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    km_store_res res;
    km_op op = { .type = KM_OP_PUT, .put = { .key = B("k"), .value = B("v1"), .prev_kv = true } };
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    REQUIRE(!res.txn.resp[0].put.has_prev);
    km_store_res_free(&res);
    op.put.value = B("v2");
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    REQUIRE(res.txn.resp[0].put.has_prev);
    REQUIRE(bytes_is(res.txn.resp[0].put.prev_kv.value, "v1"));
    REQUIRE_EQ(res.txn.resp[0].put.prev_kv.mod_revision, 2);
    km_store_res_free(&res);
    /* ignore_value keeps the value */
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B("k"), .ignore_value = true } };
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    REQUIRE_EQ(res.revision, 4);
    km_store_res_free(&res);
    km_kv kv;
    char v[16];
    REQUIRE_EQ(st_get(s, "k", 0, &kv, v, sizeof v), 1);
    REQUIRE(strcmp(v, "v2") == 0);
    REQUIRE_EQ(kv.version, 3);
    /* on a missing key: etcd's "key not found" */
    op.put.key = B("nope");
    REQUIRE_EQ(km_store_do(s, &op, &res), -ENOKEY);
    km_store_res_free(&res);
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B("nope"), .value = B("x"), .ignore_lease = true } };
    REQUIRE_EQ(km_store_do(s, &op, &res), -ENOKEY);
    km_store_res_free(&res);
    REQUIRE_EQ(st_rev(s), 4);
    /* bad requests */
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B("k"), .lease = 5, .ignore_lease = true } };
    REQUIRE_EQ(km_store_do(s, &op, &res), -EINVAL);
    km_store_res_free(&res);
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B("k"), .value = B("x"), .ignore_value = true } };
    REQUIRE_EQ(km_store_do(s, &op, &res), -EINVAL);
    km_store_res_free(&res);
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B(""), .value = B("x") } };
    REQUIRE_EQ(km_store_do(s, &op, &res), -EINVAL);
    km_store_res_free(&res);
    static uint8_t big[KM_STORE_MAX_VALUE + 1];
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = { big, KM_STORE_MAX_KEY + 1 } } };
    memset(big, 'x', sizeof big);
    REQUIRE_EQ(km_store_do(s, &op, &res), -EMSGSIZE);
    km_store_res_free(&res);
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B("k"), .value = { big, sizeof big } } };
    REQUIRE_EQ(km_store_do(s, &op, &res), -EMSGSIZE);
    km_store_res_free(&res);
    op.put.value.n = KM_STORE_MAX_VALUE;
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    km_store_res_free(&res);
    op = (km_op){ .type = KM_OP_PUT, .put = { .key = B("k"), .value = B("x"), .lease = 42 } };
    REQUIRE_EQ(km_store_do(s, &op, &res), -ENOENT);
    km_store_res_free(&res);
    REQUIRE_EQ(st_rev(s), 5);
    st_close(&e);
}

START_TEST(put_options) { t_run(put_options_body, NULL); }
END_TEST

static void delete_range_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    REQUIRE_EQ(st_put(s, "p/a", "1", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "p/b", "2", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "p/c", "3", 0, NULL), 0);
    REQUIRE_EQ(st_put(s, "q", "4", 0, NULL), 0);
    km_store_res res;
    km_op op = { .type = KM_OP_DELETE, .del = { .key = B("p/"), .range_end = B("p0"), .prev_kv = true } };
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    REQUIRE_EQ(res.revision, 6);
    km_del_resp *d = &res.txn.resp[0].del;
    REQUIRE_EQ(d->deleted, 3);
    REQUIRE_EQ(d->nprev, 3);
    REQUIRE(bytes_is(d->prev_kvs[2].key, "p/c"));
    REQUIRE(bytes_is(d->prev_kvs[2].value, "3"));
    km_store_res_free(&res);
    int64_t del, rev;
    REQUIRE_EQ(st_del(s, "a", "", &del, &rev), 0);
    REQUIRE_EQ(del, 1);
    REQUIRE_EQ(rev, 7);
    REQUIRE_EQ(st_get(s, "q", 0, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "p/b", 5, NULL, NULL, 0), 1);
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.keys, 0);
    REQUIRE_EQ(st.revision, 7);
    REQUIRE(st.db_size > 0);
    REQUIRE(st.db_size_in_use > 0);
    st_close(&e);
}

START_TEST(delete_range) { t_run(delete_range_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_kv");
    TCase *tc = tcase_create("kv");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, revisions);
    tcase_add_test(tc, backends);
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, put_options);
    tcase_add_test(tc, delete_range);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
