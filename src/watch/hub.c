/* SPDX-License-Identifier: MIT */
/* The hub: takes each commit from the store's feed and queues it, matched
 * once per group, to every synced watcher. */
#include <errno.h>
#include <string.h>
#include "rt/rt-int.h"
#include "watch/watch-int.h"
#include "watch/hub-int.h"

uint64_t km__hub_hash(km_bytes k)
{
    uint64_t h = 1469598103934665603ull;    /* FNV-1a */
    for (size_t i = 0; i < k.n; i++)
        h = (h ^ k.p[i]) * 1099511628211ull;
    return h;
}

static int bytes_cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

bool km__key_in_range(km_bytes key, km_bytes start, km_bytes end)
{
    if (end.n == 0)
        return bytes_cmp(key, start) == 0;
    if (bytes_cmp(key, start) < 0)
        return false;
    if (end.n == 1 && end.p[0] == 0)    /* "\0": every key >= start */
        return true;
    return bytes_cmp(key, end) < 0;
}

static bool event_passes(const km_event *e, unsigned flags)
{
    if (e->type == KM_EV_PUT)
        return !(flags & KM_WATCH_NOPUT);
    return !(flags & KM_WATCH_NODELETE);
}

/* ---- revision messages ---- */

static revmsg *revmsg_copy(int64_t rev, const km_event *ev, size_t n)
{
    size_t bytes = sizeof(revmsg) + n * sizeof(km_event);
    for (size_t i = 0; i < n; i++)
        bytes += ev[i].kv.key.n + ev[i].kv.value.n +
                 (ev[i].has_prev ? ev[i].prev_kv.key.n + ev[i].prev_kv.value.n : 0);
    revmsg *m = km__malloc(bytes);
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    m->revision = rev;
    m->n = n;
    uint8_t *p = (uint8_t *)(m->ev + n);
#define COPY(b) do { if ((b).n) memcpy(p, (b).p, (b).n); (b).p = p; p += (b).n; } while (0)
    for (size_t i = 0; i < n; i++) {
        m->ev[i] = ev[i];
        COPY(m->ev[i].kv.key);
        COPY(m->ev[i].kv.value);
        if (m->ev[i].has_prev) {
            COPY(m->ev[i].prev_kv.key);
            COPY(m->ev[i].prev_kv.value);
        }
    }
#undef COPY
    return m;
}

void km__revmsg_release(revmsg *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        km__free(m);
}

/* The message for group g out of revision rm, or NULL if nothing matches
 * (or memory ran out: the group's watchers then fall behind and read the
 * revision from the store). */
static km_watch_msg *cut(group *g, revmsg *rm, bool *oom)
{
    size_t k = 0;
    for (size_t i = 0; i < rm->n; i++)
        if (event_passes(&rm->ev[i], g->flags) &&
            km__key_in_range(rm->ev[i].kv.key, g->key, g->range_end))
            k++;
    if (!k)
        return NULL;
    km_watch_msg *m = km__calloc(1, sizeof *m + k * sizeof(km_event *));
    if (!m) {
        *oom = true;
        return NULL;
    }
    m->ev = (const km_event **)(m + 1);
    for (size_t i = 0; i < rm->n; i++)
        if (event_passes(&rm->ev[i], g->flags) &&
            km__key_in_range(rm->ev[i].kv.key, g->key, g->range_end))
            m->ev[m->n++] = &rm->ev[i];
    m->revision = m->last_rev = rm->revision;
    m->rev = rm;
    atomic_fetch_add_explicit(&rm->refs, 1, memory_order_relaxed);
    atomic_init(&m->refs, 1);
    return m;
}

/* Room for one more message in w's queue: the inline slot first, then a
 * ring grown (doubling) up to the hub's cap. false when full or out of
 * memory (w then catches up). */
static bool room(km_hub *h, km_watch *w)
{
    uint32_t have = w->cap ? w->cap : 1;
    if (w->len < have)
        return true;
    if (have >= h->qcap)
        return false;
    uint32_t nc = have * 2;
    if (nc > h->qcap)
        nc = (uint32_t)h->qcap;
    km_watch_msg **q = km__malloc(nc * sizeof *q);
    if (!q)
        return false;
    for (uint32_t i = 0; i < w->len; i++)
        q[i] = km__watch_q_at(w, i);
    if (w->cap)
        km__free(w->q);
    w->q = q;
    w->head = 0;
    w->cap = nc;
    return true;
}

/* Queues m to every synced watcher of g; a full queue (or no message for
 * lack of memory) sends the watcher to catch up from the store. */
static void fan_out(km_hub *h, group *g, km_watch_msg *m)
{
    for (km_watch *w = g->watchers, *nx; w; w = nx) {
        nx = w->next;
        if (m && room(h, w)) {
            atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
            if (w->cap)
                w->q[(w->head + w->len) % w->cap] = m;
            else
                w->one = m;
            w->len++;
        } else {
            km__hub_unlink(h, w);
            w->state = W_CATCHING_UP;
            h->st.catching_up++;
            h->st.fell_behind++;
        }
        km__watch_ready(w);
    }
}

static void offer(km_hub *h, group *g, revmsg *rm)
{
    if (g->seen_rev == rm->revision || !g->watchers)
        return;
    g->seen_rev = rm->revision;
    bool oom = false;
    km_watch_msg *m = cut(g, rm, &oom);
    if (m || oom)
        fan_out(h, g, m);
    if (m)
        km_watch_msg_release(m);
}

static void feed(void *ud, int64_t rev, const km_event *ev, size_t n)
{
    km_hub *h = ud;
    revmsg *rm = n ? revmsg_copy(rev, ev, n) : NULL;
    pthread_mutex_lock(&h->mu);
    h->last_rev = rev;
    h->st.revision = rev;
    if (rm) {
        for (size_t i = 0; i < n; i++) {
            uint64_t hs = km__hub_hash(ev[i].kv.key);
            for (group *g = h->buckets[hs & (h->nbuckets - 1)]; g; g = g->next)
                if (g->hash == hs && bytes_cmp(g->key, ev[i].kv.key) == 0)
                    offer(h, g, rm);
        }
        for (group *g = h->ranges; g; g = g->next)
            offer(h, g, rm);
    } else if (n || !ev) {
        /* Out of memory copying the revision, or revisions the store's
         * feed lost: every watcher that might match reads them from the
         * store's history instead (which tells those that are gone). */
        for (size_t b = 0; b < h->nbuckets; b++)
            for (group *g = h->buckets[b]; g; g = g->next)
                fan_out(h, g, NULL);
        for (group *g = h->ranges; g; g = g->next)
            fan_out(h, g, NULL);
    }
    pthread_mutex_unlock(&h->mu);
    if (rm)
        km__revmsg_release(rm);
}

int km_hub_new(km_hub **out, km_store *s, const km_hub_config *cfg)
{
    km_hub *h = km__calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->nbuckets = 64;
    h->buckets = km__calloc(h->nbuckets, sizeof *h->buckets);
    if (!h->buckets) {
        km__free(h);
        return -ENOMEM;
    }
    h->store = s;
    h->qcap = cfg && cfg->queue ? cfg->queue : 64;
    pthread_mutex_init(&h->mu, NULL);
    /* Subscribe first, then read the revision: a commit in between is fed
     * (and dropped by watchers' revision checks), never missed. */
    int rc = km_store_subscribe(s, feed, h, &h->sub);
    if (rc < 0) {
        pthread_mutex_destroy(&h->mu);
        km__free(h->buckets);
        km__free(h);
        return rc;
    }
    km_store_stat st;
    rc = km_store_stat_read(s, &st);
    if (rc < 0) {
        km_hub_free(h);
        return rc;
    }
    pthread_mutex_lock(&h->mu);
    if (st.revision > h->last_rev)
        h->last_rev = h->st.revision = st.revision;
    pthread_mutex_unlock(&h->mu);
    *out = h;
    return 0;
}

static void wake_all(group *g)
{
    for (; g; g = g->next)
        for (km_watch *w = g->watchers; w; w = w->next)
            if (w->wake) {
                char tok = 0;
                km_chan_send_dl(w->wake, &tok, 0);
            }
}

void km_hub_shutdown(km_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->closed = true;
    for (size_t b = 0; b < h->nbuckets; b++)
        wake_all(h->buckets[b]);
    wake_all(h->ranges);
    for (km_watch_set *s = h->sets; s; s = s->next) {
        char tok = 0;
        km_chan_send_dl(s->wake, &tok, 0);
    }
    pthread_mutex_unlock(&h->mu);
}

void km_hub_free(km_hub *h)
{
    if (!h)
        return;
    km_store_unsubscribe(h->store, h->sub);
    pthread_mutex_destroy(&h->mu);
    km__free(h->buckets);
    km__free(h);
}

void km_hub_stat_read(km_hub *h, km_hub_stat *st)
{
    pthread_mutex_lock(&h->mu);
    *st = h->st;
    pthread_mutex_unlock(&h->mu);
}
