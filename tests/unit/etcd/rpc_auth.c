/* SPDX-License-Identifier: MIT */
/* etcd's Auth service over gRPC: every method answers as etcd 3.4 does
 * with authentication off and no users or roles. */
#include "util.h"
#include "rpcfix.h"

#define A(x) "/etcdserverpb.Auth/" x
#define NO_USER "etcdserver: user name not found"
#define NO_ROLE "etcdserver: role name not found"

static void answers_body(void *arg)
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

    Etcdserverpb__AuthDisableRequest dis = ETCDSERVERPB__AUTH_DISABLE_REQUEST__INIT;
    Etcdserverpb__AuthDisableResponse *d = (Etcdserverpb__AuthDisableResponse *)rpcfix_ok(
        &f, A("AuthDisable"), &dis.base, &etcdserverpb__auth_disable_response__descriptor);
    ck_assert_uint_eq(d->header->member_id, FIX_MEMBER);
    ck_assert_int_eq(d->header->revision, 1);
    km_grpc_pb_free(&d->base);
    Etcdserverpb__AuthUserListRequest ul = ETCDSERVERPB__AUTH_USER_LIST_REQUEST__INIT;
    Etcdserverpb__AuthUserListResponse *u = (Etcdserverpb__AuthUserListResponse *)rpcfix_ok(
        &f, A("UserList"), &ul.base, &etcdserverpb__auth_user_list_response__descriptor);
    ck_assert_uint_eq(u->n_users, 0);
    km_grpc_pb_free(&u->base);
    Etcdserverpb__AuthRoleListRequest rl = ETCDSERVERPB__AUTH_ROLE_LIST_REQUEST__INIT;
    Etcdserverpb__AuthRoleListResponse *r = (Etcdserverpb__AuthRoleListResponse *)rpcfix_ok(
        &f, A("RoleList"), &rl.base, &etcdserverpb__auth_role_list_response__descriptor);
    ck_assert_uint_eq(r->n_roles, 0);
    km_grpc_pb_free(&r->base);

    Etcdserverpb__AuthUserAddRequest ua = ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT;
    rpcfix_fails(&f, A("UserAdd"), &ua.base, &etcdserverpb__auth_user_add_response__descriptor,
                 KM_GRPC_INVALID_ARGUMENT, "etcdserver: user name is empty");
    ua.name = "u";
    rpcfix_fails(&f, A("UserAdd"), &ua.base, &etcdserverpb__auth_user_add_response__descriptor,
                 KM_GRPC_UNIMPLEMENTED, "kumo: users and roles are not supported");
    Etcdserverpb__AuthRoleAddRequest ra = ETCDSERVERPB__AUTH_ROLE_ADD_REQUEST__INIT;
    rpcfix_fails(&f, A("RoleAdd"), &ra.base, &etcdserverpb__auth_role_add_response__descriptor,
                 KM_GRPC_INVALID_ARGUMENT, "etcdserver: role name is empty");

    Etcdserverpb__AuthUserGetRequest ug = ETCDSERVERPB__AUTH_USER_GET_REQUEST__INIT;
    ug.name = "root";
    rpcfix_fails(&f, A("UserGet"), &ug.base, &etcdserverpb__auth_user_get_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_USER);
    Etcdserverpb__AuthUserDeleteRequest ud = ETCDSERVERPB__AUTH_USER_DELETE_REQUEST__INIT;
    rpcfix_fails(&f, A("UserDelete"), &ud.base, &etcdserverpb__auth_user_delete_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_USER);
    Etcdserverpb__AuthUserChangePasswordRequest cp =
        ETCDSERVERPB__AUTH_USER_CHANGE_PASSWORD_REQUEST__INIT;
    rpcfix_fails(&f, A("UserChangePassword"), &cp.base,
                 &etcdserverpb__auth_user_change_password_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_USER);
    Etcdserverpb__AuthUserGrantRoleRequest gr = ETCDSERVERPB__AUTH_USER_GRANT_ROLE_REQUEST__INIT;
    rpcfix_fails(&f, A("UserGrantRole"), &gr.base,
                 &etcdserverpb__auth_user_grant_role_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_USER);
    Etcdserverpb__AuthUserRevokeRoleRequest rr = ETCDSERVERPB__AUTH_USER_REVOKE_ROLE_REQUEST__INIT;
    rpcfix_fails(&f, A("UserRevokeRole"), &rr.base,
                 &etcdserverpb__auth_user_revoke_role_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_USER);
    Etcdserverpb__AuthRoleGetRequest rg = ETCDSERVERPB__AUTH_ROLE_GET_REQUEST__INIT;
    rpcfix_fails(&f, A("RoleGet"), &rg.base, &etcdserverpb__auth_role_get_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_ROLE);
    Etcdserverpb__AuthRoleDeleteRequest rd = ETCDSERVERPB__AUTH_ROLE_DELETE_REQUEST__INIT;
    rpcfix_fails(&f, A("RoleDelete"), &rd.base, &etcdserverpb__auth_role_delete_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_ROLE);
    Etcdserverpb__AuthRoleGrantPermissionRequest gp =
        ETCDSERVERPB__AUTH_ROLE_GRANT_PERMISSION_REQUEST__INIT;
    rpcfix_fails(&f, A("RoleGrantPermission"), &gp.base,
                 &etcdserverpb__auth_role_grant_permission_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_ROLE);
    Etcdserverpb__AuthRoleRevokePermissionRequest rp =
        ETCDSERVERPB__AUTH_ROLE_REVOKE_PERMISSION_REQUEST__INIT;
    rpcfix_fails(&f, A("RoleRevokePermission"), &rp.base,
                 &etcdserverpb__auth_role_revoke_permission_response__descriptor,
                 KM_GRPC_FAILED_PRECONDITION, NO_ROLE);
    rpcfix_down(&f);
}

START_TEST(answers) { t_run(answers_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, answers);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
