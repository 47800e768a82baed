/* SPDX-License-Identifier: MIT */
/* etcd's Lease service: grant, revoke, the keep-alive stream, time-to-live and the list. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-int.h"
#include "rt/alloc.h"

/* The least TTL etcd grants (as the store raises it; the JSON gateway's
 * answer says the same). */
#define MIN_LEASE_TTL 2

static void grant(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (km_grpc_recv_pb(c, NULL, &m, KM_FOREVER) != 1)
        return;
    Etcdserverpb__LeaseGrantRequest *req = (Etcdserverpb__LeaseGrantRequest *)m;
    int64_t id = req->id, ttl = req->ttl, rev = 0;
    km_grpc_pb_free(m);
    int rc = km_lease_grant(e->store, id, ttl, &id, &rev);
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, rev, &h);
    Etcdserverpb__LeaseGrantResponse rep = ETCDSERVERPB__LEASE_GRANT_RESPONSE__INIT;
    rep.header = &h;
    rep.id = id;
    /* the TTL granted: the store raised a short one to etcd's minimum */
    rep.ttl = ttl < MIN_LEASE_TTL ? MIN_LEASE_TTL : ttl;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

static void revoke(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (km_grpc_recv_pb(c, NULL, &m, KM_FOREVER) != 1)
        return;
    int64_t id = ((Etcdserverpb__LeaseRevokeRequest *)m)->id, rev = 0;
    km_grpc_pb_free(m);
    km_auth_id who;
    if (km__etcd_rpc_who(e, c, &who))
        return;
    int rc = km__etcd_authz_revoke(e, &who, id);
    if (!rc)
        rc = km_lease_revoke(e->store, id, &rev);
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, rev, &h);
    Etcdserverpb__LeaseRevokeResponse rep = ETCDSERVERPB__LEASE_REVOKE_RESPONSE__INIT;
    rep.header = &h;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

/* One answer per request, in order, until the client half-closes. A
 * lease that is gone is answered with TTL 0, not an error: the stream
 * carries other leases' renewals too (clientv3 multiplexes them all on
 * one), and the client ends just that lease's keep-alive. */
static void keepalive(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    /* The client never ends it: a server that stops ends it at once, with
     * the UNAVAILABLE clientv3 retries on, instead of holding its stop. */
    km_grpc_wake_on_drain(c);
    for (;;) {
        ProtobufCMessage *m;
        int rc = km_grpc_recv_pb(c, NULL, &m, KM_FOREVER);
        if (rc == -ESHUTDOWN)
            km__etcd_rpc_fail(c, rc);
        if (rc != 1)
            return;     /* half-closed (OK), failed (status set), or the stop */
        int64_t id = ((Etcdserverpb__LeaseKeepAliveRequest *)m)->id, ttl = 0;
        km_grpc_pb_free(m);
        /* the revision before the renewal, as etcd takes it: a client
         * must not see a renewal at a revision past the lease's revoking */
        Etcdserverpb__ResponseHeader h;
        km__etcd_rpc_header(e, km_store_revision(e->store), &h);
        rc = km_lease_keepalive(e->store, id, &ttl);
        if (rc && rc != -ENOENT) {
            km__etcd_rpc_fail(c, rc);
            return;
        }
        Etcdserverpb__LeaseKeepAliveResponse rep = ETCDSERVERPB__LEASE_KEEP_ALIVE_RESPONSE__INIT;
        rep.header = &h;
        rep.id = id;
        rep.ttl = rc ? 0 : ttl;
        if (km_grpc_send_pb(c, &rep.base, KM_FOREVER))
            return;
    }
}

static void time_to_live(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (km_grpc_recv_pb(c, NULL, &m, KM_FOREVER) != 1)
        return;
    Etcdserverpb__LeaseTimeToLiveRequest *req = (Etcdserverpb__LeaseTimeToLiveRequest *)m;
    int64_t id = req->id;
    bool keys = req->keys;
    km_grpc_pb_free(m);
    km_auth_id who;
    int rc;
    if (keys && (rc = km__etcd_who_call(e, c, &who)) == 0)
        rc = km__etcd_authz_lease(e, &who, id, KM_PERM_READ);
    if (keys && rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    km_lease_info li;
    km_store_res res;
    rc = km_lease_ttl(e->store, id, keys, &li, &res);
    if (rc && rc != -ENOENT) {
        km_store_res_free(&res);
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__LeaseTimeToLiveResponse rep = ETCDSERVERPB__LEASE_TIME_TO_LIVE_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, res.revision ? res.revision : km_store_revision(e->store), &h);
    rep.header = &h;
    rep.id = id;
    /* etcd answers an unknown lease with TTL -1, not an error */
    rep.ttl = rc ? -1 : li.ttl;
    rep.grantedttl = rc ? 0 : li.granted_ttl;
    ProtobufCBinaryData *kb = NULL;
    if (!rc && li.nkeys) {
        kb = km__calloc(li.nkeys, sizeof *kb);
        if (!kb) {
            km_store_res_free(&res);
            km__etcd_rpc_fail(c, -ENOMEM);
            return;
        }
        for (size_t i = 0; i < li.nkeys; i++)
            kb[i] = (ProtobufCBinaryData){ li.keys[i].n, (uint8_t *)li.keys[i].p };
        rep.n_keys = li.nkeys;
        rep.keys = kb;
    }
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
    km__free(kb);
    km_store_res_free(&res);
}

static void leases(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (km_grpc_recv_pb(c, NULL, &m, KM_FOREVER) != 1)
        return;
    km_grpc_pb_free(m);
    int64_t *ids = NULL;
    size_t n = 0;
    km_store_res res;
    int rc = km_lease_list(e->store, &ids, &n, &res);
    Etcdserverpb__LeaseStatus *st = NULL, **sp = NULL;
    if (!rc && n) {
        st = km__calloc(n, sizeof *st);
        sp = km__calloc(n, sizeof *sp);
        if (!st || !sp)
            rc = -ENOMEM;
    }
    if (rc) {
        km__free(st);
        km__free(sp);
        km_store_res_free(&res);
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__LeaseLeasesResponse rep = ETCDSERVERPB__LEASE_LEASES_RESPONSE__INIT;
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, res.revision ? res.revision : km_store_revision(e->store), &h);
    rep.header = &h;
    for (size_t i = 0; i < n; i++) {
        etcdserverpb__lease_status__init(&st[i]);
        st[i].id = ids[i];
        sp[i] = &st[i];
    }
    rep.n_leases = n;
    rep.leases = sp;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
    km__free(st);
    km__free(sp);
    km_store_res_free(&res);
}

int km__etcd_rpc_lease(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "LeaseGrant", KM_GRPC_UNARY, grant },
        { "LeaseRevoke", KM_GRPC_UNARY, revoke },
        { "LeaseKeepAlive", KM_GRPC_BIDI_STREAMING, keepalive },
        { "LeaseTimeToLive", KM_GRPC_UNARY, time_to_live },
        { "LeaseLeases", KM_GRPC_UNARY, leases },
    };
    return km_grpc_register_service(s, &etcdserverpb__lease__descriptor, methods,
                                    sizeof methods / sizeof methods[0], e);
}
