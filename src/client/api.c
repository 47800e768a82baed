/* SPDX-License-Identifier: MIT */
/* The public KV and lease calls: arguments checked once, then the call
 * made on the client's transport (again on the JSON one when an AUTO
 * client learns that the server does not speak gRPC). */
#include <string.h>
#include "client/client-int.h"
#include "rt/alloc.h"

/* Runs OP (an expression using t) on c's transport, again after a fallback. */
#define ON_TP(c, rc, OP)                                        \
    do {                                                        \
        const km__client_tp *t;                                 \
        do {                                                    \
            t = km__client_transport(c);                               \
            (rc) = (OP);                                        \
        } while (km__client_fallback((c), t, (rc)));           \
    } while (0)

void km_client_range_free(km_client_range *r)
{
    if (!r)
        return;
    km__free(r->priv_);
    memset(r, 0, sizeof *r);
}

int km_client_range_ex(km_client *c, const void *key, size_t key_len, const void *range_end,
                       size_t end_len, int64_t rev, int64_t limit, int64_t deadline,
                       km_client_range *out)
{
    memset(out, 0, sizeof *out);
    km__span s = { key, key_len, range_end, end_len };
    int rc;
    ON_TP(c, rc, t->range(c, &s, rev, limit, deadline, out));
    return rc;
}

int km_client_get(km_client *c, const char *key, int64_t deadline, km_client_range *out)
{
    return km_client_range_ex(c, key, strlen(key), NULL, 0, 0, 0, deadline, out);
}

int km_client_range_prefix(km_client *c, const char *prefix, int64_t rev, int64_t deadline,
                           km_client_range *out)
{
    memset(out, 0, sizeof *out);
    km__span s;
    if (km__client_span(prefix, true, &s))
        return -ENOMEM;
    int rc = km_client_range_ex(c, s.key, s.key_len, s.end, s.end_len, rev, 0, deadline, out);
    km__client_span_free(&s);
    return rc;
}

int km_client_put(km_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, int64_t lease, int64_t deadline, int64_t *rev)
{
    int rc;
    ON_TP(c, rc, t->put(c, key, key_len, value, value_len, lease, deadline, rev));
    return rc;
}

int km_client_delete(km_client *c, const char *key, bool prefix, int64_t deadline,
                     int64_t *deleted, int64_t *rev)
{
    km__span s;
    if (km__client_span(key, prefix, &s))
        return -ENOMEM;
    int rc;
    ON_TP(c, rc, t->del(c, &s, deadline, deleted, rev));
    km__client_span_free(&s);
    return rc;
}

int km_client_txn(km_client *c, const km_client_cmp *cmp, size_t ncmp,
                  const km_client_op *then_ops, size_t nthen,
                  const km_client_op *else_ops, size_t nelse,
                  int64_t deadline, bool *succeeded, int64_t *rev)
{
    for (size_t i = 0; i < ncmp; i++)
        if ((unsigned)cmp[i].op > KM_CLIENT_CMP_NOT_EQUAL ||
            (unsigned)cmp[i].target > KM_CLIENT_TGT_VALUE || !cmp[i].key)
            return -EINVAL;
    for (size_t i = 0; i < nthen + nelse; i++) {
        const km_client_op *o = i < nthen ? &then_ops[i] : &else_ops[i - nthen];
        if ((unsigned)o->type > KM_CLIENT_OP_DELETE_PREFIX || !o->key)
            return -EINVAL;
    }
    int rc;
    ON_TP(c, rc, t->txn(c, cmp, ncmp, then_ops, nthen, else_ops, nelse, deadline,
                        succeeded, rev));
    return rc;
}

int km_client_compact(km_client *c, int64_t rev, int64_t deadline)
{
    int rc;
    ON_TP(c, rc, t->compact(c, rev, deadline));
    return rc;
}

int km_client_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                          int64_t *granted_ttl)
{
    int rc;
    ON_TP(c, rc, t->lease_grant(c, ttl, deadline, id, granted_ttl));
    return rc;
}

int km_client_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl)
{
    int rc;
    ON_TP(c, rc, t->lease_keepalive(c, id, deadline, ttl));
    return rc;
}

int km_client_lease_revoke(km_client *c, int64_t id, int64_t deadline)
{
    int rc;
    ON_TP(c, rc, t->lease_revoke(c, id, deadline));
    return rc;
}
