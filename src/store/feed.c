/* SPDX-License-Identifier: MIT */
/* The change feed: any number of subscribers, and a publisher that never
 * waits for them to come or go. */
#include <sched.h>
#include <string.h>
#include "rt/alloc.h"
#include "store/store-int.h"

struct km_store_sub {
    km_store_feed_fn *fn;
    void             *ud;
    atomic_bool       gone;   /* unsubscribed while no smaller array could be had */
};

void km__feed_publish(km_store *s, int64_t rev, const km_event *ev, size_t n)
{
    km__feed *f = &s->feed;
    /* gen odd, then load: a swapper that stores a new array and then sees
     * gen even knows this publish reads the new one (both sides are
     * sequentially consistent, so one of them sees the other). */
    atomic_fetch_add(&f->gen, 1);
    km__subs *subs = atomic_load(&f->subs);
    for (size_t i = 0; subs && i < subs->n; i++)
        if (!atomic_load_explicit(&subs->v[i]->gone, memory_order_relaxed))
            subs->v[i]->fn(subs->v[i]->ud, rev, ev, n);
    atomic_fetch_add(&f->gen, 1);
}

/* Waits until a publish that may have read the array before the caller's
 * change has finished. Subscribers never park, so that is one delivery at
 * most. */
static void quiesce(km__feed *f)
{
    unsigned long g = atomic_load(&f->gen);
    if (g & 1)
        while (atomic_load(&f->gen) == g)
            sched_yield();
}

/* Replaces the array with one holding the live subscribers except drop,
 * plus add; frees the old array and the subscribers it silenced. 0 or
 * -ENOMEM (nothing changed). Called with f->lock held. */
static int rebuild(km__feed *f, km_store_sub *add, km_store_sub *drop)
{
    km__subs *cur = atomic_load(&f->subs);
    size_t n = cur ? cur->n : 0, k = 0;
    km__subs *next = NULL;
    if (n + !!add > !!drop) {
        next = km__malloc(sizeof *next + (n + 1) * sizeof next->v[0]);
        if (!next)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (cur->v[i] != drop && !atomic_load(&cur->v[i]->gone))
                next->v[k++] = cur->v[i];
        if (add)
            next->v[k++] = add;
        next->n = k;
        if (!k) {
            km__free(next);
            next = NULL;
        }
    }
    atomic_store(&f->subs, next);
    quiesce(f);
    for (size_t i = 0; i < n; i++)
        if (cur->v[i] != drop && atomic_load(&cur->v[i]->gone))
            km__free(cur->v[i]);
    km__free(cur);
    return 0;
}

int km_store_subscribe(km_store *s, km_store_feed_fn *fn, void *ud, km_store_sub **out)
{
    *out = NULL;
    if (!fn)
        return -EINVAL;
    km_store_sub *sub = km__malloc(sizeof *sub);
    if (!sub)
        return -ENOMEM;
    sub->fn = fn;
    sub->ud = ud;
    atomic_init(&sub->gone, false);
    pthread_mutex_lock(&s->feed.lock);
    int rc = rebuild(&s->feed, sub, NULL);
    pthread_mutex_unlock(&s->feed.lock);
    if (rc) {
        km__free(sub);
        return rc;
    }
    *out = sub;
    return 0;
}

void km_store_unsubscribe(km_store *s, km_store_sub *sub)
{
    if (!sub)
        return;
    km__feed *f = &s->feed;
    pthread_mutex_lock(&f->lock);
    if (rebuild(f, NULL, sub) == 0) {
        km__free(sub);
    } else {
        /* No memory for the smaller array: sub stays in it, silenced,
         * until the next rebuild or the store's close frees it. */
        atomic_store(&sub->gone, true);
        quiesce(f);
    }
    pthread_mutex_unlock(&f->lock);
}

void km__store_init(km_store *s, const km__store_ops *ops)
{
    s->ops = ops;
    atomic_init(&s->feed.subs, NULL);
    atomic_init(&s->feed.gen, 0);
    pthread_mutex_init(&s->feed.lock, NULL);
}

void km__store_fini(km_store *s)
{
    km__subs *cur = atomic_load(&s->feed.subs);
    for (size_t i = 0; cur && i < cur->n; i++)
        if (atomic_load(&cur->v[i]->gone))
            km__free(cur->v[i]);
    km__free(cur);
    pthread_mutex_destroy(&s->feed.lock);
}
