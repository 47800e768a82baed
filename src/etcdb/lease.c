/* SPDX-License-Identifier: MIT */
/* Leases in the cluster: grant, revoke, time-to-live and the list are
 * unary calls; keep-alives share one LeaseKeepAlive stream, coalesced
 * (kacache.c). */
#include <string.h>
#include "etcdb/etcdb-int.h"

#define LEASE(m) "/etcdserverpb.Lease/" m

typedef struct {
    ProtobufCMessage base;
    Etcdserverpb__ResponseHeader *header;
} any_resp;

static int call(km__etcdb *s, const char *method, int kind, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *d, ProtobufCMessage **m, int64_t *revision)
{
    int rc = km__etcdb_unary(s, method, kind, req, d, km__etcdb_deadline(s), m);
    if (rc)
        return rc;
    const Etcdserverpb__ResponseHeader *h = ((any_resp *)*m)->header;
    km__etcdb_saw(s, h);
    if (revision)
        *revision = h ? h->revision : atomic_load(&s->revision);
    return 0;
}

int km__etcdb_lease_grant(km_store *st, int64_t id, int64_t ttl, int64_t *out_id,
                          int64_t *revision)
{
    km__etcdb *s = (km__etcdb *)st;
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.id = id;
    req.ttl = ttl;
    ProtobufCMessage *m;
    int rc = call(s, LEASE("LeaseGrant"), KM__ETCDB_WRITE, &req.base,
                  &etcdserverpb__lease_grant_response__descriptor, &m, revision);
    if (rc)
        return rc;
    Etcdserverpb__LeaseGrantResponse *r = (Etcdserverpb__LeaseGrantResponse *)m;
    /* etcd 3.4 answers its errors as statuses; the error field stays for
     * older servers. */
    if (r->error && r->error[0])
        rc = km__etcdb_status_err(KM_GRPC_UNKNOWN, r->error, strlen(r->error));
    else if (out_id)
        *out_id = r->id;
    km_grpc_pb_free(m);
    return rc;
}

int km__etcdb_lease_revoke(km_store *st, int64_t id, int64_t *revision)
{
    km__etcdb *s = (km__etcdb *)st;
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    ProtobufCMessage *m;
    int rc = call(s, LEASE("LeaseRevoke"), KM__ETCDB_WRITE, &req.base,
                  &etcdserverpb__lease_revoke_response__descriptor, &m, revision);
    if (!rc) {
        km_grpc_pb_free(m);
        km__kacache_drop(s->kac, id);
        /* the keys it deleted are gone from reads through this store too */
        if (revision)
            km__etcdb_cache_wait(s, *revision, km_now() + s->rep_wait);
    }
    return rc;
}

int km__etcdb_lease_ttl(km_store *st, int64_t id, bool keys, km_lease_info *out,
                        km_store_res *res)
{
    km__etcdb *s = (km__etcdb *)st;
    memset(out, 0, sizeof *out);
    memset(res, 0, sizeof *res);
    if (!(res->arena = km__arena_new()))
        return -ENOMEM;
    Etcdserverpb__LeaseTimeToLiveRequest req = ETCDSERVERPB__LEASE_TIME_TO_LIVE_REQUEST__INIT;
    req.id = id;
    req.keys = keys;
    ProtobufCMessage *m;
    int rc = call(s, LEASE("LeaseTimeToLive"), KM__ETCDB_READ, &req.base,
                  &etcdserverpb__lease_time_to_live_response__descriptor, &m, &res->revision);
    if (rc)
        return rc;
    Etcdserverpb__LeaseTimeToLiveResponse *r = (Etcdserverpb__LeaseTimeToLiveResponse *)m;
    out->id = id;
    out->ttl = r->ttl;
    out->granted_ttl = r->grantedttl;
    /* etcd answers a lease it does not know with TTL -1, not an error. */
    if (r->ttl == -1) {
        km_grpc_pb_free(m);
        return -ENOENT;
    }
    if (r->n_keys) {
        out->keys = km__arena_alloc(res->arena, r->n_keys * sizeof *out->keys);
        if (!out->keys)
            rc = -ENOMEM;
        for (size_t i = 0; !rc && i < r->n_keys; i++) {
            uint8_t *k = km__arena_dup(res->arena, r->keys[i].data, r->keys[i].len);
            if (!k)
                rc = -ENOMEM;
            else
                out->keys[out->nkeys++] = (km_bytes){ k, r->keys[i].len };
        }
    }
    km_grpc_pb_free(m);
    return rc;
}

int km__etcdb_lease_list(km_store *st, int64_t **ids, size_t *n, km_store_res *res)
{
    km__etcdb *s = (km__etcdb *)st;
    *ids = NULL;
    *n = 0;
    memset(res, 0, sizeof *res);
    if (!(res->arena = km__arena_new()))
        return -ENOMEM;
    Etcdserverpb__LeaseLeasesRequest req = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc = call(s, LEASE("LeaseLeases"), KM__ETCDB_READ, &req.base,
                  &etcdserverpb__lease_leases_response__descriptor, &m, &res->revision);
    if (rc)
        return rc;
    Etcdserverpb__LeaseLeasesResponse *r = (Etcdserverpb__LeaseLeasesResponse *)m;
    int64_t *v = km__arena_alloc(res->arena, (r->n_leases ? r->n_leases : 1) * sizeof *v);
    if (!v) {
        rc = -ENOMEM;
    } else {
        for (size_t i = 0; i < r->n_leases; i++)
            v[i] = r->leases[i]->id;
        *ids = v;
        *n = r->n_leases;
    }
    km_grpc_pb_free(m);
    return rc;
}

/* One exchange on the shared stream, opening it on the preferred member
 * if there is none. Any failure drops the stream: a request whose answer
 * did not come would pair the next request with the wrong answer. */
static int ka_once(km__etcdb *s, int64_t id, int64_t deadline, int64_t *ttl)
{
    int rc = 0;
    if (!s->ka) {
        s->ka_ep = atomic_load(&s->cur) % s->n;
        char tok[KM__ETCDB_TOKEN_MAX];
        km_grpc_md md;
        size_t nmd = km__etcdb_token_md(s, &md, tok, &s->ka_gen);
        /* The stream outlives this call: only its operations are bounded. */
        rc = km_grpc_stream_open(s->ch[s->ka_ep], LEASE("LeaseKeepAlive"), nmd ? &md : NULL,
                                 nmd, KM_FOREVER, &s->ka);
        if (rc) {
            rc = km__etcdb_stream_err(rc, s->ka);
            km_grpc_stream_free(s->ka);
            s->ka = NULL;
            return rc;
        }
    }
    Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
    req.id = id;
    rc = km_grpc_stream_send_pb(s->ka, &req.base, false, deadline);
    ProtobufCMessage *m = NULL;
    if (!rc) {
        rc = km_grpc_stream_recv_pb(s->ka, &etcdserverpb__lease_keep_alive_response__descriptor,
                                    &m, deadline);
        rc = rc == 1 ? 0 : rc == 0 ? -ECONNRESET : rc;
    }
    if (rc) {
        rc = km__etcdb_stream_err(rc, s->ka);
        km_grpc_stream_free(s->ka);
        s->ka = NULL;
        return rc;
    }
    Etcdserverpb__LeaseKeepAliveResponse *r = (Etcdserverpb__LeaseKeepAliveResponse *)m;
    km__etcdb_saw(s, r->header);
    rc = r->ttl <= 0 ? -ENOENT : 0;
    if (!rc && ttl)
        *ttl = r->ttl;
    km_grpc_pb_free(m);
    return rc;
}

int km__etcdb_lease_keepalive(km_store *st, int64_t id, int64_t *ttl)
{
    km__etcdb *s = (km__etcdb *)st;
    if (km__kacache_fresh(s->kac, id, km_now(), ttl))
        return 0;
    int64_t deadline = km__etcdb_deadline(s);
    int rc;
    if ((rc = km_mutex_lock_dl(s->ka_lock, deadline)) < 0)
        return rc;
    /* Another caller may have refreshed it while this one waited. */
    if (km__kacache_fresh(s->kac, id, km_now(), ttl)) {
        km_mutex_unlock(s->ka_lock);
        return 0;
    }
    int64_t sent = km_now();
    bool relogged = false;
    /* A keep-alive is safe to repeat: a broken stream moves to the next
     * member until the deadline. */
    for (size_t tries = 0;; tries++) {
        size_t ep = s->ka ? s->ka_ep : atomic_load(&s->cur) % s->n;
        int64_t got = 0;
        rc = ka_once(s, id, deadline, &got);
        if (!rc) {
            km__kacache_put(s->kac, id, got, sent);
            if (ttl)
                *ttl = got;
            break;
        }
        if (rc == -ENOENT)
            km__kacache_drop(s->kac, id);
        /* a token etcd no longer takes: a new stream after a new login */
        if (!relogged && km__etcdb_token_err(s, rc)) {
            relogged = true;
            if ((rc = km__etcdb_relogin(s, s->ka_gen, deadline)) != 0)
                break;
            continue;
        }
        if (rc == -EKEYEXPIRED)
            rc = -EACCES;
        if (!km__etcdb_transport_err(rc) || km_now() >= deadline)
            break;
        km__etcdb_failover(s, ep);
        if ((tries + 1) % s->n == 0 && km_sleep(100 * 1000000LL) < 0) {
            rc = -ECANCELED;
            break;
        }
    }
    km_mutex_unlock(s->ka_lock);
    return rc;
}
