/* SPDX-License-Identifier: MIT */
/* KV calls over etcd's gRPC API: range, put, delete, txn and compaction. */
#include <string.h>
#include "client/grpc-int.h"
#include "rt/alloc.h"

static ProtobufCBinaryData bytes(const void *p, size_t n)
{
    return (ProtobufCBinaryData){ n, (uint8_t *)p };
}

int km__grpc_range(km_client *c, const km__span *s, int64_t rev, int64_t limit,
                   int64_t deadline, km_client_range *out)
{
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = bytes(s->key, s->key_len);
    if (s->end)
        req.range_end = bytes(s->end, s->end_len);
    req.revision = rev > 0 ? rev : 0;
    req.limit = limit > 0 ? limit : 0;
    ProtobufCMessage *m;
    int rc = km__grpc_unary(c, "/etcdserverpb.KV/Range", &req.base,
                            &etcdserverpb__range_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
    out->revision = km__grpc_rev(r->header);
    out->count = r->count;
    out->more = r->more;
    /* One block, as the JSON side decodes it: kvs, then their strings. */
    size_t bn = 0;
    for (size_t i = 0; i < r->n_kvs; i++)
        bn += km__grpc_kv_size(r->kvs[i]);
    char *blk = km__malloc(r->n_kvs * sizeof(km_client_kv) + bn + 1);
    if (!blk) {
        km_grpc_pb_free(m);
        return -ENOMEM;
    }
    out->priv_ = blk;
    out->kvs = (km_client_kv *)blk;
    km__kvmem mem = { blk + r->n_kvs * sizeof(km_client_kv), bn + 1 };
    for (size_t i = 0; !rc && i < r->n_kvs; i++)
        if (!(rc = km__grpc_kv_copy(&out->kvs[i], r->kvs[i], &mem)))
            out->n = i + 1;
    km_grpc_pb_free(m);
    return rc;
}

int km__grpc_put(km_client *c, const void *key, size_t key_len, const void *value,
                 size_t value_len, int64_t lease, int64_t deadline, int64_t *rev)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = bytes(key, key_len);
    req.value = bytes(value, value_len);
    req.lease = lease;
    ProtobufCMessage *m;
    int rc = km__grpc_unary(c, "/etcdserverpb.KV/Put", &req.base,
                            &etcdserverpb__put_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    if (rev)
        *rev = km__grpc_rev(((Etcdserverpb__PutResponse *)m)->header);
    km_grpc_pb_free(m);
    return 0;
}

int km__grpc_del(km_client *c, const km__span *s, int64_t deadline, int64_t *deleted,
                 int64_t *rev)
{
    Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    req.key = bytes(s->key, s->key_len);
    if (s->end)
        req.range_end = bytes(s->end, s->end_len);
    ProtobufCMessage *m;
    int rc = km__grpc_unary(c, "/etcdserverpb.KV/DeleteRange", &req.base,
                            &etcdserverpb__delete_range_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    Etcdserverpb__DeleteRangeResponse *r = (Etcdserverpb__DeleteRangeResponse *)m;
    if (deleted)
        *deleted = r->deleted;
    if (rev)
        *rev = km__grpc_rev(r->header);
    km_grpc_pb_free(m);
    return 0;
}

/* A txn's messages, built in caller-owned arrays (nothing to free but the
 * spans of prefix deletes). */
typedef struct {
    Etcdserverpb__RequestOp          op;
    Etcdserverpb__PutRequest         put;
    Etcdserverpb__DeleteRangeRequest del;
    km__span                         span;
} txn_op;

static int fill_ops(txn_op *o, Etcdserverpb__RequestOp **p, const km_client_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        etcdserverpb__request_op__init(&o[i].op);
        p[i] = &o[i].op;
        if (ops[i].type == KM_CLIENT_OP_PUT) {
            etcdserverpb__put_request__init(&o[i].put);
            o[i].put.key = bytes(ops[i].key, strlen(ops[i].key));
            o[i].put.value = bytes(ops[i].value ? ops[i].value : "", ops[i].value_len);
            o[i].op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
            o[i].op.request_put = &o[i].put;
            continue;
        }
        if (km__client_span(ops[i].key, ops[i].type == KM_CLIENT_OP_DELETE_PREFIX, &o[i].span))
            return -ENOMEM;
        etcdserverpb__delete_range_request__init(&o[i].del);
        o[i].del.key = bytes(o[i].span.key, o[i].span.key_len);
        if (o[i].span.end)
            o[i].del.range_end = bytes(o[i].span.end, o[i].span.end_len);
        o[i].op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        o[i].op.request_delete_range = &o[i].del;
    }
    return 0;
}

int km__grpc_txn(km_client *c, const km_client_cmp *cmp, size_t ncmp,
                 const km_client_op *then_ops, size_t nthen,
                 const km_client_op *else_ops, size_t nelse,
                 int64_t deadline, bool *succeeded, int64_t *rev)
{
    static const Etcdserverpb__Compare__CompareTarget targets[] = {
        ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION, ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE,
        ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE,
    };
    static const Etcdserverpb__Compare__TargetUnionCase unions[] = {
        ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION, ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION,
        ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION, ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE,
    };
    size_t nops = nthen + nelse;
    /* One allocation for every message of the request. */
    size_t sz = ncmp * (sizeof(Etcdserverpb__Compare) + sizeof(void *)) +
                nops * (sizeof(txn_op) + sizeof(void *));
    char *blk = km__calloc(1, sz ? sz : 1);
    if (!blk)
        return -ENOMEM;
    txn_op *ops = (txn_op *)blk;
    Etcdserverpb__Compare *cs = (Etcdserverpb__Compare *)(ops + nops);
    Etcdserverpb__Compare **cp = (Etcdserverpb__Compare **)(cs + ncmp);
    Etcdserverpb__RequestOp **op = (Etcdserverpb__RequestOp **)(cp + ncmp);
    for (size_t i = 0; i < ncmp; i++) {
        etcdserverpb__compare__init(&cs[i]);
        cp[i] = &cs[i];
        cs[i].key = bytes(cmp[i].key, strlen(cmp[i].key));
        /* The public comparison results are etcd's, in its order. */
        cs[i].result = (Etcdserverpb__Compare__CompareResult)cmp[i].op;
        cs[i].target = targets[cmp[i].target];
        cs[i].target_union_case = unions[cmp[i].target];
        if (cmp[i].target == KM_CLIENT_TGT_VALUE) {
            const char *v = cmp[i].value ? cmp[i].value : "";
            cs[i].value = bytes(v, strlen(v));
        } else {
            /* version, create_revision and mod_revision share the union. */
            cs[i].version = cmp[i].num;
        }
    }
    int rc = fill_ops(ops, op, then_ops, nthen);
    if (!rc)
        rc = fill_ops(ops + nthen, op + nthen, else_ops, nelse);
    ProtobufCMessage *m = NULL;
    if (!rc) {
        Etcdserverpb__TxnRequest req = ETCDSERVERPB__TXN_REQUEST__INIT;
        req.n_compare = ncmp;
        req.compare = cp;
        req.n_success = nthen;
        req.success = op;
        req.n_failure = nelse;
        req.failure = op + nthen;
        rc = km__grpc_unary(c, "/etcdserverpb.KV/Txn", &req.base,
                            &etcdserverpb__txn_response__descriptor, deadline, &m);
    }
    for (size_t i = 0; i < nops; i++)
        km__client_span_free(&ops[i].span);
    km__free(blk);
    if (rc)
        return rc;
    Etcdserverpb__TxnResponse *r = (Etcdserverpb__TxnResponse *)m;
    if (succeeded)
        *succeeded = r->succeeded;
    if (rev)
        *rev = km__grpc_rev(r->header);
    km_grpc_pb_free(m);
    return 0;
}

int km__grpc_compact(km_client *c, int64_t rev, int64_t deadline)
{
    Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = rev;
    ProtobufCMessage *m;
    int rc = km__grpc_unary(c, "/etcdserverpb.KV/Compact", &req.base,
                            &etcdserverpb__compaction_response__descriptor, deadline, &m);
    if (!rc)
        km_grpc_pb_free(m);
    return rc;
}
