/* SPDX-License-Identifier: MIT */
/* etcd's gRPC Watch: many watches on one stream, ids, create and cancel,
 * replay, prev_kv, filters, fragments, progress, compaction, a client
 * going away, the server stopping, and ten thousand watches on one
 * stream. */
#include "util.h"
#include "rpcfix.h"
#include <kumo/store.h>

#define WATCH "/etcdserverpb.Watch/Watch"
#define BK(s) ((km_bytes){ (const uint8_t *)(s), strlen(s) })

typedef Etcdserverpb__WatchResponse wresp;

static km_grpc_stream *wopen(rpcfix *f)
{
    km_grpc_stream *st;
    int rc = km_grpc_stream_open(f->ch, WATCH, NULL, 0, km_now() + 120 * SEC, &st);
    ck_assert_msg(rc == 0, "open: %s", km_strerror(rc));
    return st;
}

typedef struct {
    const char *key, *end;
    int64_t start, id;
    bool prev_kv, fragment, progress, noput, nodelete;
} wopts;

static void wcreate(km_grpc_stream *st, wopts o)
{
    Etcdserverpb__WatchCreateRequest c = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    c.key = (ProtobufCBinaryData){ strlen(o.key), (uint8_t *)o.key };
    if (o.end)
        c.range_end = (ProtobufCBinaryData){ o.end[0] ? strlen(o.end) : 1, (uint8_t *)o.end };
    c.start_revision = o.start;
    c.watch_id = o.id;
    c.prev_kv = o.prev_kv;
    c.fragment = o.fragment;
    c.progress_notify = o.progress;
    Etcdserverpb__WatchCreateRequest__FilterType ft[2];
    if (o.noput)
        ft[c.n_filters++] = ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT;
    if (o.nodelete)
        ft[c.n_filters++] = ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE;
    c.filters = ft;
    Etcdserverpb__WatchRequest r = ETCDSERVERPB__WATCH_REQUEST__INIT;
    r.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    r.create_request = &c;
    REQUIRE_EQ(km_grpc_stream_send_pb(st, &r.base, false, km_now() + 10 * SEC), 0);
}

static void wcancel(km_grpc_stream *st, int64_t id)
{
    Etcdserverpb__WatchCancelRequest c = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
    c.watch_id = id;
    Etcdserverpb__WatchRequest r = ETCDSERVERPB__WATCH_REQUEST__INIT;
    r.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
    r.cancel_request = &c;
    REQUIRE_EQ(km_grpc_stream_send_pb(st, &r.base, false, km_now() + 10 * SEC), 0);
}

static void wprogress(km_grpc_stream *st)
{
    Etcdserverpb__WatchProgressRequest p = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
    Etcdserverpb__WatchRequest r = ETCDSERVERPB__WATCH_REQUEST__INIT;
    r.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
    r.progress_request = &p;
    REQUIRE_EQ(km_grpc_stream_send_pb(st, &r.base, false, km_now() + 10 * SEC), 0);
}

static wresp *wrecv(km_grpc_stream *st)
{
    ProtobufCMessage *m = NULL;
    int rc = km_grpc_stream_recv_pb(st, &etcdserverpb__watch_response__descriptor, &m,
                                    km_now() + 10 * SEC);
    ck_assert_msg(rc == 1, "recv: %s", km_strerror(rc));
    wresp *r = (wresp *)m;
    REQUIRE(r->header);
    REQUIRE_EQ(r->header->cluster_id, FIX_CLUSTER);
    return r;
}

static void wfree(wresp *r)
{
    km_grpc_pb_free(&r->base);
}

/* The next response must be "created" for id at revision rev. */
static void expect_created(km_grpc_stream *st, int64_t id, int64_t rev)
{
    wresp *r = wrecv(st);
    REQUIRE(r->created);
    REQUIRE(!r->canceled);
    REQUIRE_EQ(r->watch_id, id);
    REQUIRE_EQ(r->header->revision, rev);
    wfree(r);
}

static bool key_is(ProtobufCBinaryData b, const char *s)
{
    return b.len == strlen(s) && !memcmp(b.data, s, b.len);
}

static int64_t put(rpcfix *f, const char *k, const char *v)
{
    km_op op = { .type = KM_OP_PUT, .put = { .key = BK(k), .value = BK(v) } };
    km_store_res res;
    REQUIRE_EQ(km_store_do(f->store, &op, &res), 0);
    int64_t rev = res.revision;
    km_store_res_free(&res);
    return rev;
}

static int64_t del(rpcfix *f, const char *k)
{
    km_op op = { .type = KM_OP_DELETE, .del = { .key = BK(k) } };
    km_store_res res;
    REQUIRE_EQ(km_store_do(f->store, &op, &res), 0);
    int64_t rev = res.revision;
    km_store_res_free(&res);
    return rev;
}

/* ---- several watches on one stream ---- */

static void multi_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t r0 = put(&f, "x", "0");
    km_grpc_stream *st = wopen(&f);
    wcreate(st, (wopts){ .key = "a" });                 /* server id 0 */
    expect_created(st, 0, r0);
    wcreate(st, (wopts){ .key = "b", .id = 7 });        /* the client's id */
    expect_created(st, 7, r0);
    wcreate(st, (wopts){ .key = "c", .end = "d" });     /* server id 1 */
    expect_created(st, 1, r0);
    wcreate(st, (wopts){ .key = "z", .id = 1 });        /* taken */
    wresp *r = wrecv(st);
    REQUIRE(r->created && r->canceled);
    REQUIRE_EQ(r->watch_id, -1);
    ck_assert_str_eq(r->cancel_reason, "mvcc: duplicate watch ID provided on the WatchStream");
    wfree(r);
    wcreate(st, (wopts){ .key = "z", .end = "y" });     /* empty range */
    r = wrecv(st);
    REQUIRE(r->created && r->canceled);
    REQUIRE_EQ(r->watch_id, -1);
    ck_assert_str_eq(r->cancel_reason, "mvcc: watcher range is empty");
    wfree(r);
    wcreate(st, (wopts){ .key = "every", .end = "" }); /* every key >= "every": server id 2 */
    expect_created(st, 2, r0);

    const char *keys[] = { "a", "b", "c1", "other", "cz" };
    int64_t want_id[] = { 0, 7, 1, -1, 1 };
    int64_t rev[5];
    for (int i = 0; i < 5; i++)
        rev[i] = put(&f, keys[i], "v");
    /* id 2 sees "other" only (keys >= "every"). */
    int seen = 0, seen2 = 0;
    while (seen + seen2 < 5) {
        r = wrecv(st);
        REQUIRE_EQ(r->n_events, 1);
        int i = 0;
        while (i < 5 && !key_is(r->events[0]->kv->key, keys[i]))
            i++;
        REQUIRE(i < 5);
        REQUIRE_EQ(r->header->revision, rev[i]);
        REQUIRE_EQ(r->events[0]->kv->mod_revision, rev[i]);
        if (r->watch_id == 2) {
            REQUIRE_EQ(i, 3);
            seen2++;
        } else {
            REQUIRE_EQ(r->watch_id, want_id[i]);
            seen++;
        }
        wfree(r);
    }
    REQUIRE_EQ(seen, 4);
    REQUIRE_EQ(seen2, 1);

    /* cancel: answered, then silence for that id */
    wcancel(st, 7);
    r = wrecv(st);
    REQUIRE(r->canceled && !r->created);
    REQUIRE_EQ(r->watch_id, 7);
    REQUIRE_EQ(r->header->revision, rev[4]);
    wfree(r);
    wcancel(st, 12345);                 /* unknown: no answer */
    put(&f, "b", "again");
    int64_t ra = put(&f, "a", "again");
    r = wrecv(st);
    REQUIRE_EQ(r->watch_id, 0);
    REQUIRE_EQ(r->header->revision, ra);
    wfree(r);
    /* the freed id is the client's to use again */
    wcreate(st, (wopts){ .key = "b", .id = 7 });
    expect_created(st, 7, ra);
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

/* ---- replay, prev_kv, filters ---- */

static void replay_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t r1 = put(&f, "k", "1");
    put(&f, "k", "2");
    put(&f, "other", "x");
    put(&f, "k", "3");
    int64_t rd = del(&f, "k");
    km_grpc_stream *st = wopen(&f);
    wcreate(st, (wopts){ .key = "k", .start = r1, .prev_kv = true, .id = 1 });
    expect_created(st, 1, rd);
    wresp *r = wrecv(st);
    REQUIRE_EQ(r->watch_id, 1);
    REQUIRE_EQ(r->n_events, 4);
    REQUIRE(!r->events[0]->prev_kv);                /* a new key has none */
    for (int i = 1; i < 4; i++) {
        REQUIRE(r->events[i]->prev_kv);
        REQUIRE_EQ(r->events[i]->prev_kv->mod_revision, r->events[i - 1]->kv->mod_revision);
    }
    REQUIRE_EQ(r->events[3]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
    REQUIRE(key_is(r->events[3]->prev_kv->value, "3"));
    wfree(r);

    wcreate(st, (wopts){ .key = "k", .start = r1, .noput = true, .id = 2 });
    expect_created(st, 2, rd);
    r = wrecv(st);
    REQUIRE_EQ(r->watch_id, 2);
    REQUIRE_EQ(r->n_events, 1);
    REQUIRE_EQ(r->events[0]->type, MVCCPB__EVENT__EVENT_TYPE__DELETE);
    REQUIRE(!r->events[0]->prev_kv);                /* not asked for */
    wfree(r);

    wcreate(st, (wopts){ .key = "k", .start = r1, .nodelete = true, .id = 3 });
    expect_created(st, 3, rd);
    r = wrecv(st);
    REQUIRE_EQ(r->watch_id, 3);
    REQUIRE_EQ(r->n_events, 3);
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(r->events[i]->type, MVCCPB__EVENT__EVENT_TYPE__PUT);
    wfree(r);

    /* live, after the replay: prev_kv and filters hold too */
    int64_t rp = put(&f, "k", "4");
    int64_t rd2 = del(&f, "k");
    int got[4] = { 0 };
    for (int n = 0; n < 4; n++) {
        r = wrecv(st);
        REQUIRE(r->watch_id >= 1 && r->watch_id <= 3);
        REQUIRE_EQ(r->n_events, 1);
        int64_t m = r->events[0]->kv->mod_revision;
        if (r->watch_id == 2)
            REQUIRE_EQ(m, rd2);
        if (r->watch_id == 3)
            REQUIRE_EQ(m, rp);
        if (r->watch_id == 1 && m == rd2)
            REQUIRE(r->events[0]->prev_kv && key_is(r->events[0]->prev_kv->value, "4"));
        got[r->watch_id]++;
        wfree(r);
    }
    REQUIRE_EQ(got[1], 2);
    REQUIRE_EQ(got[2], 1);
    REQUIRE_EQ(got[3], 1);
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

/* ---- fragments ---- */

static void fragment_body(void *arg)
{
    rpcfix f;
    /* etcd's limit: max_request_bytes plus 512 KiB of gRPC overhead. */
    rpcfix_up_with(&f, 0, 1);
    km_grpc_stream *st = wopen(&f);
    wcreate(st, (wopts){ .key = "f", .end = "g", .fragment = true, .id = 1 });
    expect_created(st, 1, 1);
    wcreate(st, (wopts){ .key = "f", .end = "g", .id = 2 });
    expect_created(st, 2, 1);
    size_t big = 300 * 1024;
    char *v = malloc(big + 1);
    memset(v, 'v', big);
    v[big] = 0;
    km_op puts[3];
    const char *keys[] = { "f1", "f2", "f3" };
    for (int i = 0; i < 3; i++)
        puts[i] = (km_op){ .type = KM_OP_PUT, .put = { .key = BK(keys[i]), .value = BK(v) } };
    km_txn_req tx = { .success = puts, .nsuccess = 3 };
    km_op op = { .type = KM_OP_TXN, .txn = &tx };
    km_store_res res;
    REQUIRE_EQ(km_store_do(f.store, &op, &res), 0);
    int64_t rev = res.revision;
    km_store_res_free(&res);
    free(v);
    /* id 1: one event per response (two would pass the limit), fragment
     * on all but the last; id 2: all three at once. */
    int frags = 0, whole = 0;
    while (frags < 3 || whole < 1) {
        wresp *r = wrecv(st);
        REQUIRE_EQ(r->header->revision, rev);
        if (r->watch_id == 1) {
            REQUIRE_EQ(r->n_events, 1);
            REQUIRE(key_is(r->events[0]->kv->key, keys[frags]));
            REQUIRE_EQ(r->fragment, frags < 2);
            frags++;
        } else {
            REQUIRE_EQ(r->watch_id, 2);
            REQUIRE_EQ(r->n_events, 3);
            REQUIRE(!r->fragment);
            whole++;
        }
        wfree(r);
    }
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

/* ---- progress ---- */

typedef struct { rpcfix *f; int n; km_wg *wg; } writer;

static void write_many(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        char k[16];
        snprintf(k, sizeof k, "p%d", i % 10);
        put(w->f, k, "v");
    }
    km_wg_done(w->wg);
}

static void progress_order_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    km_grpc_stream *st = wopen(&f);
    wcreate(st, (wopts){ .key = "p", .end = "q" });
    expect_created(st, 0, 1);
    /* Progress requests while events stream: no progress answer may claim
     * a revision whose events the stream has not sent yet. */
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, 1);
    writer w = { &f, 300, wg };
    REQUIRE_EQ(km_go(write_many, &w), 0);
    int64_t last_event = 1, promised = 0;
    int progress_sent = 0, progress_got = 0;
    while (last_event < 301 || progress_got < progress_sent) {
        if (progress_sent < 20 && progress_sent <= progress_got) {
            wprogress(st);
            progress_sent++;
        }
        wresp *r = wrecv(st);
        if (r->watch_id == -1) {
            REQUIRE_EQ(r->n_events, 0);
            REQUIRE(r->header->revision >= promised);
            REQUIRE(r->header->revision <= last_event);
            promised = r->header->revision;
            progress_got++;
        } else {
            REQUIRE_EQ(r->watch_id, 0);
            for (size_t i = 0; i < r->n_events; i++) {
                REQUIRE(r->events[i]->kv->mod_revision > promised);
                REQUIRE_EQ(r->events[i]->kv->mod_revision, last_event + 1);
                last_event++;
            }
        }
        wfree(r);
    }
    km_wg_wait(wg);
    km_wg_free(wg);
    /* all sent: now the answer is the current revision */
    wprogress(st);
    wresp *r = wrecv(st);
    REQUIRE_EQ(r->watch_id, -1);
    REQUIRE_EQ(r->header->revision, 301);
    wfree(r);
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

static void progress_notify_body(void *arg)
{
    rpcfix f;
    rpcfix_up_with(&f, 100 * 1000000LL, 0);
    int64_t r0 = put(&f, "n", "1");
    km_grpc_stream *st = wopen(&f);
    wcreate(st, (wopts){ .key = "quiet", .id = 5 });            /* did not ask */
    expect_created(st, 5, r0);
    wcreate(st, (wopts){ .key = "n", .progress = true, .id = 6 });
    expect_created(st, 6, r0);
    /* idle for a whole interval: an empty response at the current revision */
    for (int i = 0; i < 2; i++) {
        wresp *r = wrecv(st);
        REQUIRE_EQ(r->watch_id, 6);
        REQUIRE_EQ(r->n_events, 0);
        REQUIRE(!r->created && !r->canceled);
        REQUIRE_EQ(r->header->revision, r0);
        wfree(r);
    }
    int64_t r1 = put(&f, "n", "2");
    int events = 0;
    for (int i = 0; i < 3; i++) {
        wresp *r = wrecv(st);
        REQUIRE_EQ(r->watch_id, 6);
        if (r->n_events)
            events++;
        else
            REQUIRE(r->header->revision >= r1 || events == 0);
        wfree(r);
    }
    REQUIRE_EQ(events, 1);
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

/* ---- compaction ---- */

static void compacted_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    for (int i = 0; i < 5; i++)
        put(&f, "c", "v");
    int64_t cur;
    REQUIRE_EQ(km_store_compact(f.store, 4, &cur), 0);
    km_grpc_stream *st = wopen(&f);
    /* etcd: created first, then canceled with the compact revision and a
     * header without a revision */
    wcreate(st, (wopts){ .key = "c", .start = 2, .id = 3 });
    expect_created(st, 3, cur);
    wresp *r = wrecv(st);
    REQUIRE_EQ(r->watch_id, 3);
    REQUIRE(r->canceled && !r->created);
    REQUIRE_EQ(r->compact_revision, 4);
    REQUIRE_EQ(r->header->revision, 0);
    wfree(r);
    /* from the compact revision itself: fine */
    wcreate(st, (wopts){ .key = "c", .start = 4, .id = 4 });
    expect_created(st, 4, cur);
    r = wrecv(st);
    REQUIRE_EQ(r->watch_id, 4);
    REQUIRE_EQ(r->n_events, 3);         /* revisions 4, 5, 6 */
    wfree(r);
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

/* ---- the client goes ---- */

static void client_gone_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    km_grpc_stream *st = wopen(&f);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "g%d", i);
        wcreate(st, (wopts){ .key = k, .start = i % 2 ? 1 : 0 });
    }
    for (int i = 0; i < 100; i++)
        expect_created(st, i, 1);
    km_hub_stat hs;
    km_hub_stat_read(f.hub, &hs);
    REQUIRE_EQ(hs.watchers, 100);
    put(&f, "g1", "v");                 /* something in flight */
    km_grpc_stream_free(st);            /* resets the stream */
    int64_t until = km_now() + 10 * SEC;
    do {
        km_sleep(1000000);
        km_hub_stat_read(f.hub, &hs);
    } while (hs.watchers && km_now() < until);
    REQUIRE_EQ(hs.watchers, 0);
    REQUIRE_EQ(hs.groups, 0);
    rpcfix_down(&f);
}

/* ---- the server stops ---- */

/* A stream whose client keeps its side open, under the server stopping:
 * the call ends with UNAVAILABLE, never a reset, which clientv3 would
 * take as CANCELLED and final instead of reconnecting and resuming; and
 * the stop does not wait out its grace. With hub, the hub alone stops
 * first (its watches end while the stream's reader still waits on the
 * client); without, the HTTP server's drain alone ends the stream. */
static void stop_with(bool hub)
{
    rpcfix f;
    rpcfix_up(&f);
    km_grpc_stream *st = wopen(&f);
    wcreate(st, (wopts){ .key = "s" });
    expect_created(st, 0, 1);
    int64_t rev = put(&f, "s", "v");
    wresp *r = wrecv(st);
    REQUIRE_EQ(r->n_events, 1);
    REQUIRE_EQ(r->header->revision, rev);
    wfree(r);
    rpcfix_stop stop;
    if (hub)
        km_hub_shutdown(f.hub);
    else
        rpcfix_stop_start(&stop, &f);
    km_str msg;
    int rc = km_grpc_stream_recv(st, &msg, km_now() + 10 * SEC);
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_msg(rc == -EREMOTEIO && s.code == KM_GRPC_UNAVAILABLE, "recv: %s, status %d '%.*s'",
                  km_strerror(rc), s.code, (int)s.message.n, s.message.p);
    ck_assert_msg(s.message.n == strlen(RPCFIX_STOPPED) &&
                  !memcmp(s.message.p, RPCFIX_STOPPED, s.message.n),
                  "message '%.*s'", (int)s.message.n, s.message.p);
    km_grpc_stream_free(st);
    if (hub)
        rpcfix_stop_start(&stop, &f);
    rpcfix_stop_wait(&stop);
    ck_assert_msg(stop.rc == 0 && stop.took < 2 * SEC, "stop: %s after %lld ms",
                  km_strerror(stop.rc), (long long)(stop.took / 1000000));
    rpcfix_down(&f);
}

static void stop_hub_body(void *arg)
{
    stop_with(true);
}

static void stop_drain_body(void *arg)
{
    stop_with(false);
}

/* ---- many watches on one stream ---- */

#define MANY 10000

static void many_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    km_grpc_stream *st = wopen(&f);
    for (int i = 0; i < MANY; i++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", i);
        wcreate(st, (wopts){ .key = k });
    }
    for (int i = 0; i < MANY; i++)
        expect_created(st, i, 1);
    km_hub_stat hs;
    km_hub_stat_read(f.hub, &hs);
    REQUIRE_EQ(hs.watchers, MANY);
    /* every hundred and first watch gets one event, under its own id */
    int n = 0;
    for (int i = 0; i < MANY; i += 101, n++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", i);
        put(&f, k, "v");
    }
    for (int j = 0; j < n; j++) {
        wresp *r = wrecv(st);
        REQUIRE_EQ(r->n_events, 1);
        char k[16];
        snprintf(k, sizeof k, "m%lld", (long long)r->watch_id);
        REQUIRE(key_is(r->events[0]->kv->key, k));
        REQUIRE_EQ(r->watch_id % 101, 0);
        wfree(r);
    }
    /* and a prefix watch over all of them sees every one */
    wcreate(st, (wopts){ .key = "m", .end = "n", .start = 2, .id = -5 });
    expect_created(st, -5, 1 + n);
    wresp *r = wrecv(st);
    REQUIRE_EQ(r->watch_id, -5);
    REQUIRE_EQ(r->n_events, n);
    wfree(r);
    km_grpc_stream_free(st);
    rpcfix_down(&f);
}

#define TEST(name) START_TEST(name) { t_run(name##_body, NULL); } END_TEST
TEST(multi)
TEST(replay)
TEST(fragment)
TEST(progress_order)
TEST(progress_notify)
TEST(compacted)
TEST(client_gone)
TEST(stop_hub)
TEST(stop_drain)
TEST(many)

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_watch");
    TCase *tc = tcase_create("watch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, multi);
    tcase_add_test(tc, replay);
    tcase_add_test(tc, fragment);
    tcase_add_test(tc, progress_order);
    tcase_add_test(tc, progress_notify);
    tcase_add_test(tc, compacted);
    tcase_add_test(tc, client_gone);
    tcase_add_test(tc, stop_hub);
    tcase_add_test(tc, stop_drain);
    tcase_add_test(tc, many);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
