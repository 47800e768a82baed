/* SPDX-License-Identifier: MIT */
/* Keep-alives coalesced: a lease refreshed upstream less than a third of
 * its TTL ago is answered from memory, so any number of clients keeping
 * one lease alive through this node cost etcd one keep-alive per third of
 * a TTL, as a client alone would send them. */
#include "rt/alloc.h"
#include "etcdb/etcdb-int.h"

#define BUCKETS 1024    /* chains stay short for tens of thousands of leases */

typedef struct kaent {
    struct kaent *next;
    int64_t id, ttl;    /* ttl: seconds, as etcd granted it */
    int64_t sent;       /* when the keep-alive that refreshed it went out */
} kaent;

struct km__kacache {
    pthread_mutex_t mu;
    kaent *b[BUCKETS];
};

static size_t slot(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 54);     /* the top 10 bits: BUCKETS */
}

int km__kacache_new(km__kacache **out)
{
    *out = km__calloc(1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void km__kacache_free(km__kacache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        for (kaent *e = c->b[i], *nx; e; e = nx) {
            nx = e->next;
            km__free(e);
        }
    pthread_mutex_destroy(&c->mu);
    km__free(c);
}

/* Walks id's chain, dropping entries whose lease etcd may have let
 * expire since (no refresh for a whole TTL): they would never be fresh
 * again. Returns id's entry or NULL. Called with mu held. */
static kaent *find(km__kacache *c, int64_t id, int64_t now, int drop_id)
{
    kaent **pp = &c->b[slot(id)], *hit = NULL;
    while (*pp) {
        kaent *e = *pp;
        if ((e->id == id && drop_id) || now - e->sent >= e->ttl * 1000000000LL) {
            *pp = e->next;
            km__free(e);
            continue;
        }
        if (e->id == id)
            hit = e;
        pp = &e->next;
    }
    return hit;
}

bool km__kacache_fresh(km__kacache *c, int64_t id, int64_t now, int64_t *ttl)
{
    pthread_mutex_lock(&c->mu);
    kaent *e = find(c, id, now, 0);
    /* A third of the TTL, as clients pace their own keep-alives: a client
     * answered from here is at most that far behind etcd's countdown, so
     * its next keep-alive still comes with two thirds of the TTL left. */
    bool fresh = e && (now - e->sent) * 3 < e->ttl * 1000000000LL;
    if (fresh && ttl)
        *ttl = e->ttl;
    pthread_mutex_unlock(&c->mu);
    return fresh;
}

void km__kacache_put(km__kacache *c, int64_t id, int64_t ttl, int64_t sent)
{
    if (ttl <= 0)
        return;
    pthread_mutex_lock(&c->mu);
    kaent *e = find(c, id, sent, 0);
    if (!e && (e = km__malloc(sizeof *e))) {
        /* without memory the next keep-alive simply goes upstream too */
        e->id = id;
        e->ttl = 0;
        e->sent = INT64_MIN;
        e->next = c->b[slot(id)];
        c->b[slot(id)] = e;
    }
    if (e && sent >= e->sent) {
        e->ttl = ttl;
        e->sent = sent;
    }
    pthread_mutex_unlock(&c->mu);
}

void km__kacache_drop(km__kacache *c, int64_t id)
{
    pthread_mutex_lock(&c->mu);
    find(c, id, km_now(), 1);
    pthread_mutex_unlock(&c->mu);
}
