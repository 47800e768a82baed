/* SPDX-License-Identifier: MIT */
/* etcd's Auth service behind both transports: who may call what, and the
 * call into the auth module. */
#include <errno.h>
#include <string.h>
#include "etcd/authz.h"

/* Without users (the etcd backend keeps none), etcd's answers for a
 * server that has none: logins find authentication off (clientv3 then
 * goes on without a token), the lists are empty, disabling what is off
 * succeeds, enabling finds no root user, a user or role named is not
 * found; adding one is refused, saying why. */
static int without_auth(const km__auth_req *q, km__auth_res *res)
{
    switch (q->op) {
    case KM__AUTH_AUTHENTICATE:
        return KM_EAUTH_NOT_ENABLED;
    case KM__AUTH_ENABLE:
        return KM_EAUTH_NO_ROOT_USER;
    case KM__AUTH_DISABLE:
    case KM__AUTH_USER_LIST:
    case KM__AUTH_ROLE_LIST:
        return 0;
    case KM__AUTH_USER_ADD:
        return q->name[0] ? -EOPNOTSUPP : KM_EAUTH_USER_EMPTY;
    case KM__AUTH_ROLE_ADD:
        return q->name[0] ? -EOPNOTSUPP : KM_EAUTH_ROLE_EMPTY;
    case KM__AUTH_USER_GET:
    case KM__AUTH_USER_DELETE:
    case KM__AUTH_USER_PASSWD:
    case KM__AUTH_USER_GRANT:
    case KM__AUTH_USER_REVOKE:
        return KM_EAUTH_USER_NOT_FOUND;
    default:
        return KM_EAUTH_ROLE_NOT_FOUND;
    }
}

/* etcd lets a user read its own record and its own roles. */
static bool about_self(km_auth *a, const km_auth_id *id, const km__auth_req *q)
{
    if (!id->user[0])
        return false;
    if (q->op == KM__AUTH_USER_GET)
        return !strcmp(q->name, id->user);
    if (q->op != KM__AUTH_ROLE_GET)
        return false;
    km_auth_list *l;
    if (km_auth_user_get(a, id->user, &l))
        return false;
    bool has = false;
    for (size_t i = 0; i < l->n; i++)
        has |= !strcmp(l->names[i], q->name);
    km_auth_list_free(l);
    return has;
}

int km__etcd_auth_do(km_etcd *e, const km_auth_id *id, const char *peer, const km__auth_req *q,
                     km__auth_res *res)
{
    km_auth *a = e->auth;
    res->token[0] = 0;
    res->list = NULL;
    if (!a)
        return without_auth(q, res);
    const char *by = id->any ? NULL : id->user;
    int rc;
    if (q->op != KM__AUTH_AUTHENTICATE && q->op != KM__AUTH_ENABLE &&
        (rc = km_auth_check_admin(a, id)) && !about_self(a, id, q)) {
        static const char *const what[] = {
            "auth enable", "auth disable", "authenticate", "user add", "user get", "user list",
            "user delete", "user change password", "user grant role", "user revoke role",
            "role add", "role get", "role list", "role delete", "role grant permission",
            "role revoke permission",
        };
        km_auth_audit(a, what[q->op], by, q->name, peer, rc);
        return rc;
    }
    switch (q->op) {
    case KM__AUTH_ENABLE:
        return km_auth_enable(a, by);
    case KM__AUTH_DISABLE:
        return km_auth_disable(a, by);
    case KM__AUTH_AUTHENTICATE:
        return km_auth_authenticate(a, q->name, q->password, peer, res->token, sizeof res->token);
    case KM__AUTH_USER_ADD:
        return km_auth_user_add(a, q->name, q->password, q->no_password, by);
    case KM__AUTH_USER_GET:
        return km_auth_user_get(a, q->name, &res->list);
    case KM__AUTH_USER_LIST:
        return km_auth_user_list(a, &res->list);
    case KM__AUTH_USER_DELETE:
        return km_auth_user_delete(a, q->name, by);
    case KM__AUTH_USER_PASSWD:
        return km_auth_user_passwd(a, q->name, q->password, by);
    case KM__AUTH_USER_GRANT:
        return km_auth_user_grant(a, q->name, q->role, by);
    case KM__AUTH_USER_REVOKE:
        return km_auth_user_revoke(a, q->name, q->role, by);
    case KM__AUTH_ROLE_ADD:
        return km_auth_role_add(a, q->name, by);
    case KM__AUTH_ROLE_GET:
        return km_auth_role_get(a, q->name, &res->list);
    case KM__AUTH_ROLE_LIST:
        return km_auth_role_list(a, &res->list);
    case KM__AUTH_ROLE_DELETE:
        return km_auth_role_delete(a, q->name, by);
    case KM__AUTH_ROLE_GRANT:
        return km_auth_role_grant(a, q->name, &q->perm, by);
    case KM__AUTH_ROLE_REVOKE:
        return km_auth_role_revoke(a, q->name, q->perm.key, q->perm.end, by);
    }
    return -EINVAL;
}
