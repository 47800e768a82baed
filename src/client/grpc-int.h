/* SPDX-License-Identifier: MIT */
/* The gRPC transport's internals: a channel per endpoint, unary calls with
 * failover, statuses mapped to -errno, kvs copied out of etcd's messages. */
#ifndef KUMO_CLIENT_GRPC_INT_H
#define KUMO_CLIENT_GRPC_INT_H

#include <kumo/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "client/client-int.h"

/* Makes c->grpc, a channel per endpoint (none dials yet). 0, -ENOMEM. */
int  km__client_grpc_new(km_client *c, const km_client_config *cfg);
/* Frees c->grpc; NULL is fine. */
void km__client_grpc_free(km_client *c);

/* The error a failed call (rc from kumo's gRPC client, st its stream or
 * NULL) means in client.h's terms: a status mapped as the JSON gateway's
 * error bodies are; UNIMPLEMENTED, or an answer that is not HTTP/2 or not
 * gRPC: -EPROTONOSUPPORT. */
int  km__grpc_err(int rc, km_grpc_stream *st);

/* Calls method with req on the endpoint in use, moving to the next ones on
 * transport errors, until deadline. 0 and *rep (unpacked as d; the caller
 * frees it with km_grpc_pb_free), or -errno as km__grpc_err gives it. */
int  km__grpc_unary(km_client *c, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *d, int64_t deadline,
                    ProtobufCMessage **rep);

/* Bytes km__grpc_kv_copy needs for kv (NULL: none). */
size_t km__grpc_kv_size(const Mvccpb__KeyValue *kv);
/* Copies kv (NULL: a zeroed kv) into dst, its strings NUL-terminated into
 * m. 0 or -EBADMSG. */
int    km__grpc_kv_copy(km_client_kv *dst, const Mvccpb__KeyValue *kv, km__kvmem *m);
/* The revision in a response header (NULL: 0). */
static inline int64_t km__grpc_rev(const Etcdserverpb__ResponseHeader *h)
{
    return h ? h->revision : 0;
}

/* The gRPC transport's operations (the table's entries). */
int  km__grpc_range(km_client *c, const km__span *s, int64_t rev, int64_t limit,
                    int64_t deadline, km_client_range *out);
int  km__grpc_put(km_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, int64_t lease, int64_t deadline, int64_t *rev);
int  km__grpc_del(km_client *c, const km__span *s, int64_t deadline, int64_t *deleted,
                  int64_t *rev);
int  km__grpc_txn(km_client *c, const km_client_cmp *cmp, size_t ncmp,
                  const km_client_op *then_ops, size_t nthen,
                  const km_client_op *else_ops, size_t nelse,
                  int64_t deadline, bool *succeeded, int64_t *rev);
int  km__grpc_compact(km_client *c, int64_t rev, int64_t deadline);
int  km__grpc_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                          int64_t *granted_ttl);
int  km__grpc_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl);
int  km__grpc_lease_revoke(km_client *c, int64_t id, int64_t deadline);
int  km__grpc_watch_open(km_client *c, size_t ep, const km__watch_req *q, int64_t start_rev,
                         int64_t deadline, km__wstream **out);
int  km__grpc_watch_next(km__wstream *s, int64_t deadline, km__watch_msg *m);
void km__grpc_watch_close(km__wstream *s);

#endif
