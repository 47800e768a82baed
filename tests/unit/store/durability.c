/* SPDX-License-Identifier: MIT */
/* Store durability and concurrency: reopen, corrupt data dirs, group commit under many writers. */
#include "st.h"
#include <fcntl.h>
#include <stdatomic.h>
#include <lmdb.h>
#include <unistd.h>

static void reopen_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    int64_t id;
    REQUIRE_EQ(km_lease_grant(e.s, 0, 60, &id, NULL), 0);
    REQUIRE_EQ(st_put(e.s, "a", "1", 0, NULL), 0);
    REQUIRE_EQ(st_put(e.s, "a", "2", id, NULL), 0);
    REQUIRE_EQ(st_put(e.s, "b", "1", 0, NULL), 0);
    REQUIRE_EQ(st_del(e.s, "b", NULL, NULL, NULL), 0);
    REQUIRE_EQ(km_store_compact(e.s, 3, NULL), 0);
    km_store_close(e.s);
    st_open_in(&e);
    km_store *s = e.s;
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.revision, 5);
    REQUIRE_EQ(st.compact_revision, 3);
    REQUIRE_EQ(st.keys, 1);
    REQUIRE_EQ(st.leases, 1);
    km_kv kv;
    char v[8];
    REQUIRE_EQ(st_get(s, "a", 0, &kv, v, sizeof v), 1);
    REQUIRE(strcmp(v, "2") == 0);
    REQUIRE_EQ(kv.version, 2);
    REQUIRE_EQ(kv.lease, id);
    REQUIRE_EQ(st_get(s, "b", 4, NULL, NULL, 0), 1);
    REQUIRE_EQ(st_get(s, "a", 2, NULL, NULL, 0), -ENODATA);
    km_lease_info li;
    km_store_res res;
    REQUIRE_EQ(km_lease_ttl(s, id, true, &li, &res), 0);
    REQUIRE_EQ(li.granted_ttl, 60);
    REQUIRE_EQ(li.nkeys, 1);
    km_store_res_free(&res);
    int64_t rev;
    REQUIRE_EQ(st_put(s, "c", "1", 0, &rev), 0);
    REQUIRE_EQ(rev, 6);
    st_close(&e);
}

START_TEST(reopen) { t_run(reopen_body, NULL); }
END_TEST

static void corrupt_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    REQUIRE_EQ(st_put(e.s, "a", "1", 0, NULL), 0);
    km_store_close(e.s);
    /* overwrite the format mark behind the store's back */
    MDB_env *env;
    MDB_txn *t;
    MDB_dbi meta;
    REQUIRE_EQ(mdb_env_create(&env), 0);
    REQUIRE_EQ(mdb_env_set_maxdbs(env, 8), 0);
    REQUIRE_EQ(mdb_env_open(env, e.dir, 0, 0644), 0);
    REQUIRE_EQ(mdb_txn_begin(env, NULL, 0, &t), 0);
    REQUIRE_EQ(mdb_dbi_open(t, "meta", 0, &meta), 0);
    MDB_val k = { 6, "format" }, d = { 5, "other" };
    REQUIRE_EQ(mdb_put(t, meta, &k, &d, 0), 0);
    REQUIRE_EQ(mdb_txn_commit(t), 0);
    mdb_env_close(env);
    km_store_config cfg = { .dir = e.dir };
    km_store *s;
    REQUIRE_EQ(km_store_open(&s, &cfg), -EBADMSG);
    /* not an LMDB file at all */
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", e.dir);
    int fd = open(path, O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    char junk[8192];
    memset(junk, 'j', sizeof junk);
    REQUIRE_EQ(write(fd, junk, sizeof junk), (long)sizeof junk);
    close(fd);
    REQUIRE_EQ(km_store_open(&s, &cfg), -EBADMSG);
    st_rmdir(e.dir);
}

START_TEST(corrupt) { t_run(corrupt_body, NULL); }
END_TEST

enum { WRITERS = 32, PUTS = 20 };

typedef struct {
    km_store *s;
    km_wg    *wg;
    int       id, fails;
} writer_arg;

static void writer(void *arg)
{
    writer_arg *w = arg;
    char k[32];
    snprintf(k, sizeof k, "w/%02d", w->id);
    for (int i = 0; i < PUTS; i++)
        if (st_put(w->s, k, "v", 0, NULL) != 0)
            w->fails++;
    km_wg_done(w->wg);
}

static void group_commit_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    static writer_arg wa[WRITERS];
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        wa[i] = (writer_arg){ s, wg, i, 0 };
        REQUIRE_EQ(km_go(writer, &wa[i]), 0);
    }
    REQUIRE_EQ(km_wg_wait(wg), 0);
    km_wg_free(wg);
    for (int i = 0; i < WRITERS; i++)
        REQUIRE_EQ(wa[i].fails, 0);
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.revision, 1 + WRITERS * PUTS);
    REQUIRE_EQ(st.writes, WRITERS * PUTS);
    REQUIRE_EQ(st.keys, WRITERS);
    /* many writers, fewer fsyncs */
    ck_assert_msg(st.commits < st.writes, "commits %lld, writes %lld",
                  (long long)st.commits, (long long)st.writes);
    km_kv kv;
    REQUIRE_EQ(st_get(s, "w/07", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.version, PUTS);
    km_event *ev;
    size_t n;
    int64_t next;
    km_store_res res;
    REQUIRE_EQ(km_store_history(s, 2, 0, B("w/"), B("w0"), false, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, WRITERS * PUTS);
    for (size_t i = 0; i < n; i++)
        REQUIRE_EQ(ev[i].kv.mod_revision, (int64_t)i + 2);
    km_store_res_free(&res);
    st_close(&e);
}

START_TEST(group_commit) { t_run(group_commit_body, NULL); }
END_TEST

/* Every commit is reported with its time and its sync's, which is part of it. */
typedef struct {
    _Atomic int calls;
    _Atomic int bad;
} commits_seen;

static void seen(void *ud, int64_t commit_ns, int64_t sync_ns)
{
    commits_seen *c = ud;
    atomic_fetch_add(&c->calls, 1);
    if (!(sync_ns > 0 && commit_ns >= sync_ns && commit_ns < 60 * (int64_t)1000000000))
        atomic_fetch_add(&c->bad, 1);
}

static void observed_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);                /* a fresh store in a temporary directory */
    km_store_close(e.s);
    static commits_seen c;
    km_store_config cfg = { .dir = e.dir, .on_commit = seen, .on_commit_ud = &c };
    REQUIRE_EQ(km_store_open(&e.s, &cfg), 0);
    for (int i = 0; i < 5; i++)
        REQUIRE_EQ(st_put(e.s, "k", "v", 0, NULL), 0);
    REQUIRE_EQ(st_get(e.s, "k", 0, NULL, NULL, 0), 1);     /* reads commit nothing */
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(e.s, &st), 0);
    REQUIRE_EQ(st.commits, 5);
    REQUIRE_EQ(atomic_load(&c.calls), 5);
    REQUIRE_EQ(atomic_load(&c.bad), 0);
    /* what was synced is there after a reopen */
    km_store_close(e.s);
    st_open_in(&e);
    REQUIRE_EQ(st_rev(e.s), 6);
    st_close(&e);
}

START_TEST(observed) { t_run(observed_body, NULL); }
END_TEST

/* A full disk fails the write alone; the store keeps working. */
static void full_body(void *arg)
{
    (void)arg;
    st_env e;
    strcpy(e.dir, "/tmp/kmstoreXXXXXX");
    REQUIRE(mkdtemp(e.dir) != NULL);
    km_store_config cfg = { .dir = e.dir, .map_size = 1 << 20 };
    REQUIRE_EQ(km_store_open(&e.s, &cfg), 0);
    km_store *s = e.s;
    static uint8_t val[64 * 1024];
    memset(val, 'v', sizeof val);
    int rc = 0, i;
    char k[16];
    for (i = 0; i < 64 && rc == 0; i++) {
        snprintf(k, sizeof k, "big%02d", i);
        km_op op = { .type = KM_OP_PUT, .put = { .key = BS(k), .value = { val, sizeof val } } };
        km_store_res res;
        rc = km_store_do(s, &op, &res);
        km_store_res_free(&res);
    }
    REQUIRE_EQ(rc, -ENOSPC);
    int64_t rev = st_rev(s);
    REQUIRE_EQ(rev, i);   /* i - 1 puts went through */
    REQUIRE_EQ(st_get(s, "big00", 0, NULL, NULL, 0), 1);
    REQUIRE_EQ(st_get(s, k, 0, NULL, NULL, 0), 0);
    REQUIRE_EQ(st_del(s, "big", "bih", NULL, NULL), 0);
    REQUIRE_EQ(st_put(s, "small", "1", 0, NULL), 0);
    st_close(&e);
}

START_TEST(full) { t_run(full_body, NULL); }
END_TEST

/* The store's goroutines outlive a cancelled group of the opener, and a
 * writer in a cancelled group gets either the outcome or -ECANCELED. */
typedef struct {
    st_env e;
    int    rc;
} grp_arg;

static void open_in_group(void *arg)
{
    grp_arg *g = arg;
    st_open(&g->e);
}

static void put_in_group(void *arg)
{
    grp_arg *g = arg;
    g->rc = st_put(g->e.s, "c", "1", 0, NULL);
}

static void cancelled_body(void *arg)
{
    (void)arg;
    static grp_arg g;
    km_group *grp;
    REQUIRE_EQ(km_group_new(&grp, NULL, KM_FOREVER), 0);
    REQUIRE_EQ(km_group_run(grp, open_in_group, &g), 0);
    km_group_cancel(grp);
    km_sleep(20 * 1000000LL);
    int64_t rev;
    REQUIRE_EQ(st_put(g.e.s, "a", "1", 0, &rev), 0);
    REQUIRE_EQ(rev, 2);
    km_group_run(grp, put_in_group, &g);
    REQUIRE(g.rc == 0 || g.rc == -ECANCELED);
    REQUIRE_EQ(st_put(g.e.s, "b", "1", 0, &rev), 0);
    REQUIRE_EQ(rev, g.rc == 0 ? 4 : 3);
    st_close(&g.e);
    REQUIRE_EQ(km_group_wait(grp, KM_FOREVER), 0);
    km_group_free(grp);
}

START_TEST(cancelled) { t_run(cancelled_body, NULL); }
END_TEST

/* Out of memory anywhere in a write or a read fails that call alone with
 * -ENOMEM: nothing leaks, and a failed write changed nothing. */
static void feed_nop(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    (void)ud; (void)rev; (void)ev; (void)n;
}

static void nomem_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    km_store_sub *sub;
    REQUIRE_EQ(km_store_subscribe(s, feed_nop, NULL, &sub), 0);
    REQUIRE_EQ(st_put(s, "a", "0", 0, NULL), 0);
    int64_t want = 2;
    for (long n = 1; n < 60; n++) {
        km_op ops[] = {
            { .type = KM_OP_PUT, .put = { .key = B("a"), .value = B("1"), .prev_kv = true } },
            { .type = KM_OP_RANGE, .range = { .key = B("a"), .range_end = ALL } },
            { .type = KM_OP_DELETE, .del = { .key = B("b"), .prev_kv = true } },
        };
        km_txn_req t = { .success = ops, .nsuccess = 3 };
        km_store_res res;
        t_fail_alloc_after(n);
        int rc = km_store_txn(s, &t, &res);
        t_fail_alloc_after(0);
        km_store_res_free(&res);
        ck_assert_msg(rc == 0 || rc == -ENOMEM, "n %ld: %s", n, km_strerror(rc));
        if (rc == 0)
            want++;
        REQUIRE_EQ(st_rev(s), want);
        km_op get = { .type = KM_OP_RANGE, .range = { .key = B("a"), .range_end = ALL } };
        t_fail_alloc_after(n);
        rc = km_store_do(s, &get, &res);
        t_fail_alloc_after(0);
        km_store_res_free(&res);
        ck_assert_msg(rc == 0 || rc == -ENOMEM, "n %ld: %s", n, km_strerror(rc));
    }
    km_kv kv = { 0 };
    REQUIRE_EQ(st_get(s, "a", 0, &kv, NULL, 0), 1);
    REQUIRE_EQ(kv.version, want - 1);
    km_store_unsubscribe(s, sub);
    st_close(&e);
}

START_TEST(nomem) { t_run(nomem_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_durability");
    TCase *tc = tcase_create("durability");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reopen);
    tcase_add_test(tc, corrupt);
    tcase_add_test(tc, group_commit);
    tcase_add_test(tc, full);
    tcase_add_test(tc, observed);
    tcase_add_test(tc, cancelled);
    tcase_add_test(tc, nomem);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
