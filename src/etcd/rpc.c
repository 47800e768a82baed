/* SPDX-License-Identifier: MIT */
/* etcd's gRPC services on a km_grpc_server, and what they share: the
 * response header, errors, key-value conversion, a call's memory and request. */
#include <errno.h>
#include "etcd/rpc-int.h"

int km_etcd_grpc_register(km_etcd *e, km_grpc_server *s)
{
    static int (*const services[])(km_etcd *, km_grpc_server *) = {
        km__etcd_rpc_kv,
        km__etcd_rpc_watch,
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

int km__etcd_who_call(km_etcd *e, km_grpc_call *c, km_auth_id *id)
{
    km_str t = { NULL, 0 };
    km_http_req *r = km_grpc_call_http(c);
    /* etcd's clients send "token"; its gateway passes "authorization" on.
     * Read as request headers: the call's metadata list is built (and
     * allocated) only for handlers that want all of it. */
    if (e->auth) {
        t = km_http_header(r, "token");
        if (!t.n)
            t = km_http_header(r, "authorization");
    }
    return km__etcd_who(e, r, t.p, t.n, id);
}

int km__etcd_rpc_who(km_etcd *e, km_grpc_call *c, km_auth_id *id)
{
    int rc = km__etcd_who_call(e, c, id);
    if (rc)
        km__etcd_rpc_fail(c, rc);
    return rc;
}

int km__etcd_rpc_allowed(km_etcd *e, km_grpc_call *c, const km_op *op)
{
    km_auth_id id;
    int rc = km__etcd_rpc_who(e, c, &id);
    if (!rc && (rc = km__etcd_authz_op(e->auth, &id, op)))
        km__etcd_rpc_fail(c, rc);
    return rc;
}

int km__etcd_rpc_admin(km_etcd *e, km_grpc_call *c)
{
    km_auth_id id;
    int rc = km__etcd_rpc_who(e, c, &id);
    if (!rc && (rc = km_auth_check_admin(e->auth, &id)))
        km__etcd_rpc_fail(c, rc);
    return rc;
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

static void *mem_pb_alloc(void *ud, size_t n)
{
    return km__etcd_mem_alloc(ud, n);
}

static void mem_pb_free(void *ud, void *p)
{
    /* everything goes at once in km__etcd_mem_done */
    (void)ud;
    (void)p;
}

void km__etcd_mem_init(km__etcd_mem *m, void *buf, size_t cap)
{
    m->pb = (ProtobufCAllocator){ mem_pb_alloc, mem_pb_free, m };
    m->buf = buf;
    m->used = 0;
    m->cap = cap;
    m->a = NULL;
    m->nomem = false;
}

void *km__etcd_mem_alloc(km__etcd_mem *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (m->cap - m->used >= n) {
        void *p = m->buf + m->used;
        m->used += n;
        return p;
    }
    if (!m->a && !(m->a = km__arena_new())) {
        m->nomem = true;
        return NULL;
    }
    void *p = km__arena_alloc(m->a, n ? n : 16);
    if (!p)
        m->nomem = true;
    return p;
}

void km__etcd_mem_done(km__etcd_mem *m)
{
    km__arena_free(m->a);
    m->a = NULL;
}

int km__etcd_rpc_recv(km_grpc_call *c, size_t limit, km_str *msg)
{
    int rc = km_grpc_recv(c, msg, KM_FOREVER);
    if (rc == 1) {
        /* etcd measures the raft entry, a few bytes more than the request */
        if (limit && msg->n > limit) {
            km__etcd_rpc_fail(c, -EMSGSIZE);
            return -EMSGSIZE;
        }
        return 0;
    }
    if (rc == 0) {
        /* half-closed with no request: a unary call's client broke the protocol */
        km_grpc_finish(c, KM_GRPC_INTERNAL, "grpc: no request message in a unary call");
        return -EPROTO;
    }
    return rc;      /* kumo set the status (or the client went) */
}

int km__etcd_rpc_unpack(km_grpc_call *c, const ProtobufCMessageDescriptor *d, km_str msg,
                        km__etcd_mem *m, ProtobufCMessage **out)
{
    *out = protobuf_c_message_unpack(d, &m->pb, msg.n, (const uint8_t *)msg.p);
    if (*out)
        return 0;
    if (m->nomem) {
        km__etcd_rpc_fail(c, -ENOMEM);
        return -ENOMEM;
    }
    /* the words kumo's own km_grpc_recv_pb answers with */
    km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, "grpc: request message does not decode");
    return -EBADMSG;
}
