/* SPDX-License-Identifier: MIT */
/* The watch hub: fans each store commit out to every matching watcher. */
#ifndef KUMO_HUB_H
#define KUMO_HUB_H

#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Watchers with the same key range and options form a group: a commit is
 * matched once per group and each message is encoded once per group, then
 * shared by reference. A watcher that falls behind (its queue is full) or
 * starts in the past reads the store's history until it is level with the
 * feed, then rejoins its group: nothing is dropped or repeated. */
typedef struct km_hub km_hub;

typedef struct {
    size_t queue;     /* messages a watcher may have pending; 0: 64 */
} km_hub_config;

/* Creates the hub and subscribes it to the store's feed (the store's only
 * subscriber). 0, -ENOMEM, or the store's error reading its revision.
 * The store must outlive the hub. */
int  km_hub_new(km_hub **out, km_store *s, const km_hub_config *cfg);
/* Ends every watch: their waits return -ESHUTDOWN from now on (a server
 * stopping). */
void km_hub_shutdown(km_hub *h);
/* Every watch must have been freed. */
void km_hub_free(km_hub *h);

typedef struct {
    int64_t watchers;      /* open watches */
    int64_t groups;        /* distinct (range, options) */
    int64_t catching_up;   /* reading history (new in the past, or fell behind) */
    int64_t fell_behind;   /* times a watcher's queue overflowed, since start */
    int64_t revision;      /* last revision fanned out */
} km_hub_stat;
void km_hub_stat_read(km_hub *h, km_hub_stat *st);

typedef struct km_watch km_watch;

enum { KM_WATCH_NOPUT = 1, KM_WATCH_NODELETE = 2, KM_WATCH_PREV_KV = 4 };

typedef struct {
    km_bytes key, range_end;   /* as in ranges (copied) */
    int64_t  start_revision;   /* <= 0: changes after the current revision */
    unsigned flags;            /* KM_WATCH_* */
} km_watch_opts;

/* Starts a watch. *created_rev gets the revision it was created at (the
 * header revision of etcd's "created" answer). 0, -EINVAL, -ENOMEM. */
int  km_watch_new(km_hub *h, const km_watch_opts *o, km_watch **out, int64_t *created_rev);
/* Ends the watch and drops what it had pending. */
void km_watch_free(km_watch *w);

/* A message: the events of one revision (or, when catching up, of several)
 * matching the watch, in revision order. Shared between the watchers of a
 * group; read-only. */
typedef struct km_watch_msg km_watch_msg;

/* Waits for the next message until deadline. 0 and *out (release it with
 * km_watch_msg_release); -ETIMEDOUT; -ECANCELED (the calling goroutine's
 * group was cancelled: its client left); -ESHUTDOWN; -ENODATA when the
 * history the watch needs was compacted (*compact_rev gets the compact
 * revision; the watch is over); -ENOMEM, -EIO from the store. */
int  km_watch_next(km_watch *w, int64_t deadline, km_watch_msg **out, int64_t *compact_rev);
/* Like km_watch_next with a deadline already past, but only returns what is
 * queued: 0 or -EAGAIN. For batching writes. */
int  km_watch_poll(km_watch *w, km_watch_msg **out);

/* Like km_watch_poll, with km_watch_next's errors: 0 and *out; -EAGAIN
 * (nothing now); -ENODATA and *compact_rev (compacted away); -ESHUTDOWN;
 * -ENOMEM, -EIO. Reads history when the watch must catch up. */
int  km_watch_try(km_watch *w, km_watch_msg **out, int64_t *compact_rev);
/* 0 and *rev (the hub's revision) when w has handed out every event up to
 * *rev and reads none from history (etcd's "synced" watcher, which may
 * get a progress notification); -EAGAIN when it has some still to hand
 * out. */
int  km_watch_progress(km_watch *w, int64_t *rev);

/* ---- many watches, one waiter ----
 *
 * A set lets one goroutine serve many watches (etcd's gRPC Watch stream
 * multiplexes thousands) without a goroutine, or even a channel, per
 * watch: the hub puts a watch of the set on the set's ready list when a
 * message is queued for it, or when it must read history (it started in
 * the past, fell behind, or was compacted away), and wakes the set's one
 * waiter. The waiter takes ready watches off the list with
 * km_watch_set_next and reads each with km_watch_try; a watch that still
 * has more after a message goes back to the end of the list.
 *
 *     for (;;) {
 *         int rc = km_watch_set_wait(s, deadline);   // -ECANCELED: done
 *         void *ud;
 *         km_watch *w;
 *         while ((w = km_watch_set_next(s, &ud)))
 *             if (km_watch_try(w, &m, &crev) == 0) { send(ud, m); release(m); }
 *     }
 *
 * A set is used by one goroutine at a time, except km_watch_set_wake. */
typedef struct km_watch_set km_watch_set;

/* A set on h (which must outlive it). 0, -ENOMEM. */
int  km_watch_set_new(km_hub *h, km_watch_set **out);
/* Every watch of s must have been freed. NULL is ignored. */
void km_watch_set_free(km_watch_set *s);
/* km_watch_new for a watch of s, known to the set as ud. The watch has no
 * wait of its own (km_watch_next returns -EINVAL instead of waiting);
 * free it with km_watch_free. 0, -EINVAL, -EMSGSIZE, -ENOMEM. */
int  km_watch_set_open(km_watch_set *s, const km_watch_opts *o, void *ud, km_watch **out,
                       int64_t *created_rev);
/* Waits until a watch of s is ready or km_watch_set_wake was called. 0
 * (which may find no watch ready: look at what woke you); -ETIMEDOUT at
 * deadline; -ECANCELED (the calling goroutine's group was cancelled);
 * -ESHUTDOWN (the hub shut down). */
int  km_watch_set_wait(km_watch_set *s, int64_t deadline);
/* Wakes the set's waiter (from any goroutine): how a goroutine that
 * feeds the waiter something else, such as requests, gets its attention. */
void km_watch_set_wake(km_watch_set *s);
/* Takes the first ready watch off the list: the watch and *ud (ud may be
 * NULL), or NULL when none is ready. */
km_watch *km_watch_set_next(km_watch_set *s, void **ud);
/* km_watch_set_next, and in the same hold of the hub's lock the watch's
 * next queued message (*m, the caller releases it) when one is there to
 * hand out; *m NULL: read the watch with km_watch_try as usual. Half the
 * locking per message of a fan-out. */
km_watch *km_watch_set_take(km_watch_set *s, void **ud, km_watch_msg **m);
/* The revision up to which every watch of s has handed out all its
 * events: the hub's revision unless some watch is behind (with messages
 * still queued or history to read). Never ahead of what the waiter has
 * been given: what etcd's progress answer may claim. */
int64_t km_watch_set_revision(km_watch_set *s);

/* The message's events (n of them), in revision order. */
const km_event *const *km_watch_msg_events(const km_watch_msg *m, size_t *n);
/* The store revision the message speaks for (etcd's header revision). */
int64_t km_watch_msg_revision(const km_watch_msg *m);

/* The message's wire form for one format, built by enc the first time any
 * watcher of the group asks, then shared. enc fills *p with memory from
 * the allocator hook (km_set_allocator; the hub frees it with the message)
 * and returns 0 or -ENOMEM.
 * fmt is a small index (0..KM_WATCH_FORMATS-1) naming the encoding. */
#define KM_WATCH_FORMATS 2
typedef int km_watch_enc_fn(const km_watch_msg *m, void *ud, char **p, size_t *n);
int  km_watch_msg_encoded(km_watch_msg *m, int fmt, km_watch_enc_fn *enc, void *ud,
                          const char **p, size_t *n);
void km_watch_msg_release(km_watch_msg *m);

/* ---- handing a watch's messages to a client ---- */

/* What km_watch_stream writes to: the API layer's transport (an HTTP
 * response body, a gRPC stream), which the hub knows only through these
 * callbacks. Each gets ud; each returns 0 or -errno (which ends the
 * stream with that error). */
typedef struct {
    int              fmt;           /* shared encoding slot, or -1: encode per watcher */
    km_watch_enc_fn *enc;           /* one message's wire form */
    void            *ud;
    int            (*write)(void *ud, const char *p, size_t n);
    /* Pushes what was written to the client: after each batch. */
    int            (*flush)(void *ud);
    /* Called after idle_interval (ns) without a message (etcd's progress
     * notification, an SSE comment), then flush; NULL or 0: never. */
    int            (*idle)(void *ud);
    int64_t          idle_interval;
    /* Called once the history the watch needs was compacted, then flush;
     * the stream ends. */
    int            (*compacted)(void *ud, int64_t compact_rev);
} km_watch_sink;

/* Writes each message of w to the sink as it comes, everything already
 * queued in one batch, until the calling goroutine's group is cancelled
 * (the client left: 0), a callback fails (its error), the hub shuts down
 * (-ESHUTDOWN) or the watch is compacted away (0 after compacted). */
int  km_watch_stream(km_watch *w, const km_watch_sink *s);

#ifdef __cplusplus
}
#endif
#endif
