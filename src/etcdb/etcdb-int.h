/* SPDX-License-Identifier: MIT */
/* The etcd-cluster store, a backend of the store interface whose data
 * lives in a real etcd cluster reached over kumo's gRPC client. */
#ifndef KUMO_ETCDB_INT_H
#define KUMO_ETCDB_INT_H

#include <kumo/grpc.h>
#include <kumo/group.h>
#include <kumo/sync.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "store/store-int.h"

/* Keep-alives are coalesced (kacache.c): a lease refreshed upstream less
 * than a third of its TTL ago is answered from memory, so a lease revoked
 * on etcd by another client may look alive here for that long.
 *
 * Step 1's limits, said plainly:
 *  - Revisions, compaction, hashes and snapshots are etcd's: hash_kv and
 *    hash are etcd's CRC-32C over its own bbolt layout, a snapshot is a
 *    bbolt file (km_store_restore cannot read it).
 *  - A write whose outcome is unknown (the connection broke after it was
 *    sent, etcd answered "request timed out") is not retried: it fails
 *    with -ETIMEDOUT although etcd may still apply it, as clientv3 does
 *    not retry it either.
 *  - The change feed is one whole-keyspace watch (without prev_kv: the
 *    replica knows the previous versions) applied to the local replica,
 *    whose own feed is forwarded as this store's. If the revision it must
 *    resume from was compacted while it was away (or the replica refused
 *    a revision: it diverged), the revisions in between cannot be had:
 *    the feed logs that, reloads the replica from a fresh copy at etcd's
 *    current revision R (reads go to etcd meanwhile) and publishes the
 *    gap as <kumo/store.h> says (ev NULL, n 0, revision R), so that
 *    watchers re-read it from history and get etcd's compaction error
 *    instead of missing it silently; then it follows etcd from R + 1.
 *  - The local replica (cache.c) is an LMDB store (src/lmdb/replica.h) in
 *    /dev/shm, loaded at open from a paged whole-keyspace range at one
 *    revision R0 and then fed every revision etcd takes, so its
 *    revisions are etcd's. It answers: read-only txns whose ranges are
 *    all serializable, as they are; linearizable ones once it has
 *    applied the revision a quorum read (one count-only Range) returns,
 *    if that comes within cache_wait, else etcd answers them; history
 *    from inside its window (cache_window revisions, and not below R0);
 *    stat_read's keys and revision. Ranges below its window, or below a
 *    compaction this store knows etcd made, go to etcd (which answers
 *    -ENODATA for compacted ones). A compaction made on etcd by another
 *    client is not known here, so until then the replica still answers
 *    ranges above its own window that etcd would refuse.
 *  - A write returns once the replica has applied its revision, or after
 *    cache_wait without it (etcd's answer stands either way), so a
 *    client reading through the same store after its write sees it.
 *  - Keys longer than the embedded store's KM_STORE_MAX_KEY cannot be
 *    held by the replica: open fails with -EMSGSIZE, and the feed
 *    reloads (and fails again) if one is written later.
 *  - history() replays a whole-keyspace watch and filters it here, since
 *    every revision has at least one event there, which tells when `to`
 *    has been reached (etcd 3.4's progress requests are not ordered with
 *    a watch's events). */

typedef struct km__etcdb {
    km_store          base;          /* first: the interface's handle */
    km_grpc_channel **ch;            /* one per member */
    char            **eps;
    size_t            n;
    atomic_size_t     cur;           /* the member that last answered */
    int64_t           call_timeout;  /* ns, each call's bound */
    char             *tmpdir;        /* snapshot_file's temporary file */
    atomic_llong      revision;      /* the highest header revision seen */
    /* The highest compaction this store knows of: its own, and those etcd
     * reported (HashKV, a cancelled watch). etcd 3.4 has no cheap call
     * that tells it, so one made by another client shows late. */
    atomic_llong      compact;

    /* the change feed: the watch goroutine applies etcd's revisions to the replica */
    km_group         *bg;            /* the watch goroutine's, apart from any caller's */
    int64_t           published;     /* the last revision applied */

    /* the local replica (cache.c) */
    km_store         *rep;
    km_store_sub     *rep_sub;       /* forwards its feed as ours */
    atomic_ulong      rep_epoch;     /* odd while it (re)loads: nothing is read from it */
    km_mutex         *rep_mu;        /* with rep_cv: waits for an applied revision */
    km_cond          *rep_cv;
    atomic_int        rep_waiters;
    int64_t           rep_wait;      /* ns, cache_wait */
    int64_t           rep_window;    /* revisions of history kept */

    /* the backend's own user (login.c): logged in at open, its token on
     * every call and stream, a new login when etcd says it expired */
    char             *user, *password;  /* NULL: no credentials */
    pthread_mutex_t   tok_mu;        /* guards tok and tok_gen; held for a copy */
    char             *tok;           /* etcd's token; NULL: none (authentication off) */
    uint64_t          tok_gen;       /* counts logins */
    km_mutex         *login_mu;      /* one login at a time */

    /* keep-alives share one LeaseKeepAlive stream, one exchange at a time */
    km_mutex         *ka_lock;
    struct km__kacache *kac;         /* leases refreshed lately (kacache.c) */
    km_grpc_stream   *ka;
    size_t            ka_ep;
    uint64_t          ka_gen;        /* the login whose token ka was opened with */
} km__etcdb;

/* Whether a call may be sent again after a failure whose outcome is
 * unknown: reads may, writes may not. */
enum { KM__ETCDB_READ, KM__ETCDB_WRITE };
/* km__etcdb_call's flags: without the user's token (and no new login
 * when etcd refuses the call for want of one). */
enum { KM__ETCDB_ANON = 1 };

/* The deadline of a call starting now: the caller's group bounds it too
 * (its cancellation or deadline make the gRPC calls return -ECANCELED). */
int64_t km__etcdb_deadline(km__etcdb *s);

/* Calls method with req on the member that last answered, failing over
 * to the next ones on UNAVAILABLE and connection errors until deadline
 * (for a write only while it surely was not applied). 0 and *rep (free
 * with km_grpc_pb_free); or -errno mapped from etcd's status as
 * <kumo/store.h> documents; -EHOSTUNREACH when no member could be
 * reached, -ETIMEDOUT at deadline, -ECANCELED. */
int  km__etcdb_unary(km__etcdb *s, const char *method, int kind, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *d, int64_t deadline,
                     ProtobufCMessage **rep);
/* km__etcdb_unary with flags, and the status etcd ended the call with
 * in *st (may be NULL; code -1 when the call failed before one came). A
 * call etcd refuses for its token ("invalid auth token", "user name is
 * empty", "revision of auth store is old") logs in again and is sent once
 * more: etcd refused it before applying it. */
int  km__etcdb_call(km__etcdb *s, const char *method, int kind, int flags,
                    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                    int64_t deadline, ProtobufCMessage **rep, km_store_status *st);
/* The errno for a status etcd ended a call with (code, message):
 * -EKEYEXPIRED for a missing, expired or outdated token. */
int  km__etcdb_status_err(int code, const char *msg, size_t n);
/* The errno for a failed stream operation rc on st (NULL: none). */
int  km__etcdb_stream_err(int rc, km_grpc_stream *st);
/* Whether rc (from km__etcdb_stream_err) says a member could not be
 * reached or is not serving, so that another may be tried. */
bool km__etcdb_transport_err(int rc);
/* Records a header's revision as seen. */
void km__etcdb_saw(km__etcdb *s, const Etcdserverpb__ResponseHeader *h);
/* Records a compaction as known. */
void km__etcdb_saw_compact(km__etcdb *s, int64_t rev);
/* Moves the preferred member past ep (unless another call did already). */
void km__etcdb_failover(km__etcdb *s, size_t ep);

/* ---- the backend's user (login.c) ---- */

/* Room for etcd's token (a simple token is 20-odd bytes, its JWTs a few
 * hundred). */
#define KM__ETCDB_TOKEN_MAX 2048
/* Takes cfg's credentials and logs in (at open). 0; -EACCES (etcd
 * refused them: said on stderr, without the password); -errno. */
int  km__etcdb_login_open(km__etcdb *s, const km_store_config *cfg);
void km__etcdb_login_close(km__etcdb *s);
/* The token as metadata: *md points into buf (KM__ETCDB_TOKEN_MAX
 * bytes); 1 entry, or 0 without a token. *gen: the login it came from. */
size_t km__etcdb_token_md(km__etcdb *s, km_grpc_md *md, char *buf, uint64_t *gen);
/* Logs in again, unless another caller did since login gen. 0 (also when
 * etcd says authentication is off: calls then go without a token);
 * -EACCES; -errno. */
int  km__etcdb_relogin(km__etcdb *s, uint64_t gen, int64_t deadline);
/* Whether rc (a call's errno) asks for a new login that could cure it. */
static inline bool km__etcdb_token_err(const km__etcdb *s, int rc)
{
    return rc == -EKEYEXPIRED && s->user;
}

/* ---- conversions (conv.c) ---- */

/* The etcd request for a store txn, built in a (freed with it). 0,
 * -EINVAL (a bad enum), -ENOMEM. */
int  km__etcdb_txn_req(km__arena *a, const km_txn_req *req, Etcdserverpb__TxnRequest **out);
/* The same for one operation without compares. */
int  km__etcdb_op_req(km__arena *a, const km_op *op, Etcdserverpb__RequestOp **out);
/* Copies a kv into a (NULL: zeroed). 0 or -ENOMEM. */
int  km__etcdb_kv(km__arena *a, km_kv *dst, const Mvccpb__KeyValue *kv);
/* Copies an etcd txn response into dst, in a. 0 or -ENOMEM, -EBADMSG. */
int  km__etcdb_txn_resp(km__arena *a, km_txn_resp *dst, const Etcdserverpb__TxnResponse *r);
/* Copies one operation's response (op's type) into dst. */
int  km__etcdb_op_resp(km__arena *a, km_op_resp *dst, const Etcdserverpb__ResponseOp *r);
/* Copies an etcd event into dst, in a. 0 or -ENOMEM. */
int  km__etcdb_event(km__arena *a, km_event *dst, const Mvccpb__Event *e);

/* ---- the operations (the table's entries) ---- */

void    km__etcdb_close(km_store *s);
int     km__etcdb_txn(km_store *s, const km_txn_req *req, km_store_res *res);
int     km__etcdb_compact(km_store *s, int64_t rev, int64_t *revision);
int     km__etcdb_stat_read(km_store *s, km_store_stat *st);
int64_t km__etcdb_revision(km_store *s);
int     km__etcdb_hash_kv(km_store *s, int64_t rev, uint32_t *hash, int64_t *revision,
                          int64_t *compact_revision);
int     km__etcdb_hash(km_store *s, uint32_t *hash, int64_t *revision);
int     km__etcdb_snapshot(km_store *s, int fd);
int     km__etcdb_snapshot_file(km_store *s, int *fd, int64_t *size);
int     km__etcdb_lease_grant(km_store *s, int64_t id, int64_t ttl, int64_t *out_id,
                              int64_t *revision);
int     km__etcdb_lease_revoke(km_store *s, int64_t id, int64_t *revision);
int     km__etcdb_lease_keepalive(km_store *s, int64_t id, int64_t *ttl);
int     km__etcdb_lease_ttl(km_store *s, int64_t id, bool keys, km_lease_info *out,
                            km_store_res *res);
int     km__etcdb_lease_list(km_store *s, int64_t **ids, size_t *n, km_store_res *res);
int     km__etcdb_history(km_store *s, int64_t from, int64_t to, km_bytes key,
                          km_bytes range_end, bool with_prev, size_t max, km_event **ev,
                          size_t *n, int64_t *next, km_store_res *res);
int     km__etcdb_pass(km_store *s, const char *method, int flags, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *d, ProtobufCMessage **rep,
                       km_store_status *st);

/* ---- keep-alives coalesced (kacache.c) ---- */
typedef struct km__kacache km__kacache;
int  km__kacache_new(km__kacache **out);
void km__kacache_free(km__kacache *c);
/* Whether id was refreshed upstream less than a third of its TTL before
 * now; *ttl its granted TTL then. */
bool km__kacache_fresh(km__kacache *c, int64_t id, int64_t now, int64_t *ttl);
/* Records that a keep-alive of id sent at sent was answered with ttl. */
void km__kacache_put(km__kacache *c, int64_t id, int64_t ttl, int64_t sent);
/* Forgets id (revoked, or etcd no longer knows it). */
void km__kacache_drop(km__kacache *c, int64_t id);

/* The current revision, read from the cluster (a quorum read). */
int  km__etcdb_current(km__etcdb *s, int64_t deadline, int64_t *rev);
/* Opens a Watch call on member ep over the whole keyspace from rev
 * (prev_kv when asked) and reads its created answer. 0 and *out; -ENODATA
 * and *compact when rev was compacted; -ESTALE when the member's revision
 * is below floor (it lags); -errno. The member must have a leader. */
int  km__etcdb_watch_open(km__etcdb *s, size_t ep, int64_t rev, int64_t floor, bool prev_kv,
                          int64_t deadline, km_grpc_stream **out, int64_t *compact);
/* ---- the local replica (cache.c) ---- */

/* Opens the replica and loads it from the cluster (cfg's cache settings).
 * 0 and the revision it was loaded at in *rev; -errno. */
int  km__etcdb_cache_open(km__etcdb *s, const km_store_config *cfg, int64_t *rev);
void km__etcdb_cache_close(km__etcdb *s);
/* Reloads the replica from a fresh copy (after a gap or a divergence):
 * readers go to etcd meanwhile. 0 and *rev; -errno. */
int  km__etcdb_cache_reload(km__etcdb *s, int64_t *rev);
/* Wakes the waiters of cache_wait after a revision was applied. */
void km__etcdb_cache_applied(km__etcdb *s);
/* Waits until the replica has applied rev, until deadline. Whether it has. */
bool km__etcdb_cache_wait(km__etcdb *s, int64_t rev, int64_t deadline);
/* Answers a read-only txn from the replica when it can: 0 or -errno as
 * km_store_txn; 1 when etcd must answer it (res is then untouched). */
int  km__etcdb_cache_txn(km__etcdb *s, const km_txn_req *req, km_store_res *res);
/* The same for history. */
int  km__etcdb_cache_history(km__etcdb *s, int64_t from, int64_t to, km_bytes key,
                             km_bytes end, bool with_prev, size_t max, km_event **ev,
                             size_t *n, int64_t *next, km_store_res *res);
/* Whether a txn only reads. */
bool km__etcdb_read_only(const km_txn_req *req);

/* Starts and stops the feed's goroutine. */
int  km__etcdb_feed_start(km__etcdb *s, int64_t rev);
void km__etcdb_feed_stop(km__etcdb *s);

#endif
