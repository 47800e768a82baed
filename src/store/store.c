/* SPDX-License-Identifier: MIT */
/* The public store calls: open the backend the configuration names, then
 * dispatch every call through its ops table. */
#include <string.h>
#include "rt/alloc.h"
#include "store/store-int.h"

void km_store_res_free(km_store_res *res)
{
    if (!res)
        return;
    km__arena_free(res->arena);
    memset(res, 0, sizeof *res);
}

int km_store_open(km_store **out, const km_store_config *cfg)
{
    *out = NULL;
    if (!cfg)
        return -EINVAL;
    const char *b = cfg->backend;
    if (!b || !*b || !strcmp(b, "lmdb"))
        return km__lmdb_open(out, cfg);
    if (!strncmp(b, KM__ETCDB_SCHEME, strlen(KM__ETCDB_SCHEME)))
        return km__etcdb_open(out, cfg);
    return -EPROTONOSUPPORT;
}

const char *km_store_backend(const km_store *s)
{
    return s->ops->name;
}

void km_store_close(km_store *s)
{
    if (s)
        s->ops->close(s);
}

int km_store_txn(km_store *s, const km_txn_req *req, km_store_res *res)
{
    return s->ops->txn(s, req, res);
}

int km_store_do(km_store *s, const km_op *op, km_store_res *res)
{
    km_txn_req req = { .success = op, .nsuccess = 1 };
    return s->ops->txn(s, &req, res);
}

int km_store_compact(km_store *s, int64_t rev, int64_t *revision)
{
    return s->ops->compact(s, rev, revision);
}

int km_store_stat_read(km_store *s, km_store_stat *st)
{
    return s->ops->stat_read(s, st);
}

int64_t km_store_revision(km_store *s)
{
    return s->ops->revision(s);
}

int km_store_hash_kv(km_store *s, int64_t rev, uint32_t *hash, int64_t *revision,
                     int64_t *compact_revision)
{
    return s->ops->hash_kv(s, rev, hash, revision, compact_revision);
}

int km_store_hash(km_store *s, uint32_t *hash, int64_t *revision)
{
    return s->ops->hash(s, hash, revision);
}

int km_store_snapshot(km_store *s, int fd)
{
    return s->ops->snapshot(s, fd);
}

int km_store_snapshot_file(km_store *s, int *fd, int64_t *size)
{
    return s->ops->snapshot_file(s, fd, size);
}

int km_lease_grant(km_store *s, int64_t id, int64_t ttl, int64_t *out_id, int64_t *revision)
{
    return s->ops->lease_grant(s, id, ttl, out_id, revision);
}

int km_lease_revoke(km_store *s, int64_t id, int64_t *revision)
{
    return s->ops->lease_revoke(s, id, revision);
}

int km_lease_keepalive(km_store *s, int64_t id, int64_t *ttl)
{
    return s->ops->lease_keepalive(s, id, ttl);
}

int km_lease_ttl(km_store *s, int64_t id, bool keys, km_lease_info *out, km_store_res *res)
{
    return s->ops->lease_ttl(s, id, keys, out, res);
}

int km_lease_list(km_store *s, int64_t **ids, size_t *n, km_store_res *res)
{
    return s->ops->lease_list(s, ids, n, res);
}

int km_store_history(km_store *s, int64_t from, int64_t to, km_bytes key, km_bytes range_end,
                     bool with_prev, size_t max, km_event **ev, size_t *n, int64_t *next,
                     km_store_res *res)
{
    return s->ops->history(s, from, to, key, range_end, with_prev, max, ev, n, next, res);
}

int km_store_call(km_store *s, const char *method, int flags, const struct ProtobufCMessage *req,
                  const struct ProtobufCMessageDescriptor *d, struct ProtobufCMessage **rep,
                  km_store_status *st)
{
    *rep = NULL;
    if (st)
        st->code = -1, st->message[0] = 0;
    if (!s->ops->call)
        return -EOPNOTSUPP;
    return s->ops->call(s, method, flags, req, d, rep, st);
}
