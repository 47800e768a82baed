/* SPDX-License-Identifier: MIT */
/* A watcher: its queue of shared messages, and catching up from the
 * store's history when it starts in the past or falls behind. */
#include <errno.h>
#include <string.h>
#include "rt/rt-int.h"
#include "store/arena.h"
#include "watch/hub-int.h"

/* Events per catch-up message: bounds one answer's size, as etcd does. */
#define CATCHUP_MAX 1000

int km__watch_open(km_hub *h, km_watch_set *set, void *ud, const km_watch_opts *o,
                   km_watch **out, int64_t *created_rev)
{
    if (o->key.n > KM_STORE_MAX_KEY || o->range_end.n > KM_STORE_MAX_KEY)
        return -EMSGSIZE;
    km_watch *w = km__calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    /* A set's watches share its channel: no allocation of their own. */
    if (!set && km_chan_new(&w->wake, 1, 1) < 0) {
        km__free(w);
        return -ENOMEM;
    }
    w->hub = h;
    w->set = set;
    w->ud = ud;
    pthread_mutex_lock(&h->mu);
    w->g = km__group_get(h, o->key, o->range_end, o->flags);
    if (!w->g) {
        pthread_mutex_unlock(&h->mu);
        km_chan_free(w->wake);
        km__free(w);
        return -ENOMEM;
    }
    *created_rev = h->last_rev;
    if (o->start_revision <= 0 || o->start_revision > h->last_rev) {
        /* Nothing to replay: every revision it wants is still to come. */
        w->next_rev = o->start_revision > 0 ? o->start_revision : h->last_rev + 1;
        w->state = W_SYNCED;
        km__hub_link(h, w);
    } else {
        w->next_rev = o->start_revision;
        w->state = W_CATCHING_UP;
        h->st.catching_up++;
        if (set)
            km__watch_ready(w);     /* it has history to read */
    }
    h->st.watchers++;
    pthread_mutex_unlock(&h->mu);
    *out = w;
    return 0;
}

int km_watch_new(km_hub *h, const km_watch_opts *o, km_watch **out, int64_t *created_rev)
{
    return km__watch_open(h, NULL, NULL, o, out, created_rev);
}

void km_watch_free(km_watch *w)
{
    if (!w)
        return;
    km_hub *h = w->hub;
    pthread_mutex_lock(&h->mu);
    if (w->state == W_SYNCED)
        km__hub_unlink(h, w);
    else if (w->state == W_CATCHING_UP)
        h->st.catching_up--;
    km__watch_unready(w);
    km__group_leave(h, w->g);
    h->st.watchers--;
    pthread_mutex_unlock(&h->mu);
    for (uint32_t i = 0; i < w->len; i++)
        km_watch_msg_release(km__watch_q_at(w, i));
    if (w->cap)
        km__free(w->q);
    km_chan_free(w->wake);
    km__free(w);
}

/* Reads history from next_rev; rejoins the group once level with the hub.
 * 0 with *out, 1 when there was nothing to hand over, or -errno. */
static int catch_up(km_watch *w, km_watch_msg **out, int64_t *compact_rev)
{
    km_hub *h = w->hub;
    group *g = w->g;
    km_store_res res = { 0 };
    km_event *ev;
    size_t n;
    int64_t next;
    int rc = km_store_history(h->store, w->next_rev, 0, g->key, g->range_end,
                              (g->flags & KM_WATCH_PREV_KV) != 0, CATCHUP_MAX,
                              &ev, &n, &next, &res);
    if (rc < 0) {
        if (rc == -ENODATA) {
            *compact_rev = res.revision;
            pthread_mutex_lock(&h->mu);
            w->state = W_GONE;
            h->st.catching_up--;
            pthread_mutex_unlock(&h->mu);
        }
        km_store_res_free(&res);
        return rc;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].type == KM_EV_PUT ? !(g->flags & KM_WATCH_NOPUT) : !(g->flags & KM_WATCH_NODELETE))
            k++;
    km_watch_msg *m = NULL;
    if (k) {
        m = km__calloc(1, sizeof *m + k * sizeof(km_event *));
        if (!m) {
            km_store_res_free(&res);
            return -ENOMEM;
        }
        m->ev = (const km_event **)(m + 1);
        for (size_t i = 0; i < n; i++)
            if (ev[i].type == KM_EV_PUT ? !(g->flags & KM_WATCH_NOPUT) : !(g->flags & KM_WATCH_NODELETE))
                m->ev[m->n++] = &ev[i];
        m->revision = res.revision;
        m->last_rev = next - 1;
        m->arena = res.arena;      /* the events live there */
        res.arena = NULL;
        atomic_init(&m->refs, 1);
    }
    km_store_res_free(&res);
    pthread_mutex_lock(&h->mu);
    /* Level with the hub: every revision it fans out from now on is one
     * this read did not see, or one it did (dropped by next_rev). */
    if (h->last_rev <= next - 1) {
        w->state = W_SYNCED;
        h->st.catching_up--;
        km__hub_link(h, w);
    }
    pthread_mutex_unlock(&h->mu);
    w->next_rev = next;
    if (!m)
        return 1;
    *out = m;
    return 0;
}

/* Under the hub lock, after handing out a message: a set's watch with
 * more to hand out goes back on the ready list (behind the others, which
 * keeps one busy watch from starving the rest of its set). A ring that
 * ran empty after a burst is given back. */
static void handed(km_watch *w)
{
    if (w->set && (w->len || w->state != W_SYNCED))
        km__watch_ready(w);
    if (!w->len && w->cap > 4) {
        km__free(w->q);
        w->q = NULL;        /* back to the inline slot */
        w->cap = w->head = 0;
    }
}

bool km__watch_take(km_watch *w, km_watch_msg **out)
{
    if (!w->len)
        return false;
    km_watch_msg *m = km__watch_q_at(w, 0);
    if (m->last_rev < w->next_rev)
        return false;       /* stale: next_msg drops it outside the lock */
    if (w->cap)
        w->head = (w->head + 1) % w->cap;
    else
        w->one = NULL;
    w->len--;
    handed(w);
    w->next_rev = m->last_rev + 1;
    *out = m;
    return true;
}

static int next_msg(km_watch *w, int64_t deadline, bool wait, km_watch_msg **out,
                    int64_t *compact_rev)
{
    km_hub *h = w->hub;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        if (w->len) {
            km_watch_msg *m = km__watch_q_at(w, 0);
            if (w->cap)
                w->head = (w->head + 1) % w->cap;
            else
                w->one = NULL;
            w->len--;
            if (m->last_rev < w->next_rev) {
                pthread_mutex_unlock(&h->mu);
                km_watch_msg_release(m);
                continue;
            }
            handed(w);
            pthread_mutex_unlock(&h->mu);
            w->next_rev = m->last_rev + 1;
            *out = m;
            return 0;
        }
        int state = w->state;
        bool closed = h->closed;
        pthread_mutex_unlock(&h->mu);
        if (closed)
            return -ESHUTDOWN;
        if (state == W_GONE)
            return -ENODATA;
        if (state == W_CATCHING_UP) {
            int rc = catch_up(w, out, compact_rev);
            if (rc == 1)
                continue;
            if (rc == 0 && w->set) {
                pthread_mutex_lock(&h->mu);
                handed(w);
                pthread_mutex_unlock(&h->mu);
            }
            return rc;
        }
        if (!wait)
            return -EAGAIN;
        if (!w->wake)
            return -EINVAL;     /* a set's watch is waited for through its set */
        char tok;
        int rc = km_chan_recv_dl(w->wake, &tok, deadline);
        if (rc < 0)
            return rc;
    }
}

int km_watch_next(km_watch *w, int64_t deadline, km_watch_msg **out, int64_t *compact_rev)
{
    return next_msg(w, deadline, true, out, compact_rev);
}

int km_watch_poll(km_watch *w, km_watch_msg **out)
{
    int64_t unused;
    int rc = next_msg(w, 0, false, out, &unused);
    return rc == 0 ? 0 : -EAGAIN;
}

int km_watch_try(km_watch *w, km_watch_msg **out, int64_t *compact_rev)
{
    return next_msg(w, 0, false, out, compact_rev);
}

int km_watch_progress(km_watch *w, int64_t *rev)
{
    km_hub *h = w->hub;
    pthread_mutex_lock(&h->mu);
    bool level = w->state == W_SYNCED && !w->len;
    *rev = h->last_rev;
    pthread_mutex_unlock(&h->mu);
    return level ? 0 : -EAGAIN;
}

const km_event *const *km_watch_msg_events(const km_watch_msg *m, size_t *n)
{
    *n = m->n;
    return m->ev;
}

int64_t km_watch_msg_revision(const km_watch_msg *m)
{
    return m->revision;
}

int km_watch_msg_encoded(km_watch_msg *m, int fmt, km_watch_enc_fn *enc, void *ud,
                         const char **p, size_t *n)
{
    if (fmt < 0 || fmt >= KM_WATCH_FORMATS)
        return -EINVAL;
    struct encoded *e = atomic_load_explicit(&m->enc[fmt], memory_order_acquire);
    if (!e) {
        struct encoded *mine = km__malloc(sizeof *mine);
        if (!mine)
            return -ENOMEM;
        int rc = enc(m, ud, &mine->p, &mine->n);
        if (rc < 0) {
            km__free(mine);
            return rc;
        }
        /* Two watchers of a group may encode at once; one copy wins. */
        struct encoded *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(&m->enc[fmt], &expected, mine,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            e = mine;
        } else {
            km__free(mine->p);
            km__free(mine);
            e = expected;
        }
    }
    *p = e->p;
    *n = e->n;
    return 0;
}

void km_watch_msg_release(km_watch_msg *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < KM_WATCH_FORMATS; i++) {
        struct encoded *e = atomic_load_explicit(&m->enc[i], memory_order_relaxed);
        if (e) {
            km__free(e->p);
            km__free(e);
        }
    }
    if (m->rev)
        km__revmsg_release(m->rev);
    km__arena_free(m->arena);
    km__free(m);
}
