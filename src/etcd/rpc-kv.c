/* SPDX-License-Identifier: MIT */
/* etcd's KV service over gRPC: Range, Put, DeleteRange, Txn and Compact. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-int.h"

/* A call's stack memory: a single-key request and its response fit. */
#define CALL_MEM 2048

/* Sends m, or ends the call with rc's status when building it failed. */
static void reply(km_grpc_call *c, int rc, const ProtobufCMessage *m)
{
    if (!rc)
        rc = km_grpc_send_pb(c, m, KM_FOREVER);
    /* a client that went leaves nobody to tell; finishing is harmless */
    if (rc)
        km__etcd_rpc_fail(c, rc);
}

/* Runs one Range, Put or DeleteRange and answers with its response, the
 * header at the store's revision after it (the new one for a write). */
static void run_op(km_etcd *e, km_grpc_call *c, const km_op *op, km__etcd_mem *m)
{
    km_store_res res;
    memset(&res, 0, sizeof res);
    int rc = km_store_do(e->store, op, &res);
    if (rc) {
        km_store_res_free(&res);
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, res.revision, &h);
    static const km_op_resp none;
    const km_op_resp *o = res.txn.nresp ? &res.txn.resp[0] : &none;
    union {
        Etcdserverpb__RangeResponse r;
        Etcdserverpb__PutResponse p;
        Etcdserverpb__DeleteRangeResponse d;
    } u;
    ProtobufCMessage *out;
    switch (op->type) {
    case KM_OP_RANGE:
        rc = km__etcd_pb_range_resp(&o->range, m, &u.r);
        u.r.header = &h;
        out = &u.r.base;
        break;
    case KM_OP_PUT:
        rc = km__etcd_pb_put_resp(&o->put, m, &u.p);
        u.p.header = &h;
        out = &u.p.base;
        break;
    default:
        rc = km__etcd_pb_del_resp(&o->del, m, &u.d);
        u.d.header = &h;
        out = &u.d.base;
        break;
    }
    reply(c, rc, out);
    km_store_res_free(&res);
}

/* Reads a request of type d within limit bytes into m: 0, or the call has
 * ended. */
static int read_req(km_grpc_call *c, const ProtobufCMessageDescriptor *d, size_t limit,
                    km__etcd_mem *m, ProtobufCMessage **req)
{
    km_str msg;
    int rc = km__etcd_rpc_recv(c, limit, &msg);
    return rc ? rc : km__etcd_rpc_unpack(c, d, msg, m, req);
}

/* Validation failures are INVALID_ARGUMENT with etcd's message, before the
 * store sees the request, as etcd's gRPC layer answers them. */
static void run_checked(km_etcd *e, km_grpc_call *c, const km_op *op, const char *bad,
                        km__etcd_mem *m)
{
    if (bad)
        km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, bad);
    else if (!km__etcd_rpc_allowed(e, c, op))
        run_op(e, c, op, m);
}

/* Range, Put and DeleteRange: one request, one store operation. Reads are
 * not bounded by etcd's request limit, which it applies to what it passes
 * through raft. */
static void single(km_grpc_call *c, km_etcd *e, int type)
{
    static const ProtobufCMessageDescriptor *const in[] = {
        [KM_OP_RANGE] = &etcdserverpb__range_request__descriptor,
        [KM_OP_PUT] = &etcdserverpb__put_request__descriptor,
        [KM_OP_DELETE] = &etcdserverpb__delete_range_request__descriptor,
    };
    _Alignas(16) unsigned char buf[CALL_MEM];
    km__etcd_mem m;
    km__etcd_mem_init(&m, buf, sizeof buf);
    ProtobufCMessage *req;
    size_t limit = type == KM_OP_RANGE ? 0 : e->max_request_bytes;
    if (!read_req(c, in[type], limit, &m, &req)) {
        km_op op = { .type = type };
        const char *bad;
        if (type == KM_OP_RANGE) {
            km__etcd_pb_range((Etcdserverpb__RangeRequest *)req, &op.range);
            bad = km__etcd_check_range(&op.range);
        } else if (type == KM_OP_PUT) {
            km__etcd_pb_put((Etcdserverpb__PutRequest *)req, &op.put);
            bad = km__etcd_check_put(&op.put);
        } else {
            km__etcd_pb_del((Etcdserverpb__DeleteRangeRequest *)req, &op.del);
            bad = km__etcd_check_del(&op.del);
        }
        run_checked(e, c, &op, bad, &m);
    }
    km__etcd_mem_done(&m);
}

static void range(km_grpc_call *c, void *ud) { single(c, ud, KM_OP_RANGE); }
static void put(km_grpc_call *c, void *ud) { single(c, ud, KM_OP_PUT); }
static void delete_range(km_grpc_call *c, void *ud) { single(c, ud, KM_OP_DELETE); }

static void run_txn(km_etcd *e, km_grpc_call *c, const km_txn_req *t, km__etcd_mem *m)
{
    km_store_res res;
    memset(&res, 0, sizeof res);
    int rc = km_store_txn(e->store, t, &res);
    if (rc) {
        km_store_res_free(&res);
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, res.revision, &h);
    Etcdserverpb__TxnResponse out;
    rc = km__etcd_pb_txn_resp(res.revision, &res.txn, m, &out);
    out.header = &h;
    reply(c, rc, &out.base);
    km_store_res_free(&res);
}

static void txn(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    _Alignas(16) unsigned char buf[CALL_MEM];
    km__etcd_mem m;
    km__etcd_mem_init(&m, buf, sizeof buf);
    km_str msg;
    ProtobufCMessage *req;
    if (km__etcd_rpc_recv(c, e->max_request_bytes, &msg))
        goto out;
    if (!km__etcd_pb_txn_depth_ok(msg)) {
        /* etcd has no limit of its own to quote: kumo does not decode it */
        km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, "grpc: request message does not decode");
        goto out;
    }
    if (km__etcd_rpc_unpack(c, &etcdserverpb__txn_request__descriptor, msg, &m, &req))
        goto out;
    km_txn_req t;
    int rc = km__etcd_pb_txn((Etcdserverpb__TxnRequest *)req, &m, &t);
    const char *bad = rc ? NULL : km__etcd_check_txn(&t);
    if (rc)
        km__etcd_rpc_fail(c, rc);
    else if (bad)
        km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, bad);
    else if (!km__etcd_rpc_allowed(e, c, &(km_op){ .type = KM_OP_TXN, .txn = &t }))
        run_txn(e, c, &t, &m);
out:
    km__etcd_mem_done(&m);
}

static void compact(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    _Alignas(16) unsigned char buf[256];
    km__etcd_mem m;
    km__etcd_mem_init(&m, buf, sizeof buf);
    ProtobufCMessage *req;
    if (!read_req(c, &etcdserverpb__compaction_request__descriptor, e->max_request_bytes, &m,
                  &req) && !km__etcd_rpc_admin(e, c)) {
        /* physical is moot: a compaction here is durable once answered */
        int64_t cur = 0;
        int rc = km_store_compact(e->store, ((Etcdserverpb__CompactionRequest *)req)->revision,
                                  &cur);
        if (rc) {
            km__etcd_rpc_fail(c, rc);
        } else {
            Etcdserverpb__ResponseHeader h;
            km__etcd_rpc_header(e, cur, &h);
            Etcdserverpb__CompactionResponse out = ETCDSERVERPB__COMPACTION_RESPONSE__INIT;
            out.header = &h;
            reply(c, 0, &out.base);
        }
    }
    km__etcd_mem_done(&m);
}

int km__etcd_rpc_kv(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "Range", KM_GRPC_UNARY, range },
        { "Put", KM_GRPC_UNARY, put },
        { "DeleteRange", KM_GRPC_UNARY, delete_range },
        { "Txn", KM_GRPC_UNARY, txn },
        { "Compact", KM_GRPC_UNARY, compact },
    };
    return km_grpc_register_service(s, &etcdserverpb__kv__descriptor, methods,
                                    sizeof methods / sizeof methods[0], e);
}
