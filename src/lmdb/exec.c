/* SPDX-License-Identifier: MIT */
/* Txn requests: validation, etcd's duplicate-key rule, execution, the entry points. */
#include <string.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

/* ---- validation ---- */

static int check_key(km_bytes k)
{
    if (k.n == 0)
        return -EINVAL;
    return k.n > KM_STORE_MAX_KEY ? -EMSGSIZE : 0;
}

static int check_ops(const km_op *ops, size_t n, bool *write, int depth)
{
    if (n > KM_STORE_MAX_OPS)
        return -E2BIG;
    if (n && !ops)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        const km_op *op = &ops[i];
        int rc;
        switch (op->type) {
        case KM_OP_RANGE:
            if ((rc = check_key(op->range.key)))
                return rc;
            if (op->range.sort_order < KM_SORT_NONE || op->range.sort_order > KM_SORT_DESCEND ||
                op->range.sort_target < KM_SORT_KEY || op->range.sort_target > KM_SORT_VALUE)
                return -EINVAL;
            break;
        case KM_OP_PUT:
            if ((rc = check_key(op->put.key)))
                return rc;
            if (op->put.value.n > KM_STORE_MAX_VALUE)
                return -EMSGSIZE;
            if ((op->put.ignore_lease && op->put.lease) || (op->put.ignore_value && op->put.value.n))
                return -EINVAL;
            *write = true;
            break;
        case KM_OP_DELETE:
            if ((rc = check_key(op->del.key)))
                return rc;
            *write = true;
            break;
        case KM_OP_TXN:
            if (!op->txn || depth > 64)
                return -EINVAL;
            if ((rc = km__txn_check(op->txn, write)))
                return rc;
            break;
        default:
            return -EINVAL;
        }
    }
    return 0;
}

/* etcd's rule: within one branch no key may be put twice, nor put inside a
 * deleted range; the success and failure branches of a nested txn may put
 * the same key since only one of them runs. */
typedef struct {
    km_bytes *puts;  size_t np, cp;
    km_bytes *dk, *de; size_t nd, cd;
} ivs;

static void ivs_free(ivs *v)
{
    km__free(v->puts);
    km__free(v->dk);
    km__free(v->de);
    memset(v, 0, sizeof *v);
}


static int add_put(ivs *v, km_bytes k)
{
    if (km__grow((void **)&v->puts, &v->cp, v->np, sizeof *v->puts))
        return -ENOMEM;
    v->puts[v->np++] = k;
    return 0;
}

static int add_del(ivs *v, km_bytes k, km_bytes e)
{
    size_t cd = v->cd;
    if (km__grow((void **)&v->dk, &cd, v->nd, sizeof *v->dk))
        return -ENOMEM;
    cd = v->cd;
    if (km__grow((void **)&v->de, &cd, v->nd, sizeof *v->de))
        return -ENOMEM;
    v->cd = cd;
    v->dk[v->nd] = k;
    v->de[v->nd++] = e;
    return 0;
}

static bool has_put(const ivs *v, km_bytes k)
{
    for (size_t i = 0; i < v->np; i++)
        if (km__bytes_cmp(v->puts[i], k) == 0)
            return true;
    return false;
}

/* etcd checks duplicates on literal intervals: a range_end of "\0" is the
 * empty interval here, not "every key from key on" as in a range. */
static bool in_dels(const ivs *v, km_bytes k)
{
    for (size_t i = 0; i < v->nd; i++) {
        if (!v->de[i].n ? km__bytes_cmp(k, v->dk[i]) == 0
                        : km__bytes_cmp(k, v->dk[i]) >= 0 && km__bytes_cmp(k, v->de[i]) < 0)
            return true;
    }
    return false;
}

static int check_dups(const km_op *ops, size_t n, ivs *out)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++)
        if (ops[i].type == KM_OP_DELETE)
            rc = add_del(out, ops[i].del.key, ops[i].del.range_end);
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].type != KM_OP_TXN)
            continue;
        ivs th = { 0 }, el = { 0 };
        const km_txn_req *t = ops[i].txn;
        rc = check_dups(t->success, t->nsuccess, &th);
        if (!rc)
            rc = check_dups(t->failure, t->nfailure, &el);
        for (size_t j = 0; !rc && j < th.np; j++) {
            if (has_put(out, th.puts[j]) || in_dels(out, th.puts[j]))
                rc = -ENOTUNIQ;
            else
                rc = add_put(out, th.puts[j]);
        }
        for (size_t j = 0; !rc && j < el.np; j++) {
            if ((has_put(out, el.puts[j]) && !has_put(&th, el.puts[j])) || in_dels(out, el.puts[j]))
                rc = -ENOTUNIQ;
            else
                rc = add_put(out, el.puts[j]);
        }
        for (size_t j = 0; !rc && j < th.nd; j++)
            rc = add_del(out, th.dk[j], th.de[j]);
        for (size_t j = 0; !rc && j < el.nd; j++)
            rc = add_del(out, el.dk[j], el.de[j]);
        ivs_free(&th);
        ivs_free(&el);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        if (ops[i].type != KM_OP_PUT)
            continue;
        if (has_put(out, ops[i].put.key) || in_dels(out, ops[i].put.key))
            rc = -ENOTUNIQ;
        else
            rc = add_put(out, ops[i].put.key);
    }
    return rc;
}

int km__txn_check(const km_txn_req *req, bool *write)
{
    if (!req)
        return -EINVAL;
    if (req->ncmp > KM_STORE_MAX_OPS)
        return -E2BIG;
    if (req->ncmp && !req->cmp)
        return -EINVAL;
    for (size_t i = 0; i < req->ncmp; i++) {
        const km_cmp *c = &req->cmp[i];
        int rc = check_key(c->key);
        if (rc)
            return rc;
        if (c->result < KM_CMP_EQUAL || c->result > KM_CMP_NOT_EQUAL ||
            c->target < KM_CMP_VERSION || c->target > KM_CMP_LEASE)
            return -EINVAL;
    }
    int rc = check_ops(req->success, req->nsuccess, write, 0);
    if (!rc)
        rc = check_ops(req->failure, req->nfailure, write, 0);
    return rc;
}

static int check_unique(const km_txn_req *req)
{
    ivs a = { 0 };
    int rc = check_dups(req->success, req->nsuccess, &a);
    ivs_free(&a);
    if (!rc) {
        rc = check_dups(req->failure, req->nfailure, &a);
        ivs_free(&a);
    }
    return rc;
}

/* ---- execution ---- */

/* Every compare, nested ones included, sees the state before the txn (as
 * etcd evaluates the whole path first). */
static int eval_path(km__xc *x, const km_txn_req *req, size_t *cap)
{
    bool ok = true;
    for (size_t i = 0; ok && i < req->ncmp; i++) {
        int rc = km__cmp_eval(x, &req->cmp[i], &ok);
        if (rc)
            return rc;
    }
    if (km__grow((void **)&x->path, cap, x->npath, sizeof *x->path))
        return -ENOMEM;
    x->path[x->npath++] = ok;
    const km_op *ops = ok ? req->success : req->failure;
    size_t n = ok ? req->nsuccess : req->nfailure;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type == KM_OP_TXN) {
            int rc = eval_path(x, ops[i].txn, cap);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Ranges at a past revision must be valid before anything is written. */
static int exec(km__xc *x, const km_txn_req *req, km_txn_resp *out)
{
    bool ok = x->path[x->ipath++];
    const km_op *ops = ok ? req->success : req->failure;
    size_t n = ok ? req->nsuccess : req->nfailure;
    out->succeeded = ok;
    out->nresp = 0;
    out->resp = NULL;
    if (n) {
        out->resp = km__arena_alloc(x->a, n * sizeof *out->resp);
        if (!out->resp)
            return -ENOMEM;
        memset(out->resp, 0, n * sizeof *out->resp);
    }
    for (size_t i = 0; i < n; i++) {
        km_op_resp *r = &out->resp[i];
        r->type = ops[i].type;
        int rc;
        switch (ops[i].type) {
        case KM_OP_RANGE:
            rc = km__range(x, &ops[i].range, &r->range);
            break;
        case KM_OP_PUT:
            rc = km__put(x, &ops[i].put, &r->put);
            break;
        case KM_OP_DELETE:
            rc = km__del(x, &ops[i].del, &r->del);
            break;
        default:
            r->txn = km__arena_alloc(x->a, sizeof *r->txn);
            rc = r->txn ? exec(x, ops[i].txn, r->txn) : -ENOMEM;
            break;
        }
        if (rc)
            return rc;
        out->nresp = i + 1;
    }
    return 0;
}

int km__txn_exec(km__xc *x, const km_txn_req *req, km_txn_resp *out)
{
    size_t cap = 0;
    x->path = NULL;
    x->npath = x->ipath = 0;
    int rc = eval_path(x, req, &cap);
    if (!rc)
        rc = exec(x, req, out);
    km__free(x->path);
    x->path = NULL;
    return rc;
}

/* ---- entry points ---- */

int km__lmdb_txn(km_store *st, const km_txn_req *req, km_store_res *res)
{
    km__lmdb *s = (km__lmdb *)st;
    memset(res, 0, sizeof *res);
    res->arena = km__arena_new();
    if (!res->arena)
        return -ENOMEM;
    res->revision = atomic_load(&s->revision);
    bool write = false;
    int rc = km__txn_check(req, &write);
    if (!rc)
        rc = check_unique(req);
    if (rc)
        return rc;
    if (write && s->replica)
        return -EROFS;      /* a replica changes only as its source did */
    if (write) {
        km__wreq w;
        memset(&w, 0, sizeof w);
        w.kind = KM__W_TXN;
        w.req = req;
        w.res = res;
        rc = km__submit(s, &w);
        res->revision = w.out_rev ? w.out_rev : atomic_load(&s->revision);
        return rc;
    }
    MDB_txn *t;
    if ((rc = km__rtxn_get(s, &t)))
        return rc;
    km__xc x = { .s = s, .txn = t, .a = res->arena };
    rc = km__snap_revs(s, t, &x.rev, &x.compact);
    if (!rc)
        rc = km__txn_exec(&x, req, &res->txn);
    res->revision = x.rev;
    km__rtxn_put(s, t);
    return rc;
}
