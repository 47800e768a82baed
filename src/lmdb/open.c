/* SPDX-License-Identifier: MIT */
/* Opening and closing the LMDB store, its metadata, read txns and stats. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

int km__meta_get(km__lmdb *s, MDB_txn *t, const char *name, int64_t *v)
{
    MDB_val k = { strlen(name), (void *)name }, d;
    int rc = mdb_get(t, s->meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return 0;
    }
    if (rc)
        return km__mdb_err(rc);
    if (d.mv_size != 8)
        return -EBADMSG;
    *v = km__get_be64(d.mv_data);
    return 0;
}

void km__stamp(km__lmdb *s, int64_t txn, int64_t rev, int64_t compact)
{
    unsigned long q = atomic_load_explicit(&s->stamp_seq, memory_order_relaxed);
    atomic_store_explicit(&s->stamp_seq, q + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->stamp_txn, txn, memory_order_relaxed);
    atomic_store_explicit(&s->stamp_rev, rev, memory_order_relaxed);
    atomic_store_explicit(&s->stamp_compact, compact, memory_order_relaxed);
    atomic_store_explicit(&s->stamp_seq, q + 2, memory_order_release);
}

int km__snap_revs(km__lmdb *s, MDB_txn *t, int64_t *rev, int64_t *compact)
{
    unsigned long q = atomic_load_explicit(&s->stamp_seq, memory_order_acquire);
    if (!(q & 1)) {
        int64_t txn = atomic_load_explicit(&s->stamp_txn, memory_order_relaxed);
        int64_t r = atomic_load_explicit(&s->stamp_rev, memory_order_relaxed);
        int64_t c = atomic_load_explicit(&s->stamp_compact, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->stamp_seq, memory_order_relaxed) == q &&
            txn == (int64_t)mdb_txn_id(t)) {
            *rev = r;
            *compact = c;
            return 0;
        }
    }
    int rc = km__meta_get(s, t, "rev", rev);
    return rc ? rc : km__meta_get(s, t, "compact", compact);
}

int km__meta_set(km__lmdb *s, MDB_txn *t, const char *name, int64_t v)
{
    uint8_t b[8];
    km__put_be64(b, v);
    MDB_val k = { strlen(name), (void *)name }, d = { 8, b };
    return km__mdb_err(mdb_put(t, s->meta, &k, &d, 0));
}

int km__rtxn_get(km__lmdb *s, MDB_txn **out)
{
    MDB_txn *t = NULL;
    pthread_mutex_lock(&s->rlock);
    if (s->nrpool)
        t = s->rpool[--s->nrpool];
    pthread_mutex_unlock(&s->rlock);
    if (t) {
        int rc = mdb_txn_renew(t);
        if (rc == 0) {
            *out = t;
            return 0;
        }
        mdb_txn_abort(t);
    }
    return km__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, out));
}

void km__rtxn_put(km__lmdb *s, MDB_txn *t)
{
    mdb_txn_reset(t);
    pthread_mutex_lock(&s->rlock);
    if (s->nrpool < (int)(sizeof s->rpool / sizeof s->rpool[0])) {
        s->rpool[s->nrpool++] = t;
        t = NULL;
    }
    pthread_mutex_unlock(&s->rlock);
    if (t)
        mdb_txn_abort(t);
}

typedef struct {
    km__lmdb *s;
    const km_store_config *cfg;
    int rc;
} open_arg;

/* A fresh env (no named DBs yet) is initialised; anything else must carry
 * our format mark, so a foreign LMDB file is refused. */
static int open_dbs(km__lmdb *s)
{
    MDB_txn *t;
    int rc = km__mdb_err(mdb_txn_begin(s->env, NULL, 0, &t));
    if (rc)
        return rc;
    MDB_dbi main;
    MDB_stat st;
    rc = km__mdb_err(mdb_dbi_open(t, NULL, 0, &main));
    if (!rc)
        rc = km__mdb_err(mdb_stat(t, main, &st));
    bool fresh = !rc && st.ms_entries == 0;
    if (!rc) {
        int rc2 = mdb_dbi_open(t, "meta", fresh ? MDB_CREATE : 0, &s->meta);
        rc = rc2 == MDB_NOTFOUND || rc2 == MDB_INCOMPATIBLE ? -EBADMSG : km__mdb_err(rc2);
    }
    if (!rc) {
        MDB_val k = { 6, "format" }, d;
        int g = mdb_get(t, s->meta, &k, &d);
        if (g == MDB_NOTFOUND && fresh) {
            d.mv_size = strlen(KM__STORE_FORMAT);
            d.mv_data = KM__STORE_FORMAT;
            rc = km__mdb_err(mdb_put(t, s->meta, &k, &d, 0));
            if (!rc)
                rc = km__meta_set(s, t, "rev", 1);
        } else if (g) {
            rc = g == MDB_NOTFOUND ? -EBADMSG : km__mdb_err(g);
        } else if (d.mv_size != strlen(KM__STORE_FORMAT) ||
                   memcmp(d.mv_data, KM__STORE_FORMAT, d.mv_size) != 0) {
            rc = -EBADMSG;
        }
    }
    struct { const char *name; MDB_dbi *dbi; unsigned flags; } dbs[] = {
        { "cur", &s->cur, 0 },
        { "rev", &s->rev, 0 },
        { "hist", &s->hist, MDB_DUPSORT | MDB_DUPFIXED },
        { "lease", &s->lease, 0 },
        { "leasekeys", &s->leasekeys, MDB_DUPSORT },
    };
    for (size_t i = 0; !rc && i < sizeof dbs / sizeof dbs[0]; i++) {
        int r = mdb_dbi_open(t, dbs[i].name, dbs[i].flags | MDB_CREATE, dbs[i].dbi);
        rc = r == MDB_INCOMPATIBLE ? -EBADMSG : km__mdb_err(r);
    }
    int64_t rev = 0, compact = 0;
    if (!rc)
        rc = km__meta_get(s, t, "rev", &rev);
    if (!rc)
        rc = km__meta_get(s, t, "compact", &compact);
    if (!rc && (rev < 1 || compact < 0 || compact > rev))
        rc = -EBADMSG;
    if (!rc)
        rc = km__lease_load(s, t);
    if (!rc)
        rc = km__mdb_err(mdb_txn_commit(t));
    else
        mdb_txn_abort(t);
    atomic_store(&s->revision, rev);
    atomic_store(&s->compact, compact);
    return rc;
}

/* A compaction cut short by a close or crash is finished before serving,
 * one chunk per txn. */
static int finish_compaction(km__lmdb *s)
{
    uint8_t key[512];
    size_t kn = 0;
    bool more = true;
    while (more) {
        MDB_txn *t;
        int rc = km__mdb_err(mdb_txn_begin(s->env, NULL, 0, &t));
        if (rc)
            return rc;
        int64_t rev = 0;
        rc = km__meta_get(s, t, "compacting", &rev);
        if (rc || rev <= 0) {
            mdb_txn_abort(t);
            return rc;
        }
        km__xc x = { .s = s, .txn = t, .write = true };
        rc = km__compact_apply(&x, rev, false, key, &kn, &more);
        if (!rc)
            rc = km__mdb_err(mdb_txn_commit(t));
        else
            mdb_txn_abort(t);
        if (rc)
            return rc;
    }
    return 0;
}

static void open_fn(void *arg)
{
    open_arg *o = arg;
    km__lmdb *s = o->s;
    int rc = km__mkdirs(o->cfg->dir);
    if (!rc)
        rc = km__mdb_err(mdb_env_create(&s->env));
    if (rc) {
        o->rc = rc;
        return;
    }
    size_t map = o->cfg->map_size ? o->cfg->map_size : (size_t)8 << 30;
    rc = km__mdb_err(mdb_env_set_mapsize(s->env, map));
    if (!rc)
        rc = km__mdb_err(mdb_env_set_maxdbs(s->env, 8));
    if (!rc)
        rc = km__mdb_err(mdb_env_set_maxreaders(s->env, 512));
    if (!rc)
        rc = km__mdb_err(mdb_env_open(s->env, o->cfg->dir,
                                      MDB_NOTLS | MDB_NOMETASYNC | (s->replica ? MDB_NOSYNC : 0),
                                      0644));
    if (!rc)
        rc = open_dbs(s);
    if (!rc)
        rc = finish_compaction(s);
    if (!rc && !s->replica)
        rc = km__mdb_err(mdb_env_sync(s->env, 1));     /* MDB_NOMETASYNC: see commit.c */
    o->rc = rc;
}

static const km__store_ops lmdb_ops = {
    .name            = "lmdb",
    .close           = km__lmdb_close,
    .txn             = km__lmdb_txn,
    .compact         = km__lmdb_compact,
    .stat_read       = km__lmdb_stat_read,
    .revision        = km__lmdb_revision,
    .hash_kv         = km__lmdb_hash_kv,
    .hash            = km__lmdb_hash,
    .snapshot        = km__lmdb_snapshot,
    .snapshot_file   = km__lmdb_snapshot_file,
    .lease_grant     = km__lmdb_lease_grant,
    .lease_revoke    = km__lmdb_lease_revoke,
    .lease_keepalive = km__lmdb_lease_keepalive,
    .lease_ttl       = km__lmdb_lease_ttl,
    .lease_list      = km__lmdb_lease_list,
    .history         = km__lmdb_history,
};

int km__lmdb_open(km_store **out, const km_store_config *cfg)
{
    return km__lmdb_open_as(out, cfg, false);
}

int km__lmdb_open_as(km_store **out, const km_store_config *cfg, bool replica)
{
    *out = NULL;
    if (!cfg || !cfg->dir || !cfg->dir[0])
        return -EINVAL;
    km__lmdb *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    km__store_init(&s->base, &lmdb_ops);
    s->replica = replica;
    pthread_mutex_init(&s->qlock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    pthread_mutex_init(&s->llock, NULL);
    s->max_batch = cfg->max_batch > 0 ? cfg->max_batch : 1024;
    atomic_store(&s->stamp_txn, -1);     /* no commit recorded yet */
    s->on_commit = cfg->on_commit;
    s->on_commit_ud = cfg->on_commit_ud;
    size_t pl = strlen(cfg->dir) + 16;
    s->path = km__malloc(pl);
    if (!s->path) {
        km__free(s);
        return -ENOMEM;
    }
    snprintf(s->path, pl, "%s/data.mdb", cfg->dir);
    open_arg o = { s, cfg, 0 };
    int rc = km__blocking(open_fn, &o, false);
    if (!rc)
        rc = o.rc;
    if (!rc)
        rc = km__commit_start(s);
    if (!rc && !replica) {
        rc = km__lease_start(s);
        if (rc)
            km__commit_stop(s);
    }
    if (rc) {
        if (s->env)
            mdb_env_close(s->env);
        km__lease_mem_free(s);
        pthread_mutex_destroy(&s->qlock);
        pthread_mutex_destroy(&s->rlock);
        pthread_mutex_destroy(&s->llock);
        km__store_fini(&s->base);
        km__free(s->path);
        km__free(s);
        return rc;
    }
    *out = &s->base;
    return 0;
}

static void close_fn(void *arg)
{
    km__lmdb *s = arg;
    for (int i = 0; i < s->nrpool; i++)
        mdb_txn_abort(s->rpool[i]);
    s->nrpool = 0;
    mdb_env_close(s->env);
}

void km__lmdb_close(km_store *st)
{
    km__lmdb *s = (km__lmdb *)st;
    if (!s)
        return;
    if (!s->replica)
        km__lease_stop(s);
    km__commit_stop(s);
    if (km__blocking(close_fn, s, false) != 0)
        close_fn(s);   /* no memory for the offload: close right here */
    km__lease_mem_free(s);
    pthread_mutex_destroy(&s->qlock);
    pthread_mutex_destroy(&s->rlock);
    pthread_mutex_destroy(&s->llock);
    km__store_fini(&s->base);
    km__free(s->path);
    km__free(s);
}

int km__lmdb_stat_read(km_store *store, km_store_stat *st)
{
    km__lmdb *s = (km__lmdb *)store;
    memset(st, 0, sizeof *st);
    MDB_txn *t;
    int rc = km__rtxn_get(s, &t);
    if (rc)
        return rc;
    MDB_stat ms;
    int64_t pages = 2;   /* the two meta pages */
    size_t psize = 4096;
    MDB_dbi dbis[] = { s->cur, s->rev, s->hist, s->meta, s->lease, s->leasekeys };
    for (size_t i = 0; !rc && i < sizeof dbis / sizeof dbis[0]; i++) {
        rc = km__mdb_err(mdb_stat(t, dbis[i], &ms));
        if (rc)
            break;
        pages += (int64_t)(ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages);
        psize = ms.ms_psize;
        if (dbis[i] == s->cur)
            st->keys = (int64_t)ms.ms_entries;
        if (dbis[i] == s->lease)
            st->leases = (int64_t)ms.ms_entries;
    }
    if (!rc)
        rc = km__meta_get(s, t, "rev", &st->revision);
    if (!rc)
        rc = km__meta_get(s, t, "compact", &st->compact_revision);
    km__rtxn_put(s, t);
    st->db_size_in_use = pages * (int64_t)psize;
    struct stat fst;
    mdb_filehandle_t fd;
    /* by its descriptor: a replica's file has no name any more */
    if (mdb_env_get_fd(s->env, &fd) == 0 && fstat(fd, &fst) == 0)
        st->db_size = (int64_t)fst.st_size;
    st->commits = atomic_load(&s->commits);
    st->writes = atomic_load(&s->writes);
    return rc;
}

int64_t km__lmdb_revision(km_store *st)
{
    km__lmdb *s = (km__lmdb *)st;
    return atomic_load(&s->revision);
}
