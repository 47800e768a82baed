/* SPDX-License-Identifier: MIT */
/* etcd's users, roles and permissions mirrored into kumo's auth, for kumo
 * serve over an etcd cluster: read with etcd's Auth RPCs as the backend's
 * (root) user on a period and after each change made through kumo,
 * changes passed to etcd, logins checked by etcd. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <kumo/group.h>
#include <kumo/sync.h>
#include "etcd/rpc-int.h"
#include "rt/alloc.h"

#define AUTH(m) "/etcdserverpb.Auth/" m
#define SEC 1000000000LL

struct km_etcd_mirror {
    km_store *store;
    km_auth  *auth;
    char     *user;         /* the backend's user */
    km_mutex *mu;           /* one refresh at a time, so none installs an older read */
    km_group *bg;           /* the refresh goroutine's */
    int64_t   period;
    atomic_int said;        /* the refresh error last logged (once in a row) */
};

/* The KM_EAUTH_ error whose message (etcd's own) etcd answered, or 0. */
static int auth_err(const km_store_status *st)
{
    for (int e = KM_EAUTH_MAX; e >= KM_EAUTH_MIN; e--) {
        const char *m = km_auth_strerror(e);
        if (m && !strcmp(m, st->message))
            return e;
    }
    return 0;
}

static bool said_by(const km_store_status *st, const char *what)
{
    return st->code > 0 && strstr(st->message, what);
}

/* ---- reading etcd's state ---- */

/* What one read holds until it is copied into the auth. */
typedef struct {
    ProtobufCMessage **msg;
    size_t nmsg, cap;
    km_auth_user_def *users;
    km_auth_role_def *roles;
    km_auth_perm **perms;
    size_t nroles;
} snap;

static void snap_free(snap *p)
{
    for (size_t i = 0; i < p->nmsg; i++)
        km_grpc_pb_free(p->msg[i]);
    km__free(p->msg);
    for (size_t i = 0; p->perms && i < p->nroles; i++)
        km__free(p->perms[i]);
    km__free(p->perms);
    km__free(p->users);
    km__free(p->roles);
}

/* One read call whose answer the snapshot keeps. */
static int read_call(km_etcd_mirror *m, snap *p, const char *method, int flags,
                     const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                     ProtobufCMessage **rep, km_store_status *st)
{
    if (p->nmsg == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        ProtobufCMessage **v = km__malloc(cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        if (p->nmsg)
            memcpy(v, p->msg, p->nmsg * sizeof *v);
        km__free(p->msg);
        p->msg = v;
        p->cap = cap;
    }
    int rc = km_store_call(m->store, method, KM_STORE_CALL_READ | flags, req, d, rep, st);
    if (!rc)
        p->msg[p->nmsg++] = *rep;
    return rc;
}

/* Reads the enabled flag, every user with its roles and every role with
 * its permissions. etcd 3.4 has no call for the flag: a list asked for
 * without a token is answered when authentication is off, refused with
 * "user name is empty" when it is on. */
static int fetch(km_etcd_mirror *m, snap *p, km_auth_def *d)
{
    memset(d, 0, sizeof *d);
    km_store_status st;
    ProtobufCMessage *rep;
    Etcdserverpb__AuthUserListRequest ulq = ETCDSERVERPB__AUTH_USER_LIST_REQUEST__INIT;
    int rc = read_call(m, p, AUTH("UserList"), KM_STORE_CALL_ANON, &ulq.base,
                       &etcdserverpb__auth_user_list_response__descriptor, &rep, &st);
    if (rc == -EREMOTEIO && said_by(&st, "user name is empty")) {
        d->enabled = true;
        rc = read_call(m, p, AUTH("UserList"), 0, &ulq.base,
                       &etcdserverpb__auth_user_list_response__descriptor, &rep, &st);
    }
    if (rc)
        return rc;
    const Etcdserverpb__AuthUserListResponse *ul = (const void *)rep;
    if (ul->n_users && !(p->users = km__calloc(ul->n_users, sizeof *p->users)))
        return -ENOMEM;
    for (size_t i = 0; i < ul->n_users; i++) {
        Etcdserverpb__AuthUserGetRequest q = ETCDSERVERPB__AUTH_USER_GET_REQUEST__INIT;
        q.name = ul->users[i];
        rc = read_call(m, p, AUTH("UserGet"), 0, &q.base,
                       &etcdserverpb__auth_user_get_response__descriptor, &rep, &st);
        if (rc == -EREMOTEIO && auth_err(&st) == KM_EAUTH_USER_NOT_FOUND)
            continue;       /* deleted since the list */
        if (rc)
            return rc;
        const Etcdserverpb__AuthUserGetResponse *u = (const void *)rep;
        p->users[d->nusers++] = (km_auth_user_def){ ul->users[i], u->roles, u->n_roles };
    }
    Etcdserverpb__AuthRoleListRequest rlq = ETCDSERVERPB__AUTH_ROLE_LIST_REQUEST__INIT;
    if ((rc = read_call(m, p, AUTH("RoleList"), 0, &rlq.base,
                        &etcdserverpb__auth_role_list_response__descriptor, &rep, &st)))
        return rc;
    const Etcdserverpb__AuthRoleListResponse *rl = (const void *)rep;
    if (rl->n_roles && (!(p->roles = km__calloc(rl->n_roles, sizeof *p->roles)) ||
                        !(p->perms = km__calloc(rl->n_roles, sizeof *p->perms))))
        return -ENOMEM;
    for (size_t i = 0; i < rl->n_roles; i++) {
        Etcdserverpb__AuthRoleGetRequest q = ETCDSERVERPB__AUTH_ROLE_GET_REQUEST__INIT;
        q.role = rl->roles[i];
        rc = read_call(m, p, AUTH("RoleGet"), 0, &q.base,
                       &etcdserverpb__auth_role_get_response__descriptor, &rep, &st);
        if (rc == -EREMOTEIO && auth_err(&st) == KM_EAUTH_ROLE_NOT_FOUND)
            continue;
        if (rc)
            return rc;
        const Etcdserverpb__AuthRoleGetResponse *r = (const void *)rep;
        km_auth_perm *v = r->n_perm ? km__calloc(r->n_perm, sizeof *v) : NULL;
        if (r->n_perm && !v)
            return -ENOMEM;
        for (size_t j = 0; j < r->n_perm; j++) {
            const Authpb__Permission *q = r->perm[j];
            v[j] = (km_auth_perm){ (km_perm_type)q->permtype,
                                   { q->key.data, q->key.len },
                                   { q->range_end.data, q->range_end.len } };
            if ((unsigned)v[j].type > KM_PERM_READWRITE)
                v[j].type = KM_PERM_READ;
        }
        p->perms[p->nroles] = v;
        p->roles[p->nroles++] = (km_auth_role_def){ rl->roles[i], v, r->n_perm };
    }
    d->users = p->users;
    d->roles = p->roles;
    d->nroles = p->nroles;
    return 0;
}

/* Whether the state read gives user etcd's root role. */
static bool is_root(const km_auth_def *d, const char *user)
{
    for (size_t i = 0; i < d->nusers; i++)
        if (!strcmp(d->users[i].name, user))
            for (size_t j = 0; j < d->users[i].nroles; j++)
                if (!strcmp(d->users[i].roles[j], "root"))
                    return true;
    return false;
}

/* Reads etcd's state and installs it (first: only if the backend's user
 * holds the root role, else -EPERM). 0 or -errno. */
static int refresh_as(km_etcd_mirror *m, bool first)
{
    int rc = km_mutex_lock_dl(m->mu, KM_FOREVER);
    if (rc < 0)
        return rc;
    snap *p = km__calloc(1, sizeof *p);
    km_auth_def d;
    rc = p ? fetch(m, p, &d) : -ENOMEM;
    if (!rc && first && !is_root(&d, m->user))
        rc = -EPERM;
    if (!rc)
        rc = km_auth_mirror(m->auth, &d, NULL);
    if (p)
        snap_free(p);
    km__free(p);
    km_mutex_unlock(m->mu);
    return rc;
}

static int refresh(km_etcd_mirror *m) { return refresh_as(m, false); }

static void say(km_etcd_mirror *m, int rc)
{
    /* a caller that went away says nothing about etcd */
    if (rc == -ECANCELED || atomic_exchange(&m->said, rc) == rc)
        return;
    if (rc)
        fprintf(stderr, "kumo serve: reading etcd's users and roles failed: %s; kumo keeps "
                "the last ones read and tries again\n", km_strerror(rc));
    else
        fprintf(stderr, "kumo serve: etcd's users and roles are read again\n");
}

int km__etcd_mirror_refresh(km_etcd_mirror *m)
{
    int rc = refresh(m);
    say(m, rc);
    return rc;
}

static void run(void *arg)
{
    km_etcd_mirror *m = arg;
    while (km_sleep(m->period) == 0) {
        int rc = refresh(m);
        if (rc == -ECANCELED)
            return;
        say(m, rc);
    }
}

/* ---- logins and changes ---- */

/* km_auth's password check: etcd's Authenticate. */
static int check(void *ud, const char *user, const char *password)
{
    km_etcd_mirror *m = ud;
    Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    req.name = (char *)user;
    req.password = (char *)password;
    ProtobufCMessage *rep;
    km_store_status st;
    /* a login is harmless to send again; it needs no token */
    int rc = km_store_call(m->store, AUTH("Authenticate"),
                           KM_STORE_CALL_READ | KM_STORE_CALL_ANON, &req.base,
                           &etcdserverpb__authenticate_response__descriptor, &rep, &st);
    if (rc == 0) {
        /* etcd's token is not used: kumo issues its own */
        Etcdserverpb__AuthenticateResponse *r = (Etcdserverpb__AuthenticateResponse *)rep;
        if (r->token)
            OPENSSL_cleanse(r->token, strlen(r->token));
        km_grpc_pb_free(rep);
        /* a user (or the flag) changed on etcd since the last read */
        km_auth_list *l = NULL;
        if (!km_auth_enabled(m->auth) || km_auth_user_get(m->auth, user, &l) != 0)
            refresh(m);
        km_auth_list_free(l);
        return 0;
    }
    if (rc != -EREMOTEIO)
        return rc;
    int e = auth_err(&st);
    if (e == KM_EAUTH_NOT_ENABLED && km_auth_enabled(m->auth))
        refresh(m);
    return e ? e : -EIO;
}

int km__etcd_mirror_change(km_etcd_mirror *m, const km__auth_req *q, km_store_status *up)
{
    union {
        ProtobufCMessage base;
        Etcdserverpb__AuthEnableRequest enable;
        Etcdserverpb__AuthDisableRequest disable;
        Etcdserverpb__AuthUserAddRequest user_add;
        Etcdserverpb__AuthUserDeleteRequest user_delete;
        Etcdserverpb__AuthUserChangePasswordRequest user_passwd;
        Etcdserverpb__AuthUserGrantRoleRequest user_grant;
        Etcdserverpb__AuthUserRevokeRoleRequest user_revoke;
        Etcdserverpb__AuthRoleAddRequest role_add;
        Etcdserverpb__AuthRoleDeleteRequest role_delete;
        Etcdserverpb__AuthRoleGrantPermissionRequest role_grant;
        Etcdserverpb__AuthRoleRevokePermissionRequest role_revoke;
    } r;
    Authpb__UserAddOptions opts = AUTHPB__USER_ADD_OPTIONS__INIT;
    Authpb__Permission perm = AUTHPB__PERMISSION__INIT;
    const char *method;
    const ProtobufCMessageDescriptor *d;
    char *name = (char *)q->name, *role = (char *)q->role;
    ProtobufCBinaryData key = { q->perm.key.n, (uint8_t *)q->perm.key.p };
    ProtobufCBinaryData end = { q->perm.end.n, (uint8_t *)q->perm.end.p };
#define REQ(field, INIT, m, resp) \
    r.field = (typeof(r.field))INIT; method = AUTH(m); d = &resp##__descriptor
    switch (q->op) {
    case KM__AUTH_ENABLE:
        REQ(enable, ETCDSERVERPB__AUTH_ENABLE_REQUEST__INIT, "AuthEnable",
            etcdserverpb__auth_enable_response);
        break;
    case KM__AUTH_DISABLE:
        REQ(disable, ETCDSERVERPB__AUTH_DISABLE_REQUEST__INIT, "AuthDisable",
            etcdserverpb__auth_disable_response);
        break;
    case KM__AUTH_USER_ADD:
        REQ(user_add, ETCDSERVERPB__AUTH_USER_ADD_REQUEST__INIT, "UserAdd",
            etcdserverpb__auth_user_add_response);
        r.user_add.name = name;
        r.user_add.password = (char *)q->password;
        opts.no_password = q->no_password;
        r.user_add.options = &opts;
        break;
    case KM__AUTH_USER_DELETE:
        REQ(user_delete, ETCDSERVERPB__AUTH_USER_DELETE_REQUEST__INIT, "UserDelete",
            etcdserverpb__auth_user_delete_response);
        r.user_delete.name = name;
        break;
    case KM__AUTH_USER_PASSWD:
        REQ(user_passwd, ETCDSERVERPB__AUTH_USER_CHANGE_PASSWORD_REQUEST__INIT,
            "UserChangePassword", etcdserverpb__auth_user_change_password_response);
        r.user_passwd.name = name;
        r.user_passwd.password = (char *)q->password;
        break;
    case KM__AUTH_USER_GRANT:
        REQ(user_grant, ETCDSERVERPB__AUTH_USER_GRANT_ROLE_REQUEST__INIT, "UserGrantRole",
            etcdserverpb__auth_user_grant_role_response);
        r.user_grant.user = name;
        r.user_grant.role = role;
        break;
    case KM__AUTH_USER_REVOKE:
        REQ(user_revoke, ETCDSERVERPB__AUTH_USER_REVOKE_ROLE_REQUEST__INIT, "UserRevokeRole",
            etcdserverpb__auth_user_revoke_role_response);
        r.user_revoke.name = name;
        r.user_revoke.role = role;
        break;
    case KM__AUTH_ROLE_ADD:
        REQ(role_add, ETCDSERVERPB__AUTH_ROLE_ADD_REQUEST__INIT, "RoleAdd",
            etcdserverpb__auth_role_add_response);
        r.role_add.name = name;
        break;
    case KM__AUTH_ROLE_DELETE:
        REQ(role_delete, ETCDSERVERPB__AUTH_ROLE_DELETE_REQUEST__INIT, "RoleDelete",
            etcdserverpb__auth_role_delete_response);
        r.role_delete.role = name;
        break;
    case KM__AUTH_ROLE_GRANT:
        REQ(role_grant, ETCDSERVERPB__AUTH_ROLE_GRANT_PERMISSION_REQUEST__INIT,
            "RoleGrantPermission", etcdserverpb__auth_role_grant_permission_response);
        r.role_grant.name = name;
        perm.permtype = (Authpb__Permission__Type)q->perm.type;
        perm.key = key;
        perm.range_end = end;
        r.role_grant.perm = &perm;
        break;
    case KM__AUTH_ROLE_REVOKE:
        REQ(role_revoke, ETCDSERVERPB__AUTH_ROLE_REVOKE_PERMISSION_REQUEST__INIT,
            "RoleRevokePermission", etcdserverpb__auth_role_revoke_permission_response);
        r.role_revoke.role = name;
        r.role_revoke.key = key;
        r.role_revoke.range_end = end;
        break;
    default:
        return -EINVAL;     /* logins and reads are not changes */
    }
#undef REQ
    ProtobufCMessage *rep;
    int rc = km_store_call(m->store, method, 0, &r.base, d, &rep, up);
    if (rc == -EREMOTEIO) {
        int e = auth_err(up);
        return e ? e : rc;
    }
    if (rc)
        return rc;
    km_grpc_pb_free(rep);
    /* as etcd voids a user's tokens with its password */
    if (q->op == KM__AUTH_USER_PASSWD)
        km_auth_drop_tokens(m->auth, q->name);
    /* the caller sees its change at once; should this read fail, the
     * next one brings it */
    say(m, refresh(m));
    return 0;
}

/* ---- the mirror ---- */

int km_etcd_mirror_new(km_etcd_mirror **out, km_store *store, km_auth *a, const char *user,
                       int64_t period)
{
    *out = NULL;
    if (!store || !a || !user)
        return -EINVAL;
    if (strcmp(km_store_backend(store), "etcd"))
        return -EOPNOTSUPP;
    km_etcd_mirror *m = km__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->store = store;
    m->auth = a;
    m->period = period > 0 ? period : 2 * SEC;
    int rc = (m->user = km__strdup(user)) ? km_mutex_new(&m->mu) : -ENOMEM;
    /* the backend's user must administer etcd's users (root role); a
     * user that cannot even list them is not root either */
    if (!rc && (rc = refresh_as(m, true)) == -EREMOTEIO)
        rc = -EPERM;
    if (!rc && !(rc = km_group_new(&m->bg, NULL, KM_FOREVER)) &&
        (rc = km_group_go(m->bg, run, m)) != 0) {
        km_group_free(m->bg);
        m->bg = NULL;
    }
    if (rc) {
        km_etcd_mirror_free(m);
        return rc;
    }
    km_auth_set_password_check(a, check, m);
    *out = m;
    return 0;
}

void km_etcd_mirror_free(km_etcd_mirror *m)
{
    if (!m)
        return;
    if (m->bg) {
        km_auth_set_password_check(m->auth, NULL, NULL);
        km_group_cancel(m->bg);
        km_group_wait(m->bg, KM_FOREVER);
        km_group_free(m->bg);
    }
    if (m->mu)
        km_mutex_free(m->mu);
    km__free(m->user);
    km__free(m);
}
