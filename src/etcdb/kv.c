/* SPDX-License-Identifier: MIT */
/* Txn and compaction against the cluster: KV/Txn, or the one KV call a
 * single operation without compares needs, so that etcd serves it by its
 * own path (a serializable range stays on the member). */
#include <string.h>
#include "etcdb/etcdb-int.h"

static bool ops_read_only(const km_op *ops, size_t n);

bool km__etcdb_read_only(const km_txn_req *t)
{
    return ops_read_only(t->success, t->nsuccess) && ops_read_only(t->failure, t->nfailure);
}

static bool ops_read_only(const km_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type == KM_OP_TXN ? !ops[i].txn || !km__etcdb_read_only(ops[i].txn)
                                     : ops[i].type != KM_OP_RANGE)
            return false;
    }
    return true;
}

typedef struct {
    const char                       *method;
    const ProtobufCMessageDescriptor *d;
    Etcdserverpb__ResponseOp__ResponseCase rcase;
} single_call;

static const single_call singles[] = {
    [KM_OP_RANGE]  = { "/etcdserverpb.KV/Range", &etcdserverpb__range_response__descriptor,
                       ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE },
    [KM_OP_PUT]    = { "/etcdserverpb.KV/Put", &etcdserverpb__put_response__descriptor,
                       ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT },
    [KM_OP_DELETE] = { "/etcdserverpb.KV/DeleteRange",
                       &etcdserverpb__delete_range_response__descriptor,
                       ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE },
};

/* Every response of a single call starts with its header, as field 1. */
typedef struct {
    ProtobufCMessage base;
    Etcdserverpb__ResponseHeader *header;
} any_resp;

static int single(km__etcdb *s, km__arena *qa, const km_op *op, km_store_res *res)
{
    Etcdserverpb__RequestOp *q;
    int rc = km__etcdb_op_req(qa, op, &q);
    if (rc)
        return rc;
    const single_call *c = &singles[op->type];
    const ProtobufCMessage *req = op->type == KM_OP_RANGE ? &q->request_range->base
                                : op->type == KM_OP_PUT   ? &q->request_put->base
                                                          : &q->request_delete_range->base;
    ProtobufCMessage *m;
    rc = km__etcdb_unary(s, c->method, op->type == KM_OP_RANGE ? KM__ETCDB_READ : KM__ETCDB_WRITE,
                         req, c->d, km__etcdb_deadline(s), &m);
    if (rc)
        return rc;
    km__etcdb_saw(s, ((any_resp *)m)->header);
    res->revision = ((any_resp *)m)->header ? ((any_resp *)m)->header->revision : 0;
    Etcdserverpb__ResponseOp ro = ETCDSERVERPB__RESPONSE_OP__INIT;
    ro.response_case = c->rcase;
    /* The union's members are all pointers to the response. */
    ro.response_range = (Etcdserverpb__RangeResponse *)m;
    res->txn.succeeded = true;
    res->txn.resp = km__arena_alloc(res->arena, sizeof *res->txn.resp);
    rc = res->txn.resp ? km__etcdb_op_resp(res->arena, &res->txn.resp[0], &ro) : -ENOMEM;
    if (!rc)
        res->txn.nresp = 1;
    km_grpc_pb_free(m);
    return rc;
}

int km__etcdb_txn(km_store *st, const km_txn_req *req, km_store_res *res)
{
    km__etcdb *s = (km__etcdb *)st;
    bool ro = req && km__etcdb_read_only(req);
    if (ro) {
        int rc = km__etcdb_cache_txn(s, req, res);
        if (rc != 1)
            return rc;
    }
    memset(res, 0, sizeof *res);
    if (!(res->arena = km__arena_new()))
        return -ENOMEM;
    km__arena *qa = km__arena_new();
    if (!qa)
        return -ENOMEM;
    int rc;
    if (req->ncmp == 0 && req->nsuccess == 1 && req->nfailure == 0 &&
        req->success[0].type >= KM_OP_RANGE && req->success[0].type <= KM_OP_DELETE) {
        rc = single(s, qa, &req->success[0], res);
    } else {
        Etcdserverpb__TxnRequest *q;
        ProtobufCMessage *m = NULL;
        rc = km__etcdb_txn_req(qa, req, &q);
        if (!rc)
            rc = km__etcdb_unary(s, "/etcdserverpb.KV/Txn",
                                 ro ? KM__ETCDB_READ : KM__ETCDB_WRITE,
                                 &q->base, &etcdserverpb__txn_response__descriptor,
                                 km__etcdb_deadline(s), &m);
        if (!rc) {
            Etcdserverpb__TxnResponse *r = (Etcdserverpb__TxnResponse *)m;
            km__etcdb_saw(s, r->header);
            res->revision = r->header ? r->header->revision : 0;
            rc = km__etcdb_txn_resp(res->arena, &res->txn, r);
            km_grpc_pb_free(m);
        }
    }
    km__arena_free(qa);
    /* Read-your-writes through this store: the answer waits (a bounded
     * time) for the replica to hold the write. */
    if (!rc && !ro)
        km__etcdb_cache_wait(s, res->revision, km_now() + s->rep_wait);
    return rc;
}

int km__etcdb_compact(km_store *st, int64_t rev, int64_t *revision)
{
    km__etcdb *s = (km__etcdb *)st;
    Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = rev;
    ProtobufCMessage *m;
    int rc = km__etcdb_unary(s, "/etcdserverpb.KV/Compact", KM__ETCDB_WRITE, &req.base,
                             &etcdserverpb__compaction_response__descriptor,
                             km__etcdb_deadline(s), &m);
    if (rc)
        return rc;
    Etcdserverpb__CompactionResponse *r = (Etcdserverpb__CompactionResponse *)m;
    km__etcdb_saw(s, r->header);
    km__etcdb_saw_compact(s, rev);
    if (revision)
        *revision = r->header ? r->header->revision : atomic_load(&s->revision);
    km_grpc_pb_free(m);
    return 0;
}
