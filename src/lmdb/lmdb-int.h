/* SPDX-License-Identifier: MIT */
/* The embedded LMDB store, a backend of the store interface: layout,
 * codecs, the committer, shared by this directory's files. */
#ifndef KUMO_LMDB_INT_H
#define KUMO_LMDB_INT_H

#include <kumo/chan.h>
#include <lmdb.h>
#include "store/store-int.h"

/* On-disk layout (all integers big-endian, so memcmp orders them):
 *   cur       key -> crec + value            the live version of each key
 *   rev       (main, sub) -> erec + key + value   every change, in order
 *   hist      DUPSORT key -> (main, sub)      every change of a key
 *   meta      "format", "rev", "compact"
 *   lease     id -> granted ttl
 *   leasekeys DUPSORT id -> key               keys attached to a lease */
#define KM__STORE_FORMAT "kumo-store-1"

typedef struct {
    int64_t create, mod, version, lease;
} km__crec;
#define KM__CREC_SIZE 32

enum { KM__EV_PUT = 0, KM__EV_DEL = 1 };
typedef struct {
    int     type;
    int64_t create, version, lease;
    km_bytes key, value;
} km__erec;
#define KM__EREC_HDR 32

/* A lease as the server keeps it in memory: its deadline restarts at open. */
typedef struct {
    int64_t id, ttl;        /* granted ttl, seconds */
    int64_t expiry;         /* monotonic ns */
} km__lease;

/* A queued write for the committer. */
enum { KM__W_TXN, KM__W_GRANT, KM__W_REVOKE, KM__W_COMPACT, KM__W_COMPACT_MORE,
       KM__W_LOAD, KM__W_APPLY };
typedef struct km__wreq {
    struct km__wreq *next;
    int               kind;
    const km_txn_req *req;
    km_store_res     *res;
    int64_t           id, ttl, rev;   /* lease grant/revoke, compact, load, apply */
    /* a replica's load page (kvs) or applied revision (aev) */
    const km_kv      *kvs;
    size_t            nkvs;
    const km_event   *aev;
    size_t            naev;
    bool              first, last;    /* load: the first page clears, the last sets rev */
    uint8_t           ckey[512];      /* compaction: where the next chunk starts */
    size_t            ckn;
    bool              cmore;
    int               rc;
    bool              applied;        /* its part of the batch went in */
    int64_t           out_rev;        /* revision after the write */
    bool              taken;          /* the committer took it */
    atomic_int        finished;
    km_chan          *done;
    /* events of this write's revision, for the feed (batch arena) */
    km_event         *ev;
    size_t            nev, cev;
    int64_t           ev_rev;
} km__wreq;

typedef struct km__lmdb {
    km_store base;                 /* first: the interface's handle */
    MDB_env *env;
    MDB_dbi  cur, rev, hist, meta, lease, leasekeys;
    char    *path;                 /* data file, for its size */
    /* A replica (replica.c): its files are unlinked once open, it never
     * syncs, and only its owner writes to it. */
    bool     replica;
    int64_t  load_sub;             /* numbers the loaded versions (committer only) */

    atomic_llong revision, compact;
    /* The revisions at the last commit's LMDB txn id, so that a read of
     * that snapshot need not look them up: a seqlock whose one writer is
     * the committer. */
    atomic_ulong stamp_seq;
    atomic_llong stamp_txn, stamp_rev, stamp_compact;
    atomic_llong commits, writes;
    atomic_int   failed;           /* a sync's error: no more writes */
    km_store_commit_fn *on_commit;
    void      *on_commit_ud;

    /* the write queue */
    pthread_mutex_t qlock;
    km__wreq  *qhead, *qtail;
    bool       closing;
    km_chan   *wake;               /* cap 1, wakes the committer */
    km_chan   *committer_done;
    int        max_batch;
    /* read txns kept reset for reuse */
    pthread_mutex_t rlock;
    MDB_txn  *rpool[32];
    int       nrpool;

    /* leases in memory, sorted by id */
    pthread_mutex_t llock;
    km__lease *leases;
    size_t     nleases, cleases;
    km_chan   *lease_stop, *lease_done;
} km__lmdb;

/* ---- the backend's entry points (the store interface's ops) ---- */
void    km__lmdb_close(km_store *s);
int     km__lmdb_txn(km_store *s, const km_txn_req *req, km_store_res *res);
int     km__lmdb_compact(km_store *s, int64_t rev, int64_t *revision);
int     km__lmdb_stat_read(km_store *s, km_store_stat *st);
int64_t km__lmdb_revision(km_store *s);
int     km__lmdb_hash_kv(km_store *s, int64_t rev, uint32_t *hash, int64_t *revision,
                         int64_t *compact_revision);
int     km__lmdb_hash(km_store *s, uint32_t *hash, int64_t *revision);
int     km__lmdb_snapshot(km_store *s, int fd);
int     km__lmdb_snapshot_file(km_store *s, int *fd, int64_t *size);
int     km__lmdb_lease_grant(km_store *s, int64_t id, int64_t ttl, int64_t *out_id,
                             int64_t *revision);
int     km__lmdb_lease_revoke(km_store *s, int64_t id, int64_t *revision);
int     km__lmdb_lease_keepalive(km_store *s, int64_t id, int64_t *ttl);
int     km__lmdb_lease_ttl(km_store *s, int64_t id, bool keys, km_lease_info *out,
                           km_store_res *res);
int     km__lmdb_lease_list(km_store *s, int64_t **ids, size_t *n, km_store_res *res);
int     km__lmdb_history(km_store *s, int64_t from, int64_t to, km_bytes key,
                         km_bytes range_end, bool with_prev, size_t max, km_event **ev,
                         size_t *n, int64_t *next, km_store_res *res);

/* ---- codecs (codec.c) ---- */
void    km__put_be64(uint8_t *p, int64_t v);
int64_t km__get_be64(const uint8_t *p);
void    km__revkey(uint8_t out[16], int64_t main, int64_t sub);
int     km__crec_decode(const MDB_val *v, km__crec *c, km_bytes *value);
int     km__erec_decode(const MDB_val *v, km__erec *e);
/* Makes room for element n of a doubling array (*p of *cap elements of esz
 * bytes). 0 or -ENOMEM (the array is unchanged). */
int     km__grow(void **p, size_t *cap, size_t n, size_t esz);
/* LMDB and errno codes to a negative errno. */
int     km__mdb_err(int rc);
/* Whether key lies in the range (key0, end) as ranges define it. */
bool    km__in_range(km_bytes k, km_bytes key0, km_bytes end);
int     km__bytes_cmp(km_bytes a, km_bytes b);


/* ---- read txns (open.c) ---- */
int  km__rtxn_get(km__lmdb *s, MDB_txn **out);
void km__rtxn_put(km__lmdb *s, MDB_txn *t);
int  km__meta_get(km__lmdb *s, MDB_txn *t, const char *name, int64_t *v);
int  km__meta_set(km__lmdb *s, MDB_txn *t, const char *name, int64_t v);
/* The revision and compact revision of t's snapshot. */
int  km__snap_revs(km__lmdb *s, MDB_txn *t, int64_t *rev, int64_t *compact);
/* Records the revisions of the commit whose LMDB txn id is txn. */
void km__stamp(km__lmdb *s, int64_t txn, int64_t rev, int64_t compact);

/* ---- executing requests (exec.c, range.c, write.c) ---- */
typedef struct {
    km__lmdb  *s;
    MDB_txn   *txn;
    km__arena *a;          /* results */
    int64_t    rev, compact; /* before this request */
    bool       write;
    int64_t    sub;        /* changes made so far; they get revision rev + 1 */
    km__wreq  *w;          /* where events go (NULL: nobody listens) */
    km__arena *eva;        /* event memory */
    bool      *path;       /* compare outcomes in depth-first order */
    size_t     npath, ipath;
} km__xc;

int  km__range(km__xc *x, const km_range_req *r, km_range_resp *out);
/* The version of key written at revision rk (16 bytes) in x's snapshot:
 * *found false when that change was a delete or was compacted away. kv's
 * value points into the snapshot. 0 or -errno. */
int  km__kv_at_rev(km__xc *x, km_bytes key, const void *rk, km_kv *kv, bool *found);
int  km__cmp_eval(km__xc *x, const km_cmp *c, bool *ok);
int  km__put(km__xc *x, const km_put_req *r, km_put_resp *out);
int  km__del(km__xc *x, const km_del_req *r, km_del_resp *out);
/* The pieces of a write, shared with the replica's load and apply:
 * record a change for the feed (copies it), append a change to the
 * history at (x->rev + 1, x->sub), attach or detach a key from a lease,
 * delete one live key (-ENOENT if it is not). */
int  km__ev_add(km__xc *x, int type, const km_kv *kv, const km_kv *prev);
int  km__history_add(km__xc *x, int type, km_bytes key, int64_t create, int64_t version,
                     int64_t lease, km_bytes value);
/* Writes one version at rk (main, sub) into rev and hist (flags: MDB_APPEND or 0). */
int  km__history_put(km__xc *x, const uint8_t rk[16], unsigned flags, int type, km_bytes key,
                     int64_t create, int64_t version, int64_t lease, km_bytes value);
int  km__leasekey(km__xc *x, int64_t lease, km_bytes key, bool add);
int  km__del_one(km__xc *x, km_bytes key, km_kv *prev_out);
/* A replica's load page and applied revision (replica.c), run by the
 * committer like any write. */
int  km__replica_load_page(km__xc *x, km__wreq *w);
int  km__replica_apply_rev(km__xc *x, km__wreq *w);
/* Opens the store in cfg->dir; a replica skips the fsyncs and the lease
 * timers (its leases are its owner's). */
int  km__lmdb_open_as(km_store **out, const km_store_config *cfg, bool replica);
/* Deletes a lease and its keys. -ENOENT if it does not exist. */
int  km__revoke(km__xc *x, int64_t id);
int  km__grant(km__xc *x, int64_t id, int64_t ttl);
/* Compaction, a chunk at a time: the first chunk (first true) records
 * rev as the compact revision, so reads below it fail at once; each chunk
 * handles up to KM__COMPACT_CHUNK keys from *key (n 0: the first) and
 * leaves where to go on in key/n, with *more. */
#define KM__COMPACT_CHUNK 4096
int  km__compact_apply(km__xc *x, int64_t rev, bool first, uint8_t *key, size_t *n, bool *more);
/* Runs a validated txn; fills out. */
int  km__txn_exec(km__xc *x, const km_txn_req *req, km_txn_resp *out);
/* Checks a txn request; sets *write when it may change something. */
int  km__txn_check(const km_txn_req *req, bool *write);
/* Reads the kv of key at revision at (<= 0: current) into a (or just the crec). */
int  km__kv_at(km__xc *x, km_bytes key, int64_t at, km_kv *kv, bool *found, bool keys_only);

/* The runtime's offload call (src/rt/offload.c). The store always passes
 * cancellable false: a batch, an open or a close must run to its end and
 * its caller must wait for it, cancelled group or not. */

/* ---- the committer (commit.c) ---- */
/* Waits ms on the offload pool: how the store's goroutines pause once
 * their group is cancelled (every parking call then fails at once). */
void km__nap(int ms);
int  km__commit_start(km__lmdb *s);
void km__commit_stop(km__lmdb *s);
/* Queues w and parks until it is durable (or failed). */
int  km__submit(km__lmdb *s, km__wreq *w);

/* ---- leases in memory (lease.c) ---- */
int  km__lease_start(km__lmdb *s);
void km__lease_stop(km__lmdb *s);
int  km__lease_load(km__lmdb *s, MDB_txn *t);
void km__lease_mem_add(km__lmdb *s, int64_t id, int64_t ttl);
void km__lease_mem_del(km__lmdb *s, int64_t id);
bool km__lease_mem_has(km__lmdb *s, int64_t id);
void km__lease_mem_free(km__lmdb *s);

/* Minimum lease TTL: etcd's default (1.5 x election timeout, 1 s) rounded up. */
#define KM__LEASE_MIN_TTL 2
#define KM__LEASE_MAX_TTL 9000000000LL

#endif
