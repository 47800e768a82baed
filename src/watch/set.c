/* SPDX-License-Identifier: MIT */
/* Watch sets: one goroutine waits on many watches through one channel
 * and a list of the watches that have something to hand out. */
#include <errno.h>
#include "rt/rt-int.h"
#include "watch/hub-int.h"

void km__watch_ready(km_watch *w)
{
    km_watch_set *s = w->set;
    char tok = 0;
    if (!s) {
        km_chan_send_dl(w->wake, &tok, 0);  /* already pending: fine */
        return;
    }
    if (w->ready)
        return;
    w->ready = true;
    w->rnext = NULL;
    w->rprev = s->rtail;
    if (s->rtail)
        s->rtail->rnext = w;
    else
        s->rhead = w;
    s->rtail = w;
    /* Only the first ready watch wakes the consumer: it drains the list
     * before it waits again, so later ones need no token of their own. */
    if (!w->rprev)
        km_chan_send_dl(s->wake, &tok, 0);
}

void km__watch_unready(km_watch *w)
{
    km_watch_set *s = w->set;
    if (!s || !w->ready)
        return;
    if (w->rprev)
        w->rprev->rnext = w->rnext;
    else
        s->rhead = w->rnext;
    if (w->rnext)
        w->rnext->rprev = w->rprev;
    else
        s->rtail = w->rprev;
    w->rprev = w->rnext = NULL;
    w->ready = false;
}

int km_watch_set_new(km_hub *h, km_watch_set **out)
{
    km_watch_set *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    if (km_chan_new(&s->wake, 1, 1) < 0) {
        km__free(s);
        return -ENOMEM;
    }
    s->hub = h;
    pthread_mutex_lock(&h->mu);
    s->next = h->sets;
    if (h->sets)
        h->sets->prev = s;
    h->sets = s;
    pthread_mutex_unlock(&h->mu);
    *out = s;
    return 0;
}

void km_watch_set_free(km_watch_set *s)
{
    if (!s)
        return;
    km_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        h->sets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&h->mu);
    km_chan_free(s->wake);
    km__free(s);
}

int km_watch_set_open(km_watch_set *s, const km_watch_opts *o, void *ud, km_watch **out,
                      int64_t *created_rev)
{
    return km__watch_open(s->hub, s, ud, o, out, created_rev);
}

static int closed_or_ready(km_watch_set *s)
{
    km_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    int rc = h->closed ? -ESHUTDOWN : s->rhead ? 1 : 0;
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int km_watch_set_wait(km_watch_set *s, int64_t deadline)
{
    int rc = closed_or_ready(s);
    if (rc)
        return rc < 0 ? rc : 0;
    /* A token sent after that look is still in the channel. */
    char tok;
    if ((rc = km_chan_recv_dl(s->wake, &tok, deadline)) < 0)
        return rc;
    /* The list may be empty (km_watch_set_wake): the caller has news from
     * elsewhere to look at. */
    rc = closed_or_ready(s);
    return rc < 0 ? rc : 0;
}

void km_watch_set_wake(km_watch_set *s)
{
    char tok = 0;
    km_chan_send_dl(s->wake, &tok, 0);
}

km_watch *km_watch_set_next(km_watch_set *s, void **ud)
{
    km_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    km_watch *w = s->rhead;
    if (w) {
        km__watch_unready(w);
        if (ud)
            *ud = w->ud;
    }
    pthread_mutex_unlock(&h->mu);
    return w;
}

km_watch *km_watch_set_take(km_watch_set *s, void **ud, km_watch_msg **m)
{
    km_hub *h = s->hub;
    *m = NULL;
    pthread_mutex_lock(&h->mu);
    km_watch *w = s->rhead;
    if (w) {
        km__watch_unready(w);
        if (ud)
            *ud = w->ud;
        km__watch_take(w, m);
    }
    pthread_mutex_unlock(&h->mu);
    return w;
}

/* Up to which revision w has handed out every event (hub lock held). */
static int64_t handed_upto(const km_hub *h, const km_watch *w)
{
    if (w->state != W_SYNCED)
        return w->next_rev - 1;
    if (!w->len)
        return h->last_rev;
    /* The queue holds whole revisions (catch-up batches never queue). */
    int64_t first = km__watch_q_at(w, 0)->revision;
    return first - 1 < h->last_rev ? first - 1 : h->last_rev;
}

int64_t km_watch_set_revision(km_watch_set *s)
{
    km_hub *h = s->hub;
    pthread_mutex_lock(&h->mu);
    /* Every watch with something pending is on the ready list (a watch
     * handing out a message goes back on it if more remains), so the
     * others are level with the hub. */
    int64_t rev = h->last_rev;
    for (km_watch *w = s->rhead; w; w = w->rnext) {
        int64_t r = handed_upto(h, w);
        if (r < rev)
            rev = r;
    }
    pthread_mutex_unlock(&h->mu);
    return rev;
}
