/* SPDX-License-Identifier: MIT */
/* etcd's gRPC services on a km_grpc_server, and what they share. */
#include "etcd/rpc-int.h"

int km_etcd_grpc_register(km_etcd *e, km_grpc_server *s)
{
    static int (*const services[])(km_etcd *, km_grpc_server *) = {
        km__etcd_rpc_lease,
        km__etcd_rpc_maint,
        km__etcd_rpc_cluster,
        km__etcd_rpc_auth,
        NULL,
    };
    for (size_t i = 0; services[i]; i++) {
        int rc = services[i](e, s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void km__etcd_rpc_header(const km_etcd *e, int64_t rev, Etcdserverpb__ResponseHeader *h)
{
    etcdserverpb__response_header__init(h);
    h->cluster_id = e->cluster_id;
    h->member_id = e->member_id;
    h->revision = rev;
    h->raft_term = e->raft_term;
}

void km__etcd_rpc_fail(km_grpc_call *c, int err)
{
    km__etcd_err x = km__etcd_errinfo(err);
    km_grpc_finish(c, x.code, x.msg);
}

void km__etcd_rpc_kv_out(const km_kv *kv, Mvccpb__KeyValue *out)
{
    mvccpb__key_value__init(out);
    out->key = (ProtobufCBinaryData){ kv->key.n, (uint8_t *)kv->key.p };
    out->value = (ProtobufCBinaryData){ kv->value.n, (uint8_t *)kv->value.p };
    out->create_revision = kv->create_revision;
    out->mod_revision = kv->mod_revision;
    out->version = kv->version;
    out->lease = kv->lease;
}
