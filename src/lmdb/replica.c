/* SPDX-License-Identifier: MIT */
/* The replica: an LMDB store in a private temporary directory, loaded from
 * a copy of another store and then fed its revisions one by one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"
#include "lmdb/replica.h"

/* Loaded versions get a sub-revision no write uses, so two loaded keys
 * changed by one source txn (same mod revision) have distinct history
 * keys. */
#define LOAD_SUB_BASE ((int64_t)1 << 40)

static int refuse_compact(km_store *s, int64_t rev, int64_t *revision) { return -EROFS; }
static int refuse_grant(km_store *s, int64_t id, int64_t ttl, int64_t *out_id, int64_t *revision)
{
    return -EROFS;
}
static int refuse_revoke(km_store *s, int64_t id, int64_t *revision) { return -EROFS; }
static int refuse_keepalive(km_store *s, int64_t id, int64_t *ttl) { return -EROFS; }

static const km__store_ops replica_ops = {
    .name            = "lmdb-replica",
    .close           = km__lmdb_close,
    .txn             = km__lmdb_txn,           /* refuses writes itself */
    .compact         = refuse_compact,
    .stat_read       = km__lmdb_stat_read,
    .revision        = km__lmdb_revision,
    .hash_kv         = km__lmdb_hash_kv,
    .hash            = km__lmdb_hash,
    .snapshot        = km__lmdb_snapshot,
    .snapshot_file   = km__lmdb_snapshot_file,
    .lease_grant     = refuse_grant,
    .lease_revoke    = refuse_revoke,
    .lease_keepalive = refuse_keepalive,
    .lease_ttl       = km__lmdb_lease_ttl,
    .lease_list      = km__lmdb_lease_list,
    .history         = km__lmdb_history,
};

static void rm_dir(const char *dir)
{
    char p[4200];
    static const char *files[] = { "data.mdb", "lock.mdb" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int km__replica_open(km_store **out, size_t map_size)
{
    *out = NULL;
    struct stat st;
    /* tmpfs keeps the pages in memory: the replica is memory anyway */
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                       access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen(base) + 32;
    char *dir = km__malloc(n);
    if (!dir)
        return -ENOMEM;
    snprintf(dir, n, "%s/kumo-replica-XXXXXX", base);
    if (!mkdtemp(dir)) {
        int rc = -errno;
        km__free(dir);
        return rc;
    }
    km_store_config cfg = { .dir = dir, .map_size = map_size };
    km_store *s;
    int rc = km__lmdb_open_as(&s, &cfg, true);
    if (rc) {
        rm_dir(dir);
        km__free(dir);
        return rc;
    }
    /* The open environment keeps its files through its descriptors and
     * maps: unlinked now, they go with the process however it ends, a
     * SIGKILL included, and leave nothing behind in /dev/shm. */
    rm_dir(dir);
    km__free(dir);
    km__lmdb *l = (km__lmdb *)s;
    l->base.ops = &replica_ops;
    *out = s;
    return 0;
}

static int submit(km_store *st, km__wreq *w)
{
    km__lmdb *s = (km__lmdb *)st;
    if (!s->replica)
        return -EINVAL;
    return km__submit(s, w);
}

int km__replica_load(km_store *s, int64_t rev, const km_kv *kvs, size_t n, bool first, bool last)
{
    if (rev < 1 || (n && !kvs))
        return -EINVAL;
    km__wreq w;
    memset(&w, 0, sizeof w);
    w.kind = KM__W_LOAD;
    w.rev = rev;
    w.kvs = kvs;
    w.nkvs = n;
    w.first = first;
    w.last = last;
    return submit(s, &w);
}

int km__replica_apply(km_store *s, int64_t rev, const km_event *ev, size_t n)
{
    if (!n || !ev)
        return -EBADMSG;
    km__wreq w;
    memset(&w, 0, sizeof w);
    w.kind = KM__W_APPLY;
    w.rev = rev;
    w.aev = ev;
    w.naev = n;
    return submit(s, &w);
}

int km__replica_compact(km_store *s, int64_t rev)
{
    return km__lmdb_compact(s, rev, NULL);
}

int64_t km__replica_compacted(km_store *s)
{
    return atomic_load(&((km__lmdb *)s)->compact);
}

/* ---- run by the committer ---- */

/* The lease's row, so the replica knows it exists (its TTL is the
 * source's business: 0 here). */
static int lease_seen(km__xc *x, int64_t id)
{
    uint8_t k8[8], v8[8];
    km__put_be64(k8, id);
    km__put_be64(v8, 0);
    MDB_val k = { 8, k8 }, d = { 8, v8 };
    int rc = mdb_put(x->txn, x->s->lease, &k, &d, MDB_NOOVERWRITE);
    return rc == MDB_KEYEXIST ? 0 : km__mdb_err(rc);
}

static int put_cur(km__xc *x, const km_kv *kv)
{
    MDB_val k = { kv->key.n, (void *)kv->key.p }, d = { KM__CREC_SIZE + kv->value.n, NULL };
    int rc = mdb_put(x->txn, x->s->cur, &k, &d, MDB_RESERVE);
    if (rc)
        return km__mdb_err(rc);
    uint8_t *p = d.mv_data;
    km__put_be64(p, kv->create_revision);
    km__put_be64(p + 8, kv->mod_revision);
    km__put_be64(p + 16, kv->version);
    km__put_be64(p + 24, kv->lease);
    if (kv->value.n)
        memcpy(p + KM__CREC_SIZE, kv->value.p, kv->value.n);
    return 0;
}

static int attach(km__xc *x, const km_kv *kv)
{
    int rc = lease_seen(x, kv->lease);
    return rc ? rc : km__leasekey(x, kv->lease, kv->key, true);
}

int km__replica_load_page(km__xc *x, km__wreq *w)
{
    km__lmdb *s = x->s;
    int rc = 0;
    if (w->first) {
        MDB_dbi dbs[] = { s->cur, s->rev, s->hist, s->lease, s->leasekeys };
        for (size_t i = 0; !rc && i < sizeof dbs / sizeof dbs[0]; i++)
            rc = km__mdb_err(mdb_drop(x->txn, dbs[i], 0));
        s->load_sub = 0;
    }
    for (size_t i = 0; !rc && i < w->nkvs; i++) {
        const km_kv *kv = &w->kvs[i];
        if (kv->key.n == 0 || kv->mod_revision > w->rev || kv->mod_revision < 1)
            return -EBADMSG;
        if (kv->key.n > KM_STORE_MAX_KEY)
            return -EMSGSIZE;
        uint8_t rk[16];
        km__revkey(rk, kv->mod_revision, LOAD_SUB_BASE + s->load_sub++);
        rc = put_cur(x, kv);
        if (!rc)
            rc = km__history_put(x, rk, 0, KM__EV_PUT, kv->key, kv->create_revision,
                                 kv->version, kv->lease, kv->value);
        if (!rc && kv->lease)
            rc = attach(x, kv);
    }
    if (!rc && w->last) {
        rc = km__meta_set(s, x->txn, "rev", w->rev);
        if (!rc)
            rc = km__meta_set(s, x->txn, "compact", w->rev);
    }
    return rc;
}

static int apply_put(km__xc *x, const km_kv *kv)
{
    MDB_val k = { kv->key.n, (void *)kv->key.p }, d;
    int rc = mdb_get(x->txn, x->s->cur, &k, &d);
    bool found = rc == 0;
    if (rc && rc != MDB_NOTFOUND)
        return km__mdb_err(rc);
    km__crec old = { 0 };
    km_kv prev;
    memset(&prev, 0, sizeof prev);
    if (found) {
        if ((rc = km__crec_decode(&d, &old, &prev.value)))
            return rc;
        prev.key = kv->key;
        prev.create_revision = old.create;
        prev.mod_revision = old.mod;
        prev.version = old.version;
        prev.lease = old.lease;
    }
    /* First, while the old value is still in its page: the event copies it. */
    if ((rc = km__ev_add(x, KM_EV_PUT, kv, found ? &prev : NULL)))
        return rc;
    if ((rc = put_cur(x, kv)))
        return rc;
    if ((rc = km__history_add(x, KM__EV_PUT, kv->key, kv->create_revision, kv->version,
                              kv->lease, kv->value)))
        return rc;
    if (found && old.lease && old.lease != kv->lease &&
        (rc = km__leasekey(x, old.lease, kv->key, false)))
        return rc;
    if (kv->lease && (!found || old.lease != kv->lease))
        rc = attach(x, kv);
    return rc;
}

int km__replica_apply_rev(km__xc *x, km__wreq *w)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < w->naev; i++) {
        const km_event *e = &w->aev[i];
        if (e->kv.mod_revision != w->rev || e->kv.key.n == 0)
            return -EBADMSG;
        if (e->kv.key.n > KM_STORE_MAX_KEY)
            return -EMSGSIZE;
        if (e->type == KM_EV_PUT) {
            rc = apply_put(x, &e->kv);
        } else {
            rc = km__del_one(x, e->kv.key, NULL);
            if (rc == -ENOENT)
                rc = -EBADMSG;    /* the source deleted a key we never had */
        }
    }
    return rc;
}
