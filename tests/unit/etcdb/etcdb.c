/* SPDX-License-Identifier: MIT */
/* The etcd-cluster store over a real 3-member cluster the suite starts
 * (scripts/etcd-cluster.sh): txn results, errors, leases, history and the
 * change feed's order; the local replica following writes made by other
 * clients, field for field as etcd has them; a user logging in to a
 * cluster with authentication on, again when etcd voids its token. Without
 * etcd it says "skip:" and fails. */
#include "../store/st.h"
#include <kumo/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
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

/* LeaseKeepAlive messages etcd's members have received, from their own
 * metrics. */
static long etcd_keepalives(void)
{
    char cmd[512], out[64];
    snprintf(cmd, sizeof cmd,
             "for e in $(echo '%s' | tr , ' '); do curl -s \"http://$e/metrics\"; done | "
             "awk '/^grpc_server_msg_received_total.grpc_method=\"LeaseKeepAlive\"/ "
             "{ s += $2 } END { print s + 0 }'", backend + strlen("etcd://"));
    REQUIRE_EQ(sh(cmd, out, sizeof out), 0);
    return atol(out);
}

typedef struct {
    km_store *s;
    int64_t   id;
    int       failed;
} ka_arg;

static void keep_many(void *arg)
{
    ka_arg *a = arg;
    for (int i = 0; i < 30; i++) {
        int64_t ttl = 0;
        if (km_lease_keepalive(a->s, a->id, &ttl) != 0 || ttl != 30)
            a->failed++;
    }
}

/* Keep-alives for one lease from many callers cost etcd one per third of
 * the lease's TTL; the lease lives on under them, and a revoked one is
 * refused at once. */
static void keepalive_fn(void *arg)
{
    km_store *s = open_store();
    int64_t id, rev, ttl;
    REQUIRE_EQ(km_lease_grant(s, 0, 30, &id, &rev), 0);
    long before = etcd_keepalives();
    ka_arg args[10];
    for (int i = 0; i < 10; i++)
        args[i] = (ka_arg){ s, id, 0 };
    t_go_all(10, keep_many, args, sizeof args[0]);
    long sent = etcd_keepalives() - before;
    for (int i = 0; i < 10; i++)
        REQUIRE_EQ(args[i].failed, 0);
    ck_assert_msg(sent >= 1 && sent <= 2, "300 keep-alives cost etcd %ld", sent);

    /* A short lease kept alive through the cache for over twice its TTL. */
    int64_t short_id;
    REQUIRE_EQ(km_lease_grant(s, 0, 3, &short_id, &rev), 0);
    REQUIRE_EQ(st_put(s, "ka/k", "v", short_id, NULL), 0);
    for (int i = 0; i < 16; i++) {
        REQUIRE_EQ(km_lease_keepalive(s, short_id, &ttl), 0);
        km_sleep(500 * 1000000LL);
    }
    km_lease_info li;
    km_store_res res;
    REQUIRE_EQ(km_lease_ttl(s, short_id, false, &li, &res), 0);
    REQUIRE(li.ttl > 0);
    km_store_res_free(&res);
    km_kv kv;
    REQUIRE_EQ(st_get(s, "ka/k", 0, &kv, NULL, 0), 1);

    REQUIRE_EQ(km_lease_revoke(s, id, &rev), 0);
    REQUIRE_EQ(km_lease_keepalive(s, id, &ttl), -ENOENT);
    REQUIRE_EQ(km_lease_revoke(s, short_id, &rev), 0);
    km_store_close(s);
}

START_TEST(keepalives_coalesced) { t_run(keepalive_fn, NULL); }
END_TEST

/* ---- the local replica ---- */

/* A range answered by etcd itself, not the replica: inside a txn that
 * may write (its failure branch) but whose compare holds (a missing key
 * has version 0), so only the range runs. */
static int etcd_range(km_store *s, km_bytes key, km_bytes end, km_store_res *res,
                      km_range_resp **out)
{
    km_cmp cmp = { .result = KM_CMP_EQUAL, .target = KM_CMP_VERSION, .key = B("zz/none") };
    km_op ok = { .type = KM_OP_RANGE, .range = { .key = key, .range_end = end } };
    km_op no = { .type = KM_OP_PUT, .put = { .key = B("zz/none"), .value = B("x") } };
    km_txn_req req = { .cmp = &cmp, .ncmp = 1, .success = &ok, .nsuccess = 1,
                       .failure = &no, .nfailure = 1 };
    int rc = km_store_txn(s, &req, res);
    if (!rc && (!res->txn.succeeded || res->txn.nresp != 1))
        rc = -EPROTO;
    *out = rc ? NULL : &res->txn.resp[0].range;
    return rc;
}

static int read1(km_store *s, const char *k, bool ser, int64_t at, km_store_res *res, km_kv **kv)
{
    km_op op = { .type = KM_OP_RANGE,
                 .range = { .key = BS(k), .serializable = ser, .revision = at } };
    int rc = km_store_do(s, &op, res);
    *kv = !rc && res->txn.resp[0].range.nkvs ? &res->txn.resp[0].range.kvs[0] : NULL;
    return rc;
}

static bool kv_eq(const km_kv *a, const km_kv *b)
{
    return a->key.n == b->key.n && !memcmp(a->key.p, b->key.p, a->key.n) &&
           a->value.n == b->value.n && (!a->value.n || !memcmp(a->value.p, b->value.p, a->value.n)) &&
           a->create_revision == b->create_revision && a->mod_revision == b->mod_revision &&
           a->version == b->version && a->lease == b->lease;
}

static void replica_fn(void *arg)
{
    km_store *s = open_store(), *o = open_store();
    km_store_res res;
    km_kv *kv;

    /* a write made through another client shows in a serializable read
     * here within a short time, and at once in a linearizable one */
    int64_t r1, r2;
    REQUIRE_EQ(st_put(o, "r/x", "v1", 0, &r1), 0);
    bool seen = false;
    for (int i = 0; i < 100 && !seen; i++) {
        REQUIRE_EQ(read1(s, "r/x", true, 0, &res, &kv), 0);
        seen = kv && kv->mod_revision == r1;
        km_store_res_free(&res);
        if (!seen)
            km_sleep(20 * 1000000LL);
    }
    REQUIRE(seen);
    km_op p2 = { .type = KM_OP_PUT, .put = { .key = B("r/x"), .value = B("v2"), .prev_kv = true } };
    REQUIRE_EQ(km_store_do(o, &p2, &res), 0);
    r2 = res.revision;
    /* etcd's own account of the first version */
    km_kv etcd_prev = res.txn.resp[0].put.prev_kv;
    REQUIRE(res.txn.resp[0].put.has_prev);
    REQUIRE_EQ(etcd_prev.create_revision, r1);
    REQUIRE_EQ(etcd_prev.mod_revision, r1);
    REQUIRE_EQ(etcd_prev.version, 1);
    km_store_res res2;
    REQUIRE_EQ(read1(s, "r/x", false, 0, &res2, &kv), 0);
    REQUIRE(kv != NULL);
    REQUIRE(bytes_is(kv->value, "v2"));
    REQUIRE_EQ(kv->mod_revision, r2);
    REQUIRE_EQ(kv->create_revision, r1);
    REQUIRE_EQ(kv->version, 2);
    REQUIRE(res2.revision >= r2);
    km_store_res_free(&res2);

    /* a range at an old revision inside the window: the first version,
     * exactly as etcd reported it */
    REQUIRE_EQ(read1(s, "r/x", true, r1, &res2, &kv), 0);
    REQUIRE(kv != NULL && kv_eq(kv, &etcd_prev));
    km_store_res_free(&res2);
    km_store_res pres = res;     /* holds etcd_prev */

    /* a write by etcdctl, no kumo in between */
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "ETCDCTL_API=3 etcdctl --endpoints=%s put r/e ctl >/dev/null 2>&1",
             backend + strlen("etcd://"));
    REQUIRE_EQ(system(cmd), 0);
    REQUIRE_EQ(read1(s, "r/e", false, 0, &res, &kv), 0);
    REQUIRE(kv != NULL && bytes_is(kv->value, "ctl"));
    int64_t re = kv->mod_revision;
    km_store_res_free(&res);

    /* history from inside the window */
    km_event *ev;
    size_t n;
    int64_t next;
    REQUIRE_EQ(km_store_history(s, r1 + 1, 0, B("r/"), B("r0"), true, 0, &ev, &n, &next, &res),
               0);
    REQUIRE_EQ(n, 2);
    REQUIRE_EQ(ev[0].kv.mod_revision, r2);
    REQUIRE(ev[0].has_prev && kv_eq(&ev[0].prev_kv, &etcd_prev));
    REQUIRE_EQ(ev[1].kv.mod_revision, re);
    REQUIRE(!ev[1].has_prev);
    km_store_res_free(&res);
    km_store_res_free(&pres);

    /* read-your-writes through this store, serializable included */
    for (int i = 0; i < 20; i++) {
        char v[16];
        int64_t rv;
        snprintf(v, sizeof v, "w%d", i);
        REQUIRE_EQ(st_put(s, "r/w", v, 0, &rv), 0);
        REQUIRE_EQ(read1(s, "r/w", true, 0, &res, &kv), 0);
        REQUIRE(kv != NULL && bytes_is(kv->value, v) && kv->mod_revision == rv);
        km_store_res_free(&res);
    }
    km_store_close(o);
    km_store_close(s);
}

START_TEST(replica_follows_etcd) { t_run(replica_fn, NULL); }
END_TEST

/* 1,000 mixed writes from two clients, then the replica's keys must be
 * etcd's, every field. */
static void burst_fn(void *arg)
{
    km_store *s = open_store(), *o = open_store();
    int64_t lease, rev;
    REQUIRE_EQ(km_lease_grant(o, 0, 60, &lease, &rev), 0);
    unsigned seed = 7;
    km_store_res res;
    for (int i = 0; i < 1000; i++) {
        km_store *w = i % 3 ? o : s;
        char k[32], k2[32], v[32];
        snprintf(k, sizeof k, "b/%03u", rand_r(&seed) % 200);
        snprintf(k2, sizeof k2, "b/%03u", rand_r(&seed) % 200);
        snprintf(v, sizeof v, "v%d", i);
        switch (rand_r(&seed) % 6) {
        case 0: case 1:
            REQUIRE_EQ(st_put(w, k, v, 0, NULL), 0);
            break;
        case 2:
            REQUIRE_EQ(st_put(w, k, v, lease, NULL), 0);
            break;
        case 3:
            REQUIRE_EQ(st_del(w, k, NULL, NULL, NULL), 0);
            break;
        case 4: {
            /* a small range delete */
            char end[32];
            snprintf(end, sizeof end, "%s5", k);
            REQUIRE_EQ(st_del(w, k, end, NULL, NULL), 0);
            break;
        }
        default: {
            km_op ops[] = { { .type = KM_OP_PUT, .put = { .key = BS(k), .value = BS(v) } },
                            { .type = KM_OP_DELETE, .del = { .key = BS(k2) } } };
            km_cmp c = { .result = KM_CMP_GREATER, .target = KM_CMP_VERSION, .key = BS(k),
                         .num = 0 };
            km_txn_req req = { .cmp = &c, .ncmp = 1, .success = ops,
                               .nsuccess = strcmp(k, k2) ? 2 : 1, .failure = ops, .nfailure = 1 };
            REQUIRE_EQ(km_store_txn(w, &req, &res), 0);
            km_store_res_free(&res);
        }
        }
    }
    km_store_res er, rr;
    km_range_resp *e;
    REQUIRE_EQ(etcd_range(o, B("b/"), B("b0"), &er, &e), 0);
    /* linearizable: the replica first catches up with etcd */
    km_op all = { .type = KM_OP_RANGE, .range = { .key = B("b/"), .range_end = B("b0") } };
    REQUIRE_EQ(km_store_do(s, &all, &rr), 0);
    km_range_resp *r = &rr.txn.resp[0].range;
    REQUIRE(e->nkvs > 10);
    REQUIRE_EQ(r->nkvs, e->nkvs);
    REQUIRE_EQ(r->count, e->count);
    for (size_t i = 0; i < e->nkvs; i++)
        ck_assert_msg(kv_eq(&r->kvs[i], &e->kvs[i]), "key %zu (%.*s) differs", i,
                      (int)e->kvs[i].key.n, (const char *)e->kvs[i].key.p);
    REQUIRE_EQ(rr.revision, er.revision);
    km_store_res_free(&er);
    km_store_res_free(&rr);
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    REQUIRE(st.revision >= rev);

    /* revoking the lease deletes its keys in the replica too */
    REQUIRE_EQ(km_lease_revoke(o, lease, &rev), 0);
    REQUIRE_EQ(etcd_range(o, B("b/"), B("b0"), &er, &e), 0);
    all.range.serializable = true;
    REQUIRE_EQ(km_lease_revoke(s, lease, &rev), -ENOENT);
    km_sleep(200 * 1000000LL);
    REQUIRE_EQ(km_store_do(s, &all, &rr), 0);
    r = &rr.txn.resp[0].range;
    REQUIRE_EQ(r->nkvs, e->nkvs);
    for (size_t i = 0; i < e->nkvs; i++)
        REQUIRE(kv_eq(&r->kvs[i], &e->kvs[i]) && r->kvs[i].lease == 0);
    km_store_res_free(&er);
    km_store_res_free(&rr);
    km_store_close(o);
    km_store_close(s);
}

START_TEST(replica_burst_equals_etcd) { t_run(burst_fn, NULL); }
END_TEST

/* A small window: the replica trims its history, and what falls out of
 * it is still answered (by etcd). */
static void window_fn(void *arg)
{
    km_store_config cfg = { .backend = backend, .cache_window = 20 };
    km_store *s;
    REQUIRE_EQ(km_store_open(&s, &cfg), 0);
    int64_t first = 0, last = 0;
    for (int i = 0; i < 100; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        REQUIRE_EQ(st_put(s, "win/k", v, 0, &last), 0);
        if (!first)
            first = last;
    }
    km_store_res res;
    km_kv *kv;
    REQUIRE_EQ(read1(s, "win/k", true, first + 1, &res, &kv), 0);
    REQUIRE(kv != NULL && bytes_is(kv->value, "1") && kv->mod_revision == first + 1);
    km_store_res_free(&res);
    REQUIRE_EQ(read1(s, "win/k", true, last - 5, &res, &kv), 0);
    REQUIRE(kv != NULL && bytes_is(kv->value, "94"));
    km_store_res_free(&res);
    km_event *ev;
    size_t n;
    int64_t next;
    REQUIRE_EQ(km_store_history(s, first, 0, B("win/"), B("win0"), false, 0, &ev, &n, &next,
                                &res), 0);
    REQUIRE_EQ(n, 100);
    km_store_res_free(&res);
    REQUIRE_EQ(km_store_history(s, last - 9, 0, B("win/"), B("win0"), true, 0, &ev, &n, &next,
                                &res), 0);
    REQUIRE_EQ(n, 10);
    REQUIRE(ev[0].has_prev && ev[0].prev_kv.mod_revision == last - 10);
    km_store_res_free(&res);
    km_store_close(s);
}

START_TEST(replica_window) { t_run(window_fn, NULL); }
END_TEST

/* etcdctl against the cluster's first member; its exit status. */
static int ctl(const char *args)
{
    char cmd[768];
    const char *ep = backend + strlen("etcd://");
    snprintf(cmd, sizeof cmd, "ETCDCTL_API=3 etcdctl --endpoints %.*s %s >/dev/null 2>&1",
             (int)(strchrnul(ep, ',') - ep), ep, args);
    return sh(cmd, NULL, 0);
}

/* Turning authentication off and on voids every token etcd gave, as its
 * expiry voids one. */
static void void_tokens(void)
{
    REQUIRE_EQ(ctl("--user root:rootpw auth disable"), 0);
    REQUIRE_EQ(ctl("--user root:rootpw auth enable"), 0);
}

/* A cluster with authentication on (last: it stays on for no other
 * test): refused without a user and with a wrong password; with one, the
 * token goes with every call and stream, and a voided one is replaced by
 * a new login; calls passed through as that user, or without its token. */
static void login_fn(void *arg)
{
    REQUIRE_EQ(ctl("user add root:rootpw"), 0);
    REQUIRE_EQ(ctl("auth enable"), 0);
    km_store_config cfg = { .backend = backend, .cache_window = 2 };
    km_store *s;
    REQUIRE_EQ(km_store_open(&s, &cfg), -EACCES);
    cfg.user = "root";
    cfg.password = "wrong";
    REQUIRE_EQ(km_store_open(&s, &cfg), -EACCES);
    cfg.password = "rootpw";
    int rc = km_store_open(&s, &cfg);
    ck_assert_msg(rc == 0, "open as root: %s", km_strerror(rc));
    int64_t rev, first = 0;
    for (int i = 0; i < 6; i++)
        REQUIRE_EQ(st_put(s, "auth/k", "v", 0, i ? &rev : &first), 0);

    /* a call passed through, as root and without a token */
    Etcdserverpb__AuthUserListRequest ulq = ETCDSERVERPB__AUTH_USER_LIST_REQUEST__INIT;
    ProtobufCMessage *m;
    km_store_status st;
    REQUIRE_EQ(km_store_call(s, "/etcdserverpb.Auth/UserList", KM_STORE_CALL_READ, &ulq.base,
                             &etcdserverpb__auth_user_list_response__descriptor, &m, &st), 0);
    Etcdserverpb__AuthUserListResponse *ul = (Etcdserverpb__AuthUserListResponse *)m;
    REQUIRE(ul->n_users == 1 && !strcmp(ul->users[0], "root"));
    km_grpc_pb_free(m);
    REQUIRE_EQ(km_store_call(s, "/etcdserverpb.Auth/UserList",
                             KM_STORE_CALL_READ | KM_STORE_CALL_ANON, &ulq.base,
                             &etcdserverpb__auth_user_list_response__descriptor, &m, &st),
               -EREMOTEIO);
    REQUIRE_EQ(st.code, KM_GRPC_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "etcdserver: user name is empty");

    /* etcd voids the token: each kind of call logs in again */
    void_tokens();
    REQUIRE_EQ(st_put(s, "auth/k", "w", 0, &rev), 0);
    void_tokens();
    km_store_res res;
    km_event *ev;
    size_t n;
    int64_t next;
    /* below the replica's window: a watch on etcd replays it */
    REQUIRE_EQ(km_store_history(s, first, first + 2, B("auth/k"), (km_bytes){ 0 }, false, 0,
                                &ev, &n, &next, &res), 0);
    REQUIRE_EQ(n, 3);
    km_store_res_free(&res);
    void_tokens();
    int64_t id, ttl;
    REQUIRE_EQ(km_lease_grant(s, 0, 30, &id, &rev), 0);
    void_tokens();
    REQUIRE_EQ(km_lease_keepalive(s, id, &ttl), 0);
    REQUIRE_EQ(ttl, 30);
    void_tokens();
    REQUIRE_EQ(km_store_call(s, "/etcdserverpb.Auth/UserList", KM_STORE_CALL_READ, &ulq.base,
                             &etcdserverpb__auth_user_list_response__descriptor, &m, &st), 0);
    km_grpc_pb_free(m);
    /* the feed's watch, opened with the old token, still follows etcd */
    REQUIRE_EQ(ctl("--user root:rootpw put auth/k direct"), 0);
    km_kv kv;
    char val[16];
    for (int i = 0; i < 100; i++) {
        REQUIRE_EQ(st_get(s, "auth/k", 0, &kv, val, sizeof val), 1);
        if (!strcmp(val, "direct"))
            break;
        km_sleep(20 * 1000000LL);
    }
    ck_assert_str_eq(val, "direct");
    km_store_close(s);
}

START_TEST(backend_user) { t_run(login_fn, NULL); }
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
    tcase_add_test(tc, keepalives_coalesced);
    tcase_add_test(tc, replica_follows_etcd);
    tcase_add_test(tc, replica_burst_equals_etcd);
    tcase_add_test(tc, replica_window);
    tcase_add_test(tc, backend_user);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
