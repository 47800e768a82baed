/* SPDX-License-Identifier: MIT */
/* etcd's Auth service as etcd 3.4 answers it with authentication off and
 * no users or roles: this server keeps none. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-int.h"

/* Adding a user or role is what etcd would do; this server has nowhere
 * to keep one (and no authentication to use it for). */
static const char no_auth_store[] = "kumo: users and roles are not supported";

/* Reads the request; NULL when the call has failed (status set). */
static ProtobufCMessage *recv_req(km_grpc_call *c)
{
    ProtobufCMessage *m;
    return km_grpc_recv_pb(c, NULL, &m, KM_FOREVER) == 1 ? m : NULL;
}

static void fail_with(km_grpc_call *c, int code, const char *msg)
{
    ProtobufCMessage *m = recv_req(c);
    if (!m)
        return;
    km_grpc_pb_free(m);
    km_grpc_finish(c, code, msg);
}

/* With no root user, enabling fails before anything else is checked. */
static void auth_enable(km_grpc_call *c, void *ud)
{
    fail_with(c, KM_GRPC_FAILED_PRECONDITION, "etcdserver: root user does not exist");
}

static void authenticate(km_grpc_call *c, void *ud)
{
    /* clientv3 goes on without a token on exactly this answer, so
     * `etcdctl --user` works against a server without authentication */
    fail_with(c, KM_GRPC_FAILED_PRECONDITION, "etcdserver: authentication is not enabled");
}

static void user_missing(km_grpc_call *c, void *ud)
{
    fail_with(c, KM_GRPC_FAILED_PRECONDITION, "etcdserver: user name not found");
}

static void role_missing(km_grpc_call *c, void *ud)
{
    fail_with(c, KM_GRPC_FAILED_PRECONDITION, "etcdserver: role name not found");
}

static void user_add(km_grpc_call *c, void *ud)
{
    ProtobufCMessage *m = recv_req(c);
    if (!m)
        return;
    const char *name = ((Etcdserverpb__AuthUserAddRequest *)m)->name;
    bool empty = !name || !name[0];
    km_grpc_pb_free(m);
    if (empty)
        km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, "etcdserver: user name is empty");
    else
        km_grpc_finish(c, KM_GRPC_UNIMPLEMENTED, no_auth_store);
}

static void role_add(km_grpc_call *c, void *ud)
{
    ProtobufCMessage *m = recv_req(c);
    if (!m)
        return;
    const char *name = ((Etcdserverpb__AuthRoleAddRequest *)m)->name;
    bool empty = !name || !name[0];
    km_grpc_pb_free(m);
    if (empty)
        km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, "etcdserver: role name is empty");
    else
        km_grpc_finish(c, KM_GRPC_UNIMPLEMENTED, no_auth_store);
}

/* Disabling what is off succeeds; the lists are empty. Each answer is a
 * header alone, which all three response types begin with. */
static void header_only(km_grpc_call *c, km_etcd *e, ProtobufCMessage *rep,
                        Etcdserverpb__ResponseHeader **slot)
{
    ProtobufCMessage *m = recv_req(c);
    if (!m)
        return;
    km_grpc_pb_free(m);
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, km_store_revision(e->store), &h);
    *slot = &h;
    km_grpc_send_pb(c, rep, KM_FOREVER);
}

static void auth_disable(km_grpc_call *c, void *ud)
{
    Etcdserverpb__AuthDisableResponse rep = ETCDSERVERPB__AUTH_DISABLE_RESPONSE__INIT;
    header_only(c, ud, &rep.base, &rep.header);
}

static void user_list(km_grpc_call *c, void *ud)
{
    Etcdserverpb__AuthUserListResponse rep = ETCDSERVERPB__AUTH_USER_LIST_RESPONSE__INIT;
    header_only(c, ud, &rep.base, &rep.header);
}

static void role_list(km_grpc_call *c, void *ud)
{
    Etcdserverpb__AuthRoleListResponse rep = ETCDSERVERPB__AUTH_ROLE_LIST_RESPONSE__INIT;
    header_only(c, ud, &rep.base, &rep.header);
}

int km__etcd_rpc_auth(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "AuthEnable", KM_GRPC_UNARY, auth_enable },
        { "AuthDisable", KM_GRPC_UNARY, auth_disable },
        { "Authenticate", KM_GRPC_UNARY, authenticate },
        { "UserAdd", KM_GRPC_UNARY, user_add },
        { "UserGet", KM_GRPC_UNARY, user_missing },
        { "UserList", KM_GRPC_UNARY, user_list },
        { "UserDelete", KM_GRPC_UNARY, user_missing },
        { "UserChangePassword", KM_GRPC_UNARY, user_missing },
        { "UserGrantRole", KM_GRPC_UNARY, user_missing },
        { "UserRevokeRole", KM_GRPC_UNARY, user_missing },
        { "RoleAdd", KM_GRPC_UNARY, role_add },
        { "RoleGet", KM_GRPC_UNARY, role_missing },
        { "RoleList", KM_GRPC_UNARY, role_list },
        { "RoleDelete", KM_GRPC_UNARY, role_missing },
        { "RoleGrantPermission", KM_GRPC_UNARY, role_missing },
        { "RoleRevokePermission", KM_GRPC_UNARY, role_missing },
    };
    return km_grpc_register_service(s, &etcdserverpb__auth__descriptor, methods,
                                    sizeof methods / sizeof methods[0], e);
}
