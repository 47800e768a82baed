/* SPDX-License-Identifier: MIT */
/* The gRPC transport: a channel per endpoint, unary calls with failover,
 * statuses mapped to -errno, and its table of operations. */
#include <string.h>
#include "client/grpc-int.h"
#include "rt/alloc.h"

#define MS  1000000LL
#define SEC 1000000000LL

const km__client_tp km__client_grpc_tp = {
    .kind = KM_CLIENT_GRPC,
    .range = km__grpc_range,
    .put = km__grpc_put,
    .del = km__grpc_del,
    .txn = km__grpc_txn,
    .compact = km__grpc_compact,
    .lease_grant = km__grpc_lease_grant,
    .lease_keepalive = km__grpc_lease_keepalive,
    .lease_revoke = km__grpc_lease_revoke,
    .watch_open = km__grpc_watch_open,
    .watch_next = km__grpc_watch_next,
    .watch_close = km__grpc_watch_close,
};

int km__client_grpc_new(km_client *c, const km_client_config *cfg)
{
    if (!(c->grpc = km__calloc(c->neps, sizeof *c->grpc)))
        return -ENOMEM;
    for (size_t i = 0; i < c->neps; i++) {
        km_grpc_channel_config gc = {
            .target = c->eps[i],
            .max_conns = cfg->max_conns > 0 ? cfg->max_conns : 0,
            .connect_timeout = c->dial_timeout,
            /* The same pace as the JSON side's retries: a restarted
             * server is found again within a second. */
            .backoff_base = 50 * MS,
            .backoff_max = SEC,
            /* Watches share connections with calls: a connection that died
             * silently is found by its PINGs, not by every watch's idle
             * timeout in turn. Only while streams are open. */
            .keepalive_interval = 30 * SEC,
            .keepalive_timeout = 10 * SEC,
            /* A big prefix listed whole, as over JSON. */
            .max_recv_msg = 256u << 20,
            .tls = cfg->tls,
        };
        int rc = km_grpc_channel_new(&c->grpc[i], &gc);
        if (rc)
            return rc;
    }
    return 0;
}

void km__client_grpc_free(km_client *c)
{
    if (!c->grpc)
        return;
    for (size_t i = 0; i < c->neps; i++)
        km_grpc_channel_free(c->grpc[i]);
    km__free(c->grpc);
    c->grpc = NULL;
}

int km__grpc_err(int rc, km_grpc_stream *st)
{
    km_grpc_status s = st ? km_grpc_stream_status(st) : (km_grpc_status){ .code = -1 };
    switch (rc) {
    case -EREMOTEIO: {
        if (s.code == KM_GRPC_UNIMPLEMENTED)
            return -EPROTONOSUPPORT;
        int e = km__client_errno(s.code, s.message.p, s.message.n);
        return e ? e : -EIO;
    }
    case -EPROTO:
        /* An HTTP/1.x server answering the connection preface, or an
         * HTTP/2 one that is no gRPC server (its 404 reads UNIMPLEMENTED). */
        return -EPROTONOSUPPORT;
    case -EMSGSIZE:
        return -EBADMSG;
    }
    return rc;
}

typedef struct {
    const char                       *method;
    const ProtobufCMessage           *req;
    const ProtobufCMessageDescriptor *d;
    ProtobufCMessage                 *rep;
} unary_arg;

static int unary_once(km_client *c, size_t ep, int64_t deadline, void *arg)
{
    unary_arg *a = arg;
    km_grpc_stream *st = NULL;
    int rc = km_grpc_unary_pb(c->grpc[ep], a->method, NULL, 0, a->req, a->d, deadline,
                              &st, &a->rep);
    if (rc)
        rc = km__grpc_err(rc, st);
    km_grpc_stream_free(st);
    return rc;
}

int km__grpc_unary(km_client *c, const char *method, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *d, int64_t deadline,
                   ProtobufCMessage **rep)
{
    unary_arg a = { method, req, d, NULL };
    int rc = km__client_retry(c, deadline, unary_once, &a);
    *rep = a.rep;
    return rc;
}

size_t km__grpc_kv_size(const Mvccpb__KeyValue *kv)
{
    return kv ? kv->key.len + kv->value.len + 2 : 0;
}

int km__grpc_kv_copy(km_client_kv *dst, const Mvccpb__KeyValue *kv, km__kvmem *m)
{
    memset(dst, 0, sizeof *dst);
    if (!kv)
        return 0;
    if (km__kvmem_put(m, kv->key.data, kv->key.len, &dst->key) ||
        km__kvmem_put(m, kv->value.data, kv->value.len, &dst->value))
        return -EBADMSG;
    dst->key_len = kv->key.len;
    dst->value_len = kv->value.len;
    dst->create_revision = kv->create_revision;
    dst->mod_revision = kv->mod_revision;
    dst->version = kv->version;
    dst->lease = kv->lease;
    return 0;
}
