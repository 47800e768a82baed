/* SPDX-License-Identifier: MIT */
/* etcd's Auth service behind both transports: who may call what, and the
 * call into the auth module. */
#include <errno.h>
#include <string.h>
#include "etcd/authz.h"

/* Without users (the etcd backend keeps none unless it mirrors etcd's), etcd's answers for a
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

/* Whether op changes users, roles or the flag (with a mirror of etcd's,
 * that is done by etcd). */
static bool changes(km__auth_op op)
{
    return op != KM__AUTH_AUTHENTICATE && op != KM__AUTH_USER_GET && op != KM__AUTH_USER_LIST &&
           op != KM__AUTH_ROLE_GET && op != KM__AUTH_ROLE_LIST;
}

/* Whether id holds the root role by the current state (it was resolved
 * against an older one). */
static int admin_now(km_auth *a, const km_auth_id *id)
{
    if (!km_auth_enabled(a))
        return 0;
    if (!id->user[0])
        return KM_EAUTH_USER_EMPTY;
    km_auth_list *l;
    int rc = km_auth_user_get(a, id->user, &l);
    if (rc)
        return KM_EAUTH_DENIED;
    rc = KM_EAUTH_DENIED;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], "root"))
            rc = 0;
    km_auth_list_free(l);
    return rc;
}

int km__etcd_auth_do(km_etcd *e, const km_auth_id *id, const char *peer, const km__auth_req *q,
                     km__auth_res *res)
{
    static const char *const what[] = {
        "auth enable", "auth disable", "authenticate", "user add", "user get", "user list",
        "user delete", "user change password", "user grant role", "user revoke role",
        "role add", "role get", "role list", "role delete", "role grant permission",
        "role revoke permission",
    };
    km_auth *a = e->auth;
    res->token[0] = 0;
    res->list = NULL;
    res->up.code = -1;
    res->up.message[0] = 0;
    if (!a)
        return without_auth(q, res);
    const char *by = id->any ? NULL : id->user;
    int rc;
    if (q->op != KM__AUTH_AUTHENTICATE && q->op != KM__AUTH_ENABLE &&
        (rc = km_auth_check_admin(a, id)) && !about_self(a, id, q)) {
        km_auth_audit(a, what[q->op], by, q->name, peer, rc);
        return rc;
    }
    /* etcd's users mirrored: etcd makes the change (as the backend's
     * user, checked here as above), then the mirror is read again. The
     * mirror may lag etcd (2 s at most): it is read first too, so that
     * nobody makes a change as kumo's root user on the strength of a role
     * etcd has revoked, or once etcd turned authentication on. */
    if (e->mirror && changes(q->op)) {
        if (q->op == KM__AUTH_ENABLE || !(rc = km__etcd_mirror_refresh(e->mirror)))
            rc = q->op == KM__AUTH_ENABLE ? 0 : admin_now(a, id);
        if (!rc)
            rc = km__etcd_mirror_change(e->mirror, q, &res->up);
        km_auth_audit(a, what[q->op], by, q->name[0] ? q->name : NULL, peer, rc);
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
