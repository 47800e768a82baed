/* SPDX-License-Identifier: MIT */
/* Store compaction: errors as etcd gives them, what survives, big compactions in chunks. */
#include "st.h"
#include <lmdb.h>

static void compact_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    REQUIRE_EQ(st_put(s, "a", "1", 0, NULL), 0);   /* 2 */
    REQUIRE_EQ(st_put(s, "a", "2", 0, NULL), 0);   /* 3 */
    REQUIRE_EQ(st_put(s, "b", "1", 0, NULL), 0);   /* 4 */
    REQUIRE_EQ(st_del(s, "b", NULL, NULL, NULL), 0); /* 5 */
    REQUIRE_EQ(st_put(s, "a", "3", 0, NULL), 0);   /* 6 */
    REQUIRE_EQ(st_put(s, "c", "1", 0, NULL), 0);   /* 7 */
    int64_t rev;
    REQUIRE_EQ(km_store_compact(s, 8, &rev), -ERANGE);
    REQUIRE_EQ(rev, 7);
    REQUIRE_EQ(km_store_compact(s, 5, &rev), 0);
    REQUIRE_EQ(km_store_compact(s, 5, &rev), -ENODATA);
    REQUIRE_EQ(km_store_compact(s, 4, &rev), -ENODATA);
    REQUIRE_EQ(st_rev(s), 7);   /* compaction takes no revision */
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.compact_revision, 5);
    char v[8];
    km_kv kv;
    REQUIRE_EQ(st_get(s, "a", 4, NULL, NULL, 0), -ENODATA);
    REQUIRE_EQ(st_get(s, "a", 5, &kv, v, sizeof v), 1);   /* at the compact revision: fine */
    REQUIRE(strcmp(v, "2") == 0);
    REQUIRE_EQ(kv.version, 2);
    REQUIRE_EQ(st_get(s, "b", 5, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_get(s, "a", 6, NULL, v, sizeof v), 1);
    REQUIRE(strcmp(v, "3") == 0);
    km_event *ev;
    size_t n;
    int64_t next;
    km_store_res res;
    REQUIRE_EQ(km_store_history(s, 4, 0, ALL, ALL, false, 0, &ev, &n, &next, &res), -ENODATA);
    REQUIRE_EQ(res.revision, 5);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, 5, 0, ALL, ALL, true, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 2);   /* 6 and 7; the deletion at 5 went with the compaction */
    REQUIRE_EQ(ev[0].kv.mod_revision, 6);
    REQUIRE(ev[0].has_prev);
    REQUIRE(bytes_is(ev[0].prev_kv.value, "2"));
    km_store_res_free(&res);
    /* what survives: a@3 (latest at 5), a@6, c@7 */
    REQUIRE_EQ(km_store_history(s, 1, 0, ALL, ALL, false, 0, &ev, &n, &next, &res), -ENODATA);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_compact(s, 7, &rev), 0);
    REQUIRE_EQ(st_get(s, "a", 7, NULL, v, sizeof v), 1);
    REQUIRE(strcmp(v, "3") == 0);
    REQUIRE_EQ(st_get(s, "c", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.create_revision, 7);
    REQUIRE_EQ(st_put(s, "a", "4", 0, NULL), 0);   /* 8 */
    REQUIRE_EQ(st_get(s, "a", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.version, 4);
    REQUIRE_EQ(kv.create_revision, 2);
    st_close(&e);
}

START_TEST(compact) { t_run(compact_body, NULL); }
END_TEST

enum { NKEYS = 5000, PER_TXN = 100 };

/* Two rounds of puts over NKEYS keys, PER_TXN keys a txn. */
static void fill(km_store *s, const char *val)
{
    static char keys[PER_TXN][16];
    static km_op ops[PER_TXN];
    for (int i = 0; i < NKEYS; i += PER_TXN) {
        for (int j = 0; j < PER_TXN; j++) {
            snprintf(keys[j], sizeof keys[j], "key/%05d", i + j);
            ops[j] = (km_op){ .type = KM_OP_PUT, .put = { .key = BS(keys[j]), .value = BS(val) } };
        }
        km_txn_req t = { .success = ops, .nsuccess = PER_TXN };
        km_store_res res;
        REQUIRE_EQ(km_store_txn(s, &t, &res), 0);
        km_store_res_free(&res);
    }
}

static void chunks_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    fill(s, "one");                       /* revisions 2..51 */
    fill(s, "two");                       /* 52..101 */
    REQUIRE_EQ(st_del(s, "key/00000", NULL, NULL, NULL), 0);   /* 102 */
    REQUIRE_EQ(km_store_compact(s, 102, NULL), 0);
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.compact_revision, 102);
    REQUIRE_EQ(st.keys, NKEYS - 1);
    km_event *ev;
    size_t n;
    int64_t next;
    km_store_res res;
    /* one version of each live key is left, nothing else */
    REQUIRE_EQ(km_store_history(s, 102, 0, ALL, ALL, false, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 0);
    km_store_res_free(&res);
    km_op op = { .type = KM_OP_RANGE, .range = { .key = B("key/"), .range_end = B("key0"), .revision = 102 } };
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    REQUIRE_EQ(res.txn.resp[0].range.count, NKEYS - 1);
    REQUIRE_EQ(res.txn.resp[0].range.kvs[0].version, 2);
    REQUIRE(bytes_is(res.txn.resp[0].range.kvs[0].value, "two"));
    km_store_res_free(&res);
    op.range.revision = 101;
    REQUIRE_EQ(km_store_do(s, &op, &res), -ENODATA);
    km_store_res_free(&res);
    REQUIRE_EQ(st_put(s, "key/00000", "three", 0, NULL), 0);
    km_kv kv;
    REQUIRE_EQ(st_get(s, "key/00000", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.version, 1);
    REQUIRE_EQ(kv.create_revision, 103);
    st_close(&e);
}

START_TEST(chunks) { t_run(chunks_body, NULL); }
END_TEST

/* A compaction cut short (the store closed between chunks) is finished
 * at the next open. */
static void resume_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    REQUIRE_EQ(st_put(e.s, "a", "1", 0, NULL), 0);   /* 2 */
    REQUIRE_EQ(st_put(e.s, "a", "2", 0, NULL), 0);   /* 3 */
    REQUIRE_EQ(st_put(e.s, "a", "3", 0, NULL), 0);   /* 4 */
    km_store_close(e.s);
    /* what the first chunk records, without the work of any chunk */
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi meta;
    uint8_t be[8] = { 0, 0, 0, 0, 0, 0, 0, 3 };
    REQUIRE_EQ(mdb_env_create(&env), 0);
    REQUIRE_EQ(mdb_env_set_maxdbs(env, 8), 0);
    REQUIRE_EQ(mdb_env_open(env, e.dir, 0, 0644), 0);
    REQUIRE_EQ(mdb_txn_begin(env, NULL, 0, &t), 0);
    REQUIRE_EQ(mdb_dbi_open(t, "meta", 0, &meta), 0);
    MDB_val k1 = { 7, "compact" }, k2 = { 10, "compacting" }, d = { 8, be };
    REQUIRE_EQ(mdb_put(t, meta, &k1, &d, 0), 0);
    REQUIRE_EQ(mdb_put(t, meta, &k2, &d, 0), 0);
    REQUIRE_EQ(mdb_txn_commit(t), 0);
    mdb_env_close(env);
    st_open_in(&e);
    km_event *ev;
    size_t n;
    int64_t next;
    km_store_res res;
    REQUIRE_EQ(km_store_history(e.s, 3, 0, ALL, ALL, true, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 2);
    REQUIRE(!ev[0].has_prev);   /* the version at 2 is gone */
    REQUIRE(ev[1].has_prev);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_compact(e.s, 3, NULL), -ENODATA);
    REQUIRE_EQ(km_store_compact(e.s, 4, NULL), 0);
    st_close(&e);
}

START_TEST(resume) { t_run(resume_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_compact");
    TCase *tc = tcase_create("compact");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, compact);
    tcase_add_test(tc, chunks);
    tcase_add_test(tc, resume);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
