/* SPDX-License-Identifier: MIT */
/* The config center's store: an MVCC key-value store with revisions, txn,
 * leases and history, numbered as etcd v3 numbers them. One interface over
 * backends (src/store/store-int.h); the embedded LMDB store (src/lmdb/) is
 * the default.
 *
 * Deadlines: every call honours the calling goroutine's cancellation
 * group (<kumo/group.h>), its deadline included, as a Go store call
 * honours its context. A call that can wait fails with -ECANCELED once the
 * group is done, unless its change already reached the commit: a write is
 * never reported failed while it may still become durable. */
#ifndef KUMO_STORE_H
#define KUMO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes that are not NUL-terminated. In requests they belong to the caller;
 * in results to the result that holds them (km_store_res). */
typedef struct { const uint8_t *p; size_t n; } km_bytes;

/* Limits (requests beyond them fail with -EMSGSIZE or -E2BIG). */
#define KM_STORE_MAX_KEY     480            /* bytes per key (an LMDB key holds 511) */
#define KM_STORE_MAX_VALUE   (1536 * 1024)  /* bytes per value (etcd's request limit) */
#define KM_STORE_MAX_OPS     128            /* operations per txn, as etcd */

/* One version of a key. create_revision, mod_revision and version as in
 * etcd: version counts puts since creation (1 for a new key) and restarts
 * after a delete; lease is 0 without one. */
typedef struct {
    km_bytes key, value;
    int64_t  create_revision, mod_revision, version, lease;
} km_kv;

/* ---- requests (mirror etcd's RangeRequest, PutRequest, ...) ---- */

/* A key range: range_end empty = the single key; range_end "\0" (one zero
 * byte) = every key >= key; otherwise [key, range_end). key "\0" with
 * range_end "\0" means all keys. */

/* Sorting as etcd's apply does it: NONE with a target other than KEY sorts
 * ascending, but (without a revision filter) only the first limit + 1 keys
 * in key order, before the limit cuts them. */
enum { KM_SORT_NONE, KM_SORT_ASCEND, KM_SORT_DESCEND };
enum { KM_SORT_KEY, KM_SORT_VERSION, KM_SORT_CREATE, KM_SORT_MOD, KM_SORT_VALUE };

typedef struct {
    km_bytes key, range_end;
    int64_t  limit;            /* 0: no limit */
    int64_t  revision;         /* <= 0: current */
    int      sort_order, sort_target;
    bool     serializable, keys_only, count_only;
    int64_t  min_mod_revision, max_mod_revision;        /* 0: no bound */
    int64_t  min_create_revision, max_create_revision;
} km_range_req;

typedef struct {
    km_bytes key, value;
    int64_t  lease;            /* 0: none */
    bool     prev_kv, ignore_value, ignore_lease;
} km_put_req;

typedef struct {
    km_bytes key, range_end;
    bool     prev_kv;
} km_del_req;

enum { KM_CMP_EQUAL, KM_CMP_GREATER, KM_CMP_LESS, KM_CMP_NOT_EQUAL };
enum { KM_CMP_VERSION, KM_CMP_CREATE, KM_CMP_MOD, KM_CMP_VALUE, KM_CMP_LEASE };

/* A txn guard. A missing key compares as version, create, mod and lease 0;
 * a VALUE compare on a missing key is false (as in etcd). With range_end
 * the compare must hold for every key in the range. */
typedef struct {
    int      result, target;
    km_bytes key, range_end;
    int64_t  num;              /* VERSION, CREATE, MOD, LEASE */
    km_bytes value;            /* VALUE */
} km_cmp;

enum { KM_OP_RANGE, KM_OP_PUT, KM_OP_DELETE, KM_OP_TXN };

typedef struct km_txn_req km_txn_req;
typedef struct {
    int type;
    union { km_range_req range; km_put_req put; km_del_req del; const km_txn_req *txn; };
} km_op;

struct km_txn_req {
    const km_cmp *cmp;     size_t ncmp;
    const km_op  *success; size_t nsuccess;
    const km_op  *failure; size_t nfailure;
};

/* ---- results ---- */

typedef struct {
    km_kv  *kvs;  size_t nkvs;
    bool    more;             /* limit cut the result */
    int64_t count;            /* keys in range (before limit) */
} km_range_resp;

typedef struct { bool has_prev; km_kv prev_kv; } km_put_resp;

typedef struct {
    int64_t deleted;
    km_kv  *prev_kvs; size_t nprev;   /* only when prev_kv was asked */
} km_del_resp;

typedef struct km_txn_resp km_txn_resp;
typedef struct {
    int type;                 /* KM_OP_* of the request */
    union { km_range_resp range; km_put_resp put; km_del_resp del; km_txn_resp *txn; };
} km_op_resp;

struct km_txn_resp {
    bool        succeeded;    /* the compares held: success ops ran */
    km_op_resp *resp;  size_t nresp;
};

/* The outcome of one store call. Every pointer in it lives in memory the
 * result owns, until km_store_res_free. */
typedef struct km_store_res {
    int64_t     revision;     /* store revision after the call (etcd's header.revision) */
    km_txn_resp txn;          /* km_store_txn; km_store_range fills resp[0] */
    struct km__arena *arena;
} km_store_res;

void km_store_res_free(km_store_res *res);

/* ---- the store ---- */

typedef struct km_store km_store;

/* Called by the committer after each durable commit (for metrics): the
 * whole commit's time and, within it, that of the sync that made it
 * durable, in nanoseconds. Runs on an offload thread; must not
 * block. */
typedef void km_store_commit_fn(void *ud, int64_t commit_ns, int64_t sync_ns);

typedef struct {
    const char *backend;      /* NULL, "" or "lmdb": the embedded store in dir;
                                 "etcd://HOST:PORT,HOST:PORT,...": the data lives
                                 in that etcd cluster (revisions are etcd's) */
    const char *dir;          /* data directory, created if missing (etcd: only
                                 for snapshot_file's temporary copy; optional) */
    size_t      map_size;     /* 0: 8 GiB of address space (grows on disk as used) */
    int         max_batch;    /* writes per group commit; 0: 1024 */
    km_store_commit_fn *on_commit;  /* optional */
    void       *on_commit_ud;
    int64_t     call_timeout; /* etcd: ns each call may take, over every member
                                 it tries (the caller's group may cut it
                                 shorter); 0: 5 s */
    int64_t     cache_window; /* etcd: revisions of history the local replica
                                 keeps (older ones are read from etcd); 0: 10,000 */
    int64_t     cache_wait;   /* etcd: ns a linearizable read or a write waits for
                                 the local replica to catch up before asking etcd
                                 (reads) or answering anyway (writes); 0: 1 s */
    struct km_tls *tls;       /* etcd: TLS to the members (<kumo/tls.h>,
                                 km_tls_client_new; the caller's, it outlives the
                                 store); NULL: plain TCP */
    const char *user;         /* etcd: the user this store logs in to etcd as
                                 (Auth/Authenticate at open, its token on every
                                 call and stream, a new login when etcd says the
                                 token expired); NULL: none. Copied */
    const char *password;     /* etcd: user's password (copied, never logged) */
} km_store_config;

/* Opens the backend cfg->backend names. The embedded store: opens (or
 * creates) the store in cfg->dir; starts its committer and lease
 * goroutines (they keep working even if the caller's group is cancelled)
 * and finishes a compaction a previous run left half done. Call from a
 * goroutine. 0, -errno (open/mmap), -EBADMSG for a corrupt or foreign data
 * dir, -EPROTONOSUPPORT (a backend this build does not have), -ENOMEM. */
int  km_store_open(km_store **out, const km_store_config *cfg);
/* The backend's name ("lmdb", "etcd"). */
const char *km_store_backend(const km_store *s);
/* Stops the lease goroutine, lets the committer finish every queued write,
 * closes and frees s. Every other call on s must have returned first. */
void km_store_close(km_store *s);

/* Runs a txn atomically. Read-only txns read a snapshot without waiting;
 * writes are queued to the committer, batched with other writes into one
 * LMDB commit (fsync) and acknowledged only once durable. A txn that
 * changes something (any put; a delete that removes a key) takes the next
 * revision, all its changes sharing it; one that changes nothing takes none.
 * 0 (fills *res; free it even on error), or:
 *  -EINVAL   empty key, lease with ignore_lease, value with ignore_value,
 *            bad sort or compare enum. A range_end below key is an empty
 *            range, not an error (as in etcd).
 *  -EMSGSIZE key or value over the limits
 *  -E2BIG    more than KM_STORE_MAX_OPS operations
 *  -ENOTUNIQ a key written twice in one txn ("duplicate key given in txn request")
 *  -ERANGE   a range at a future revision
 *  -ENODATA  a range at a compacted revision
 *  -ENOENT   a put with a lease that does not exist ("requested lease not found")
 *  -ENOKEY   a put with ignore_value or ignore_lease on a missing key
 *            ("etcdserver: key not found")
 *  -ENOSPC, -EIO  the disk refused the write (nothing acknowledged). A
 *            failed sync is final, as LMDB treats one: the batch may be
 *            visible but is not durable, and every later write fails with
 *            the same error until the store is opened again.
 *  -ENOMEM, -ECANCELED, -ESHUTDOWN (store closing) */
int  km_store_txn(km_store *s, const km_txn_req *req, km_store_res *res);
/* One operation as a txn without compares: res->txn.resp[0] is its result. */
int  km_store_do(km_store *s, const km_op *op, km_store_res *res);

/* Compacts history at or below rev: superseded versions and deletions are
 * removed (the latest version of each live key stays). 0; -ERANGE (future),
 * -ENODATA (already compacted at or past rev, or rev < 0; rev 0 on a store
 * never compacted is 0 with nothing done, as etcd). *revision gets the current
 * revision. Afterwards ranges at a revision below rev fail with -ENODATA;
 * a range at rev itself still works (as in etcd). */
int  km_store_compact(km_store *s, int64_t rev, int64_t *revision);

typedef struct {
    int64_t revision;          /* current */
    int64_t compact_revision;  /* 0 if never compacted */
    int64_t db_size;           /* bytes of the data file */
    int64_t db_size_in_use;    /* bytes of pages in use */
    int64_t keys;              /* live keys */
    int64_t leases;
    int64_t commits;           /* LMDB commits (one fsync each) since open */
    int64_t writes;            /* write requests those commits carried */
} km_store_stat;
int  km_store_stat_read(km_store *s, km_store_stat *st);
/* The current revision alone: one atomic read, for a response header
 * that needs nothing else (km_store_stat_read walks every table). */
int64_t km_store_revision(km_store *s);

/* etcd's HashKV: a CRC-32C of the history up to rev (<= 0: current), the
 * same for stores holding the same changes (of the same backend: the etcd
 * backend answers etcd's own hash, over its bbolt layout). *revision gets the current
 * revision, *compact_revision the compacted one (0: never). 0; -ENODATA
 * (rev at or below the compacted revision, as etcd refuses it); -ERANGE
 * (a future rev); -errno from LMDB. Runs on the offload pool. */
int  km_store_hash_kv(km_store *s, int64_t rev, uint32_t *hash, int64_t *revision,
                      int64_t *compact_revision);
/* etcd's Hash: a CRC-32C of everything the store holds (every table's
 * keys and values). 0 or -errno. */
int  km_store_hash(km_store *s, uint32_t *hash, int64_t *revision);

/* Writes a consistent copy of the store, as it is at one revision, to fd
 * (blocking writes; a pipe, a file, a socket): an LMDB data file without
 * its free pages. With the etcd backend it is what etcd's
 * Maintenance/Snapshot streams instead: one member's bbolt file (without
 * etcd's trailing SHA-256, as the LMDB copy has none), for `etcdctl
 * snapshot restore`, not km_store_restore. Runs on the offload pool and returns once it is all
 * written; fd stays open. 0; -errno of a failed write (-EPIPE: the
 * reader went); -ENOMEM. */
int  km_store_snapshot(km_store *s, int fd);
/* The same copy in a temporary file beside the data (unlinked: it goes
 * when fd is closed), for a reader that must know the size first, as
 * etcd's Snapshot stream tells the bytes remaining. 0 and *fd (the
 * caller closes it; read it with pread, or on the offload pool) and
 * *size; -errno (-ENOSPC: no room for the copy). */
int  km_store_snapshot_file(km_store *s, int *fd, int64_t *size);
/* Makes dir (created if missing) a data directory from a snapshot file:
 * a copy km_store_snapshot wrote followed by its SHA-256, as etcd's
 * Snapshot stream ends (a file whose size is 32 past a multiple of 512
 * has one). The digest is checked, unless skip_hash (which also accepts a
 * file without one); the result is opened once to prove it is a store.
 * Call from a goroutine. 0; -ENODATA (no digest and !skip_hash); -EBADMSG
 * (digest mismatch, or not a store: nothing is left in dir then); -EEXIST
 * (dir holds a store already); -errno of the file operations; -ENOMEM. */
int  km_store_restore(const char *file, const char *dir, bool skip_hash);

/* ---- calls passed to the backend's cluster ---- */

/* How a call passed to the cluster ended when it did not succeed: its
 * gRPC status code and message (code -1: no status came). */
typedef struct {
    int  code;
    char message[256];
} km_store_status;

/* km_store_call's flags. READ: the call only reads, so it may be sent
 * again after a failure whose outcome is unknown (a write is not). ANON:
 * sent without the store's user's token. */
enum { KM_STORE_CALL_READ = 1, KM_STORE_CALL_ANON = 2 };

struct ProtobufCMessage;             /* protobuf-c's (<protobuf-c/protobuf-c.h>) */
struct ProtobufCMessageDescriptor;

/* For what this interface does not cover (etcd's Auth service): a unary
 * gRPC call of method ("/etcdserverpb.Auth/UserAdd") with the protobuf-c
 * message req, answered with a message of type d, made as the store's
 * user (km_store_config's user) with the failover, re-login and deadline
 * of the store's own calls. 0 and *rep (free it with km_grpc_pb_free);
 * -EREMOTEIO, or the errno the store's calls map etcd's status to
 * (-ETIMEDOUT...), with the status in *st (may be NULL); -EHOSTUNREACH;
 * -ECANCELED; -ENOMEM; -EOPNOTSUPP for a backend without a cluster
 * (lmdb). */
int  km_store_call(km_store *s, const char *method, int flags,
                   const struct ProtobufCMessage *req,
                   const struct ProtobufCMessageDescriptor *d,
                   struct ProtobufCMessage **rep, km_store_status *st);

/* ---- leases (expiry is kept in memory and restarts at open, as in etcd) ---- */

/* Grants a lease of ttl seconds (raised to etcd's minimum, 2 s); id 0
 * picks a fresh positive one. Takes no revision (*revision: the current).
 * 0 and *out_id; -EEXIST (id in use, "lease already exists"), -EFBIG
 * (ttl over 9e9 s, "etcdserver: too large lease TTL"). */
int  km_lease_grant(km_store *s, int64_t id, int64_t ttl, int64_t *out_id, int64_t *revision);
/* Deletes the lease and its keys (watchers see DELETE events) in one
 * revision; a lease without keys takes none. 0 or -ENOENT. */
int  km_lease_revoke(km_store *s, int64_t id, int64_t *revision);
/* Restarts the lease's countdown. 0 and *ttl (granted TTL); -ENOENT. */
int  km_lease_keepalive(km_store *s, int64_t id, int64_t *ttl);

typedef struct {
    int64_t   id, ttl, granted_ttl;   /* ttl: seconds left, -1 if expired */
    km_bytes *keys; size_t nkeys;     /* when asked; in res's arena */
} km_lease_info;
/* 0; -ENOENT (ttl -1 is then also filled in, as etcd answers). res holds keys. */
int  km_lease_ttl(km_store *s, int64_t id, bool keys, km_lease_info *out, km_store_res *res);
/* Every lease id, soonest expiry first (as etcd), into an array in res's arena. */
int  km_lease_list(km_store *s, int64_t **ids, size_t *n, km_store_res *res);

/* ---- history and change feed (what the watch hub is built on) ---- */

enum { KM_EV_PUT, KM_EV_DELETE };
/* One change. For DELETE, kv holds key and mod_revision (the deleting
 * revision) only. prev_kv is the version it replaced (has_prev false for a
 * new key). */
typedef struct {
    int   type;
    km_kv kv;
    bool  has_prev;
    km_kv prev_kv;
} km_event;

/* The change feed. A subscriber is called after each durable commit, once
 * per revision in revision order, with that revision's events (their
 * memory is valid during the call only), on the backend's apply path: it
 * must not block nor call the feed's functions. Any number may subscribe;
 * each is called in turn, in subscription order. Subscribing and
 * unsubscribing never make a commit wait.
 *
 * Every revision committed after km_store_subscribe returns reaches fn:
 * subscribe first, then read the revision (km_store_stat_read) and skip
 * deliveries at or below it.
 *
 * A call with ev NULL and n 0 says the backend lost the revisions since
 * the last delivery, up to and including revision (the etcd backend, when
 * etcd compacted them while its watch was away): a subscriber must read
 * what it needs of them from km_store_history, which answers -ENODATA for
 * those that are gone, as etcd cancels a watch. 0 and *sub; -EINVAL (fn
 * NULL), -ENOMEM. */
typedef void km_store_feed_fn(void *ud, int64_t revision, const km_event *ev, size_t n);
typedef struct km_store_sub km_store_sub;
int  km_store_subscribe(km_store *s, km_store_feed_fn *fn, void *ud, km_store_sub **sub);
/* Ends sub (NULL: nothing). Returns once no call of it is in progress and
 * none will start, so its state may be freed right after. Every
 * subscriber leaves before km_store_close. */
void km_store_unsubscribe(km_store *s, km_store_sub *sub);

/* Events with revision in [from, to] (to <= 0: current) whose key is in
 * [key, range_end) (as in ranges), in revision order, into res's arena;
 * at most max events (0: no limit; a revision's events are never split, so
 * a little more than max may come), *next the revision to continue from.
 * prev_kv filled when with_prev (absent if compacted away). -ENODATA if
 * from < compact revision, as etcd cancels a watch (res->revision then
 * holds the compact revision; resuming from it is allowed). A from past
 * the current revision yields no events (*next = from). */
int  km_store_history(km_store *s, int64_t from, int64_t to, km_bytes key, km_bytes range_end,
                      bool with_prev, size_t max, km_event **ev, size_t *n, int64_t *next,
                      km_store_res *res);

#ifdef __cplusplus
}
#endif
#endif
