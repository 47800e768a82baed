/* SPDX-License-Identifier: MIT */
/* Internals of etcd's gRPC Watch stream: its watches by id, and the
 * responses it writes. */
#ifndef KUMO_ETCD_RPC_WATCH_INT_H
#define KUMO_ETCD_RPC_WATCH_INT_H

#include <kumo/chan.h>
#include <kumo/group.h>
#include <kumo/hub.h>
#include "etcd/rpc-int.h"

/* One watch of a stream: what etcd keeps per watch id, and nothing more
 * (a stream may carry a hundred thousand). */
enum { WE_PREV_KV = 1, WE_FRAGMENT = 2, WE_PROGRESS = 4, WE_IDLE = 8 };
typedef struct {
    km_watch *w;
    int64_t   id;
    unsigned  flags;     /* WE_* */
} km__wentry;

/* Watch ids to entries: open addressing, linear probing. */
typedef struct {
    km__wentry **slot;
    size_t       cap, n;  /* cap: a power of two, or 0 */
} km__wtab;

km__wentry *km__wtab_get(const km__wtab *t, int64_t id);
/* Adds e (its id not present). 0, -ENOMEM. */
int         km__wtab_put(km__wtab *t, km__wentry *e);
void        km__wtab_del(km__wtab *t, int64_t id);
/* The i-th slot, for walking every entry (NULL: empty). */
static inline km__wentry *km__wtab_at(const km__wtab *t, size_t i) { return t->slot[i]; }
void        km__wtab_free(km__wtab *t);

/* A stream: the writer goroutine owns everything but reqs and rerr. */
typedef struct {
    km_etcd       *e;
    km_grpc_call  *c;
    km_auth_id     who;      /* the stream's caller: each watch is checked as created */
    int            who_err;  /* why the caller has no identity (a bad token), or 0 */
    km_watch_set  *set;
    km_chan       *reqs;     /* reader -> writer: Etcdserverpb__WatchRequest * */
    int            rerr;     /* the reader's end (0: the client half-closed),
                                read after reqs is closed */
    km__wtab       tab;
    int64_t        next_id;  /* etcd counts server-picked ids from 0 */
    size_t         nprogress;/* entries with WE_PROGRESS */
} km__wstream;

/* A response without events: header at rev (0: left out), watch_id, and
 * the flags given; reason NULL or a cancel reason. 0 or km_grpc_send's
 * error. */
int km__wstream_ctl(km__wstream *s, int64_t rev, int64_t id, bool created, bool canceled,
                    int64_t compact_rev, const char *reason);
/* Sends m's events to e's client: the message's encoding shared by its
 * group with e's id spliced in, or fragments when e asked for them and
 * the response is over etcd's limit. 0, -ENOMEM, km_grpc_send's errors. */
int km__wstream_events(km__wstream *s, km__wentry *e, km_watch_msg *m);

#endif
