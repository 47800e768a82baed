/* SPDX-License-Identifier: MIT */
/* Leases: the in-memory countdowns, the expiry goroutine and the lease calls. */
#include <stdlib.h>
#include <string.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

#define SEC 1000000000LL
#define TICK (100 * 1000000LL)

/* Index of id in the sorted table, or where it would go (with *hit false). */
static size_t find(km__lmdb *s, int64_t id, bool *hit)
{
    size_t lo = 0, hi = s->nleases;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->leases[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *hit = lo < s->nleases && s->leases[lo].id == id;
    return lo;
}

/* Called with llock held (or before the store is shared). */
static int mem_add_locked(km__lmdb *s, int64_t id, int64_t ttl)
{
    bool hit;
    size_t i = find(s, id, &hit);
    if (!hit) {
        if (s->nleases == s->cleases) {
            size_t cap = s->cleases ? s->cleases * 2 : 16;
            km__lease *nv = km__malloc(cap * sizeof *nv);
            if (!nv)
                return -ENOMEM;
            if (s->nleases)
                memcpy(nv, s->leases, s->nleases * sizeof *nv);
            km__free(s->leases);
            s->leases = nv;
            s->cleases = cap;
        }
        memmove(&s->leases[i + 1], &s->leases[i], (s->nleases - i) * sizeof *s->leases);
        s->nleases++;
    }
    s->leases[i].id = id;
    s->leases[i].ttl = ttl;
    s->leases[i].expiry = km_now() + ttl * SEC;
    return 0;
}

/* Room for one more lease, so a durable grant always gets its countdown. */
static int mem_reserve(km__lmdb *s)
{
    int rc = 0;
    pthread_mutex_lock(&s->llock);
    if (s->nleases + 1 >= s->cleases) {
        size_t cap = s->cleases ? s->cleases * 2 : 16;
        km__lease *nv = km__malloc(cap * sizeof *nv);
        if (nv) {
            if (s->nleases)
                memcpy(nv, s->leases, s->nleases * sizeof *nv);
            km__free(s->leases);
            s->leases = nv;
            s->cleases = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    pthread_mutex_unlock(&s->llock);
    return rc;
}

void km__lease_mem_add(km__lmdb *s, int64_t id, int64_t ttl)
{
    pthread_mutex_lock(&s->llock);
    /* Out of memory here leaves a durable lease without a countdown; it
     * comes back at the next open. */
    (void)mem_add_locked(s, id, ttl);
    pthread_mutex_unlock(&s->llock);
}

void km__lease_mem_del(km__lmdb *s, int64_t id)
{
    pthread_mutex_lock(&s->llock);
    bool hit;
    size_t i = find(s, id, &hit);
    if (hit) {
        memmove(&s->leases[i], &s->leases[i + 1], (s->nleases - i - 1) * sizeof *s->leases);
        s->nleases--;
    }
    pthread_mutex_unlock(&s->llock);
}

bool km__lease_mem_has(km__lmdb *s, int64_t id)
{
    pthread_mutex_lock(&s->llock);
    bool hit;
    find(s, id, &hit);
    pthread_mutex_unlock(&s->llock);
    return hit;
}

void km__lease_mem_free(km__lmdb *s)
{
    km__free(s->leases);
    s->leases = NULL;
    s->nleases = s->cleases = 0;
}

int km__lease_load(km__lmdb *s, MDB_txn *t)
{
    MDB_cursor *c;
    int rc = km__mdb_err(mdb_cursor_open(t, s->lease, &c));
    if (rc)
        return rc;
    MDB_val k, d;
    int g = mdb_cursor_get(c, &k, &d, MDB_FIRST);
    while (g == 0 && !rc) {
        if (k.mv_size != 8 || d.mv_size != 8)
            rc = -EBADMSG;
        else
            rc = mem_add_locked(s, km__get_be64(k.mv_data), km__get_be64(d.mv_data));
        g = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    if (!rc && g != MDB_NOTFOUND)
        rc = km__mdb_err(g);
    mdb_cursor_close(c);
    return rc;
}

/* Revokes expired leases through the committer, so watchers see the
 * DELETE events of their keys. */
static void expirer(void *arg)
{
    km__lmdb *s = arg;
    for (;;) {
        int rc = km_chan_recv_dl(s->lease_stop, NULL, km_now() + TICK);
        if (rc == -EPIPE || rc == 0)
            break;
        if (rc == -ECANCELED)
            km__nap((int)(TICK / 1000000));
        int64_t now = km_now();
        for (;;) {
            int64_t id = 0;
            pthread_mutex_lock(&s->llock);
            for (size_t i = 0; i < s->nleases; i++) {
                if (s->leases[i].expiry <= now) {
                    id = s->leases[i].id;
                    /* not again until the revoke is through */
                    s->leases[i].expiry = INT64_MAX;
                    break;
                }
            }
            pthread_mutex_unlock(&s->llock);
            if (!id)
                break;
            km__wreq w;
            memset(&w, 0, sizeof w);
            w.kind = KM__W_REVOKE;
            w.id = id;
            int rc = km__submit(s, &w);
            if (rc == -ESHUTDOWN)
                break;
            if (rc && rc != -ENOENT) {
                /* the disk refused: try again at the next tick */
                pthread_mutex_lock(&s->llock);
                bool hit;
                size_t i = find(s, id, &hit);
                if (hit)
                    s->leases[i].expiry = now + TICK;
                pthread_mutex_unlock(&s->llock);
                break;
            }
        }
    }
    km_chan_send(s->lease_done, NULL);
}

int km__lease_start(km__lmdb *s)
{
    int rc = km_chan_new(&s->lease_stop, 0, 0);
    if (!rc)
        rc = km_chan_new(&s->lease_done, 0, 1);
    if (!rc)
        rc = km_go(expirer, s);
    if (rc) {
        if (s->lease_stop)
            km_chan_free(s->lease_stop);
        if (s->lease_done)
            km_chan_free(s->lease_done);
        s->lease_stop = s->lease_done = NULL;
    }
    return rc;
}

void km__lease_stop(km__lmdb *s)
{
    km_chan_close(s->lease_stop);
    while (km_chan_recv(s->lease_done, NULL) == -ECANCELED)
        km_yield();
    km_chan_free(s->lease_stop);
    km_chan_free(s->lease_done);
}

static int64_t rand_id(void)
{
    uint64_t v = (uint64_t)km__rand() << 32 | km__rand();
    v &= INT64_MAX;
    return v ? (int64_t)v : 1;
}

int km__lmdb_lease_grant(km_store *st, int64_t id, int64_t ttl, int64_t *out_id, int64_t *revision)
{
    km__lmdb *s = (km__lmdb *)st;
    if (ttl > KM__LEASE_MAX_TTL)
        return -EFBIG;
    if (ttl < KM__LEASE_MIN_TTL)
        ttl = KM__LEASE_MIN_TTL;
    bool pick = id == 0;
    for (int tries = 0;; tries++) {
        if (pick)
            id = rand_id();
        if (mem_reserve(s))
            return -ENOMEM;
        km__wreq w;
        memset(&w, 0, sizeof w);
        w.kind = KM__W_GRANT;
        w.id = id;
        w.ttl = ttl;
        int rc = km__submit(s, &w);
        if (rc == -EEXIST && pick && tries < 8)
            continue;
        if (revision)
            *revision = atomic_load(&s->revision);
        if (!rc && out_id)
            *out_id = id;
        return rc;
    }
}

int km__lmdb_lease_revoke(km_store *st, int64_t id, int64_t *revision)
{
    km__lmdb *s = (km__lmdb *)st;
    km__wreq w;
    memset(&w, 0, sizeof w);
    w.kind = KM__W_REVOKE;
    w.id = id;
    int rc = km__submit(s, &w);
    if (revision)
        *revision = w.out_rev ? w.out_rev : atomic_load(&s->revision);
    return rc;
}

int km__lmdb_lease_keepalive(km_store *st, int64_t id, int64_t *ttl)
{
    km__lmdb *s = (km__lmdb *)st;
    int rc = -ENOENT;
    int64_t now = km_now();
    pthread_mutex_lock(&s->llock);
    bool hit;
    size_t i = find(s, id, &hit);
    /* an expired lease is as good as revoked (etcd refuses to renew it) */
    if (hit && s->leases[i].expiry > now && s->leases[i].expiry != INT64_MAX) {
        s->leases[i].expiry = now + s->leases[i].ttl * SEC;
        if (ttl)
            *ttl = s->leases[i].ttl;
        rc = 0;
    }
    pthread_mutex_unlock(&s->llock);
    if (rc && ttl)
        *ttl = 0;
    return rc;
}

int km__lmdb_lease_ttl(km_store *st, int64_t id, bool keys, km_lease_info *out, km_store_res *res)
{
    km__lmdb *s = (km__lmdb *)st;
    memset(out, 0, sizeof *out);
    memset(res, 0, sizeof *res);
    res->arena = km__arena_new();
    if (!res->arena)
        return -ENOMEM;
    res->revision = atomic_load(&s->revision);
    out->id = id;
    int64_t now = km_now();
    pthread_mutex_lock(&s->llock);
    bool hit;
    size_t i = find(s, id, &hit);
    if (hit) {
        out->granted_ttl = s->leases[i].ttl;
        int64_t left = s->leases[i].expiry - now;
        out->ttl = s->leases[i].expiry == INT64_MAX || left <= 0 ? -1 : left / SEC;
    }
    pthread_mutex_unlock(&s->llock);
    if (!hit) {
        out->ttl = -1;
        return -ENOENT;
    }
    if (!keys)
        return 0;
    MDB_txn *t;
    int rc = km__rtxn_get(s, &t);
    if (rc)
        return rc;
    MDB_cursor *c;
    rc = km__mdb_err(mdb_cursor_open(t, s->leasekeys, &c));
    if (!rc) {
        uint8_t k8[8];
        km__put_be64(k8, id);
        MDB_val k = { 8, k8 }, d;
        size_t cap = 0;
        int g = mdb_cursor_get(c, &k, &d, MDB_SET);
        while (g == 0 && !rc) {
            if (out->nkeys == cap) {
                size_t nc = cap ? cap * 2 : 16;
                km_bytes *nv = km__arena_alloc(res->arena, nc * sizeof *nv);
                if (!nv) {
                    rc = -ENOMEM;
                    break;
                }
                if (out->nkeys)
                    memcpy(nv, out->keys, out->nkeys * sizeof *nv);
                out->keys = nv;
                cap = nc;
            }
            km_bytes *kb = &out->keys[out->nkeys];
            kb->n = d.mv_size;
            kb->p = km__arena_dup(res->arena, d.mv_data, d.mv_size);
            if (!kb->p)
                rc = -ENOMEM;
            else
                out->nkeys++;
            g = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP);
        }
        if (!rc && g != MDB_NOTFOUND)
            rc = km__mdb_err(g);
        mdb_cursor_close(c);
    }
    km__rtxn_put(s, t);
    return rc;
}

/* etcd lists leases soonest expiry first. */
static int by_expiry(const void *a, const void *b)
{
    const km__lease *x = a, *y = b;
    if (x->expiry != y->expiry)
        return x->expiry < y->expiry ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int km__lmdb_lease_list(km_store *st, int64_t **ids, size_t *n, km_store_res *res)
{
    km__lmdb *s = (km__lmdb *)st;
    *ids = NULL;
    *n = 0;
    memset(res, 0, sizeof *res);
    res->arena = km__arena_new();
    if (!res->arena)
        return -ENOMEM;
    res->revision = atomic_load(&s->revision);
    pthread_mutex_lock(&s->llock);
    size_t cnt = s->nleases;
    int64_t *v = km__arena_alloc(res->arena, (cnt ? cnt : 1) * sizeof *v);
    km__lease *tmp = km__arena_alloc(res->arena, (cnt ? cnt : 1) * sizeof *tmp);
    if (v && tmp) {
        memcpy(tmp, s->leases, cnt * sizeof *tmp);
        qsort(tmp, cnt, sizeof *tmp, by_expiry);
        for (size_t i = 0; i < cnt; i++)
            v[i] = tmp[i].id;
    } else {
        v = NULL;
    }
    pthread_mutex_unlock(&s->llock);
    if (!v)
        return -ENOMEM;
    *ids = v;
    *n = cnt;
    return 0;
}
