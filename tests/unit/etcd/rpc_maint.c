/* SPDX-License-Identifier: MIT */
/* etcd's Maintenance and Cluster services over gRPC: status, alarms,
 * hashes that only the data decides, a snapshot that restores, and one
 * member that cannot change. */
#include "util.h"
#include "rpcfix.h"
#include "enc/sha256.h"

#define M(x) "/etcdserverpb.Maintenance/" x
#define C(x) "/etcdserverpb.Cluster/" x

static int64_t put(rpcfix *f, const char *k, const char *v)
{
    km_op op = { .type = KM_OP_PUT,
                 .put = { .key = { (const uint8_t *)k, strlen(k) },
                          .value = { (const uint8_t *)v, strlen(v) } } };
    km_store_res res;
    ck_assert_int_eq(km_store_do(f->store, &op, &res), 0);
    int64_t rev = res.revision;
    km_store_res_free(&res);
    return rev;
}

static void status_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t rev = put(&f, "a", "1");
    Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
    Etcdserverpb__StatusResponse *r = (Etcdserverpb__StatusResponse *)rpcfix_ok(
        &f, M("Status"), &req.base, &etcdserverpb__status_response__descriptor);
    ck_assert_str_eq(r->version, "3.4.23");
    ck_assert_uint_eq(r->leader, FIX_MEMBER);
    ck_assert_int_eq(r->header->revision, rev);
    ck_assert_uint_eq(r->raftindex, (uint64_t)rev);
    ck_assert_uint_eq(r->raftappliedindex, (uint64_t)rev);
    ck_assert_uint_eq(r->raftterm, 2);
    ck_assert_int_gt(r->dbsize, 0);
    ck_assert(r->dbsizeinuse > 0 && r->dbsizeinuse <= r->dbsize);
    ck_assert_uint_eq(r->n_errors, 0);
    km_grpc_pb_free(&r->base);
    rpcfix_down(&f);
}

static void alarm_defrag_move_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    Etcdserverpb__AlarmRequest a = ETCDSERVERPB__ALARM_REQUEST__INIT;
    Etcdserverpb__AlarmResponse *ar = (Etcdserverpb__AlarmResponse *)rpcfix_ok(
        &f, M("Alarm"), &a.base, &etcdserverpb__alarm_response__descriptor);
    ck_assert_uint_eq(ar->n_alarms, 0);
    km_grpc_pb_free(&ar->base);
    /* disarming what is not raised: an empty answer, as etcd gives */
    a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__DEACTIVATE;
    a.alarm = ETCDSERVERPB__ALARM_TYPE__NOSPACE;
    ar = (Etcdserverpb__AlarmResponse *)rpcfix_ok(&f, M("Alarm"), &a.base,
                                                   &etcdserverpb__alarm_response__descriptor);
    ck_assert_uint_eq(ar->n_alarms, 0);
    km_grpc_pb_free(&ar->base);
    a.action = ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE;
    rpcfix_fails(&f, M("Alarm"), &a.base, &etcdserverpb__alarm_response__descriptor,
                 KM_GRPC_UNIMPLEMENTED, "kumo: alarms cannot be raised by request");

    Etcdserverpb__DefragmentRequest d = ETCDSERVERPB__DEFRAGMENT_REQUEST__INIT;
    km_grpc_pb_free(rpcfix_ok(&f, M("Defragment"), &d.base,
                              &etcdserverpb__defragment_response__descriptor));

    Etcdserverpb__MoveLeaderRequest ml = ETCDSERVERPB__MOVE_LEADER_REQUEST__INIT;
    ml.targetid = FIX_MEMBER;
    km_grpc_pb_free(rpcfix_ok(&f, M("MoveLeader"), &ml.base,
                              &etcdserverpb__move_leader_response__descriptor));
    ml.targetid = 5;
    rpcfix_fails(&f, M("MoveLeader"), &ml.base, &etcdserverpb__move_leader_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, "etcdserver: bad leader transferee");
    rpcfix_down(&f);
}

typedef struct {
    uint32_t kv_old, kv_now, all;
} hashes;

static uint32_t hash_kv(rpcfix *f, int64_t rev, int64_t *compact, int64_t *hrev)
{
    Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
    req.revision = rev;
    Etcdserverpb__HashKVResponse *r = (Etcdserverpb__HashKVResponse *)rpcfix_ok(
        f, M("HashKV"), &req.base, &etcdserverpb__hash_kvresponse__descriptor);
    uint32_t h = r->hash;
    if (compact)
        *compact = r->compact_revision;
    if (hrev)
        *hrev = r->header->revision;
    km_grpc_pb_free(&r->base);
    return h;
}

static uint32_t hash_all(rpcfix *f)
{
    Etcdserverpb__HashRequest req = ETCDSERVERPB__HASH_REQUEST__INIT;
    Etcdserverpb__HashResponse *r = (Etcdserverpb__HashResponse *)rpcfix_ok(
        f, M("Hash"), &req.base, &etcdserverpb__hash_response__descriptor);
    uint32_t h = r->hash;
    km_grpc_pb_free(&r->base);
    return h;
}

/* The same writes in a fresh store: the same hashes. */
static void fill_and_hash(hashes *out)
{
    rpcfix f;
    rpcfix_up(&f);
    put(&f, "a", "1");
    int64_t mid = put(&f, "b", "2");
    int64_t compact, hrev;
    out->kv_old = hash_kv(&f, 0, &compact, &hrev);
    ck_assert_int_eq(compact, -1);     /* never compacted, as etcd says it */
    ck_assert_int_eq(hrev, mid);
    put(&f, "a", "3");
    int64_t last = put(&f, "c", "4");
    /* an old revision still hashes as it did */
    ck_assert_uint_eq(hash_kv(&f, mid, NULL, &hrev), out->kv_old);
    ck_assert_int_eq(hrev, last);
    out->kv_now = hash_kv(&f, 0, NULL, NULL);
    ck_assert_uint_ne(out->kv_now, out->kv_old);
    out->all = hash_all(&f);
    ck_assert_uint_eq(hash_all(&f), out->all);
    rpcfix_down(&f);
}

static void hash_body(void *arg)
{
    hashes h1, h2;
    fill_and_hash(&h1);
    fill_and_hash(&h2);
    ck_assert_uint_eq(h1.kv_old, h2.kv_old);
    ck_assert_uint_eq(h1.kv_now, h2.kv_now);
    ck_assert_uint_eq(h1.all, h2.all);

    rpcfix f;
    rpcfix_up(&f);
    put(&f, "a", "1");
    int64_t rev = put(&f, "a", "2");
    put(&f, "b", "3");
    Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
    req.revision = 100;
    rpcfix_fails(&f, M("HashKV"), &req.base, &etcdserverpb__hash_kvresponse__descriptor,
                 KM_GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision");
    uint32_t before = hash_kv(&f, 0, NULL, NULL);
    int64_t cur;
    ck_assert_int_eq(km_store_compact(f.store, rev, &cur), 0);
    /* the compacted revision itself is refused, as etcd's HashKV does */
    req.revision = rev;
    rpcfix_fails(&f, M("HashKV"), &req.base, &etcdserverpb__hash_kvresponse__descriptor,
                 KM_GRPC_OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted");
    int64_t compact;
    uint32_t after = hash_kv(&f, 0, &compact, NULL);
    ck_assert_int_eq(compact, rev);
    ck_assert_uint_ne(before, after);   /* the superseded version went */
    rpcfix_down(&f);
}

/* The stream: data messages with the bytes still to come, then the
 * SHA-256 of them all with none remaining. The file restores into a
 * store holding the same keys. */
static void snapshot_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    char k[16], v[4096];
    memset(v, 'x', sizeof v - 1);
    v[sizeof v - 1] = 0;
    int64_t rev = 0;
    for (int i = 0; i < 200; i++) {     /* past one 64 KiB message */
        snprintf(k, sizeof k, "k%03d", i);
        rev = put(&f, k, v);
    }
    char path[96];
    snprintf(path, sizeof path, "%s.snap", f.dir);
    FILE *out = fopen(path, "wb");
    ck_assert_ptr_nonnull(out);

    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(f.ch, M("Snapshot"), NULL, 0, km_now() + 10 * SEC, &st), 0);
    Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, km_now() + 5 * SEC), 0);
    km__sha256 sh;
    km__sha256_init(&sh);
    uint64_t total = 0, remaining = UINT64_MAX;
    int msgs = 0;
    bool got_sum = false;
    for (;;) {
        ProtobufCMessage *m;
        int rc = km_grpc_stream_recv_pb(st, &etcdserverpb__snapshot_response__descriptor, &m,
                                        km_now() + 5 * SEC);
        if (rc == 0)
            break;
        ck_assert_int_eq(rc, 1);
        Etcdserverpb__SnapshotResponse *r = (Etcdserverpb__SnapshotResponse *)m;
        ck_assert(!got_sum);
        ck_assert_uint_eq(fwrite(r->blob.data, 1, r->blob.len, out), r->blob.len);
        if (remaining == 0) {
            /* after the last data message: the digest */
            uint8_t want[KM__SHA256_LEN];
            km__sha256_final(&sh, want);
            ck_assert_uint_eq(r->blob.len, KM__SHA256_LEN);
            ck_assert(!memcmp(r->blob.data, want, KM__SHA256_LEN));
            ck_assert_uint_eq(r->remaining_bytes, 0);
            got_sum = true;
        } else {
            total += r->blob.len;
            ck_assert(r->remaining_bytes < remaining);
            remaining = r->remaining_bytes;
            km__sha256_update(&sh, r->blob.data, r->blob.len);
            msgs++;
        }
        km_grpc_pb_free(m);
    }
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_OK);
    km_grpc_stream_free(st);
    fclose(out);
    ck_assert(got_sum);
    ck_assert_int_gt(msgs, 1);
    ck_assert_uint_eq(total % 4096, 0);     /* whole pages */
    ck_assert_uint_gt(total, 200 * 4096);

    /* restore, then read what was written */
    char dir[96];
    snprintf(dir, sizeof dir, "%s.restored", f.dir);
    ck_assert_int_eq(km_store_restore(path, dir, false), 0);
    ck_assert_int_eq(km_store_restore(path, dir, false), -EEXIST);
    km_store *s;
    km_store_config sc = { .dir = dir, .map_size = 64 << 20 };
    ck_assert_int_eq(km_store_open(&s, &sc), 0);
    km_store_stat ss;
    ck_assert_int_eq(km_store_stat_read(s, &ss), 0);
    ck_assert_int_eq(ss.revision, rev);
    ck_assert_int_eq(ss.keys, 200);
    km_op op = { .type = KM_OP_RANGE, .range = { .key = { (const uint8_t *)"k123", 4 } } };
    km_store_res res;
    ck_assert_int_eq(km_store_do(s, &op, &res), 0);
    ck_assert_uint_eq(res.txn.resp[0].range.nkvs, 1);
    ck_assert_uint_eq(res.txn.resp[0].range.kvs[0].value.n, sizeof v - 1);
    km_store_res_free(&res);
    km_store_close(s);

    /* a flipped byte fails the digest; without one it needs skip_hash */
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "printf X | dd of=%s bs=1 seek=9000 conv=notrunc 2>/dev/null && rm -rf %s", path, dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(km_store_restore(path, dir, false), -EBADMSG);
    snprintf(cmd, sizeof cmd, "truncate -s -32 %s && rm -rf %s", path, dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(km_store_restore(path, dir, false), -ENODATA);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", path, dir);
    ck_assert_int_eq(system(cmd), 0);
    rpcfix_down(&f);
}

/* A client that leaves mid-stream: the server drops the copy and goes on. */
static void snapshot_cancel_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    char k[16], v[8192];
    memset(v, 'y', sizeof v - 1);
    v[sizeof v - 1] = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        put(&f, k, v);
    }
    for (int round = 0; round < 3; round++) {
        km_grpc_stream *st;
        ck_assert_int_eq(km_grpc_stream_open(f.ch, M("Snapshot"), NULL, 0, km_now() + 10 * SEC, &st), 0);
        Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
        ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, km_now() + 5 * SEC), 0);
        km_str msg;
        ck_assert_int_eq(km_grpc_stream_recv(st, &msg, km_now() + 5 * SEC), 1);
        km_grpc_stream_cancel(st);
        km_grpc_stream_free(st);
    }
    Etcdserverpb__StatusRequest sr = ETCDSERVERPB__STATUS_REQUEST__INIT;
    km_grpc_pb_free(rpcfix_ok(&f, M("Status"), &sr.base, &etcdserverpb__status_response__descriptor));
    rpcfix_down(&f);
}

/* The fixture's etcd, named and with a client URL. */
static void up_named(rpcfix *f)
{
    rpcfix_up(f);
    km_etcd *e;
    km_etcd_config ec = { .store = f->store, .hub = f->hub, .cluster_id = FIX_CLUSTER,
                          .member_id = FIX_MEMBER, .name = "m1",
                          .client_url = "http://127.0.0.1:2379" };
    ck_assert_int_eq(km_etcd_new(&e, &ec), 0);
    km_grpc_server *gs;
    ck_assert_int_eq(km_grpc_server_new(&gs, NULL), 0);
    ck_assert_int_eq(km_etcd_grpc_register(e, gs), 0);
    km_http_config hc = { .addr = "127.0.0.1:0", .handler = km_grpc_serve_http, .ud = gs };
    km_http_server *srv;
    ck_assert_int_eq(km_http_serve(&srv, &hc), 0);
    /* swap the fixture's server for this one */
    km_grpc_channel_free(f->ch);
    km_http_shutdown(f->srv, km_now() + 5 * SEC);
    km_grpc_server_free(f->gs);
    km_etcd_free(f->etcd);
    f->etcd = e;
    f->gs = gs;
    f->srv = srv;
    snprintf(f->target, sizeof f->target, "127.0.0.1:%d", km_http_server_port(srv));
    km_grpc_channel_config cc = { .target = f->target };
    ck_assert_int_eq(km_grpc_channel_new(&f->ch, &cc), 0);
}

static void members_body(void *arg)
{
    rpcfix f;
    up_named(&f);
    Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
    Etcdserverpb__MemberListResponse *r = (Etcdserverpb__MemberListResponse *)rpcfix_ok(
        &f, C("MemberList"), &req.base, &etcdserverpb__member_list_response__descriptor);
    ck_assert_uint_eq(r->header->cluster_id, FIX_CLUSTER);
    ck_assert_int_eq(r->header->revision, 0);   /* etcd's cluster answers have none */
    ck_assert_uint_eq(r->n_members, 1);
    Etcdserverpb__Member *m = r->members[0];
    ck_assert_uint_eq(m->id, FIX_MEMBER);
    ck_assert_str_eq(m->name, "m1");
    ck_assert_uint_eq(m->n_clienturls, 1);
    ck_assert_str_eq(m->clienturls[0], "http://127.0.0.1:2379");
    ck_assert(!m->islearner);
    km_grpc_pb_free(&r->base);

    Etcdserverpb__MemberAddRequest add = ETCDSERVERPB__MEMBER_ADD_REQUEST__INIT;
    char *bad = "127.0.0.1:2380", *good = "http://127.0.0.1:2380";
    add.n_peerurls = 1;
    add.peerurls = &bad;
    rpcfix_fails(&f, C("MemberAdd"), &add.base, &etcdserverpb__member_add_response__descriptor,
                 KM_GRPC_INVALID_ARGUMENT, "etcdserver: given member URLs are invalid");
    add.peerurls = &good;
    rpcfix_fails(&f, C("MemberAdd"), &add.base, &etcdserverpb__member_add_response__descriptor,
                 KM_GRPC_UNIMPLEMENTED, "kumo: a single member: membership cannot change");

    Etcdserverpb__MemberRemoveRequest rm = ETCDSERVERPB__MEMBER_REMOVE_REQUEST__INIT;
    rm.id = 5;
    rpcfix_fails(&f, C("MemberRemove"), &rm.base,
                 &etcdserverpb__member_remove_response__descriptor, KM_GRPC_NOT_FOUND,
                 "etcdserver: member not found");
    rm.id = FIX_MEMBER;
    rpcfix_fails(&f, C("MemberRemove"), &rm.base,
                 &etcdserverpb__member_remove_response__descriptor, KM_GRPC_UNIMPLEMENTED,
                 "kumo: a single member: membership cannot change");
    Etcdserverpb__MemberUpdateRequest up = ETCDSERVERPB__MEMBER_UPDATE_REQUEST__INIT;
    up.id = 5;
    rpcfix_fails(&f, C("MemberUpdate"), &up.base,
                 &etcdserverpb__member_update_response__descriptor, KM_GRPC_NOT_FOUND,
                 "etcdserver: member not found");
    Etcdserverpb__MemberPromoteRequest pr = ETCDSERVERPB__MEMBER_PROMOTE_REQUEST__INIT;
    pr.id = FIX_MEMBER;
    rpcfix_fails(&f, C("MemberPromote"), &pr.base,
                 &etcdserverpb__member_promote_response__descriptor, KM_GRPC_FAILED_PRECONDITION,
                 "etcdserver: can only promote a learner member");
    rpcfix_down(&f);
}

/* Without a name or URL configured: etcd's default name, no URLs. */
static void member_default_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    Etcdserverpb__MemberListRequest req = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
    Etcdserverpb__MemberListResponse *r = (Etcdserverpb__MemberListResponse *)rpcfix_ok(
        &f, C("MemberList"), &req.base, &etcdserverpb__member_list_response__descriptor);
    ck_assert_uint_eq(r->n_members, 1);
    ck_assert_str_eq(r->members[0]->name, "default");
    ck_assert_uint_eq(r->members[0]->n_clienturls, 0);
    km_grpc_pb_free(&r->base);
    rpcfix_down(&f);
}

START_TEST(status) { t_run(status_body, NULL); }
END_TEST
START_TEST(alarm_defrag_move) { t_run(alarm_defrag_move_body, NULL); }
END_TEST
START_TEST(hash) { t_run(hash_body, NULL); }
END_TEST
START_TEST(snapshot) { t_run(snapshot_body, NULL); }
END_TEST
START_TEST(snapshot_cancel) { t_run(snapshot_cancel_body, NULL); }
END_TEST
START_TEST(members) { t_run(members_body, NULL); }
END_TEST
START_TEST(member_default) { t_run(member_default_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_maint");
    TCase *tc = tcase_create("maint");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, status);
    tcase_add_test(tc, alarm_defrag_move);
    tcase_add_test(tc, hash);
    tcase_add_test(tc, snapshot);
    tcase_add_test(tc, snapshot_cancel);
    tcase_add_test(tc, members);
    tcase_add_test(tc, member_default);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
