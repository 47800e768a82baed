/* SPDX-License-Identifier: MIT */
/* The store's backend interface: what a backend implements (the ops
 * table), the handle every backend starts with, and the change feed it
 * publishes to. src/store/store.c dispatches the public calls through it. */
#ifndef KUMO_STORE_INT_H
#define KUMO_STORE_INT_H

#include <kumo/store.h>
#include <pthread.h>
#include <stdatomic.h>
#include "store/arena.h"

/* Subscribers of one store. The array a publisher reads is immutable:
 * subscribing or unsubscribing builds a new one and swaps it in, so a
 * publisher never waits for a subscriber's bookkeeping. */
typedef struct km__subs {
    size_t n;
    km_store_sub *v[];
} km__subs;

typedef struct {
    _Atomic(km__subs *) subs;    /* NULL: nobody listens */
    atomic_ulong        gen;     /* odd while a publish runs */
    pthread_mutex_t     lock;    /* orders subscribers among themselves */
} km__feed;

/* The functions of a backend. Each takes the handle the backend's open
 * returned (its own struct, starting with a km_store) and keeps the
 * contract documented in <kumo/store.h> for the public call of the same
 * name. A backend without a facility returns -EOPNOTSUPP from it. */
typedef struct {
    const char *name;
    void    (*close)(km_store *s);
    int     (*txn)(km_store *s, const km_txn_req *req, km_store_res *res);
    int     (*compact)(km_store *s, int64_t rev, int64_t *revision);
    int     (*stat_read)(km_store *s, km_store_stat *st);
    int64_t (*revision)(km_store *s);
    int     (*hash_kv)(km_store *s, int64_t rev, uint32_t *hash, int64_t *revision,
                       int64_t *compact_revision);
    int     (*hash)(km_store *s, uint32_t *hash, int64_t *revision);
    int     (*snapshot)(km_store *s, int fd);
    int     (*snapshot_file)(km_store *s, int *fd, int64_t *size);
    int     (*lease_grant)(km_store *s, int64_t id, int64_t ttl, int64_t *out_id,
                           int64_t *revision);
    int     (*lease_revoke)(km_store *s, int64_t id, int64_t *revision);
    int     (*lease_keepalive)(km_store *s, int64_t id, int64_t *ttl);
    int     (*lease_ttl)(km_store *s, int64_t id, bool keys, km_lease_info *out,
                         km_store_res *res);
    int     (*lease_list)(km_store *s, int64_t **ids, size_t *n, km_store_res *res);
    int     (*history)(km_store *s, int64_t from, int64_t to, km_bytes key,
                       km_bytes range_end, bool with_prev, size_t max, km_event **ev,
                       size_t *n, int64_t *next, km_store_res *res);
    /* NULL: the backend has no cluster to pass calls to */
    int     (*call)(km_store *s, const char *method, int flags,
                    const struct ProtobufCMessage *req,
                    const struct ProtobufCMessageDescriptor *d,
                    struct ProtobufCMessage **rep, km_store_status *st);
} km__store_ops;

struct km_store {
    const km__store_ops *ops;
    km__feed             feed;
};

/* Sets up the common part of a backend's handle. */
void km__store_init(km_store *s, const km__store_ops *ops);
/* Releases it, once no publish can run and every subscriber has left. */
void km__store_fini(km_store *s);

/* Delivers one revision's events to every subscriber, in subscription
 * order. One publisher per store (the backend's apply path), which calls
 * it once per revision, in revision order, after the revision is durable. */
void km__feed_publish(km_store *s, int64_t rev, const km_event *ev, size_t n);

/* ---- backends ---- */

/* The embedded LMDB store in cfg->dir (src/lmdb/). */
int  km__lmdb_open(km_store **out, const km_store_config *cfg);
/* The store in an etcd cluster, cfg->backend "etcd://HOST:PORT,..."
 * (src/etcdb/). -EINVAL (a malformed list), -EHOSTUNREACH or -ETIMEDOUT
 * (no member answered), -ENOMEM. */
#define KM__ETCDB_SCHEME "etcd://"
int  km__etcdb_open(km_store **out, const km_store_config *cfg);

#endif
