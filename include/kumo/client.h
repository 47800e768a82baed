/* SPDX-License-Identifier: MIT */
/* Client SDK for the config center: KV calls, a watch that resumes without
 * losing or repeating an event, and an informer (list-watch cache with
 * handlers and a local snapshot file). Speaks etcd's v3 API over gRPC, or
 * over its JSON gateway. */
#ifndef KUMO_CLIENT_H
#define KUMO_CLIENT_H

#include <stdbool.h>
#include "http.h"
#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- connection ---- */

/* A client of one or more endpoints; safe to share between goroutines. */
typedef struct km_client km_client;

/* How the client speaks to the server. Both give the same results and the
 * same errors; gRPC multiplexes every call and watch on a few HTTP/2
 * connections per endpoint, the JSON gateway takes an HTTP/1.1 connection
 * per call in flight and one per watch. */
typedef enum {
    KM_CLIENT_AUTO = 0,     /* gRPC; the JSON gateway from the first answer
                               saying the server does not speak gRPC (not
                               HTTP/2, or status UNIMPLEMENTED for etcd's
                               services) on */
    KM_CLIENT_GRPC,         /* etcd's gRPC API only */
    KM_CLIENT_JSON,         /* etcd's JSON gateway (/v3/...) only */
} km_client_transport;

typedef struct {
    const char *const *endpoints;   /* "HOST:PORT" each (an "http://" prefix is
                                       accepted, "https://" with tls); copied */
    size_t      nendpoints;
    int64_t     dial_timeout;       /* ns; 0: 2 s per connection attempt */
    int         max_conns;          /* connections per endpoint: HTTP/1.1 ones
                                       pooled for the JSON gateway (0: 16),
                                       HTTP/2 ones for gRPC (0: 4) */
    km_client_transport transport;  /* 0: KM_CLIENT_AUTO */
    struct km_tls *tls;             /* TLS to every endpoint (<kumo/tls.h>,
                                       km_tls_client_new; the caller's, it outlives
                                       the client): gRPC only, so KM_CLIENT_AUTO
                                       means gRPC and KM_CLIENT_JSON is -EINVAL */
} km_client_config;

/* Creates a client. Nothing is dialled until the first call. The caller owns
 * *out (km_client_free). 0, -EINVAL (no endpoint, a bad one), -ENOMEM. */
int  km_client_new(km_client **out, const km_client_config *cfg);
/* Frees c; no call, watch or informer on it may be running. */
void km_client_free(km_client *c);
/* The endpoint the client currently talks to (it moves to the next one when
 * one fails). Owned by c. */
const char *km_client_endpoint(const km_client *c);
/* The transport calls go over now: KM_CLIENT_GRPC or KM_CLIENT_JSON (an
 * AUTO client says GRPC until it has fallen back). */
km_client_transport km_client_transport_in_use(const km_client *c);

/* Errors of every call below: 0 on success; a transport error after every
 * endpoint was tried (-ECONNREFUSED, -ETIMEDOUT when deadline passed,
 * -ECANCELED); the server's answer mapped to errno: -ENODATA (revision
 * compacted), -ERANGE (future revision), -ENOENT (lease not found),
 * -EINVAL (bad request), -EEXIST, -ENOSPC (quota), -EAGAIN (unavailable),
 * -EIO (other), -EBADMSG (undecodable answer), -ENOMEM;
 * -EPROTONOSUPPORT with KM_CLIENT_GRPC when the server does not speak
 * etcd's gRPC API. */

/* One key-value as the server reports it. Strings are not NUL-terminated
 * by contract (they happen to be) and belong to the result they came in. */
typedef struct {
    const char *key;
    size_t      key_len;
    const char *value;
    size_t      value_len;
    int64_t     create_revision, mod_revision, version, lease;
} km_client_kv;

/* The answer of a range: revision of the store when it was read, kvs in key
 * order, count of all matching keys (more than n if limited). */
typedef struct {
    int64_t       revision;
    int64_t       count;
    bool          more;
    size_t        n;
    km_client_kv *kvs;
    void         *priv_;    /* storage; freed by km_client_range_free */
} km_client_range;

/* Reads [key, range_end) (range_end NULL: the single key; "\0" of length 1:
 * to the end) at revision rev (0: latest), at most limit keys (0: all).
 * Fills *out, which the caller frees with km_client_range_free even on
 * some errors (it is always safe to free a zeroed or filled result). */
int  km_client_range_ex(km_client *c, const void *key, size_t key_len,
                        const void *range_end, size_t end_len, int64_t rev,
                        int64_t limit, int64_t deadline, km_client_range *out);
/* The key alone: out->n is 0 or 1. */
int  km_client_get(km_client *c, const char *key, int64_t deadline, km_client_range *out);
/* Every key starting with prefix, at rev (0: latest). */
int  km_client_range_prefix(km_client *c, const char *prefix, int64_t rev,
                            int64_t deadline, km_client_range *out);
void km_client_range_free(km_client_range *r);

/* Writes key = value (lease 0: none). *rev (may be NULL): the new revision. */
int  km_client_put(km_client *c, const void *key, size_t key_len, const void *value,
                   size_t value_len, int64_t lease, int64_t deadline, int64_t *rev);
/* Deletes key, or every key starting with it when prefix. *deleted and *rev
 * may be NULL. */
int  km_client_delete(km_client *c, const char *key, bool prefix, int64_t deadline,
                      int64_t *deleted, int64_t *rev);

/* A transaction of the simple form "if every compare holds then ops else ops". */
typedef enum { KM_CLIENT_CMP_EQUAL, KM_CLIENT_CMP_GREATER, KM_CLIENT_CMP_LESS, KM_CLIENT_CMP_NOT_EQUAL } km_client_cmp_op;
typedef enum { KM_CLIENT_TGT_VERSION, KM_CLIENT_TGT_CREATE, KM_CLIENT_TGT_MOD, KM_CLIENT_TGT_VALUE } km_client_cmp_target;
typedef struct {
    const char          *key;       /* NUL-terminated */
    km_client_cmp_op     op;
    km_client_cmp_target target;
    int64_t              num;       /* version or revision targets */
    const char          *value;     /* KM_CLIENT_TGT_VALUE; NUL-terminated */
} km_client_cmp;
typedef enum { KM_CLIENT_OP_PUT, KM_CLIENT_OP_DELETE, KM_CLIENT_OP_DELETE_PREFIX } km_client_op_type;
typedef struct {
    km_client_op_type type;
    const char       *key;          /* NUL-terminated */
    const void       *value;        /* KM_CLIENT_OP_PUT */
    size_t            value_len;
} km_client_op;
/* *succeeded (may be NULL): whether the then branch ran; *rev (may be NULL):
 * the store's revision after it. */
int  km_client_txn(km_client *c, const km_client_cmp *cmp, size_t ncmp,
                   const km_client_op *then_ops, size_t nthen,
                   const km_client_op *else_ops, size_t nelse,
                   int64_t deadline, bool *succeeded, int64_t *rev);

/* Discards the history before rev. */
int  km_client_compact(km_client *c, int64_t rev, int64_t deadline);

/* Leases: grant (ttl seconds; *id and *granted_ttl may be NULL), one
 * keep-alive (-ENOENT once the lease expired; *ttl may be NULL), revoke. */
int  km_client_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                           int64_t *granted_ttl);
int  km_client_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl);
int  km_client_lease_revoke(km_client *c, int64_t id, int64_t deadline);

/* Keeps a lease alive from a goroutine of its own, every ttl/3, until
 * km_client_lease_keeper_stop (which waits for it). The lease stays alive
 * across endpoint failover; a lease that expired ends the keeper.
 * 0, -ENOMEM or km_go's errors. */
typedef struct km_client_lease_keeper km_client_lease_keeper;
int  km_client_lease_keeper_start(km_client *c, int64_t id, int64_t ttl,
                                  km_client_lease_keeper **out);
/* 0 while the lease is kept; -ENOENT once it expired. Stops and frees k. */
int  km_client_lease_keeper_stop(km_client_lease_keeper *k);

/* ---- watch ---- */

typedef enum { KM_CLIENT_PUT = 0, KM_CLIENT_DELETE = 1 } km_client_event_type;

typedef struct {
    km_client_event_type type;
    km_client_kv         kv;        /* for a delete: key and mod_revision only */
    km_client_kv         prev_kv;   /* with prev_kv asked and known; else zeroed */
} km_client_event;

typedef struct {
    const char *key;            /* NUL-terminated */
    bool        prefix;         /* every key starting with key */
    const char *range_end;      /* or [key, range_end); NULL: key alone */
    int64_t     start_revision; /* 0: changes after now; else replays from it */
    bool        prev_kv;
    /* A stream silent for this long is taken as dead and reconnected; the
     * server sends progress notifications after each idle interval of its
     * own (`kumo serve --progress-interval`, 10 min by default), so set this
     * to about three of them. 0: 30 min. */
    int64_t     idle_timeout;
    /* true: no reconnection; a transport error or the end of the stream ends
     * the watch (km_client_watch_next returns it from then on). */
    bool        no_resume;
} km_client_watch_opts;

/* A watch that reconnects by itself (to the next endpoint, with a bounded
 * backoff) after a dropped connection, a dead stream or a server restart,
 * resuming from the last revision it delivered: every event is handed to
 * the caller exactly once, in revision order. Used by one goroutine. */
typedef struct km_client_watch km_client_watch;

/* Opens the watch; the first stream is dialled lazily by the first
 * km_client_watch_next. The caller owns *out. 0, -EINVAL, -ENOMEM. */
int  km_client_watch_open(km_client *c, const km_client_watch_opts *o, km_client_watch **out);

/* Waits for the next events: 0 with *ev and *n (at least one event; they
 * stay valid until the next call or close). -ETIMEDOUT once deadline passes
 * (the watch keeps its place: call again); -ECANCELED; -ENODATA when the
 * history it needs was compacted: *compact_rev (may be NULL) tells the
 * compaction revision, the watch is over and the caller re-lists (the
 * informer does that itself); -ENOMEM. Transport errors are never
 * returned: they cause a reconnection. */
int  km_client_watch_next(km_client_watch *w, int64_t deadline,
                          const km_client_event **ev, size_t *n, int64_t *compact_rev);

/* Revision of the last event delivered (0: none yet). */
int64_t km_client_watch_revision(const km_client_watch *w);
/* Streams opened so far (1 + reconnections), for tests and metrics. */
int64_t km_client_watch_streams(const km_client_watch *w);
/* Closes the stream and frees w. */
void km_client_watch_close(km_client_watch *w);

/* ---- informer ---- */

/* The informer's cache: an immutable, sorted snapshot of the prefix,
 * reference-counted. Readers take one with km_informer_current and release it;
 * they never block the informer, which publishes a new view per batch of
 * events by swapping a pointer. */
typedef struct km_informer_view km_informer_view;

/* Keys in the view and the revision it reflects. */
size_t  km_informer_view_len(const km_informer_view *v);
int64_t km_informer_view_revision(const km_informer_view *v);
/* The i-th kv in key order (i < len); owned by the view. */
const km_client_kv *km_informer_view_at(const km_informer_view *v, size_t i);
/* The kv of key, or NULL. */
const km_client_kv *km_informer_view_get(const km_informer_view *v, const char *key,
                                         size_t key_len);
/* Releases a view taken with km_informer_current. */
void    km_informer_view_release(km_informer_view *v);

typedef struct km_informer km_informer;

/* Handlers run on the informer's goroutine, in revision order, after the
 * view containing the change was published. kvs are valid during the call. */
typedef struct {
    void (*on_add)(void *ud, const km_client_kv *kv);
    void (*on_update)(void *ud, const km_client_kv *old_kv, const km_client_kv *new_kv);
    void (*on_delete)(void *ud, const km_client_kv *old_kv);
    /* The cache reflects the server (after each list, re-list included), or
     * was loaded from the snapshot file (from_snapshot true) while no
     * endpoint answers. */
    void (*on_synced)(void *ud, bool from_snapshot);
    void *ud;
} km_informer_handlers;

typedef struct {
    const char *prefix;              /* NUL-terminated; copied */
    km_informer_handlers handlers;
    const char *snapshot_path;       /* NULL: none. Else the cache is saved
                                        there (atomically) after changes and
                                        loaded at start if no endpoint answers */
    int64_t     snapshot_interval;   /* ns between saves; 0: 1 s */
    int64_t     idle_timeout;        /* as in km_client_watch_opts */
    int64_t     retry_interval;      /* ns between failed lists; 0: 200 ms */
} km_informer_config;

/* Starts the informer in a goroutine of its own: list (at a revision), then
 * watch from the next one; re-lists on compaction and emits the
 * differences. The caller owns *out. 0, -EINVAL, -ENOMEM, km_go's errors. */
int  km_informer_start(km_client *c, const km_informer_config *cfg, km_informer **out);
/* The current view (never NULL; empty before the first list). Never blocks
 * behind the informer. The caller releases it. */
km_informer_view *km_informer_current(km_informer *inf);
/* True once the cache reflected the server at least once. */
bool km_informer_has_synced(const km_informer *inf);
/* True while the cache comes from the snapshot file and the server has not
 * answered yet. */
bool km_informer_from_snapshot(const km_informer *inf);
/* Waits until has_synced (or the snapshot was loaded, when
 * allow_snapshot). 0, -ETIMEDOUT, -ECANCELED. */
int  km_informer_wait_synced(km_informer *inf, bool allow_snapshot, int64_t deadline);
/* Re-lists done because of compaction (for tests and metrics). */
int64_t km_informer_relists(const km_informer *inf);
/* Writes the snapshot file now. 0, -EINVAL (no path), or I/O errors. */
int  km_informer_save(km_informer *inf);
/* Stops the goroutine (saving the snapshot once more), waits for it and
 * frees inf. Views still held stay valid until released. */
void km_informer_stop(km_informer *inf);

/* ---- namespace configuration (releases, gray releases) ---- */

/* One item of a configuration. key and value are NUL-terminated (their
 * lengths given as well) and belong to the configuration. */
typedef struct {
    const char *key;
    size_t      key_len;
    const char *value;
    size_t      value_len;
} km_ns_item;

/* An instance's effective configuration of a namespace, as the server
 * serves it (docs/API.md, "Namespaces and releases"): immutable and
 * reference-counted; every string and the items belong to it. */
typedef struct {
    const char       *ns;           /* "APP/NAME" */
    const char       *format;       /* "json", "yaml", "properties" or "text" */
    int64_t           release;      /* the release id */
    const char       *name;         /* the release's name */
    const char       *gray;         /* the gray release's name; NULL: the main release */
    int64_t           revision;     /* the store's revision when it was read */
    int64_t           mod_revision; /* the revision that published this version */
    size_t            nitems;
    const km_ns_item *items;        /* sorted by key (bytewise) */
    void             *priv_;
} km_ns_config;

/* The item called key (NUL-terminated), or NULL. Binary search. */
const km_ns_item *km_ns_config_get(const km_ns_config *cfg, const char *key);
/* Takes one more reference to cfg (to keep the one on_change is given);
 * returns cfg. */
const km_ns_config *km_ns_config_ref(const km_ns_config *cfg);
/* Drops a reference (km_ns_follower_current's, km_ns_config_ref's); NULL
 * is fine. Frees cfg with the last one. */
void km_ns_config_release(const km_ns_config *cfg);

/* A config follower keeps one instance's effective configuration of one
 * namespace: the configuration served at GET /api/v1/ns/APP/NAME/config,
 * followed by a Server-Sent Events stream (.../config/watch) from a
 * goroutine of its own. Each time the release the instance sees changes
 * (publish, promote, rollback, a gray release that starts or stops
 * selecting it) the whole configuration is swapped at once: a reader
 * holds either the old one or the new one, never a mix. A stream that
 * breaks, ends or stays silent past idle_timeout is reopened (to the next
 * endpoint on transport errors) after a backoff (50 ms doubling to 1 s,
 * full jitter) and starts with the current configuration, so a follower
 * catches up with whatever it missed; a namespace without a release yet
 * (404) is asked again the same way. The stream is HTTP/1.1, over the
 * client's TLS when it has one. Safe to share between goroutines. */
typedef struct km_ns_follower km_ns_follower;

typedef struct {
    const char *ns;             /* "APP/NAME" (required; copied) */
    const char *labels;         /* the instance's labels "k=v,..."; NULL: none; copied */
    const char *ip;             /* the instance's address for IP rules; NULL: the
                                   address the server sees the connection from */
    const char *token;          /* with authentication on: a token (as the
                                   Authorization header takes it); NULL: none; copied */
    /* Called on the follower's goroutine after each switch, once cfg is
     * what km_ns_follower_current returns; cfg is valid during the call
     * (km_ns_config_ref keeps it). Optional. */
    void      (*on_change)(void *ud, const km_ns_config *cfg);
    void       *ud;
    int64_t     idle_timeout;   /* ns of silence before the stream is taken as
                                   dead (the server comments every 15 s); 0: 45 s */
} km_ns_follow_config;

/* Starts following. Nothing is held until the first configuration came.
 * The caller owns *out (km_ns_follower_stop). 0, -EINVAL (no ns, not
 * APP/NAME, labels or ip too long), -ENOMEM, km_go's errors. */
int  km_ns_follow(km_client *c, const km_ns_follow_config *cfg, km_ns_follower **out);
/* The configuration held now, with a reference the caller drops with
 * km_ns_config_release; NULL before the first. Never blocks behind the
 * follower (it swaps a pointer). */
const km_ns_config *km_ns_follower_current(km_ns_follower *f);
/* Waits until the configuration held is release (> 0), or until any is
 * held (release 0). A switch back to a lower id (a gray release abandoned:
 * main again) is waited for by its id as well. 0; -ETIMEDOUT once
 * deadline passed; -ECANCELED; the error that ended the follower: -EINVAL
 * (the server refused the request: bad labels or ip), -EACCES (401 or 403:
 * no token, a bad one, or not allowed to read the namespace). */
int  km_ns_follower_wait(km_ns_follower *f, int64_t release, int64_t deadline);
/* Streams opened so far (1 + reopened ones), for tests and metrics. */
int64_t km_ns_follower_streams(const km_ns_follower *f);
/* Stops the goroutine, waits for it and frees f. Configurations still
 * held stay valid until released. */
void km_ns_follower_stop(km_ns_follower *f);

/* ---- snapshot file (used by the informer; public for tools) ---- */

/* Writes kvs with their revision to path: a temporary file in the same
 * directory, fsync, rename over path, fsync of the directory. Blocking I/O
 * runs on the offload pool. 0 or -errno. */
int  km_client_snapshot_write(const char *path, int64_t revision, const km_client_kv *kvs,
                              size_t n);
/* Replaces the file at path with n bytes at p the same atomic way (readers
 * see the old content or the new, never a mix). 0 or -errno. */
int  km_client_write_atomic(const char *path, const void *p, size_t n);
/* Reads a snapshot file: *rev and a range result the caller frees with
 * km_client_range_free. -ENOENT, -EBADMSG (corrupt), -ENOMEM, -errno. */
int  km_client_snapshot_read(const char *path, km_client_range *out);

#ifdef __cplusplus
}
#endif
#endif
