/* SPDX-License-Identifier: MIT */
/* Internals of etcd's gRPC API: each service's registration, and the
 * response header, error status and key-value conversions they share. */
#ifndef KUMO_ETCD_RPC_INT_H
#define KUMO_ETCD_RPC_INT_H

#include <kumo/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "etcd/authz.h"
#include "etcd/etcd-int.h"

/* Each registers one service's methods on s (ud: e). 0 or -errno from
 * km_grpc_register_service. */
int  km__etcd_rpc_kv(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_watch(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_lease(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_maint(km_etcd *e, km_grpc_server *s);    /* Maintenance */
int  km__etcd_rpc_cluster(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_auth(km_etcd *e, km_grpc_server *s);

/* ---- one call's memory ----
 * The request message, the store requests made from it and the response
 * built for it live until the handler returns; a buffer on the handler's
 * stack holds them for small calls (a single-key Range allocates nothing),
 * an arena takes over past it. Nothing is freed piece by piece. */
typedef struct {
    ProtobufCAllocator pb;      /* for protobuf_c_message_unpack: allocates from here */
    unsigned char *buf;
    size_t used, cap;
    km__arena *a;               /* NULL until buf is full */
    bool nomem;                 /* an allocation failed */
} km__etcd_mem;

/* Starts m on buf (cap bytes, 16-byte aligned; may be 0 bytes). */
void  km__etcd_mem_init(km__etcd_mem *m, void *buf, size_t cap);
/* n bytes aligned to 16, or NULL (nomem set). */
void *km__etcd_mem_alloc(km__etcd_mem *m, size_t n);
/* Frees what m allocated past its buffer. */
void  km__etcd_mem_done(km__etcd_mem *m);

/* Reads the call's one request message into *msg. limit: etcd's request
 * size limit for requests it passes through raft (writes, compaction): a
 * larger message is "request is too large"; 0 for none (reads). 0, or
 * -errno when the call has ended (its status set) and the handler returns. */
int  km__etcd_rpc_recv(km_grpc_call *c, size_t limit, km_str *msg);
/* Unpacks msg as d into m. 0 and *out, or -errno with the status set. */
int  km__etcd_rpc_unpack(km_grpc_call *c, const ProtobufCMessageDescriptor *d, km_str msg,
                         km__etcd_mem *m, ProtobufCMessage **out);

/* ---- KV requests and results (rpc-kvconv.c) ----
 * Requests point into their messages, results into the store's; what is
 * allocated comes from m. The _resp ones leave the header to the caller.
 * 0 or -ENOMEM. */
void km__etcd_pb_range(const Etcdserverpb__RangeRequest *in, km_range_req *out);
void km__etcd_pb_put(const Etcdserverpb__PutRequest *in, km_put_req *out);
void km__etcd_pb_del(const Etcdserverpb__DeleteRangeRequest *in, km_del_req *out);
int  km__etcd_pb_txn(const Etcdserverpb__TxnRequest *in, km__etcd_mem *m, km_txn_req *out);
/* Whether a packed TxnRequest nests txns no deeper than kumo unpacks. */
bool km__etcd_pb_txn_depth_ok(km_str msg);
int  km__etcd_pb_range_resp(const km_range_resp *r, km__etcd_mem *m,
                            Etcdserverpb__RangeResponse *out);
int  km__etcd_pb_put_resp(const km_put_resp *r, km__etcd_mem *m, Etcdserverpb__PutResponse *out);
int  km__etcd_pb_del_resp(const km_del_resp *r, km__etcd_mem *m,
                          Etcdserverpb__DeleteRangeResponse *out);
/* A txn's result at revision rev, its operations' headers as etcd stamps
 * them (the top header left to the caller). */
int  km__etcd_pb_txn_resp(int64_t rev, const km_txn_resp *r, km__etcd_mem *m,
                          Etcdserverpb__TxnResponse *out);

/* The identity of a call (its "token" metadata, else its client
 * certificate). 0, or the call has ended with etcd's status (an invalid
 * token) and the handler returns. */
int  km__etcd_rpc_who(km_etcd *e, km_grpc_call *c, km_auth_id *id);
/* The same without ending the call: 0 or the KM_EAUTH_ error. */
int  km__etcd_who_call(km_etcd *e, km_grpc_call *c, km_auth_id *id);
/* Whether the caller may run op (km__etcd_authz_op): 0, or the call has
 * ended with "permission denied" or the identity's error. */
int  km__etcd_rpc_allowed(km_etcd *e, km_grpc_call *c, const km_op *op);
/* Whether the caller holds the root role (compaction, maintenance, auth
 * management): 0, or the call has ended. */
int  km__etcd_rpc_admin(km_etcd *e, km_grpc_call *c);

/* A response header at revision rev (0: the field left out, as etcd does
 * for a watch's compaction answer). */
void km__etcd_rpc_header(const km_etcd *e, int64_t rev, Etcdserverpb__ResponseHeader *h);
/* Ends the call with err's etcd status: the code and exact message etcd's
 * clients test for (km__etcd_errinfo). */
void km__etcd_rpc_fail(km_grpc_call *c, int err);
/* kv as a message whose bytes point into kv's memory. */
void km__etcd_rpc_kv_out(const km_kv *kv, Mvccpb__KeyValue *out);

#endif
