/* SPDX-License-Identifier: MIT */
/* etcd's KV messages to the store's requests and the store's results back,
 * bytes pointing into the messages and results, the rest in a call's memory. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-int.h"

/* Nested txns a request may hold. protobuf-c unpacks a message by
 * recursion, about 2 KiB of stack per txn level, on a goroutine's 128 KiB
 * stack, so depth is bounded before it runs; the JSON gateway's bracket
 * limit allows about as many. */
#define MAX_TXN_DEPTH 20

/* Empty bytes as "" rather than NULL: the store compares with memcmp. */
static km_bytes bytes(ProtobufCBinaryData b)
{
    return (km_bytes){ b.data ? b.data : (const uint8_t *)"", b.len };
}

void km__etcd_pb_range(const Etcdserverpb__RangeRequest *in, km_range_req *out)
{
    memset(out, 0, sizeof *out);
    out->key = bytes(in->key);
    out->range_end = bytes(in->range_end);
    out->limit = in->limit;
    out->revision = in->revision;
    out->sort_order = (int)in->sort_order;
    out->sort_target = (int)in->sort_target;
    km__etcd_range_sort(out);
    out->serializable = in->serializable;
    out->keys_only = in->keys_only;
    out->count_only = in->count_only;
    out->min_mod_revision = in->min_mod_revision;
    out->max_mod_revision = in->max_mod_revision;
    out->min_create_revision = in->min_create_revision;
    out->max_create_revision = in->max_create_revision;
}

void km__etcd_pb_put(const Etcdserverpb__PutRequest *in, km_put_req *out)
{
    memset(out, 0, sizeof *out);
    out->key = bytes(in->key);
    out->value = bytes(in->value);
    out->lease = in->lease;
    out->prev_kv = in->prev_kv;
    out->ignore_value = in->ignore_value;
    out->ignore_lease = in->ignore_lease;
}

void km__etcd_pb_del(const Etcdserverpb__DeleteRangeRequest *in, km_del_req *out)
{
    memset(out, 0, sizeof *out);
    out->key = bytes(in->key);
    out->range_end = bytes(in->range_end);
    out->prev_kv = in->prev_kv;
}

static void pb_cmp(const Etcdserverpb__Compare *in, km_cmp *c)
{
    memset(c, 0, sizeof *c);
    c->result = (int)in->result;
    c->target = (int)in->target;
    c->key = bytes(in->key);
    c->range_end = bytes(in->range_end);
    c->value = bytes((ProtobufCBinaryData){ 0, NULL });
    /* etcd reads the operand only when the oneof holds the member the
     * target names; any other member compares as zero or empty */
    switch (in->target_union_case) {
    case ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION:
        if (c->target == KM_CMP_VERSION)
            c->num = in->version;
        break;
    case ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION:
        if (c->target == KM_CMP_CREATE)
            c->num = in->create_revision;
        break;
    case ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION:
        if (c->target == KM_CMP_MOD)
            c->num = in->mod_revision;
        break;
    case ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE:
        if (c->target == KM_CMP_VALUE)
            c->value = bytes(in->value);
        break;
    case ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE:
        if (c->target == KM_CMP_LEASE)
            c->num = in->lease;
        break;
    default:
        break;
    }
}

static int pb_ops(Etcdserverpb__RequestOp *const *in, size_t n, km__etcd_mem *m,
                  const km_op **out)
{
    *out = NULL;
    if (!n)
        return 0;
    km_op *ops = km__etcd_mem_alloc(m, n * sizeof *ops);
    if (!ops)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const Etcdserverpb__RequestOp *o = in[i];
        km_op *op = &ops[i];
        memset(op, 0, sizeof *op);
        op->type = -1;      /* no request: etcd's "key not found" at validation */
        switch (o->request_case) {
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE:
            op->type = KM_OP_RANGE;
            km__etcd_pb_range(o->request_range, &op->range);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT:
            op->type = KM_OP_PUT;
            km__etcd_pb_put(o->request_put, &op->put);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
            op->type = KM_OP_DELETE;
            km__etcd_pb_del(o->request_delete_range, &op->del);
            break;
        case ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN: {
            km_txn_req *t = km__etcd_mem_alloc(m, sizeof *t);
            if (!t)
                return -ENOMEM;
            int rc = km__etcd_pb_txn(o->request_txn, m, t);
            if (rc)
                return rc;
            op->type = KM_OP_TXN;
            op->txn = t;
            break;
        }
        default:
            break;
        }
    }
    *out = ops;
    return 0;
}

int km__etcd_pb_txn(const Etcdserverpb__TxnRequest *in, km__etcd_mem *m, km_txn_req *out)
{
    memset(out, 0, sizeof *out);
    if (in->n_compare) {
        km_cmp *c = km__etcd_mem_alloc(m, in->n_compare * sizeof *c);
        if (!c)
            return -ENOMEM;
        for (size_t i = 0; i < in->n_compare; i++)
            pb_cmp(in->compare[i], &c[i]);
        out->cmp = c;
        out->ncmp = in->n_compare;
    }
    int rc = pb_ops(in->success, in->n_success, m, &out->success);
    if (!rc)
        rc = pb_ops(in->failure, in->n_failure, m, &out->failure);
    out->nsuccess = in->n_success;
    out->nfailure = in->n_failure;
    return rc;
}

/* ---- nesting, read off the wire ---- */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Walks a message's fields; those numbered f1 or f2 (length-delimited)
 * go to sub at depth + 1. False once depth passes MAX_TXN_DEPTH. A frame
 * that does not parse is left for the unpacker to reject. */
static bool nest_ok(const uint8_t *p, size_t n, int depth, bool txn);

static bool fields_ok(const uint8_t *p, const uint8_t *end, int depth, bool txn)
{
    while (p < end) {
        uint64_t key, len;
        if (!varint(&p, end, &key))
            return true;
        switch (key & 7) {
        case 0:
            if (!varint(&p, end, &len))
                return true;
            break;
        case 1:
            p += (size_t)(end - p) < 8 ? (size_t)(end - p) : 8;
            break;
        case 5:
            p += (size_t)(end - p) < 4 ? (size_t)(end - p) : 4;
            break;
        case 2:
            if (!varint(&p, end, &len) || len > (uint64_t)(end - p))
                return true;
            /* TxnRequest: success 2, failure 3 (RequestOp); RequestOp: request_txn 4 */
            if ((txn && ((key >> 3) == 2 || (key >> 3) == 3)) || (!txn && (key >> 3) == 4))
                if (!nest_ok(p, (size_t)len, txn ? depth : depth + 1, !txn))
                    return false;
            p += len;
            break;
        default:
            return true;
        }
    }
    return true;
}

static bool nest_ok(const uint8_t *p, size_t n, int depth, bool txn)
{
    return depth <= MAX_TXN_DEPTH && fields_ok(p, p + n, depth, txn);
}

bool km__etcd_pb_txn_depth_ok(km_str msg)
{
    return nest_ok((const uint8_t *)msg.p, msg.n, 0, true);
}

/* ---- results ---- */

static Mvccpb__KeyValue **kvs_out(const km_kv *kvs, size_t n, km__etcd_mem *m)
{
    Mvccpb__KeyValue *v = km__etcd_mem_alloc(m, n * sizeof *v);
    Mvccpb__KeyValue **pv = km__etcd_mem_alloc(m, n * sizeof *pv);
    if (!v || !pv)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        km__etcd_rpc_kv_out(&kvs[i], &v[i]);
        pv[i] = &v[i];
    }
    return pv;
}

int km__etcd_pb_range_resp(const km_range_resp *r, km__etcd_mem *m,
                           Etcdserverpb__RangeResponse *out)
{
    etcdserverpb__range_response__init(out);
    if (r->nkvs && !(out->kvs = kvs_out(r->kvs, r->nkvs, m)))
        return -ENOMEM;
    out->n_kvs = r->nkvs;
    out->more = r->more;
    out->count = r->count;
    return 0;
}

int km__etcd_pb_put_resp(const km_put_resp *r, km__etcd_mem *m, Etcdserverpb__PutResponse *out)
{
    etcdserverpb__put_response__init(out);
    if (r->has_prev) {
        if (!(out->prev_kv = km__etcd_mem_alloc(m, sizeof *out->prev_kv)))
            return -ENOMEM;
        km__etcd_rpc_kv_out(&r->prev_kv, out->prev_kv);
    }
    return 0;
}

int km__etcd_pb_del_resp(const km_del_resp *r, km__etcd_mem *m,
                         Etcdserverpb__DeleteRangeResponse *out)
{
    etcdserverpb__delete_range_response__init(out);
    out->deleted = r->deleted;
    if (r->nprev && !(out->prev_kvs = kvs_out(r->prev_kvs, r->nprev, m)))
        return -ENOMEM;
    out->n_prev_kvs = r->nprev;
    return 0;
}

/* etcd stamps each operation's header with the revision the txn had when
 * the operation ran: the old one until the first change, the new one from
 * there on (as the gateway's encoder does). */
typedef struct {
    int64_t old_rev, new_rev;
    bool changed;
    km__etcd_mem *m;
} txn_walk;

static Etcdserverpb__ResponseHeader *op_header(txn_walk *w, bool empty)
{
    Etcdserverpb__ResponseHeader *h = km__etcd_mem_alloc(w->m, sizeof *h);
    if (h) {
        etcdserverpb__response_header__init(h);
        if (!empty)
            h->revision = w->changed ? w->new_rev : w->old_rev;
    }
    return h;
}

static int txn_out(txn_walk *w, const km_txn_resp *r, Etcdserverpb__TxnResponse *out)
{
    out->succeeded = r->succeeded;
    if (!r->nresp)
        return 0;
    Etcdserverpb__ResponseOp *ops = km__etcd_mem_alloc(w->m, r->nresp * sizeof *ops);
    Etcdserverpb__ResponseOp **pops = km__etcd_mem_alloc(w->m, r->nresp * sizeof *pops);
    if (!ops || !pops)
        return -ENOMEM;
    out->responses = pops;
    out->n_responses = r->nresp;
    for (size_t i = 0; i < r->nresp; i++) {
        const km_op_resp *o = &r->resp[i];
        Etcdserverpb__ResponseOp *op = &ops[i];
        etcdserverpb__response_op__init(op);
        pops[i] = op;
        switch (o->type) {
        case KM_OP_RANGE: {
            Etcdserverpb__RangeResponse *x = km__etcd_mem_alloc(w->m, sizeof *x);
            if (!x || km__etcd_pb_range_resp(&o->range, w->m, x))
                return -ENOMEM;
            op->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
            op->response_range = x;
            x->header = op_header(w, false);
            break;
        }
        case KM_OP_PUT: {
            Etcdserverpb__PutResponse *x = km__etcd_mem_alloc(w->m, sizeof *x);
            if (!x || km__etcd_pb_put_resp(&o->put, w->m, x))
                return -ENOMEM;
            w->changed = true;
            op->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
            op->response_put = x;
            x->header = op_header(w, false);
            break;
        }
        case KM_OP_DELETE: {
            Etcdserverpb__DeleteRangeResponse *x = km__etcd_mem_alloc(w->m, sizeof *x);
            if (!x || km__etcd_pb_del_resp(&o->del, w->m, x))
                return -ENOMEM;
            if (o->del.deleted)
                w->changed = true;
            op->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
            op->response_delete_range = x;
            x->header = op_header(w, false);
            break;
        }
        default: {
            Etcdserverpb__TxnResponse *x = km__etcd_mem_alloc(w->m, sizeof *x);
            if (!x)
                return -ENOMEM;
            etcdserverpb__txn_response__init(x);
            /* a nested txn's own header is there but empty, as etcd's is */
            x->header = op_header(w, true);
            op->response_case = ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN;
            op->response_txn = x;
            int rc = o->txn ? txn_out(w, o->txn, x) : 0;
            if (rc)
                return rc;
            break;
        }
        }
    }
    return w->m->nomem ? -ENOMEM : 0;
}

int km__etcd_pb_txn_resp(int64_t rev, const km_txn_resp *r, km__etcd_mem *m,
                         Etcdserverpb__TxnResponse *out)
{
    etcdserverpb__txn_response__init(out);
    txn_walk w = { .old_rev = km__etcd_txn_changed(r) ? rev - 1 : rev, .new_rev = rev, .m = m };
    return txn_out(&w, r, out);
}
