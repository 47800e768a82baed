/* SPDX-License-Identifier: MIT */
/* Who is calling etcd's API and what they may do: a request's identity
 * (token, else client certificate) and the permissions each KV request
 * needs, as etcd 3.4 checks them. */
#ifndef KUMO_ETCD_AUTHZ_H
#define KUMO_ETCD_AUTHZ_H

#include <kumo/auth.h>
#include <kumo/http.h>
#include "etcd/etcd-int.h"

/* Whether id may run op: READ for a range, WRITE for a put or delete
 * (and READ too when it returns previous values), every compare and
 * every operation of both branches of a txn. 0 or a KM_EAUTH_ error. */
int  km__etcd_authz_op(km_auth *a, const km_auth_id *id, const km_op *op);
int  km__etcd_authz_txn(km_auth *a, const km_auth_id *id, const km_txn_req *t);

/* Whether id may type every key attached to lease: WRITE to revoke it
 * (that deletes them), READ to list them (TimeToLive with keys; etcd
 * 3.4.26 closed that leak). 0, a KM_EAUTH_ error, or the store's error
 * reading the lease (-ENOENT is left to the call). */
int  km__etcd_authz_lease(km_etcd *e, const km_auth_id *id, int64_t lease, km_perm_type type);
static inline int km__etcd_authz_revoke(km_etcd *e, const km_auth_id *id, int64_t lease)
{
    return km__etcd_authz_lease(e, id, lease, KM_PERM_WRITE);
}

/* The identity of an HTTP request: the token in its Authorization header
 * (as etcd's gateway passes it on), else the verified client
 * certificate's common name; anyone when e has no auth or it is off. 0,
 * or KM_EAUTH_TOKEN for a token that is not valid. */
int  km__etcd_http_who(const km_etcd *e, km_http_req *r, km_auth_id *id);
/* The same from a token and the request under it (gRPC passes both). */
int  km__etcd_who(const km_etcd *e, km_http_req *r, const char *tok, size_t n, km_auth_id *id);
/* The client's IP address as text (throttling counts per address, not
 * per connection). */
void km__etcd_peer_ip(const km_http_req *r, char *buf, size_t n);

/* ---- etcd's Auth service, for both transports (gRPC and JSON) ---- */
typedef enum {
    KM__AUTH_ENABLE, KM__AUTH_DISABLE, KM__AUTH_AUTHENTICATE,
    KM__AUTH_USER_ADD, KM__AUTH_USER_GET, KM__AUTH_USER_LIST, KM__AUTH_USER_DELETE,
    KM__AUTH_USER_PASSWD, KM__AUTH_USER_GRANT, KM__AUTH_USER_REVOKE,
    KM__AUTH_ROLE_ADD, KM__AUTH_ROLE_GET, KM__AUTH_ROLE_LIST, KM__AUTH_ROLE_DELETE,
    KM__AUTH_ROLE_GRANT, KM__AUTH_ROLE_REVOKE,
} km__auth_op;

/* A decoded request: name is the user or role it is about (the user for
 * grant/revoke role), role the other one; perm for ROLE_GRANT, key and
 * end (in perm) for ROLE_REVOKE. Strings are never NULL. */
typedef struct {
    km__auth_op op;
    const char *name, *password, *role;
    bool no_password;
    km_auth_perm perm;
} km__auth_req;

typedef struct {
    char token[2048];       /* AUTHENTICATE */
    km_auth_list *list;     /* USER_GET (roles), USER_LIST, ROLE_GET (perms), ROLE_LIST */
    km_store_status up;     /* -EREMOTEIO: how etcd refused a change passed to it */
} km__auth_res;

/* Runs q for the caller id (peer: its address, for login throttling):
 * authentication and enabling need no role, the rest the root role. 0 and
 * *res (free res->list with km_auth_list_free); a KM_EAUTH_ error;
 * -EOPNOTSUPP when e keeps no users (the etcd backend without a root
 * backend user); -EREMOTEIO with res->up: etcd refused a change passed to
 * it with an error kumo has no name for (answer its code and message);
 * -EIO; -ENOMEM. */
int  km__etcd_auth_do(km_etcd *e, const km_auth_id *id, const char *peer, const km__auth_req *q,
                      km__auth_res *res);

/* A change of q's (not a login, not a read) passed to the etcd cluster as
 * the mirror's user, then the mirror refreshed so that the caller sees
 * it. 0; the KM_EAUTH_ error etcd's message names; -EREMOTEIO with *up
 * for another refusal; -errno. (auth-mirror.c) */
int  km__etcd_mirror_change(km_etcd_mirror *m, const km__auth_req *q, km_store_status *up);
/* Reads etcd's users and roles again now. 0 or -errno. */
int  km__etcd_mirror_refresh(km_etcd_mirror *m);

#endif
