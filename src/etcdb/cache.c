/* SPDX-License-Identifier: MIT */
/* The local replica: an embedded store loaded from a consistent copy of
 * the cluster and kept level with it by the feed, which answers the reads
 * it can answer as etcd would. */
#include <stdio.h>
#include <string.h>
#include "rt/alloc.h"
#include "lmdb/replica.h"
#include "etcdb/etcdb-int.h"

#define SEC  1000000000LL
/* Keys per page of the initial copy: big enough to be cheap in calls,
 * small enough for etcd to answer each quickly. */
#define PAGE 1000

static void forward(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    km__etcdb *s = ud;
    km__feed_publish(&s->base, rev, ev, n);
}

/* One attempt at a copy: the first page read at the current revision R0,
 * every later one at R0, so the pages make one snapshot. */
static int load_once(km__etcdb *s, int64_t *rev)
{
    uint8_t zero = 0, *startbuf = NULL;
    ProtobufCBinaryData start = { 1, &zero };
    int64_t r0 = 0;
    km_kv *kvs = NULL;
    size_t ckvs = 0;
    int rc = 0;
    for (bool first = true;; first = false) {
        Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
        req.key = start;
        req.range_end = (ProtobufCBinaryData){ 1, &zero };
        req.limit = PAGE;
        req.revision = r0;
        ProtobufCMessage *m;
        rc = km__etcdb_unary(s, "/etcdserverpb.KV/Range", KM__ETCDB_READ, &req.base,
                             &etcdserverpb__range_response__descriptor, km__etcdb_deadline(s),
                             &m);
        if (rc)
            break;
        Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
        km__etcdb_saw(s, r->header);
        if (first)
            r0 = r->header ? r->header->revision : 0;
        bool last = !r->more || r->n_kvs == 0;
        if (r0 < 1)
            rc = -EBADMSG;
        if (!rc && r->n_kvs > ckvs) {
            km__free(kvs);
            ckvs = r->n_kvs;
            kvs = km__malloc(ckvs * sizeof *kvs);
            rc = kvs ? 0 : -ENOMEM;
        }
        for (size_t i = 0; !rc && i < r->n_kvs; i++) {
            const Mvccpb__KeyValue *e = r->kvs[i];
            kvs[i] = (km_kv){
                .key = { e->key.data, e->key.len },
                .value = { e->value.data, e->value.len },
                .create_revision = e->create_revision,
                .mod_revision = e->mod_revision,
                .version = e->version,
                .lease = e->lease,
            };
        }
        if (!rc)
            rc = km__replica_load(s->rep, r0, kvs, r->n_kvs, first, last);
        if (!rc && !last) {
            /* the next page starts just past this one's last key */
            const Mvccpb__KeyValue *e = r->kvs[r->n_kvs - 1];
            uint8_t *nb = km__malloc(e->key.len + 1);
            if (nb) {
                memcpy(nb, e->key.data, e->key.len);
                nb[e->key.len] = 0;
                km__free(startbuf);
                startbuf = nb;
                start = (ProtobufCBinaryData){ e->key.len + 1, nb };
            } else {
                rc = -ENOMEM;
            }
        }
        km_grpc_pb_free(m);
        if (rc || last)
            break;
    }
    km__free(startbuf);
    km__free(kvs);
    *rev = r0;
    return rc;
}

static int load(km__etcdb *s, int64_t *rev)
{
    int rc;
    /* R0 compacted while the copy was being read: start over at a newer one */
    for (int tries = 0; (rc = load_once(s, rev)) == -ENODATA && tries < 3; tries++)
        ;
    if (!rc)
        s->published = *rev;
    return rc;
}

int km__etcdb_cache_open(km__etcdb *s, const km_store_config *cfg, int64_t *rev)
{
    s->rep_wait = cfg->cache_wait > 0 ? cfg->cache_wait : SEC;
    s->rep_window = cfg->cache_window > 0 ? cfg->cache_window : 10000;
    int rc = km_mutex_new(&s->rep_mu);
    if (!rc)
        rc = km_cond_new(&s->rep_cv);
    if (!rc)
        rc = km__replica_open(&s->rep, 0);
    if (!rc)
        rc = km_store_subscribe(s->rep, forward, s, &s->rep_sub);
    if (!rc)
        rc = load(s, rev);
    return rc;
}

void km__etcdb_cache_close(km__etcdb *s)
{
    if (s->rep) {
        km_store_unsubscribe(s->rep, s->rep_sub);
        km_store_close(s->rep);
    }
    if (s->rep_cv)
        km_cond_free(s->rep_cv);
    if (s->rep_mu)
        km_mutex_free(s->rep_mu);
    s->rep = NULL;
    s->rep_sub = NULL;
    s->rep_cv = NULL;
    s->rep_mu = NULL;
}

int km__etcdb_cache_reload(km__etcdb *s, int64_t *rev)
{
    atomic_fetch_add(&s->rep_epoch, 1);      /* odd: readers go to etcd */
    int rc = load(s, rev);
    if (!rc)
        atomic_fetch_add(&s->rep_epoch, 1);
    km__etcdb_cache_applied(s);
    return rc;
}

void km__etcdb_cache_applied(km__etcdb *s)
{
    /* The Dekker pairing with cache_wait: the replica's revision was
     * stored before this load, a waiter counts itself before it reads the
     * revision, so one of the two sees the other. */
    if (atomic_load(&s->rep_waiters) == 0)
        return;
    km_mutex_lock(s->rep_mu);
    km_cond_broadcast(s->rep_cv);
    km_mutex_unlock(s->rep_mu);
}

bool km__etcdb_cache_wait(km__etcdb *s, int64_t rev, int64_t deadline)
{
    if (km_store_revision(s->rep) >= rev)
        return true;
    km_mutex_lock(s->rep_mu);
    atomic_fetch_add(&s->rep_waiters, 1);
    int rc = 0;
    while (km_store_revision(s->rep) < rev && rc == 0)
        rc = km_cond_wait_dl(s->rep_cv, s->rep_mu, deadline);
    atomic_fetch_sub(&s->rep_waiters, 1);
    km_mutex_unlock(s->rep_mu);
    return km_store_revision(s->rep) >= rev;
}

/* The oldest revision the replica answers for as etcd would. */
static int64_t low_rev(km__etcdb *s)
{
    int64_t a = km__replica_compacted(s->rep), b = atomic_load(&s->compact);
    return a > b ? a : b;
}

/* Whether every range is serializable (etcd's rule: any other op, a
 * nested txn included, makes a txn linearizable) and the lowest explicit
 * revision asked for. */
static void scan_ops(const km_op *ops, size_t n, bool *ser, int64_t *low)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type != KM_OP_RANGE) {
            *ser = false;
            if (ops[i].type == KM_OP_TXN && ops[i].txn) {
                scan_ops(ops[i].txn->success, ops[i].txn->nsuccess, ser, low);
                scan_ops(ops[i].txn->failure, ops[i].txn->nfailure, ser, low);
            }
            continue;
        }
        if (!ops[i].range.serializable)
            *ser = false;
        if (ops[i].range.revision > 0 && ops[i].range.revision < *low)
            *low = ops[i].range.revision;
    }
}

int km__etcdb_cache_txn(km__etcdb *s, const km_txn_req *req, km_store_res *res)
{
    if (!s->rep || !req)
        return 1;
    bool ser = true;
    int64_t low = INT64_MAX;
    scan_ops(req->success, req->nsuccess, &ser, &low);
    scan_ops(req->failure, req->nfailure, &ser, &low);
    if (low < low_rev(s))
        return 1;
    unsigned long e = atomic_load(&s->rep_epoch);
    if (e & 1)
        return 1;
    if (!ser) {
        /* linearizable: not before the replica has what a quorum has */
        int64_t cur;
        if (km__etcdb_current(s, km__etcdb_deadline(s), &cur) ||
            !km__etcdb_cache_wait(s, cur, km_now() + s->rep_wait))
            return 1;
    }
    km_store_res r;
    int rc = km_store_txn(s->rep, req, &r);
    /* a reload began under us; or a revision the replica lacks (ahead of
     * it, compacted in it), a key too long for it: etcd knows better */
    if (atomic_load(&s->rep_epoch) != e || rc == -ERANGE || rc == -ENODATA ||
        rc == -EMSGSIZE) {
        km_store_res_free(&r);
        return 1;
    }
    *res = r;
    return rc;
}

int km__etcdb_cache_history(km__etcdb *s, int64_t from, int64_t to, km_bytes key,
                            km_bytes end, bool with_prev, size_t max, km_event **ev,
                            size_t *n, int64_t *next, km_store_res *res)
{
    if (!s->rep)
        return 1;
    unsigned long e = atomic_load(&s->rep_epoch);
    /* At the bottom of the window the replica holds versions, not the
     * events of that revision: only what follows is history. */
    if ((e & 1) || from <= low_rev(s))
        return 1;
    if (to > 0 && to > km_store_revision(s->rep))
        return 1;
    km_store_res r;
    int rc = km_store_history(s->rep, from, to, key, end, with_prev, max, ev, n, next, &r);
    if (atomic_load(&s->rep_epoch) != e || rc == -ENODATA || rc == -EMSGSIZE) {
        km_store_res_free(&r);
        *ev = NULL;
        *n = 0;
        return 1;
    }
    *res = r;
    return rc;
}
