/* SPDX-License-Identifier: MIT */
/* Hub internals: revision messages, groups, watchers. */
#ifndef KUMO_WATCH_INT_H
#define KUMO_WATCH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <kumo/chan.h>
#include <kumo/hub.h>

/* One revision's events as committed, copied once and shared by every
 * group message cut from it. */
typedef struct revmsg {
    atomic_long refs;
    int64_t     revision;
    size_t      n;
    km_event    ev[];      /* followed by the key and value bytes */
} revmsg;

typedef struct group group;

/* A message's wire form in one format. */
struct encoded { char *p; size_t n; };

/* What a watcher receives: the events of a revmsg matching one group (or a
 * private catch-up batch, rev NULL and events in an arena). */
struct km_watch_msg {
    atomic_long        refs;
    int64_t            revision;      /* header revision */
    int64_t            last_rev;      /* revision of the last event */
    revmsg            *rev;           /* NULL for a catch-up batch */
    struct km__arena  *arena;         /* catch-up batch memory */
    const km_event   **ev;            /* pointers into rev or arena */
    size_t             n;
    _Atomic(struct encoded *) enc[KM_WATCH_FORMATS];
};

enum { W_SYNCED, W_CATCHING_UP, W_GONE };

/* Kept small: a stream may multiplex 100,000 of these. A single pending
 * message sits in the watch itself (cap 0, in `one`): a fan-out to many
 * watchers then allocates nothing per watcher. Only a second pending
 * message allocates the queue ring, which grows to hub->qcap while the
 * consumer lags. */
struct km_watch {
    km_hub       *hub;
    group        *g;
    km_watch     *prev, *next;   /* in g's list while W_SYNCED */
    km_chan      *wake;          /* cap 1: "look at your queue"; NULL in a set */
    km_watch_set *set;           /* NULL: waited for alone */
    void         *ud;            /* the set's name for it */
    km_watch     *rprev, *rnext; /* in set's ready list while ready */
    int64_t       next_rev;      /* first revision not yet handed to the consumer */
    union {                      /* under the hub lock */
        km_watch_msg **q;        /* cap > 0: the queue ring */
        km_watch_msg  *one;      /* cap 0: the message, if len is 1 */
    };
    uint32_t      head, len, cap;
    uint8_t       state;         /* under the hub lock */
    bool          ready;         /* on set's ready list */
};

/* The i-th queued message of w (i < w->len), hub lock held. */
static inline km_watch_msg *km__watch_q_at(const km_watch *w, uint32_t i)
{
    return w->cap ? w->q[(w->head + i) % w->cap] : w->one;
}

/* Watches of one consumer: those with something to hand out are on the
 * ready list (under the hub lock), and the consumer is woken through one
 * channel however many became ready. */
struct km_watch_set {
    km_hub       *hub;
    km_chan      *wake;          /* cap 1 */
    km_watch     *rhead, *rtail; /* ready list, FIFO */
    km_watch_set *prev, *next;   /* hub->sets, for shutdown */
};

struct group {
    group    *next;          /* hash chain (exact key) or range list */
    uint64_t  hash;
    km_bytes  key, range_end;/* owned copies */
    unsigned  flags;
    km_watch *watchers;      /* synced members */
    size_t    nmembers;      /* synced + catching up */
    int64_t   seen_rev;      /* dedupes candidate lookups per revision */
};

struct km_hub {
    km_store       *store;
    km_store_sub   *sub;            /* the hub's place in the store's feed */
    pthread_mutex_t mu;      /* short sections; taken from goroutines only */
    int64_t         last_rev;
    size_t          qcap;
    group         **buckets; /* exact-key groups by hash */
    size_t          nbuckets, nexact;
    group          *ranges;  /* groups with a range_end */
    km_watch_set   *sets;    /* every set, woken at shutdown */
    km_hub_stat     st;
    bool            closed;  /* km_hub_shutdown was called */
};

#endif
