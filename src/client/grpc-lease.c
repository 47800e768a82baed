/* SPDX-License-Identifier: MIT */
/* Leases over etcd's gRPC API: grant, one keep-alive (a short exchange on
 * the LeaseKeepAlive stream), revoke. */
#include "client/grpc-int.h"

int km__grpc_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                         int64_t *granted_ttl)
{
    Etcdserverpb__LeaseGrantRequest req = ETCDSERVERPB__LEASE_GRANT_REQUEST__INIT;
    req.ttl = ttl;
    ProtobufCMessage *m;
    int rc = km__grpc_unary(c, "/etcdserverpb.Lease/LeaseGrant", &req.base,
                            &etcdserverpb__lease_grant_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    Etcdserverpb__LeaseGrantResponse *r = (Etcdserverpb__LeaseGrantResponse *)m;
    if (id)
        *id = r->id;
    if (granted_ttl)
        *granted_ttl = r->ttl;
    km_grpc_pb_free(m);
    return 0;
}

typedef struct {
    int64_t id;
    int64_t ttl;
} keepalive_arg;

/* One request and its answer, then the stream is let go (freeing cancels
 * it): the keeper's rounds are ttl/3 apart, no stream is worth holding. */
static int keepalive_once(km_client *c, size_t ep, int64_t deadline, void *arg)
{
    keepalive_arg *a = arg;
    km_grpc_stream *st = NULL;
    ProtobufCMessage *m = NULL;
    int rc = km_grpc_stream_open(c->grpc[ep], "/etcdserverpb.Lease/LeaseKeepAlive", NULL, 0,
                                 deadline, &st);
    if (!rc) {
        Etcdserverpb__LeaseKeepAliveRequest req = ETCDSERVERPB__LEASE_KEEP_ALIVE_REQUEST__INIT;
        req.id = a->id;
        rc = km_grpc_stream_send_pb(st, &req.base, false, deadline);
    }
    if (!rc) {
        rc = km_grpc_stream_recv_pb(st, &etcdserverpb__lease_keep_alive_response__descriptor,
                                    &m, deadline);
        rc = rc == 1 ? 0 : rc == 0 ? -ECONNRESET : rc;
    }
    if (rc)
        rc = km__grpc_err(rc, st);
    else
        a->ttl = ((Etcdserverpb__LeaseKeepAliveResponse *)m)->ttl;
    km_grpc_pb_free(m);
    km_grpc_stream_free(st);
    return rc;
}

int km__grpc_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl)
{
    keepalive_arg a = { id, 0 };
    int rc = km__client_retry(c, deadline, keepalive_once, &a);
    if (rc)
        return rc;
    /* etcd answers an expired lease with a TTL of 0, no error. */
    if (a.ttl <= 0)
        return -ENOENT;
    if (ttl)
        *ttl = a.ttl;
    return 0;
}

int km__grpc_lease_revoke(km_client *c, int64_t id, int64_t deadline)
{
    Etcdserverpb__LeaseRevokeRequest req = ETCDSERVERPB__LEASE_REVOKE_REQUEST__INIT;
    req.id = id;
    ProtobufCMessage *m;
    int rc = km__grpc_unary(c, "/etcdserverpb.Lease/LeaseRevoke", &req.base,
                            &etcdserverpb__lease_revoke_response__descriptor, deadline, &m);
    if (!rc)
        km_grpc_pb_free(m);
    return rc;
}
