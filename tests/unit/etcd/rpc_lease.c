/* SPDX-License-Identifier: MIT */
/* etcd's Lease service over gRPC: grant, revoke, time-to-live with keys,
 * the list, the keep-alive stream, and etcd's errors and limits. */
#include "util.h"
#include "rpcfix.h"

#define GRANT "/etcdserverpb.Lease/LeaseGrant"
#define REVOKE "/etcdserverpb.Lease/LeaseRevoke"
#define TTL "/etcdserverpb.Lease/LeaseTimeToLive"
#define LEASES "/etcdserverpb.Lease/LeaseLeases"
#define KEEPALIVE "/etcdserverpb.Lease/LeaseKeepAlive"

static int64_t grant(rpcfix *f, int64_t id, int64_t ttl, int64_t *got_ttl)
{
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.id = id;
    req.ttl = ttl;
    Etcdserverpb__LeaseGrantResponse *rep = (Etcdserverpb__LeaseGrantResponse *)rpcfix_ok(
        f, GRANT, &req.base, &etcdserverpb__lease_grant_response__descriptor);
    ck_assert_ptr_nonnull(rep->header);
    ck_assert_uint_eq(rep->header->cluster_id, FIX_CLUSTER);
    ck_assert_uint_eq(rep->header->member_id, FIX_MEMBER);
    int64_t out = rep->id;
    if (got_ttl)
        *got_ttl = rep->ttl;
    km_grpc_pb_free(&rep->base);
    return out;
}

/* A put with a lease, straight to the store; the header revision. */
static int64_t put_leased(rpcfix *f, const char *k, int64_t lease)
{
    km_op op = { .type = KM_OP_PUT,
                 .put = { .key = { (const uint8_t *)k, strlen(k) },
                          .value = { (const uint8_t *)"v", 1 }, .lease = lease } };
    km_store_res res;
    ck_assert_int_eq(km_store_do(f->store, &op, &res), 0);
    int64_t rev = res.revision;
    km_store_res_free(&res);
    return rev;
}

static Etcdserverpb__LeaseTimeToLiveResponse *ttl_of(rpcfix *f, int64_t id, bool keys)
{
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = id;
    req.keys = keys;
    return (Etcdserverpb__LeaseTimeToLiveResponse *)rpcfix_ok(
        f, TTL, &req.base, &etcdserverpb__lease_time_to_live_response__descriptor);
}

static void grant_ttl_revoke_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t t;
    int64_t a = grant(&f, 0, 60, &t);
    ck_assert_int_gt(a, 0);
    ck_assert_int_eq(t, 60);
    /* a short TTL is raised to etcd's minimum; an id may be chosen */
    ck_assert_int_eq(grant(&f, 7, 1, &t), 7);
    ck_assert_int_eq(t, 2);

    int64_t rev = put_leased(&f, "k1", a);
    put_leased(&f, "k2", a);
    Etcdserverpb__LeaseTimeToLiveResponse *r = ttl_of(&f, a, true);
    ck_assert_int_eq(r->id, a);
    ck_assert_int_eq(r->grantedttl, 60);
    ck_assert(r->ttl >= 58 && r->ttl <= 60);
    ck_assert_int_eq(r->header->revision, rev + 1);
    ck_assert_uint_eq(r->n_keys, 2);
    ck_assert(r->keys[0].len == 2 && !memcmp(r->keys[0].data, "k1", 2));
    ck_assert(r->keys[1].len == 2 && !memcmp(r->keys[1].data, "k2", 2));
    km_grpc_pb_free(&r->base);
    /* keys only when asked */
    r = ttl_of(&f, a, false);
    ck_assert_uint_eq(r->n_keys, 0);
    km_grpc_pb_free(&r->base);

    /* both leases listed */
    Etcdserverpb__LeaseLeasesRequest lreq = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
    Etcdserverpb__LeaseLeasesResponse *l = (Etcdserverpb__LeaseLeasesResponse *)rpcfix_ok(
        &f, LEASES, &lreq.base, &etcdserverpb__lease_leases_response__descriptor);
    ck_assert_uint_eq(l->n_leases, 2);
    ck_assert(l->leases[0]->id + l->leases[1]->id == a + 7);
    km_grpc_pb_free(&l->base);

    /* revoking deletes the keys in one revision */
    Etcdserverpb__LeaseRevokeRequest rv = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    rv.id = a;
    Etcdserverpb__LeaseRevokeResponse *rr = (Etcdserverpb__LeaseRevokeResponse *)rpcfix_ok(
        &f, REVOKE, &rv.base, &etcdserverpb__lease_revoke_response__descriptor);
    ck_assert_int_eq(rr->header->revision, rev + 2);
    km_grpc_pb_free(&rr->base);
    km_store_stat st;
    ck_assert_int_eq(km_store_stat_read(f.store, &st), 0);
    ck_assert_int_eq(st.keys, 0);

    /* gone: TTL -1 and no error, as etcd answers */
    r = ttl_of(&f, a, true);
    ck_assert_int_eq(r->id, a);
    ck_assert_int_eq(r->ttl, -1);
    ck_assert_int_eq(r->grantedttl, 0);
    ck_assert_uint_eq(r->n_keys, 0);
    km_grpc_pb_free(&r->base);
    rpcfix_down(&f);
}

static void errors_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    grant(&f, 42, 10, NULL);
    Etcdserverpb__LeaseGrantRequest g = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    g.id = 42;
    g.ttl = 10;
    rpcfix_fails(&f, GRANT, &g.base, &etcdserverpb__lease_grant_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, "etcdserver: lease already exists");
    g.id = 0;
    g.ttl = 9000000001LL;
    rpcfix_fails(&f, GRANT, &g.base, &etcdserverpb__lease_grant_response__descriptor,
                 KM_GRPC_OUT_OF_RANGE, "etcdserver: too large lease TTL");
    Etcdserverpb__LeaseRevokeRequest rv = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    rv.id = 43;
    rpcfix_fails(&f, REVOKE, &rv.base, &etcdserverpb__lease_revoke_response__descriptor,
                 KM_GRPC_NOT_FOUND, "etcdserver: requested lease not found");
    rpcfix_down(&f);
}

static void ka_send(km_grpc_stream *st, int64_t id)
{
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = id;
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, false, km_now() + 5 * SEC), 0);
}

static void ka_expect(km_grpc_stream *st, int64_t id, int64_t ttl)
{
    ProtobufCMessage *m;
    int rc = km_grpc_stream_recv_pb(st, &etcdserverpb__lease_keep_alive_response__descriptor, &m,
                                    km_now() + 5 * SEC);
    ck_assert_int_eq(rc, 1);
    Etcdserverpb__LeaseKeepAliveResponse *r = (Etcdserverpb__LeaseKeepAliveResponse *)m;
    ck_assert_int_eq(r->id, id);
    ck_assert_int_eq(r->ttl, ttl);
    ck_assert_ptr_nonnull(r->header);
    ck_assert_uint_eq(r->header->member_id, FIX_MEMBER);
    ck_assert_int_gt(r->header->revision, 0);
    km_grpc_pb_free(m);
}

/* One answer per request in order, TTL 0 for a lease that is gone (the
 * stream stays up), and OK once the client half-closes. */
static void keepalive_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t a = grant(&f, 0, 30, NULL), b = grant(&f, 0, 5, NULL);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(f.ch, KEEPALIVE, NULL, 0, km_now() + 10 * SEC, &st), 0);
    ka_send(st, a);
    ka_expect(st, a, 30);
    ka_send(st, 999);
    ka_expect(st, 999, 0);
    ka_send(st, b);
    ka_send(st, a);
    ka_expect(st, b, 5);
    ka_expect(st, a, 30);
    /* revoked while the stream is open */
    ck_assert_int_eq(km_lease_revoke(f.store, b, NULL), 0);
    ka_send(st, b);
    ka_expect(st, b, 0);
    ck_assert_int_eq(km_grpc_stream_close_send(st, km_now() + 5 * SEC), 0);
    km_str msg;
    ck_assert_int_eq(km_grpc_stream_recv(st, &msg, km_now() + 5 * SEC), 0);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_OK);
    km_grpc_stream_free(st);

    /* the renewal restarted the countdown */
    Etcdserverpb__LeaseTimeToLiveResponse *r = ttl_of(&f, a, false);
    ck_assert(r->ttl >= 29 && r->ttl <= 30);
    km_grpc_pb_free(&r->base);
    rpcfix_down(&f);
}

/* The client never ends a keep-alive stream: a server that stops ends it
 * with UNAVAILABLE (clientv3 retries), at once rather than at the end of
 * its grace. */
static void stop_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t a = grant(&f, 0, 30, NULL);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(f.ch, KEEPALIVE, NULL, 0, km_now() + 10 * SEC, &st), 0);
    ka_send(st, a);
    ka_expect(st, a, 30);
    rpcfix_stop stop;
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
    rpcfix_stop_wait(&stop);
    ck_assert_msg(stop.rc == 0 && stop.took < 2 * SEC, "stop: %s after %lld ms",
                  km_strerror(stop.rc), (long long)(stop.took / 1000000));
    rpcfix_down(&f);
}

/* A lease that expires is revoked with its keys; keep-alive then gets 0. */
static void expiry_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    int64_t a = grant(&f, 0, 2, NULL);
    put_leased(&f, "gone", a);
    km_sleep(3500 * 1000000LL);
    Etcdserverpb__LeaseTimeToLiveResponse *r = ttl_of(&f, a, true);
    ck_assert_int_eq(r->ttl, -1);
    km_grpc_pb_free(&r->base);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(f.ch, KEEPALIVE, NULL, 0, km_now() + 10 * SEC, &st), 0);
    ka_send(st, a);
    ka_expect(st, a, 0);
    km_grpc_stream_free(st);
    km_store_stat ss;
    ck_assert_int_eq(km_store_stat_read(f.store, &ss), 0);
    ck_assert_int_eq(ss.keys, 0);
    rpcfix_down(&f);
}

START_TEST(grant_ttl_revoke) { t_run(grant_ttl_revoke_body, NULL); }
END_TEST
START_TEST(errors) { t_run(errors_body, NULL); }
END_TEST
START_TEST(keepalive) { t_run(keepalive_body, NULL); }
END_TEST
START_TEST(expiry) { t_run(expiry_body, NULL); }
END_TEST
START_TEST(stop) { t_run(stop_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_lease");
    TCase *tc = tcase_create("lease");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, grant_ttl_revoke);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, keepalive);
    tcase_add_test(tc, expiry);
    tcase_add_test(tc, stop);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
