/* SPDX-License-Identifier: MIT */
/* Reading the change history (what watches replay) and compacting it. */
#include <string.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

int km__lmdb_compact(km_store *st, int64_t rev, int64_t *revision)
{
    km__lmdb *s = (km__lmdb *)st;
    /* etcd's first compact revision is -1: a store never compacted takes
     * revision 0 too, with nothing to remove */
    if (rev < 0 || (rev == 0 && atomic_load(&s->compact) > 0))
        return -ENODATA;
    if (rev == 0) {
        if (revision)
            *revision = atomic_load(&s->revision);
        return 0;
    }
    /* Chunks go through the queue one by one, so writes are not held up
     * behind a big compaction; reads below rev fail from the first one. */
    km__wreq w;
    memset(&w, 0, sizeof w);
    w.kind = KM__W_COMPACT;
    w.rev = rev;
    int rc = km__submit(s, &w);
    while (!rc && w.cmore) {
        w.kind = KM__W_COMPACT_MORE;
        w.cmore = false;
        rc = km__submit(s, &w);
    }
    if (revision)
        *revision = atomic_load(&s->revision);
    return rc;
}

/* The version key had just before (main, sub), if history still has it. */
static int prev_of(km__xc *x, MDB_cursor *hc, km_bytes key, const uint8_t rk[16], km_kv *kv, bool *found)
{
    *found = false;
    MDB_val k = { key.n, (void *)key.p }, d = { 16, (void *)rk };
    int rc = mdb_cursor_get(hc, &k, &d, MDB_GET_BOTH);
    if (rc == 0)
        rc = mdb_cursor_get(hc, &k, &d, MDB_PREV_DUP);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return km__mdb_err(rc);
    if (d.mv_size != 16)
        return -EBADMSG;
    return km__kv_at_rev(x, key, d.mv_data, kv, found);
}

static int dup_kv(km__arena *a, km_kv *kv)
{
    kv->key.p = km__arena_dup(a, kv->key.p, kv->key.n);
    kv->value.p = km__arena_dup(a, kv->value.p, kv->value.n);
    return kv->key.p && kv->value.p ? 0 : -ENOMEM;
}

static int scan(km__xc *x, int64_t from, int64_t to, km_bytes key, km_bytes end, bool with_prev,
                size_t max, km_event **evp, size_t *np, int64_t *next)
{
    MDB_cursor *c, *hc = NULL;
    int rc = km__mdb_err(mdb_cursor_open(x->txn, x->s->rev, &c));
    if (rc)
        return rc;
    if (with_prev && (rc = km__mdb_err(mdb_cursor_open(x->txn, x->s->hist, &hc)))) {
        mdb_cursor_close(c);
        return rc;
    }
    km_event *ev = NULL;
    size_t n = 0, cap = 0;
    int64_t last = 0;
    *next = to + 1;
    uint8_t rk[16];
    km__revkey(rk, from, 0);
    MDB_val k = { 16, rk }, d;
    int g = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    for (; g == 0; g = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 16) {
            rc = -EBADMSG;
            break;
        }
        int64_t main = km__get_be64(k.mv_data);
        if (main > to)
            break;
        /* whole revisions only, so a reader never sees half a txn */
        if (max && n >= max && main != last) {
            *next = main;
            break;
        }
        km__erec e;
        if ((rc = km__erec_decode(&d, &e)))
            break;
        if (!km__in_range(e.key, key, end))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            km_event *nv = km__arena_alloc(x->a, nc * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            if (n)
                memcpy(nv, ev, n * sizeof *nv);
            ev = nv;
            cap = nc;
        }
        km_event *o = &ev[n];
        memset(o, 0, sizeof *o);
        o->type = e.type == KM__EV_PUT ? KM_EV_PUT : KM_EV_DELETE;
        o->kv.key = e.key;
        o->kv.mod_revision = main;
        if (e.type == KM__EV_PUT) {
            o->kv.value = e.value;
            o->kv.create_revision = e.create;
            o->kv.version = e.version;
            o->kv.lease = e.lease;
        }
        if ((rc = dup_kv(x->a, &o->kv)))
            break;
        if (with_prev) {
            bool found;
            if ((rc = prev_of(x, hc, e.key, k.mv_data, &o->prev_kv, &found)))
                break;
            o->has_prev = found;
            if (found && (rc = dup_kv(x->a, &o->prev_kv)))
                break;
        }
        n++;
        last = main;
    }
    if (!rc && g && g != MDB_NOTFOUND)
        rc = km__mdb_err(g);
    if (hc)
        mdb_cursor_close(hc);
    mdb_cursor_close(c);
    *evp = ev;
    *np = n;
    return rc;
}

int km__lmdb_history(km_store *st, int64_t from, int64_t to, km_bytes key, km_bytes range_end,
                     bool with_prev, size_t max, km_event **ev, size_t *n, int64_t *next,
                     km_store_res *res)
{
    km__lmdb *s = (km__lmdb *)st;
    *ev = NULL;
    *n = 0;
    *next = from;
    memset(res, 0, sizeof *res);
    res->arena = km__arena_new();
    if (!res->arena)
        return -ENOMEM;
    if (key.n == 0 || key.n > KM_STORE_MAX_KEY)
        return key.n ? -EMSGSIZE : -EINVAL;
    if (from < 1)
        from = 1;
    MDB_txn *t;
    int rc = km__rtxn_get(s, &t);
    if (rc)
        return rc;
    km__xc x = { .s = s, .txn = t, .a = res->arena };
    rc = km__snap_revs(s, t, &x.rev, &x.compact);
    if (!rc) {
        res->revision = x.rev;
        if (to <= 0 || to > x.rev)
            to = x.rev;
        if (from < x.compact) {
            res->revision = x.compact;
            rc = -ENODATA;
        } else if (from > to) {
            *next = from;
        } else {
            rc = scan(&x, from, to, key, range_end, with_prev, max, ev, n, next);
        }
    }
    km__rtxn_put(s, t);
    return rc;
}
