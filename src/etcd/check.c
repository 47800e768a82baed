/* SPDX-License-Identifier: MIT */
/* The checks etcd makes on a request before applying it, with its messages,
 * and how it reads a range's sort fields. */
#include "etcd/etcd-int.h"

static const char empty_key[] = "etcdserver: key is not provided";

void km__etcd_range_sort(km_range_req *r)
{
    /* etcd sorts nothing for an order outside the enum, whatever the
     * target (it picks a sorter, then neither direction); a target outside
     * it has no sorter at all (etcd's apply panics): read it as the key */
    if (r->sort_order < 0 || r->sort_order > KM_SORT_DESCEND) {
        r->sort_order = KM_SORT_NONE;
        r->sort_target = KM_SORT_KEY;
    }
    if (r->sort_target < 0 || r->sort_target > KM_SORT_VALUE)
        r->sort_target = KM_SORT_KEY;
}

const char *km__etcd_check_range(const km_range_req *r)
{
    return r->key.n ? NULL : empty_key;
}

const char *km__etcd_check_put(const km_put_req *r)
{
    if (!r->key.n)
        return empty_key;
    if (r->ignore_value && r->value.n)
        return "etcdserver: value is provided";
    if (r->ignore_lease && r->lease)
        return "etcdserver: lease is provided";
    return NULL;
}

const char *km__etcd_check_del(const km_del_req *r)
{
    return r->key.n ? NULL : empty_key;
}

static const char *check_ops(const km_op *ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *m;
        switch (ops[i].type) {
        case KM_OP_RANGE: m = km__etcd_check_range(&ops[i].range); break;
        case KM_OP_PUT: m = km__etcd_check_put(&ops[i].put); break;
        case KM_OP_DELETE: m = km__etcd_check_del(&ops[i].del); break;
        case KM_OP_TXN: m = km__etcd_check_txn(ops[i].txn); break;
        default: m = "etcdserver: key not found"; break;   /* an op without a request */
        }
        if (m)
            return m;
    }
    return NULL;
}

const char *km__etcd_check_txn(const km_txn_req *r)
{
    if (r->ncmp > KM_STORE_MAX_OPS || r->nsuccess > KM_STORE_MAX_OPS ||
        r->nfailure > KM_STORE_MAX_OPS)
        return "etcdserver: too many operations in txn request";
    for (size_t i = 0; i < r->ncmp; i++)
        if (!r->cmp[i].key.n)
            return empty_key;
    const char *m = check_ops(r->success, r->nsuccess);
    return m ? m : check_ops(r->failure, r->nfailure);
}
