/* SPDX-License-Identifier: MIT */
/* The etcd-cluster store over a real 3-member cluster the suite starts
 * (scripts/etcd-cluster.sh): txn results, errors, leases, history and the
 * change feed's order. Without etcd it says "skip:" and fails. */
#include "../store/st.h"
#include <pthread.h>
#include <unistd.h>

static char cluster_dir[64], backend[256];

static int sh(const char *cmd, char *out, size_t n)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t got = out ? fread(out, 1, n - 1, f) : 0;
    if (out) {
        out[got] = 0;
        while (got && (out[got - 1] == '\n'))
            out[--got] = 0;
    }
    return pclose(f);
}

static void cluster_up(void)
{
    if (sh("command -v etcd >/dev/null && command -v etcdctl >/dev/null", NULL, 0) != 0) {
        printf("skip: etcd is not installed (apt-get install etcd-server etcd-client)\n");
        exit(1);
    }
    strcpy(cluster_dir, "/tmp/kmetcdbXXXXXX");
    REQUIRE(mkdtemp(cluster_dir) != NULL);
    char cmd[256], eps[200];
    snprintf(cmd, sizeof cmd, "scripts/etcd-cluster.sh start %s/c",
             cluster_dir);
    if (sh(cmd, eps, sizeof eps) != 0 || !eps[0]) {
        fprintf(stderr, "etcdb: the etcd cluster did not start (run from the repository's root)\n");
        exit(1);
    }
    snprintf(backend, sizeof backend, "etcd://%s", eps);
}

static void cluster_down(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "scripts/etcd-cluster.sh stop %s/c >/dev/null 2>&1; rm -rf %s",
             cluster_dir, cluster_dir);
    sh(cmd, NULL, 0);
}

static km_store *open_store(void)
{
    km_store_config cfg = { .backend = backend };
    km_store *s;
    int rc = km_store_open(&s, &cfg);
    ck_assert_msg(rc == 0, "open %s: %s", backend, km_strerror(rc));
    ck_assert_str_eq(km_store_backend(s), "etcd");
    return s;
}

static void txn_fn(void *arg)
{
    km_store *s = open_store();
    int64_t r1, r2;
    REQUIRE_EQ(st_put(s, "t/a", "1", 0, &r1), 0);
    REQUIRE_EQ(st_put(s, "t/b", "2", 0, &r2), 0);
    REQUIRE_EQ(r2, r1 + 1);
    REQUIRE_EQ(km_store_revision(s), r2);

    /* compares on both branches, every op type, a nested txn */
    km_cmp cmp[] = {
        { .result = KM_CMP_EQUAL, .target = KM_CMP_VALUE, .key = B("t/a"), .value = B("1") },
        { .result = KM_CMP_EQUAL, .target = KM_CMP_MOD, .key = B("t/b"), .num = r2 },
        { .result = KM_CMP_GREATER, .target = KM_CMP_VERSION, .key = B("t/"),
          .range_end = B("t0"), .num = 0 },
    };
    km_op inner_ops[] = { { .type = KM_OP_RANGE, .range = { .key = B("t/a") } } };
    km_txn_req inner = { .success = inner_ops, .nsuccess = 1 };
    km_op ops[] = {
        { .type = KM_OP_PUT, .put = { .key = B("t/a"), .value = B("11"), .prev_kv = true } },
        { .type = KM_OP_RANGE, .range = { .key = B("t/"), .range_end = B("t0"),
                                          .sort_order = KM_SORT_DESCEND, .limit = 1 } },
        { .type = KM_OP_DELETE, .del = { .key = B("t/b"), .prev_kv = true } },
        { .type = KM_OP_TXN, .txn = &inner },
    };
    km_txn_req req = { .cmp = cmp, .ncmp = 3, .success = ops, .nsuccess = 4 };
    km_store_res res;
    REQUIRE_EQ(km_store_txn(s, &req, &res), 0);
    REQUIRE(res.txn.succeeded);
    REQUIRE_EQ(res.revision, r2 + 1);
    REQUIRE_EQ(res.txn.nresp, 4);
    REQUIRE(res.txn.resp[0].type == KM_OP_PUT && res.txn.resp[0].put.has_prev);
    REQUIRE(bytes_is(res.txn.resp[0].put.prev_kv.value, "1"));
    REQUIRE_EQ(res.txn.resp[1].range.count, 2);
    REQUIRE(res.txn.resp[1].range.more);
    REQUIRE(bytes_is(res.txn.resp[1].range.kvs[0].key, "t/b"));
    REQUIRE_EQ(res.txn.resp[2].del.deleted, 1);
    REQUIRE(bytes_is(res.txn.resp[2].del.prev_kvs[0].value, "2"));
    km_txn_resp *in = res.txn.resp[3].txn;
    REQUIRE(res.txn.resp[3].type == KM_OP_TXN && in->succeeded && in->nresp == 1);
    REQUIRE(bytes_is(in->resp[0].range.kvs[0].value, "11"));
    REQUIRE_EQ(in->resp[0].range.kvs[0].mod_revision, r2 + 1);
    km_store_res_free(&res);

    /* the same compares fail now: the failure branch runs */
    km_op fops[] = { { .type = KM_OP_RANGE, .range = { .key = B("t/a"), .count_only = true } } };
    req = (km_txn_req){ .cmp = cmp, .ncmp = 1, .failure = fops, .nfailure = 1 };
    REQUIRE_EQ(km_store_txn(s, &req, &res), 0);
    REQUIRE(!res.txn.succeeded);
    REQUIRE_EQ(res.txn.resp[0].range.count, 1);
    REQUIRE_EQ(res.revision, r2 + 1);
    km_store_res_free(&res);

    /* etcd's errors as store.h names them */
    km_op fut = { .type = KM_OP_RANGE, .range = { .key = B("t/a"), .revision = r2 + 1000 } };
    REQUIRE_EQ(km_store_do(s, &fut, &res), -ERANGE);
    km_store_res_free(&res);
    km_op iv = { .type = KM_OP_PUT, .put = { .key = B("t/none"), .ignore_value = true } };
    REQUIRE_EQ(km_store_do(s, &iv, &res), -ENOKEY);
    km_store_res_free(&res);
    km_op nol = { .type = KM_OP_PUT, .put = { .key = B("t/l"), .value = B("v"), .lease = 77 } };
    REQUIRE_EQ(km_store_do(s, &nol, &res), -ENOENT);
    km_store_res_free(&res);
    km_op dup[] = { { .type = KM_OP_PUT, .put = { .key = B("t/d"), .value = B("1") } },
                    { .type = KM_OP_PUT, .put = { .key = B("t/d"), .value = B("2") } } };
    req = (km_txn_req){ .success = dup, .nsuccess = 2 };
    REQUIRE_EQ(km_store_txn(s, &req, &res), -ENOTUNIQ);
    km_store_res_free(&res);
    km_op empty = { .type = KM_OP_PUT, .put = { .key = B(""), .value = B("v") } };
    REQUIRE_EQ(km_store_do(s, &empty, &res), -EINVAL);
    km_store_res_free(&res);

    /* compaction, then a range below it */
    int64_t cur;
    REQUIRE_EQ(km_store_compact(s, r2, &cur), 0);
    REQUIRE_EQ(cur, r2 + 1);
    km_op old = { .type = KM_OP_RANGE, .range = { .key = B("t/a"), .revision = r1 } };
    REQUIRE_EQ(km_store_do(s, &old, &res), -ENODATA);
    km_store_res_free(&res);
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE_EQ(st.revision, r2 + 1);
    REQUIRE_EQ(st.compact_revision, r2);
    REQUIRE(st.keys >= 1 && st.db_size > 0);
    km_store_close(s);
}

START_TEST(txn_results_and_errors) { t_run(txn_fn, NULL); }
END_TEST

typedef struct {
    pthread_mutex_t mu;
    int64_t revs[64];
    size_t  nev[64];
    size_t  n;
} seen;

static void on_feed(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    seen *f = ud;
    pthread_mutex_lock(&f->mu);
    if (f->n < 64) {
        f->revs[f->n] = rev;
        f->nev[f->n++] = n;
    }
    pthread_mutex_unlock(&f->mu);
}

static void feed_fn(void *arg)
{
    km_store *s = open_store();
    seen f = { .mu = PTHREAD_MUTEX_INITIALIZER };
    km_store_sub *sub;
    REQUIRE_EQ(km_store_subscribe(s, on_feed, &f, &sub), 0);
    int64_t first = 0, last = 0;
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "f/%d", i);
        REQUIRE_EQ(st_put(s, k, "v", 0, &last), 0);
        if (!first)
            first = last;
    }
    km_op two[] = { { .type = KM_OP_PUT, .put = { .key = B("f/x"), .value = B("1") } },
                    { .type = KM_OP_PUT, .put = { .key = B("f/y"), .value = B("2") } } };
    km_txn_req req = { .success = two, .nsuccess = 2 };
    km_store_res res;
    REQUIRE_EQ(km_store_txn(s, &req, &res), 0);
    last = res.revision;
    km_store_res_free(&res);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&f.mu);
        bool done = f.n && f.revs[f.n - 1] >= last;
        pthread_mutex_unlock(&f.mu);
        if (done)
            break;
        km_sleep(50 * 1000000LL);
    }
    km_store_unsubscribe(s, sub);
    /* every revision once, in order, the txn's two events together */
    size_t i0 = 0;
    while (i0 < f.n && f.revs[i0] < first)
        i0++;
    REQUIRE_EQ(f.n - i0, (size_t)(last - first + 1));
    for (size_t i = i0; i < f.n; i++)
        REQUIRE_EQ(f.revs[i], first + (int64_t)(i - i0));
    REQUIRE_EQ(f.nev[f.n - 1], 2);

    /* history: the same revisions, filtered, cut at max without splitting */
    km_event *ev;
    size_t n;
    int64_t next;
    REQUIRE_EQ(km_store_history(s, first, 0, B("f/"), B("f0"), true, 0, &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 12);
    REQUIRE_EQ(next, last + 1);
    REQUIRE(bytes_is(ev[11].kv.key, "f/y"));
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, first, 0, B("f/x"), (km_bytes){ 0 }, false, 0, &ev, &n, &next,
                                &res), 0);
    REQUIRE_EQ(n, 1);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, last - 1, 0, B("f/"), B("f0"), false, 1, &ev, &n, &next, &res),
               0);
    REQUIRE_EQ(n, 1);
    REQUIRE_EQ(next, last);
    km_store_res_free(&res);
    int64_t cur;
    REQUIRE_EQ(km_store_compact(s, last - 1, &cur), 0);
    REQUIRE_EQ(km_store_history(s, first, 0, ALL, ALL, false, 0, &ev, &n, &next, &res), -ENODATA);
    REQUIRE_EQ(res.revision, last - 1);
    km_store_res_free(&res);
    km_store_close(s);
}

START_TEST(feed_order_and_history) { t_run(feed_fn, NULL); }
END_TEST

static void lease_fn(void *arg)
{
    km_store *s = open_store();
    int64_t id, rev, ttl;
    REQUIRE_EQ(km_lease_grant(s, 0, 30, &id, &rev), 0);
    REQUIRE(id > 0);
    REQUIRE_EQ(km_lease_grant(s, id, 30, &id, &rev), -EEXIST);
    REQUIRE_EQ(km_lease_grant(s, 0, 10000000000LL, &ttl, &rev), -EFBIG);
    REQUIRE_EQ(st_put(s, "l/k", "v", id, NULL), 0);
    REQUIRE_EQ(km_lease_keepalive(s, id, &ttl), 0);
    REQUIRE_EQ(ttl, 30);
    km_lease_info li;
    km_store_res res;
    REQUIRE_EQ(km_lease_ttl(s, id, true, &li, &res), 0);
    REQUIRE_EQ(li.granted_ttl, 30);
    REQUIRE(li.nkeys == 1 && bytes_is(li.keys[0], "l/k"));
    km_store_res_free(&res);
    int64_t *ids;
    size_t n;
    REQUIRE_EQ(km_lease_list(s, &ids, &n, &res), 0);
    REQUIRE(n >= 1);
    km_store_res_free(&res);
    REQUIRE_EQ(km_lease_revoke(s, id, &rev), 0);
    REQUIRE_EQ(km_lease_revoke(s, id, &rev), -ENOENT);
    REQUIRE_EQ(km_lease_keepalive(s, id, &ttl), -ENOENT);
    REQUIRE_EQ(km_lease_ttl(s, id, false, &li, &res), -ENOENT);
    REQUIRE_EQ(li.ttl, -1);
    km_store_res_free(&res);
    km_store_close(s);
}

START_TEST(leases) { t_run(lease_fn, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcdb");
    TCase *tc = tcase_create("cluster");
    tcase_add_unchecked_fixture(tc, cluster_up, cluster_down);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, txn_results_and_errors);
    tcase_add_test(tc, feed_order_and_history);
    tcase_add_test(tc, leases);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
