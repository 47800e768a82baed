/* SPDX-License-Identifier: MIT */
/* Store requests as etcd's messages, etcd's responses as store results. */
#include <string.h>
#include "etcdb/etcdb-int.h"

static ProtobufCBinaryData bin(km_bytes b)
{
    return (ProtobufCBinaryData){ b.n, (uint8_t *)b.p };
}

#define NEW(a, T, init) ({ T *p_ = km__arena_alloc(a, sizeof(T)); if (p_) init(p_); p_; })

/* The store's enums are etcd's, in etcd's order; only their bounds need
 * checking before they go on the wire. */
static int range_req(km__arena *a, const km_range_req *q, Etcdserverpb__RangeRequest **out)
{
    if (q->sort_order < KM_SORT_NONE || q->sort_order > KM_SORT_DESCEND ||
        q->sort_target < KM_SORT_KEY || q->sort_target > KM_SORT_VALUE)
        return -EINVAL;
    Etcdserverpb__RangeRequest *r = NEW(a, Etcdserverpb__RangeRequest,
                                        etcdserverpb__range_request__init);
    if (!r)
        return -ENOMEM;
    r->key = bin(q->key);
    r->range_end = bin(q->range_end);
    r->limit = q->limit;
    r->revision = q->revision > 0 ? q->revision : 0;
    r->sort_order = (Etcdserverpb__RangeRequest__SortOrder)q->sort_order;
    r->sort_target = (Etcdserverpb__RangeRequest__SortTarget)q->sort_target;
    r->serializable = q->serializable;
    r->keys_only = q->keys_only;
    r->count_only = q->count_only;
    r->min_mod_revision = q->min_mod_revision;
    r->max_mod_revision = q->max_mod_revision;
    r->min_create_revision = q->min_create_revision;
    r->max_create_revision = q->max_create_revision;
    *out = r;
    return 0;
}

static int cmp_req(km__arena *a, const km_cmp *c, Etcdserverpb__Compare **out)
{
    if (c->result < KM_CMP_EQUAL || c->result > KM_CMP_NOT_EQUAL ||
        c->target < KM_CMP_VERSION || c->target > KM_CMP_LEASE)
        return -EINVAL;
    Etcdserverpb__Compare *r = NEW(a, Etcdserverpb__Compare, etcdserverpb__compare__init);
    if (!r)
        return -ENOMEM;
    r->result = (Etcdserverpb__Compare__CompareResult)c->result;
    r->target = (Etcdserverpb__Compare__CompareTarget)c->target;
    r->key = bin(c->key);
    r->range_end = bin(c->range_end);
    switch (c->target) {
    case KM_CMP_VERSION:
        r->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        r->version = c->num;
        break;
    case KM_CMP_CREATE:
        r->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
        r->create_revision = c->num;
        break;
    case KM_CMP_MOD:
        r->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        r->mod_revision = c->num;
        break;
    case KM_CMP_VALUE:
        r->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        r->value = bin(c->value);
        break;
    default:
        r->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        r->lease = c->num;
        break;
    }
    *out = r;
    return 0;
}

static int ops_req(km__arena *a, const km_op *ops, size_t n, Etcdserverpb__RequestOp ***out)
{
    Etcdserverpb__RequestOp **v = km__arena_alloc(a, (n ? n : 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = km__etcdb_op_req(a, &ops[i], &v[i]);
        if (rc)
            return rc;
    }
    *out = v;
    return 0;
}

int km__etcdb_txn_req(km__arena *a, const km_txn_req *q, Etcdserverpb__TxnRequest **out)
{
    Etcdserverpb__TxnRequest *r = NEW(a, Etcdserverpb__TxnRequest,
                                      etcdserverpb__txn_request__init);
    if (!r)
        return -ENOMEM;
    r->compare = km__arena_alloc(a, (q->ncmp ? q->ncmp : 1) * sizeof *r->compare);
    if (!r->compare)
        return -ENOMEM;
    for (size_t i = 0; i < q->ncmp; i++) {
        int rc = cmp_req(a, &q->cmp[i], &r->compare[i]);
        if (rc)
            return rc;
    }
    r->n_compare = q->ncmp;
    int rc = ops_req(a, q->success, q->nsuccess, &r->success);
    if (!rc)
        rc = ops_req(a, q->failure, q->nfailure, &r->failure);
    if (rc)
        return rc;
    r->n_success = q->nsuccess;
    r->n_failure = q->nfailure;
    *out = r;
    return 0;
}

int km__etcdb_op_req(km__arena *a, const km_op *op, Etcdserverpb__RequestOp **out)
{
    Etcdserverpb__RequestOp *r = NEW(a, Etcdserverpb__RequestOp, etcdserverpb__request_op__init);
    if (!r)
        return -ENOMEM;
    int rc = 0;
    switch (op->type) {
    case KM_OP_RANGE:
        r->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
        rc = range_req(a, &op->range, &r->request_range);
        break;
    case KM_OP_PUT: {
        Etcdserverpb__PutRequest *p = NEW(a, Etcdserverpb__PutRequest,
                                          etcdserverpb__put_request__init);
        if (!p)
            return -ENOMEM;
        p->key = bin(op->put.key);
        p->value = bin(op->put.value);
        p->lease = op->put.lease;
        p->prev_kv = op->put.prev_kv;
        p->ignore_value = op->put.ignore_value;
        p->ignore_lease = op->put.ignore_lease;
        r->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
        r->request_put = p;
        break;
    }
    case KM_OP_DELETE: {
        Etcdserverpb__DeleteRangeRequest *d = NEW(a, Etcdserverpb__DeleteRangeRequest,
                                                  etcdserverpb__delete_range_request__init);
        if (!d)
            return -ENOMEM;
        d->key = bin(op->del.key);
        d->range_end = bin(op->del.range_end);
        d->prev_kv = op->del.prev_kv;
        r->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
        r->request_delete_range = d;
        break;
    }
    case KM_OP_TXN:
        if (!op->txn)
            return -EINVAL;
        r->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
        rc = km__etcdb_txn_req(a, op->txn, &r->request_txn);
        break;
    default:
        return -EINVAL;
    }
    if (!rc)
        *out = r;
    return rc;
}

/* ---- responses ---- */

int km__etcdb_kv(km__arena *a, km_kv *dst, const Mvccpb__KeyValue *kv)
{
    memset(dst, 0, sizeof *dst);
    if (!kv)
        return 0;
    uint8_t *k = km__arena_dup(a, kv->key.data, kv->key.len);
    uint8_t *v = km__arena_dup(a, kv->value.data, kv->value.len);
    if (!k || !v)
        return -ENOMEM;
    dst->key = (km_bytes){ k, kv->key.len };
    dst->value = (km_bytes){ v, kv->value.len };
    dst->create_revision = kv->create_revision;
    dst->mod_revision = kv->mod_revision;
    dst->version = kv->version;
    dst->lease = kv->lease;
    return 0;
}

static int kvs(km__arena *a, km_kv **out, size_t *nout, Mvccpb__KeyValue **v, size_t n)
{
    *out = km__arena_alloc(a, (n ? n : 1) * sizeof **out);
    if (!*out)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = km__etcdb_kv(a, &(*out)[i], v[i]);
        if (rc)
            return rc;
    }
    *nout = n;
    return 0;
}

int km__etcdb_op_resp(km__arena *a, km_op_resp *dst, const Etcdserverpb__ResponseOp *r)
{
    memset(dst, 0, sizeof *dst);
    switch (r->response_case) {
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE: {
        const Etcdserverpb__RangeResponse *g = r->response_range;
        dst->type = KM_OP_RANGE;
        dst->range.more = g->more;
        dst->range.count = g->count;
        return kvs(a, &dst->range.kvs, &dst->range.nkvs, g->kvs, g->n_kvs);
    }
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT:
        dst->type = KM_OP_PUT;
        dst->put.has_prev = r->response_put->prev_kv != NULL;
        return km__etcdb_kv(a, &dst->put.prev_kv, r->response_put->prev_kv);
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE: {
        const Etcdserverpb__DeleteRangeResponse *d = r->response_delete_range;
        dst->type = KM_OP_DELETE;
        dst->del.deleted = d->deleted;
        return kvs(a, &dst->del.prev_kvs, &dst->del.nprev, d->prev_kvs, d->n_prev_kvs);
    }
    case ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN:
        dst->type = KM_OP_TXN;
        if (!(dst->txn = km__arena_alloc(a, sizeof *dst->txn)))
            return -ENOMEM;
        return km__etcdb_txn_resp(a, dst->txn, r->response_txn);
    default:
        return -EBADMSG;
    }
}

int km__etcdb_txn_resp(km__arena *a, km_txn_resp *dst, const Etcdserverpb__TxnResponse *r)
{
    memset(dst, 0, sizeof *dst);
    dst->succeeded = r->succeeded;
    dst->resp = km__arena_alloc(a, (r->n_responses ? r->n_responses : 1) * sizeof *dst->resp);
    if (!dst->resp)
        return -ENOMEM;
    for (size_t i = 0; i < r->n_responses; i++) {
        int rc = km__etcdb_op_resp(a, &dst->resp[i], r->responses[i]);
        if (rc)
            return rc;
    }
    dst->nresp = r->n_responses;
    return 0;
}

int km__etcdb_event(km__arena *a, km_event *dst, const Mvccpb__Event *e)
{
    memset(dst, 0, sizeof *dst);
    dst->type = e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? KM_EV_DELETE : KM_EV_PUT;
    int rc = km__etcdb_kv(a, &dst->kv, e->kv);
    if (!rc && e->prev_kv) {
        dst->has_prev = true;
        rc = km__etcdb_kv(a, &dst->prev_kv, e->prev_kv);
    }
    return rc;
}
