/* SPDX-License-Identifier: MIT */
/* Internals of etcd's gRPC API: each service's registration, and the
 * response header, error status and key-value conversions they share. */
#ifndef KUMO_ETCD_RPC_INT_H
#define KUMO_ETCD_RPC_INT_H

#include <kumo/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "etcd/etcd-int.h"

/* Each registers one service's methods on s (ud: e). 0 or -errno from
 * km_grpc_register_service. */
int  km__etcd_rpc_kv(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_lease(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_maint(km_etcd *e, km_grpc_server *s);    /* Maintenance */
int  km__etcd_rpc_cluster(km_etcd *e, km_grpc_server *s);
int  km__etcd_rpc_auth(km_etcd *e, km_grpc_server *s);

/* A response header at revision rev (0: the field left out, as etcd does
 * for a watch's compaction answer). */
void km__etcd_rpc_header(const km_etcd *e, int64_t rev, Etcdserverpb__ResponseHeader *h);
/* Ends the call with err's etcd status: the code and exact message etcd's
 * clients test for (km__etcd_errinfo). */
void km__etcd_rpc_fail(km_grpc_call *c, int err);
/* kv as a message whose bytes point into kv's memory. */
void km__etcd_rpc_kv_out(const km_kv *kv, Mvccpb__KeyValue *out);

#endif
