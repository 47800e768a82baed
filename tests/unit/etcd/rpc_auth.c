/* SPDX-License-Identifier: MIT */
/* etcd's Auth service over gRPC and the permission checks of the other
 * services: without users (what the etcd backend keeps) and with them:
 * management, login tokens in the "token" metadata, denied ranges, writes,
 * txns, compaction, maintenance, lease revocation and watches. */
#include "util.h"
#include "rpcfix.h"

#define A(x) "/etcdserverpb.Auth/" x
#define KV(x) "/etcdserverpb.KV/" x
#define DENIED "etcdserver: permission denied"
#define BIN(s) ((ProtobufCBinaryData){ sizeof(s) - 1, (uint8_t *)(s) })

/* With no auth object (the etcd backend): logins find authentication
 * off, changes are refused, lists are empty. */
static void without_users_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    Etcdserverpb__AuthenticateRequest au = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    au.name = "root";
    au.password = "x";
    rpcfix_fails(&f, A("Authenticate"), &au.base, &etcdserverpb__authenticate_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, "etcdserver: authentication is not enabled");
    Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
    rpcfix_fails(&f, A("AuthEnable"), &en.base, &etcdserverpb__auth_enable_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, "etcdserver: root user does not exist");
    Etcdserverpb__AuthUserGetRequest ug = ETCDSERVERPB__AUTH_USER_GET_REQUEST__INIT;
    ug.name = "nobody";
    rpcfix_fails(&f, A("UserGet"), &ug.base, &etcdserverpb__auth_user_get_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, "etcdserver: user name not found");
    Etcdserverpb__AuthRoleGetRequest rg = ETCDSERVERPB__AUTH_ROLE_GET_REQUEST__INIT;
    rg.role = "nobody";
    rpcfix_fails(&f, A("RoleGet"), &rg.base, &etcdserverpb__auth_role_get_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, "etcdserver: role name not found");
    Etcdserverpb__AuthDisableRequest dis = ETCDSERVERPB__AUTH_DISABLE_REQUEST__INIT;
    Etcdserverpb__AuthDisableResponse *d = (Etcdserverpb__AuthDisableResponse *)rpcfix_ok(
        &f, A("AuthDisable"), &dis.base, &etcdserverpb__auth_disable_response__descriptor);
    ck_assert_uint_eq(d->header->member_id, FIX_MEMBER);
    km_grpc_pb_free(&d->base);
    Etcdserverpb__AuthUserListRequest ul = ETCDSERVERPB__AUTH_USER_LIST_REQUEST__INIT;
    Etcdserverpb__AuthUserListResponse *u = (Etcdserverpb__AuthUserListResponse *)rpcfix_ok(
        &f, A("UserList"), &ul.base, &etcdserverpb__auth_user_list_response__descriptor);
    ck_assert_uint_eq(u->n_users, 0);
    km_grpc_pb_free(&u->base);
    Etcdserverpb__AuthUserAddRequest ua = ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT;
    ua.name = "u";
    rpcfix_fails(&f, A("UserAdd"), &ua.base, &etcdserverpb__auth_user_add_response__descriptor,
                 KM_GRPC_UNIMPLEMENTED,
                 "kumo: users and roles need the embedded store, or --backend etcd:// "
                 "with a --backend-user holding etcd's root role");
    rpcfix_down(&f);
}

START_TEST(without_users) { t_run(without_users_body, NULL); }
END_TEST

static void call_ok(rpcfix *f, const char *m, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *d)
{
    km_grpc_pb_free(rpcfix_ok(f, m, req, d));
}

/* Logs in as user (NULL: nobody) and sends its token from now on. */
static void as(rpcfix *f, const char *user, const char *pw)
{
    f->nmd = 0;
    if (!user)
        return;
    Etcdserverpb__AuthenticateRequest q = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    q.name = (char *)user;
    q.password = (char *)pw;
    Etcdserverpb__AuthenticateResponse *r = (Etcdserverpb__AuthenticateResponse *)rpcfix_ok(
        f, A("Authenticate"), &q.base, &etcdserverpb__authenticate_response__descriptor);
    snprintf(f->token, sizeof f->token, "%s", r->token);
    km_grpc_pb_free(&r->base);
    f->md[0] = km_grpc_md_of("token", f->token, strlen(f->token));
    f->nmd = 1;
}

static void put(rpcfix *f, const char *k, int64_t lease)
{
    Etcdserverpb__PutRequest q = ETCDSERVERPB__PUT_REQUEST__INIT;
    q.key = (ProtobufCBinaryData){ strlen(k), (uint8_t *)k };
    q.value = BIN("v");
    q.lease = lease;
    call_ok(f, KV("Put"), &q.base, &etcdserverpb__put_response__descriptor);
}

static void setup(rpcfix *f)
{
    Etcdserverpb__AuthUserAddRequest ua = ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT;
    ua.name = "root";
    ua.password = "rootpw";
    call_ok(f, A("UserAdd"), &ua.base, &etcdserverpb__auth_user_add_response__descriptor);
    ua.name = "alice";
    ua.password = "alicepw";
    call_ok(f, A("UserAdd"), &ua.base, &etcdserverpb__auth_user_add_response__descriptor);
    Etcdserverpb__AuthRoleAddRequest ra = ETCDSERVERPB__AUTH_ROLE_ADD_REQUEST__INIT;
    ra.name = "root";
    call_ok(f, A("RoleAdd"), &ra.base, &etcdserverpb__auth_role_add_response__descriptor);
    ra.name = "reader";
    call_ok(f, A("RoleAdd"), &ra.base, &etcdserverpb__auth_role_add_response__descriptor);
    Etcdserverpb__AuthUserGrantRoleRequest gr = ETCDSERVERPB__AUTH_USER_GRANT_ROLE_REQUEST__INIT;
    gr.user = "root";
    gr.role = "root";
    call_ok(f, A("UserGrantRole"), &gr.base, &etcdserverpb__auth_user_grant_role_response__descriptor);
    gr.user = "alice";
    gr.role = "reader";
    call_ok(f, A("UserGrantRole"), &gr.base, &etcdserverpb__auth_user_grant_role_response__descriptor);
    Authpb__Permission p = AUTHPB__PERMISSION__INIT;
    p.permtype = AUTHPB__PERMISSION__TYPE__READ;
    p.key = BIN("app/");
    p.range_end = BIN("app0");
    Etcdserverpb__AuthRoleGrantPermissionRequest gp =
        ETCDSERVERPB__AUTH_ROLE_GRANT_PERMISSION_REQUEST__INIT;
    gp.name = "reader";
    gp.perm = &p;
    call_ok(f, A("RoleGrantPermission"), &gp.base,
            &etcdserverpb__auth_role_grant_permission_response__descriptor);
}

static km_grpc_stream *watch_open(rpcfix *f)
{
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(f->ch, "/etcdserverpb.Watch/Watch", f->md, f->nmd,
                                         km_now() + 60 * SEC, &st), 0);
    return st;
}

static Etcdserverpb__WatchResponse *watch_create(km_grpc_stream *st, const char *key,
                                                 const char *end)
{
    Etcdserverpb__WatchCreateRequest c = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    c.key = (ProtobufCBinaryData){ strlen(key), (uint8_t *)key };
    c.range_end = (ProtobufCBinaryData){ end ? strlen(end) : 0, (uint8_t *)end };
    Etcdserverpb__WatchRequest r = ETCDSERVERPB__WATCH_REQUEST__INIT;
    r.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    r.create_request = &c;
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &r.base, false, km_now() + 10 * SEC), 0);
    ProtobufCMessage *m;
    ck_assert_int_eq(km_grpc_stream_recv_pb(st, &etcdserverpb__watch_response__descriptor, &m,
                                            km_now() + 10 * SEC), 1);
    return (Etcdserverpb__WatchResponse *)m;
}

static void roles_body(void *arg)
{
    km_auth_config ac = { .kdf_iter = 1000 };
    km_auth *auth;
    const char *err;
    ck_assert_int_eq(km_auth_open(&auth, &ac, &err), 0);
    rpcfix f;
    rpcfix_up_full(&f, 0, 0, auth);
    setup(&f);
    Etcdserverpb__AuthRoleGetRequest rg = ETCDSERVERPB__AUTH_ROLE_GET_REQUEST__INIT;
    rg.role = "reader";
    Etcdserverpb__AuthRoleGetResponse *role = (Etcdserverpb__AuthRoleGetResponse *)rpcfix_ok(
        &f, A("RoleGet"), &rg.base, &etcdserverpb__auth_role_get_response__descriptor);
    ck_assert_uint_eq(role->n_perm, 1);
    ck_assert_int_eq(role->perm[0]->permtype, AUTHPB__PERMISSION__TYPE__READ);
    ck_assert(role->perm[0]->key.len == 4 && !memcmp(role->perm[0]->key.data, "app/", 4));
    km_grpc_pb_free(&role->base);
    Etcdserverpb__AuthUserGetRequest ug = ETCDSERVERPB__AUTH_USER_GET_REQUEST__INIT;
    ug.name = "alice";
    Etcdserverpb__AuthUserGetResponse *user = (Etcdserverpb__AuthUserGetResponse *)rpcfix_ok(
        &f, A("UserGet"), &ug.base, &etcdserverpb__auth_user_get_response__descriptor);
    ck_assert_uint_eq(user->n_roles, 1);
    ck_assert_str_eq(user->roles[0], "reader");
    km_grpc_pb_free(&user->base);

    Etcdserverpb__AuthEnableRequest en = ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT;
    call_ok(&f, A("AuthEnable"), &en.base, &etcdserverpb__auth_enable_response__descriptor);
    Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    rq.key = BIN("app/x");
    rpcfix_fails(&f, KV("Range"), &rq.base, &etcdserverpb__range_response__descriptor,
                 KM_GRPC_INVALID_ARGUMENT, "etcdserver: user name is empty");
    Etcdserverpb__AuthenticateRequest bad = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    bad.name = "alice";
    bad.password = "nope";
    rpcfix_fails(&f, A("Authenticate"), &bad.base, &etcdserverpb__authenticate_response__descriptor,
                 KM_GRPC_INVALID_ARGUMENT,
                 "etcdserver: authentication failed, invalid user ID or password");

    as(&f, "root", "rootpw");
    put(&f, "app/x", 0);
    put(&f, "other", 0);
    Etcdserverpb__LeaseGrantRequest lg = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    lg.ttl = 60;
    Etcdserverpb__LeaseGrantResponse *lease = (Etcdserverpb__LeaseGrantResponse *)rpcfix_ok(
        &f, "/etcdserverpb.Lease/LeaseGrant", &lg.base,
        &etcdserverpb__lease_grant_response__descriptor);
    int64_t lid = lease->id;
    km_grpc_pb_free(&lease->base);
    put(&f, "other/leased", lid);

    as(&f, "alice", "alicepw");
    call_ok(&f, KV("Range"), &rq.base, &etcdserverpb__range_response__descriptor);
    rq.range_end = BIN("app0");
    call_ok(&f, KV("Range"), &rq.base, &etcdserverpb__range_response__descriptor);
    rq.key = BIN("other");
    rq.range_end = (ProtobufCBinaryData){ 0, NULL };
    rpcfix_fails(&f, KV("Range"), &rq.base, &etcdserverpb__range_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    Etcdserverpb__PutRequest pq = ETCDSERVERPB__PUT_REQUEST__INIT;
    pq.key = BIN("app/x");
    pq.value = BIN("w");
    rpcfix_fails(&f, KV("Put"), &pq.base, &etcdserverpb__put_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    /* a txn: every compare and both branches are checked */
    Etcdserverpb__Compare cmp = ETCDSERVERPB__COMPARE__INIT;
    cmp.key = BIN("app/x");
    cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
    cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
    cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
    Etcdserverpb__Compare *cmps[] = { &cmp };
    Etcdserverpb__RangeRequest orq = ETCDSERVERPB__RANGE_REQUEST__INIT;
    orq.key = BIN("app/x");
    Etcdserverpb__RequestOp read_op = ETCDSERVERPB__REQUEST_OP__INIT;
    read_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    read_op.request_range = &orq;
    Etcdserverpb__RequestOp write_op = ETCDSERVERPB__REQUEST_OP__INIT;
    write_op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    write_op.request_put = &pq;
    Etcdserverpb__RequestOp *reads[] = { &read_op }, *writes[] = { &write_op };
    Etcdserverpb__TxnRequest tq = ETCDSERVERPB__TXN_REQUEST__INIT;
    tq.n_compare = 1, tq.compare = cmps;
    tq.n_success = 1, tq.success = reads;
    call_ok(&f, KV("Txn"), &tq.base, &etcdserverpb__txn_response__descriptor);
    tq.n_failure = 1, tq.failure = writes;     /* never taken, still checked */
    rpcfix_fails(&f, KV("Txn"), &tq.base, &etcdserverpb__txn_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    cmp.key = BIN("other");
    tq.n_failure = 0;
    rpcfix_fails(&f, KV("Txn"), &tq.base, &etcdserverpb__txn_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    /* root only: compaction, maintenance, management */
    Etcdserverpb__CompactionRequest cq = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    cq.revision = 2;
    rpcfix_fails(&f, KV("Compact"), &cq.base, &etcdserverpb__compaction_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    Etcdserverpb__HashKVRequest hq = ETCDSERVERPB__HASH_KVREQUEST__INIT;
    rpcfix_fails(&f, "/etcdserverpb.Maintenance/HashKV", &hq.base,
                 &etcdserverpb__hash_kvresponse__descriptor, KM_GRPC_PERMISSION_DENIED, DENIED);
    Etcdserverpb__AuthUserListRequest ul = ETCDSERVERPB__AUTH_USER_LIST_REQUEST__INIT;
    rpcfix_fails(&f, A("UserList"), &ul.base, &etcdserverpb__auth_user_list_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    /* revoking a lease deletes its keys: write on each is needed */
    Etcdserverpb__LeaseRevokeRequest lr = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    lr.id = lid;
    rpcfix_fails(&f, "/etcdserverpb.Lease/LeaseRevoke", &lr.base,
                 &etcdserverpb__lease_revoke_response__descriptor, KM_GRPC_PERMISSION_DENIED,
                 DENIED);
    /* listing a lease's keys needs read on each (etcd 3.4.26's fix) */
    Etcdserverpb__LeaseTimeToLiveRequest tt = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    tt.id = lid;
    call_ok(&f, "/etcdserverpb.Lease/LeaseTimeToLive", &tt.base,
            &etcdserverpb__lease_time_to_live_response__descriptor);
    tt.keys = true;
    rpcfix_fails(&f, "/etcdserverpb.Lease/LeaseTimeToLive", &tt.base,
                 &etcdserverpb__lease_time_to_live_response__descriptor,
                 KM_GRPC_PERMISSION_DENIED, DENIED);
    /* a watch on a forbidden range is created and canceled at once */
    km_grpc_stream *st = watch_open(&f);
    Etcdserverpb__WatchResponse *w = watch_create(st, "other", NULL);
    ck_assert(w->created && w->canceled);
    ck_assert_str_eq(w->cancel_reason, "rpc error: code = PermissionDenied desc = " DENIED);
    ck_assert_int_eq(w->watch_id, -1);
    km_grpc_pb_free(&w->base);
    w = watch_create(st, "app/", "app0");
    ck_assert(w->created && !w->canceled);
    km_grpc_pb_free(&w->base);
    km_grpc_stream_free(st);
    /* a token that is not one */
    snprintf(f.token, sizeof f.token, "forged.1");
    f.md[0] = km_grpc_md_of("token", f.token, strlen(f.token));
    rq.key = BIN("app/x");
    rpcfix_fails(&f, KV("Range"), &rq.base, &etcdserverpb__range_response__descriptor,
                 KM_GRPC_UNAUTHENTICATED, "etcdserver: invalid auth token");

    as(&f, "root", "rootpw");
    call_ok(&f, "/etcdserverpb.Lease/LeaseRevoke", &lr.base,
            &etcdserverpb__lease_revoke_response__descriptor);
    call_ok(&f, KV("Compact"), &cq.base, &etcdserverpb__compaction_response__descriptor);
    Etcdserverpb__AuthDisableRequest dis = ETCDSERVERPB__AUTH_DISABLE_REQUEST__INIT;
    call_ok(&f, A("AuthDisable"), &dis.base, &etcdserverpb__auth_disable_response__descriptor);
    as(&f, NULL, NULL);
    rq.key = BIN("other");
    call_ok(&f, KV("Range"), &rq.base, &etcdserverpb__range_response__descriptor);
    rpcfix_down(&f);
    km_auth_free(auth);
}

START_TEST(roles) { t_run(roles_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, without_users);
    tcase_add_test(tc, roles);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
