/* SPDX-License-Identifier: MIT */
/* Changes inside a write txn: put, delete, lease attach and revoke, compaction. */
#include <string.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

static int64_t next_rev(km__xc *x) { return x->rev + 1; }

static int dupkv(km__arena *a, km_kv *kv)
{
    kv->key.p = km__arena_dup(a, kv->key.p, kv->key.n);
    kv->value.p = km__arena_dup(a, kv->value.p, kv->value.n);
    return kv->key.p && kv->value.p ? 0 : -ENOMEM;
}

/* Records a change for the feed; copies everything it points to. */
int km__ev_add(km__xc *x, int type, const km_kv *kv, const km_kv *prev)
{
    km__wreq *w = x->w;
    if (!w)
        return 0;
    if (km__grow((void **)&w->ev, &w->cev, w->nev, sizeof *w->ev))
        return -ENOMEM;
    km_event *e = &w->ev[w->nev];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->kv = *kv;
    int rc = dupkv(x->eva, &e->kv);
    if (!rc && prev) {
        e->has_prev = true;
        e->prev_kv = *prev;
        rc = dupkv(x->eva, &e->prev_kv);
    }
    if (rc)
        return rc;
    w->nev++;
    w->ev_rev = next_rev(x);
    return 0;
}

static void crec_kv(km_kv *kv, km_bytes key, const km__crec *c, km_bytes value)
{
    kv->key = key;
    kv->value = value;
    kv->create_revision = c->create;
    kv->mod_revision = c->mod;
    kv->version = c->version;
    kv->lease = c->lease;
}

int km__leasekey(km__xc *x, int64_t lease, km_bytes key, bool add)
{
    uint8_t id[8];
    km__put_be64(id, lease);
    MDB_val k = { 8, id }, d = { key.n, (void *)key.p };
    int rc = add ? mdb_put(x->txn, x->s->leasekeys, &k, &d, 0) : mdb_del(x->txn, x->s->leasekeys, &k, &d);
    return rc == MDB_NOTFOUND || rc == MDB_KEYEXIST ? 0 : km__mdb_err(rc);
}

static int lease_exists(km__xc *x, int64_t lease, bool *yes)
{
    uint8_t id[8];
    km__put_be64(id, lease);
    MDB_val k = { 8, id }, d;
    int rc = mdb_get(x->txn, x->s->lease, &k, &d);
    *yes = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : km__mdb_err(rc);
}

int km__history_put(km__xc *x, const uint8_t rk[16], unsigned flags, int type, km_bytes key,
                    int64_t create, int64_t version, int64_t lease, km_bytes value)
{
    MDB_val k = { 16, (void *)rk }, d = { KM__EREC_HDR + key.n + value.n, NULL };
    int rc = mdb_put(x->txn, x->s->rev, &k, &d, MDB_RESERVE | flags);
    if (rc)
        return km__mdb_err(rc);
    uint8_t *p = d.mv_data;
    memset(p, 0, 8);
    p[0] = (uint8_t)type;
    p[4] = (uint8_t)(key.n >> 24);
    p[5] = (uint8_t)(key.n >> 16);
    p[6] = (uint8_t)(key.n >> 8);
    p[7] = (uint8_t)key.n;
    km__put_be64(p + 8, create);
    km__put_be64(p + 16, version);
    km__put_be64(p + 24, lease);
    if (key.n)
        memcpy(p + KM__EREC_HDR, key.p, key.n);
    if (value.n)
        memcpy(p + KM__EREC_HDR + key.n, value.p, value.n);
    MDB_val hk = { key.n, (void *)key.p }, hd = { 16, (void *)rk };
    return km__mdb_err(mdb_put(x->txn, x->s->hist, &hk, &hd, 0));
}

/* Appends a change to the history: the rev record and the key's index. */
int km__history_add(km__xc *x, int type, km_bytes key, int64_t create, int64_t version,
                    int64_t lease, km_bytes value)
{
    uint8_t rk[16];
    km__revkey(rk, next_rev(x), x->sub);
    int rc = km__history_put(x, rk, MDB_APPEND, type, key, create, version, lease, value);
    if (!rc)
        x->sub++;
    return rc;
}

int km__put(km__xc *x, const km_put_req *r, km_put_resp *out)
{
    memset(out, 0, sizeof *out);
    MDB_val k = { r->key.n, (void *)r->key.p }, d;
    km__crec old = { 0 };
    km_bytes oldval = { NULL, 0 };
    int rc = mdb_get(x->txn, x->s->cur, &k, &d);
    bool found = rc == 0;
    if (rc && rc != MDB_NOTFOUND)
        return km__mdb_err(rc);
    if (found && (rc = km__crec_decode(&d, &old, &oldval)))
        return rc;
    if ((r->ignore_value || r->ignore_lease) && !found)
        return -ENOKEY;
    int64_t lease = r->ignore_lease ? old.lease : r->lease;
    if (!r->ignore_lease && lease) {
        bool yes;
        if ((rc = lease_exists(x, lease, &yes)))
            return rc;
        if (!yes)
            return -ENOENT;
    }
    /* The old version lives in the page we are about to overwrite. */
    km_kv prev;
    km__arena *pa = x->eva ? x->eva : x->a;
    if (found) {
        crec_kv(&prev, r->key, &old, oldval);
        if ((rc = dupkv(pa, &prev)))
            return rc;
        if (r->prev_kv) {
            out->has_prev = true;
            out->prev_kv = prev;
            if (pa != x->a && (rc = dupkv(x->a, &out->prev_kv)))
                return rc;
        }
    }
    km_bytes value = r->ignore_value ? prev.value : r->value;
    km__crec nc = {
        .create = found ? old.create : next_rev(x),
        .mod = next_rev(x),
        .version = found ? old.version + 1 : 1,
        .lease = lease,
    };
    d.mv_size = KM__CREC_SIZE + value.n;
    d.mv_data = NULL;
    if ((rc = mdb_put(x->txn, x->s->cur, &k, &d, MDB_RESERVE)))
        return km__mdb_err(rc);
    uint8_t *p = d.mv_data;
    km__put_be64(p, nc.create);
    km__put_be64(p + 8, nc.mod);
    km__put_be64(p + 16, nc.version);
    km__put_be64(p + 24, nc.lease);
    if (value.n)
        memcpy(p + KM__CREC_SIZE, value.p, value.n);
    if ((rc = km__history_add(x, KM__EV_PUT, r->key, nc.create, nc.version, nc.lease, value)))
        return rc;
    if (found && old.lease && old.lease != lease && (rc = km__leasekey(x, old.lease, r->key, false)))
        return rc;
    if (lease && (!found || old.lease != lease) && (rc = km__leasekey(x, lease, r->key, true)))
        return rc;
    km_kv kv;
    crec_kv(&kv, r->key, &nc, value);
    return km__ev_add(x, KM_EV_PUT, &kv, found ? &prev : NULL);
}

/* Deletes one live key; prev (if not NULL) gets its last version in x->a. */
int km__del_one(km__xc *x, km_bytes key, km_kv *prev_out)
{
    MDB_val k = { key.n, (void *)key.p }, d;
    int rc = mdb_get(x->txn, x->s->cur, &k, &d);
    if (rc)
        return km__mdb_err(rc);
    km__crec old;
    km_kv prev;
    km_bytes oldval;
    if ((rc = km__crec_decode(&d, &old, &oldval)))
        return rc;
    crec_kv(&prev, key, &old, oldval);
    if (prev_out) {
        *prev_out = prev;
        if ((rc = dupkv(x->a, prev_out)))
            return rc;
    }
    if (x->w) {
        km_kv kv;
        memset(&kv, 0, sizeof kv);
        kv.key = key;
        kv.mod_revision = next_rev(x);
        if ((rc = km__ev_add(x, KM_EV_DELETE, &kv, &prev)))
            return rc;
    }
    if (old.lease && (rc = km__leasekey(x, old.lease, key, false)))
        return rc;
    km_bytes none = { NULL, 0 };
    if ((rc = km__history_add(x, KM__EV_DEL, key, 0, 0, 0, none)))
        return rc;
    return km__mdb_err(mdb_del(x->txn, x->s->cur, &k, NULL));
}

/* Copies the live keys of [key, end) so the deletes do not disturb the walk. */
static int collect_keys(km__xc *x, km__arena *a, km_bytes key, km_bytes end, km_bytes **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (end.n == 0) {
        MDB_val k = { key.n, (void *)key.p }, d;
        int rc = mdb_get(x->txn, x->s->cur, &k, &d);
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return km__mdb_err(rc);
        *out = km__arena_alloc(a, sizeof **out);
        if (!*out)
            return -ENOMEM;
        (*out)[0] = key;
        *n = 1;
        return 0;
    }
    bool all = end.n == 1 && end.p[0] == 0;
    if (!all && km__bytes_cmp(key, end) >= 0)
        return 0;
    MDB_cursor *c;
    int rc = km__mdb_err(mdb_cursor_open(x->txn, x->s->cur, &c));
    if (rc)
        return rc;
    MDB_val k = { key.n, (void *)key.p }, d;
    int op = MDB_SET_RANGE;
    for (;;) {
        int g = mdb_cursor_get(c, &k, &d, op);
        op = MDB_NEXT;
        if (g == MDB_NOTFOUND)
            break;
        if (g) {
            rc = km__mdb_err(g);
            break;
        }
        km_bytes kb = { k.mv_data, k.mv_size };
        if (!all && km__bytes_cmp(kb, end) >= 0)
            break;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            km_bytes *nv = km__arena_alloc(a, nc * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            if (*n)
                memcpy(nv, *out, *n * sizeof *nv);
            *out = nv;
            cap = nc;
        }
        kb.p = km__arena_dup(a, kb.p, kb.n);
        if (!kb.p) {
            rc = -ENOMEM;
            break;
        }
        (*out)[(*n)++] = kb;
    }
    mdb_cursor_close(c);
    return rc;
}

int km__del(km__xc *x, const km_del_req *r, km_del_resp *out)
{
    memset(out, 0, sizeof *out);
    km__arena *tmp = km__arena_new();
    if (!tmp)
        return -ENOMEM;
    km_bytes *keys;
    size_t n;
    int rc = collect_keys(x, tmp, r->key, r->range_end, &keys, &n);
    if (!rc && n && r->prev_kv) {
        out->prev_kvs = km__arena_alloc(x->a, n * sizeof *out->prev_kvs);
        if (!out->prev_kvs)
            rc = -ENOMEM;
    }
    for (size_t i = 0; !rc && i < n; i++)
        rc = km__del_one(x, keys[i], r->prev_kv ? &out->prev_kvs[i] : NULL);
    if (!rc) {
        out->deleted = (int64_t)n;
        out->nprev = r->prev_kv ? n : 0;
    }
    km__arena_free(tmp);
    return rc;
}

int km__grant(km__xc *x, int64_t id, int64_t ttl)
{
    bool yes;
    int rc = lease_exists(x, id, &yes);
    if (rc)
        return rc;
    if (yes)
        return -EEXIST;
    uint8_t k8[8], v8[8];
    km__put_be64(k8, id);
    km__put_be64(v8, ttl);
    MDB_val k = { 8, k8 }, d = { 8, v8 };
    return km__mdb_err(mdb_put(x->txn, x->s->lease, &k, &d, 0));
}

int km__revoke(km__xc *x, int64_t id)
{
    bool yes;
    int rc = lease_exists(x, id, &yes);
    if (rc)
        return rc;
    if (!yes)
        return -ENOENT;
    km__arena *tmp = km__arena_new();
    if (!tmp)
        return -ENOMEM;
    uint8_t k8[8];
    km__put_be64(k8, id);
    km_bytes *keys = NULL;
    size_t n = 0, cap = 0;
    MDB_cursor *c;
    rc = km__mdb_err(mdb_cursor_open(x->txn, x->s->leasekeys, &c));
    if (!rc) {
        MDB_val k = { 8, k8 }, d;
        int g = mdb_cursor_get(c, &k, &d, MDB_SET);
        while (g == 0 && !rc) {
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                km_bytes *nv = km__arena_alloc(tmp, nc * sizeof *nv);
                if (!nv) {
                    rc = -ENOMEM;
                    break;
                }
                if (n)
                    memcpy(nv, keys, n * sizeof *nv);
                keys = nv;
                cap = nc;
            }
            keys[n].n = d.mv_size;
            keys[n].p = km__arena_dup(tmp, d.mv_data, d.mv_size);
            if (!keys[n].p)
                rc = -ENOMEM;
            n++;
            g = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP);
        }
        if (!rc && g && g != MDB_NOTFOUND)
            rc = km__mdb_err(g);
        mdb_cursor_close(c);
    }
    for (size_t i = 0; !rc && i < n; i++) {
        MDB_val k = { keys[i].n, (void *)keys[i].p }, d;
        int g = mdb_get(x->txn, x->s->cur, &k, &d);
        if (g == MDB_NOTFOUND)
            continue;   /* already gone */
        km__crec cr;
        if (g)
            rc = km__mdb_err(g);
        else if (!(rc = km__crec_decode(&d, &cr, NULL)) && cr.lease == id)
            rc = km__del_one(x, keys[i], NULL);
    }
    if (!rc) {
        MDB_val k = { 8, k8 };
        int g = mdb_del(x->txn, x->s->leasekeys, &k, NULL);
        if (g && g != MDB_NOTFOUND)
            rc = km__mdb_err(g);
    }
    if (!rc) {
        MDB_val k = { 8, k8 };
        rc = km__mdb_err(mdb_del(x->txn, x->s->lease, &k, NULL));
    }
    km__arena_free(tmp);
    return rc;
}

/* Removes, for one key, every version at or below rev but the last, and
 * that one too if it is a deletion. */
static int compact_key(km__xc *x, MDB_cursor *c, int64_t rev, MDB_val *key)
{
    uint8_t (*revs)[16] = NULL;
    size_t n = 0, cap = 0;
    MDB_val k = *key, d;
    int rc = 0;
    int g = mdb_cursor_get(c, &k, &d, MDB_FIRST_DUP);
    while (g == 0) {
        if (d.mv_size != 16) {
            rc = -EBADMSG;
            break;
        }
        if (km__get_be64(d.mv_data) > rev)
            break;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            uint8_t (*nv)[16] = km__malloc(nc * 16);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            if (n)
                memcpy(nv, revs, n * 16);
            km__free(revs);
            revs = nv;
            cap = nc;
        }
        memcpy(revs[n++], d.mv_data, 16);
        g = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP);
    }
    if (!rc && g && g != MDB_NOTFOUND)
        rc = km__mdb_err(g);
    size_t drop = n ? n - 1 : 0;
    if (!rc && n) {
        MDB_val rk = { 16, revs[n - 1] }, rv;
        int r2 = mdb_get(x->txn, x->s->rev, &rk, &rv);
        km__erec e;
        if (r2 == 0 && km__erec_decode(&rv, &e) == 0 && e.type == KM__EV_DEL)
            drop = n;
        else if (r2 == MDB_NOTFOUND)
            drop = n;
    }
    for (size_t i = 0; !rc && i < drop; i++) {
        MDB_val rk = { 16, revs[i] };
        int r1 = mdb_del(x->txn, x->s->rev, &rk, NULL);
        if (r1 && r1 != MDB_NOTFOUND)
            rc = km__mdb_err(r1);
        MDB_val hk = *key, hd = { 16, revs[i] };
        r1 = mdb_del(x->txn, x->s->hist, &hk, &hd);
        if (!rc && r1 && r1 != MDB_NOTFOUND)
            rc = km__mdb_err(r1);
    }
    km__free(revs);
    return rc;
}

int km__compact_apply(km__xc *x, int64_t rev, bool first, uint8_t *key, size_t *keyn, bool *more)
{
    int rc = 0;
    if (first) {
        rc = km__meta_set(x->s, x->txn, "compact", rev);
        if (!rc)
            rc = km__meta_set(x->s, x->txn, "compacting", rev);
        if (rc)
            return rc;
    }
    MDB_cursor *c;
    if ((rc = km__mdb_err(mdb_cursor_open(x->txn, x->s->hist, &c))))
        return rc;
    size_t kn = *keyn;
    MDB_val k = { kn, key }, d;
    int g = kn ? mdb_cursor_get(c, &k, &d, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &d, MDB_FIRST);
    *more = false;
    for (int done = 0; g == 0 && !rc; done++) {
        if (k.mv_size > 511) {
            rc = -EBADMSG;
            break;
        }
        kn = k.mv_size;
        memmove(key, k.mv_data, kn);
        if (done == KM__COMPACT_CHUNK) {
            *more = true;
            break;
        }
        MDB_val cur = { kn, key };
        if ((rc = compact_key(x, c, rev, &cur)))
            break;
        /* the deletes moved the cursor: find our place again */
        k.mv_size = kn;
        k.mv_data = key;
        g = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
        if (g == 0 && k.mv_size == kn && memcmp(k.mv_data, key, kn) == 0)
            g = mdb_cursor_get(c, &k, &d, MDB_NEXT_NODUP);
    }
    if (!rc && g && g != MDB_NOTFOUND)
        rc = km__mdb_err(g);
    mdb_cursor_close(c);
    *keyn = kn;
    if (!rc && !*more) {
        MDB_val mk = { 10, "compacting" };
        int r = mdb_del(x->txn, x->s->meta, &mk, NULL);
        if (r && r != MDB_NOTFOUND)
            rc = km__mdb_err(r);
    }
    return rc;
}
