/* SPDX-License-Identifier: MIT */
/* Permission checks for etcd's requests and request identities. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include "etcd/authz.h"

static int check(km_auth *a, const km_auth_id *id, km_perm_type t, km_bytes key, km_bytes end)
{
    return km_auth_check(a, id, t, key, end);
}

int km__etcd_authz_op(km_auth *a, const km_auth_id *id, const km_op *op)
{
    static const km_bytes none;
    int rc;
    switch (op->type) {
    case KM_OP_RANGE:
        return check(a, id, KM_PERM_READ, op->range.key, op->range.range_end);
    case KM_OP_PUT:
        rc = check(a, id, KM_PERM_WRITE, op->put.key, none);
        if (!rc && op->put.prev_kv)
            rc = check(a, id, KM_PERM_READ, op->put.key, none);
        return rc;
    case KM_OP_DELETE:
        rc = check(a, id, KM_PERM_WRITE, op->del.key, op->del.range_end);
        if (!rc && op->del.prev_kv)
            rc = check(a, id, KM_PERM_READ, op->del.key, op->del.range_end);
        return rc;
    default:
        return km__etcd_authz_txn(a, id, op->txn);
    }
}

int km__etcd_authz_txn(km_auth *a, const km_auth_id *id, const km_txn_req *t)
{
    if (id->any || id->root)
        return 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < t->ncmp; i++)
        rc = check(a, id, KM_PERM_READ, t->cmp[i].key, t->cmp[i].range_end);
    for (size_t i = 0; !rc && i < t->nsuccess; i++)
        rc = km__etcd_authz_op(a, id, &t->success[i]);
    for (size_t i = 0; !rc && i < t->nfailure; i++)
        rc = km__etcd_authz_op(a, id, &t->failure[i]);
    return rc;
}

int km__etcd_authz_lease(km_etcd *e, const km_auth_id *id, int64_t lease, km_perm_type type)
{
    if (id->any || id->root)
        return 0;
    km_lease_info li;
    km_store_res res;
    int rc = km_lease_ttl(e->store, lease, true, &li, &res);
    if (rc == -ENOENT)
        rc = 0;
    for (size_t i = 0; !rc && i < li.nkeys; i++)
        rc = check(e->auth, id, type, li.keys[i], (km_bytes){ NULL, 0 });
    km_store_res_free(&res);
    return rc;
}

int km__etcd_who(const km_etcd *e, km_http_req *r, const char *tok, size_t n, km_auth_id *id)
{
    if (!e->auth) {
        id->user[0] = 0;
        id->root = false;
        id->any = true;
        return 0;
    }
    char cn[256] = "";
    /* the certificate stands for the user only when there is no token and
     * authentication is on: not looked at otherwise */
    if (!n && r && km_auth_enabled(e->auth))
        km_http_peer_cn(r, cn, sizeof cn);
    int rc = km_auth_identify(e->auth, tok, n, cn, id);
    /* no credentials: anonymous, refused by the first check that needs a user */
    return rc == KM_EAUTH_USER_EMPTY ? 0 : rc;
}

int km__etcd_http_who(const km_etcd *e, km_http_req *r, km_auth_id *id)
{
    km_str t = e->auth ? km_http_header(r, "Authorization") : (km_str){ NULL, 0 };
    return km__etcd_who(e, r, t.p, t.n, id);
}

void km__etcd_peer_ip(const km_http_req *r, char *buf, size_t n)
{
    unsigned char ip[16];
    size_t len = km_http_remote_ip(r, ip);
    if (len != 4 && len != 16) {
        snprintf(buf, n, "local");
        return;
    }
    if (!inet_ntop(len == 4 ? AF_INET : AF_INET6, ip, buf, (socklen_t)n))
        snprintf(buf, n, "unknown");
}
