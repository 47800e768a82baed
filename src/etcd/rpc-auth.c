/* SPDX-License-Identifier: MIT */
/* etcd's Auth service over gRPC: each request decoded into the shared
 * form (authz.h), run, and its answer encoded. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-int.h"
#include "rt/alloc.h"

static const char *str(const char *s) { return s ? s : ""; }

/* The request's fields into q (pointing into m). */
static void decode(km__auth_op op, const ProtobufCMessage *m, km__auth_req *q)
{
    switch (op) {
    case KM__AUTH_AUTHENTICATE: {
        const Etcdserverpb__AuthenticateRequest *r = (const void *)m;
        q->name = str(r->name), q->password = str(r->password);
        break;
    }
    case KM__AUTH_USER_ADD: {
        const Etcdserverpb__AuthUserAddRequest *r = (const void *)m;
        q->name = str(r->name), q->password = str(r->password);
        q->no_password = r->options && r->options->no_password;
        break;
    }
    case KM__AUTH_USER_GET:
        q->name = str(((const Etcdserverpb__AuthUserGetRequest *)m)->name);
        break;
    case KM__AUTH_USER_DELETE:
        q->name = str(((const Etcdserverpb__AuthUserDeleteRequest *)m)->name);
        break;
    case KM__AUTH_USER_PASSWD: {
        const Etcdserverpb__AuthUserChangePasswordRequest *r = (const void *)m;
        q->name = str(r->name), q->password = str(r->password);
        break;
    }
    case KM__AUTH_USER_GRANT: {
        const Etcdserverpb__AuthUserGrantRoleRequest *r = (const void *)m;
        q->name = str(r->user), q->role = str(r->role);
        break;
    }
    case KM__AUTH_USER_REVOKE: {
        const Etcdserverpb__AuthUserRevokeRoleRequest *r = (const void *)m;
        q->name = str(r->name), q->role = str(r->role);
        break;
    }
    case KM__AUTH_ROLE_ADD:
        q->name = str(((const Etcdserverpb__AuthRoleAddRequest *)m)->name);
        break;
    case KM__AUTH_ROLE_GET:
        q->name = str(((const Etcdserverpb__AuthRoleGetRequest *)m)->role);
        break;
    case KM__AUTH_ROLE_DELETE:
        q->name = str(((const Etcdserverpb__AuthRoleDeleteRequest *)m)->role);
        break;
    case KM__AUTH_ROLE_GRANT: {
        const Etcdserverpb__AuthRoleGrantPermissionRequest *r = (const void *)m;
        q->name = str(r->name);
        if (r->perm) {
            q->perm.type = (km_perm_type)r->perm->permtype;
            q->perm.key = (km_bytes){ r->perm->key.data, r->perm->key.len };
            q->perm.end = (km_bytes){ r->perm->range_end.data, r->perm->range_end.len };
        }
        break;
    }
    case KM__AUTH_ROLE_REVOKE: {
        const Etcdserverpb__AuthRoleRevokePermissionRequest *r = (const void *)m;
        q->name = str(r->role);
        q->perm.key = (km_bytes){ r->key.data, r->key.len };
        q->perm.end = (km_bytes){ r->range_end.data, r->range_end.len };
        break;
    }
    default:
        break;
    }
}

/* The answer: a header, and what the operation read. */
static int answer(km_grpc_call *c, km_etcd *e, km__auth_op op, km__auth_res *res)
{
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, km_store_revision(e->store), &h);
    size_t n = res->list ? res->list->n : 0;
    char **names = res->list ? res->list->names : NULL;
    switch (op) {
    case KM__AUTH_AUTHENTICATE: {
        Etcdserverpb__AuthenticateResponse r = ETCDSERVERPB__AUTHENTICATE_RESPONSE__INIT;
        r.header = &h, r.token = res->token;
        return km_grpc_send_pb(c, &r.base, KM_FOREVER);
    }
    case KM__AUTH_USER_GET: {
        Etcdserverpb__AuthUserGetResponse r = ETCDSERVERPB__AUTH_USER_GET_RESPONSE__INIT;
        r.header = &h, r.n_roles = n, r.roles = names;
        return km_grpc_send_pb(c, &r.base, KM_FOREVER);
    }
    case KM__AUTH_USER_LIST: {
        Etcdserverpb__AuthUserListResponse r = ETCDSERVERPB__AUTH_USER_LIST_RESPONSE__INIT;
        r.header = &h, r.n_users = n, r.users = names;
        return km_grpc_send_pb(c, &r.base, KM_FOREVER);
    }
    case KM__AUTH_ROLE_LIST: {
        Etcdserverpb__AuthRoleListResponse r = ETCDSERVERPB__AUTH_ROLE_LIST_RESPONSE__INIT;
        r.header = &h, r.n_roles = n, r.roles = names;
        return km_grpc_send_pb(c, &r.base, KM_FOREVER);
    }
    case KM__AUTH_ROLE_GET: {
        Etcdserverpb__AuthRoleGetResponse r = ETCDSERVERPB__AUTH_ROLE_GET_RESPONSE__INIT;
        Authpb__Permission *pv = n ? km__malloc(n * sizeof *pv) : NULL;
        Authpb__Permission **pp = n ? km__malloc(n * sizeof *pp) : NULL;
        if (n && (!pv || !pp)) {
            km__free(pv);
            km__free(pp);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            const km_auth_perm *p = &res->list->perms[i];
            authpb__permission__init(&pv[i]);
            pv[i].permtype = (Authpb__Permission__Type)p->type;
            pv[i].key = (ProtobufCBinaryData){ p->key.n, (uint8_t *)p->key.p };
            pv[i].range_end = (ProtobufCBinaryData){ p->end.n, (uint8_t *)p->end.p };
            pp[i] = &pv[i];
        }
        r.header = &h, r.n_perm = n, r.perm = pp;
        int rc = km_grpc_send_pb(c, &r.base, KM_FOREVER);
        km__free(pv);
        km__free(pp);
        return rc;
    }
    default: {
        /* every other response is the header alone, at the same field */
        Etcdserverpb__AuthEnableResponse r = ETCDSERVERPB__AUTH_ENABLE_RESPONSE__INIT;
        r.header = &h;
        return km_grpc_send_pb(c, &r.base, KM_FOREVER);
    }
    }
}

static void serve(km_grpc_call *c, km_etcd *e, km__auth_op op)
{
    ProtobufCMessage *m;
    if (km_grpc_recv_pb(c, NULL, &m, KM_FOREVER) != 1)
        return;
    km__auth_req q = { .op = op, .name = "", .password = "", .role = "" };
    decode(op, m, &q);
    km_auth_id id = { .any = true };
    char peer[64];
    km__etcd_peer_ip(km_grpc_call_http(c), peer, sizeof peer);
    /* a login ignores whatever token came with it (clients send their
     * old one when they log in again) */
    if (op == KM__AUTH_AUTHENTICATE || !km__etcd_rpc_who(e, c, &id)) {
        km__auth_res res;
        int rc;
        if (op == KM__AUTH_ROLE_GRANT &&
            !((Etcdserverpb__AuthRoleGrantPermissionRequest *)m)->perm)
            km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, "etcdserver: permission not given");
        else if ((rc = km__etcd_auth_do(e, &id, peer, &q, &res)) == -EREMOTEIO &&
                 res.up.code > 0)
            km_grpc_finish(c, res.up.code, res.up.message);     /* etcd's own refusal */
        else if (rc != 0 || (rc = answer(c, e, op, &res)) != 0)
            km__etcd_rpc_fail(c, rc);
        if (res.list)
            km_auth_list_free(res.list);
        memset(res.token, 0, sizeof res.token);
    }
    km_grpc_pb_free(m);
}

#define METHOD(fn, op) \
    static void fn(km_grpc_call *c, void *ud) { serve(c, ud, op); }
METHOD(auth_enable, KM__AUTH_ENABLE)
METHOD(auth_disable, KM__AUTH_DISABLE)
METHOD(authenticate, KM__AUTH_AUTHENTICATE)
METHOD(user_add, KM__AUTH_USER_ADD)
METHOD(user_get, KM__AUTH_USER_GET)
METHOD(user_list, KM__AUTH_USER_LIST)
METHOD(user_delete, KM__AUTH_USER_DELETE)
METHOD(user_passwd, KM__AUTH_USER_PASSWD)
METHOD(user_grant, KM__AUTH_USER_GRANT)
METHOD(user_revoke, KM__AUTH_USER_REVOKE)
METHOD(role_add, KM__AUTH_ROLE_ADD)
METHOD(role_get, KM__AUTH_ROLE_GET)
METHOD(role_list, KM__AUTH_ROLE_LIST)
METHOD(role_delete, KM__AUTH_ROLE_DELETE)
METHOD(role_grant, KM__AUTH_ROLE_GRANT)
METHOD(role_revoke, KM__AUTH_ROLE_REVOKE)

int km__etcd_rpc_auth(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "AuthEnable", KM_GRPC_UNARY, auth_enable },
        { "AuthDisable", KM_GRPC_UNARY, auth_disable },
        { "Authenticate", KM_GRPC_UNARY, authenticate },
        { "UserAdd", KM_GRPC_UNARY, user_add },
        { "UserGet", KM_GRPC_UNARY, user_get },
        { "UserList", KM_GRPC_UNARY, user_list },
        { "UserDelete", KM_GRPC_UNARY, user_delete },
        { "UserChangePassword", KM_GRPC_UNARY, user_passwd },
        { "UserGrantRole", KM_GRPC_UNARY, user_grant },
        { "UserRevokeRole", KM_GRPC_UNARY, user_revoke },
        { "RoleAdd", KM_GRPC_UNARY, role_add },
        { "RoleGet", KM_GRPC_UNARY, role_get },
        { "RoleList", KM_GRPC_UNARY, role_list },
        { "RoleDelete", KM_GRPC_UNARY, role_delete },
        { "RoleGrantPermission", KM_GRPC_UNARY, role_grant },
        { "RoleRevokePermission", KM_GRPC_UNARY, role_revoke },
    };
    return km_grpc_register_service(s, &etcdserverpb__auth__descriptor, methods,
                                    sizeof methods / sizeof methods[0], e);
}
