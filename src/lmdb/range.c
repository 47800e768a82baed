/* SPDX-License-Identifier: MIT */
/* Ranges at the current or a past revision, and txn compares. */
#include <stdlib.h>
#include <string.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

static bool is_all(km_bytes end) { return end.n == 1 && end.p[0] == 0; }

/* Past the end of [.., end)? */
static bool past_end(km_bytes k, km_bytes end)
{
    return !is_all(end) && km__bytes_cmp(k, end) >= 0;
}

/* The version of key live at revision at, read from its history. */
static int hist_lookup(km__xc *x, MDB_cursor *c, km_bytes key, int64_t at, km_kv *kv, bool *found)
{
    uint8_t rk[16];
    km__revkey(rk, at + 1, 0);
    MDB_val k = { key.n, (void *)key.p }, d = { 16, rk };
    *found = false;
    int rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
    if (rc == 0)
        rc = mdb_cursor_get(c, &k, &d, MDB_PREV_DUP);
    else if (rc == MDB_NOTFOUND) {
        /* every version is older than at + 1, or the key has none */
        rc = mdb_cursor_get(c, &k, &d, MDB_SET);
        if (rc == 0)
            rc = mdb_cursor_get(c, &k, &d, MDB_LAST_DUP);
    }
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return km__mdb_err(rc);
    if (d.mv_size != 16)
        return -EBADMSG;
    return km__kv_at_rev(x, key, d.mv_data, kv, found);
}

int km__kv_at_rev(km__xc *x, km_bytes key, const void *rk, km_kv *kv, bool *found)
{
    *found = false;
    MDB_val d = { 16, (void *)rk }, rv;
    int rc = mdb_get(x->txn, x->s->rev, &d, &rv);
    if (rc == MDB_NOTFOUND)   /* compacted away */
        return 0;
    if (rc)
        return km__mdb_err(rc);
    km__erec e;
    if ((rc = km__erec_decode(&rv, &e)))
        return rc;
    if (e.type != KM__EV_PUT)
        return 0;
    kv->key = key;
    kv->value = e.value;
    kv->create_revision = e.create;
    kv->mod_revision = km__get_be64(rk);
    kv->version = e.version;
    kv->lease = e.lease;
    *found = true;
    return 0;
}

int km__kv_at(km__xc *x, km_bytes key, int64_t at, km_kv *kv, bool *found, bool keys_only)
{
    *found = false;
    if (at <= 0 || (at >= x->rev && x->sub == 0)) {
        MDB_val k = { key.n, (void *)key.p }, d;
        int rc = mdb_get(x->txn, x->s->cur, &k, &d);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return km__mdb_err(rc);
        km__crec c;
        if ((rc = km__crec_decode(&d, &c, &kv->value)))
            return rc;
        kv->key = key;
        kv->create_revision = c.create;
        kv->mod_revision = c.mod;
        kv->version = c.version;
        kv->lease = c.lease;
        *found = true;
        return 0;
    }
    MDB_cursor *c;
    int rc = km__mdb_err(mdb_cursor_open(x->txn, x->s->hist, &c));
    if (rc)
        return rc;
    rc = hist_lookup(x, c, key, at, kv, found);
    mdb_cursor_close(c);
    return rc;
}

/* A growable list of kvs pointing into the txn's memory. */
typedef struct {
    km_kv  *v;
    size_t  n, cap;
} kvlist;

static int kvlist_add(kvlist *l, const km_kv *kv)
{
    if (km__grow((void **)&l->v, &l->cap, l->n, sizeof *l->v))
        return -ENOMEM;
    l->v[l->n++] = *kv;
    return 0;
}

/* Calls fn for every key live at revision at in [key, end). */
typedef int walk_fn(void *ud, const km_kv *kv);

static int walk(km__xc *x, km_bytes key, km_bytes end, int64_t at, walk_fn *fn, void *ud)
{
    if (end.n == 0) {
        km_kv kv;
        bool found;
        int rc = km__kv_at(x, key, at, &kv, &found, false);
        if (!rc && found)
            rc = fn(ud, &kv);
        return rc == 1 ? 0 : rc;   /* 1: the callback stopped the walk */
    }
    if (!is_all(end) && km__bytes_cmp(key, end) >= 0)
        return 0;
    bool current = at <= 0 || (at >= x->rev && x->sub == 0);
    MDB_cursor *c;
    int rc = km__mdb_err(mdb_cursor_open(x->txn, current ? x->s->cur : x->s->hist, &c));
    if (rc)
        return rc;
    MDB_val k = { key.n, (void *)key.p }, d;
    int op = MDB_SET_RANGE;
    for (;;) {
        int g = mdb_cursor_get(c, &k, &d, op);
        op = current ? MDB_NEXT : MDB_NEXT_NODUP;
        if (g == MDB_NOTFOUND)
            break;
        if (g) {
            rc = km__mdb_err(g);
            break;
        }
        km_bytes kb = { k.mv_data, k.mv_size };
        if (past_end(kb, end))
            break;
        km_kv kv;
        if (current) {
            km__crec cr;
            if ((rc = km__crec_decode(&d, &cr, &kv.value)))
                break;
            kv.key = kb;
            kv.create_revision = cr.create;
            kv.mod_revision = cr.mod;
            kv.version = cr.version;
            kv.lease = cr.lease;
        } else {
            bool found;
            if ((rc = hist_lookup(x, c, kb, at, &kv, &found)))
                break;
            if (!found)
                continue;
        }
        if ((rc = fn(ud, &kv)))
            break;
    }
    mdb_cursor_close(c);
    return rc == 1 ? 0 : rc;   /* 1: the callback stopped the walk */
}

typedef struct {
    const km_range_req *r;
    kvlist  l;
    int64_t count;
    size_t  want;       /* stop keeping kvs past this many (0: keep all) */
} range_ctx;

static int range_cb(void *ud, const km_kv *kv)
{
    range_ctx *rc = ud;
    const km_range_req *r = rc->r;
    rc->count++;
    if (r->count_only)
        return 0;
    if ((r->min_mod_revision && kv->mod_revision < r->min_mod_revision) ||
        (r->max_mod_revision && kv->mod_revision > r->max_mod_revision) ||
        (r->min_create_revision && kv->create_revision < r->min_create_revision) ||
        (r->max_create_revision && kv->create_revision > r->max_create_revision))
        return 0;
    if (rc->want && rc->l.n >= rc->want)
        return 0;
    return kvlist_add(&rc->l, kv);
}

/* Orders by target; ties stay in ascending key order in both directions,
 * as etcd's sort leaves them (its input is in key order). */
static int target_cmp(const km_kv *a, const km_kv *b, int target)
{
    int64_t x = 0, y = 0;
    switch (target) {
    case KM_SORT_VERSION: x = a->version; y = b->version; break;
    case KM_SORT_CREATE:  x = a->create_revision; y = b->create_revision; break;
    case KM_SORT_MOD:     x = a->mod_revision; y = b->mod_revision; break;
    case KM_SORT_VALUE: {
        int c = km__bytes_cmp(a->value, b->value);
        if (c)
            return c;
        break;
    }
    default:
        return km__bytes_cmp(a->key, b->key);
    }
    return x == y ? 0 : x < y ? -1 : 1;
}

static __thread int tl_target;
static int cmp_asc(const void *a, const void *b)
{
    int c = target_cmp(a, b, tl_target);
    return c ? c : km__bytes_cmp(((const km_kv *)a)->key, ((const km_kv *)b)->key);
}
static int cmp_desc(const void *a, const void *b)
{
    int c = target_cmp(b, a, tl_target);
    return c ? c : km__bytes_cmp(((const km_kv *)a)->key, ((const km_kv *)b)->key);
}

int km__range(km__xc *x, const km_range_req *r, km_range_resp *out)
{
    memset(out, 0, sizeof *out);
    if (r->revision > 0) {
        if (r->revision > x->rev)
            return -ERANGE;
        if (r->revision < x->compact)
            return -ENODATA;
    }
    int order = r->sort_order;
    bool head_only = false;
    if (order == KM_SORT_NONE && r->sort_target != KM_SORT_KEY) {
        order = KM_SORT_ASCEND;   /* as etcd: a non-key target sorts ascending */
        /* etcd sizes its fetch by the order as asked: with none and no
         * revision filter it fetches the first limit + 1 keys and sorts
         * only those */
        head_only = !r->min_mod_revision && !r->max_mod_revision &&
                    !r->min_create_revision && !r->max_create_revision;
    }
    bool keyorder = order == KM_SORT_NONE || (order == KM_SORT_ASCEND && r->sort_target == KM_SORT_KEY);
    range_ctx c = { .r = r };
    /* in key order the first limit + 1 matches are enough (the count
     * still walks the whole range) */
    if (r->limit > 0 && (keyorder || head_only))
        c.want = (size_t)r->limit + 1;
    int rc = walk(x, r->key, r->range_end, r->revision, range_cb, &c);
    if (rc) {
        km__free(c.l.v);
        return rc;
    }
    if (order != KM_SORT_NONE && !keyorder && c.l.n > 1) {
        tl_target = r->sort_target;
        qsort(c.l.v, c.l.n, sizeof *c.l.v, order == KM_SORT_DESCEND ? cmp_desc : cmp_asc);
    }
    size_t n = c.l.n;
    if (r->limit > 0 && n > (size_t)r->limit) {
        n = (size_t)r->limit;
        out->more = true;
    }
    out->count = c.count;
    if (n) {
        out->kvs = km__arena_alloc(x->a, n * sizeof *out->kvs);
        if (!out->kvs)
            rc = -ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++) {
        km_kv *kv = &out->kvs[i];
        *kv = c.l.v[i];
        kv->key.p = km__arena_dup(x->a, kv->key.p, kv->key.n);
        if (r->keys_only) {
            kv->value.p = NULL;
            kv->value.n = 0;
        } else {
            kv->value.p = km__arena_dup(x->a, kv->value.p, kv->value.n);
        }
        if (!kv->key.p || (!r->keys_only && !kv->value.p))
            rc = -ENOMEM;
    }
    if (!rc)
        out->nkvs = n;
    km__free(c.l.v);
    return rc;
}

typedef struct {
    const km_cmp *c;
    bool ok, any;
} cmp_ctx;

static bool cmp_int(int result, int64_t a, int64_t b)
{
    switch (result) {
    case KM_CMP_EQUAL:     return a == b;
    case KM_CMP_GREATER:   return a > b;
    case KM_CMP_LESS:      return a < b;
    case KM_CMP_NOT_EQUAL: return a != b;
    }
    return false;
}

static bool cmp_kv(const km_cmp *c, const km_kv *kv)
{
    switch (c->target) {
    case KM_CMP_VERSION: return cmp_int(c->result, kv->version, c->num);
    case KM_CMP_CREATE:  return cmp_int(c->result, kv->create_revision, c->num);
    case KM_CMP_MOD:     return cmp_int(c->result, kv->mod_revision, c->num);
    case KM_CMP_LEASE:   return cmp_int(c->result, kv->lease, c->num);
    case KM_CMP_VALUE:   return cmp_int(c->result, km__bytes_cmp(kv->value, c->value), 0);
    }
    return false;
}

static int cmp_cb(void *ud, const km_kv *kv)
{
    cmp_ctx *cc = ud;
    cc->any = true;
    if (!cmp_kv(cc->c, kv)) {
        cc->ok = false;
        return 1;
    }
    return 0;
}

int km__cmp_eval(km__xc *x, const km_cmp *c, bool *ok)
{
    cmp_ctx cc = { c, true, false };
    int rc = walk(x, c->key, c->range_end, 0, cmp_cb, &cc);
    if (rc)
        return rc;
    if (!cc.any) {
        /* a missing key compares as zeros, but never by value */
        km_kv zero;
        memset(&zero, 0, sizeof zero);
        cc.ok = c->target != KM_CMP_VALUE && cmp_kv(c, &zero);
    }
    *ok = cc.ok;
    return 0;
}
