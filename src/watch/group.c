/* SPDX-License-Identifier: MIT */
/* Watch groups: watchers with the same range and options, found by hash
 * (single keys) or on a list (ranges, usually few prefixes). */
#include <string.h>
#include "rt/rt-int.h"
#include "watch/hub-int.h"

static bool same(km_bytes a, km_bytes b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static bool dup_bytes(km_bytes *dst, km_bytes src)
{
    uint8_t *p = km__malloc(src.n ? src.n : 1);
    if (!p)
        return false;
    if (src.n)
        memcpy(p, src.p, src.n);
    dst->p = p;
    dst->n = src.n;
    return true;
}

/* Doubles the bucket array when exact groups outnumber buckets; a failed
 * allocation just leaves chains longer. */
static void grow(km_hub *h)
{
    size_t nb = h->nbuckets * 2;
    group **b = km__calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < h->nbuckets; i++)
        for (group *g = h->buckets[i], *nx; g; g = nx) {
            nx = g->next;
            g->next = b[g->hash & (nb - 1)];
            b[g->hash & (nb - 1)] = g;
        }
    km__free(h->buckets);
    h->buckets = b;
    h->nbuckets = nb;
}

group *km__group_get(km_hub *h, km_bytes key, km_bytes end, unsigned flags)
{
    uint64_t hs = km__hub_hash(key);
    group **head = end.n ? &h->ranges : &h->buckets[hs & (h->nbuckets - 1)];
    for (group *g = *head; g; g = g->next)
        if (g->flags == flags && same(g->key, key) && same(g->range_end, end)) {
            g->nmembers++;
            return g;
        }
    group *g = km__calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (!dup_bytes(&g->key, key) || !dup_bytes(&g->range_end, end)) {
        km__free((void *)g->key.p);
        km__free(g);
        return NULL;
    }
    g->hash = hs;
    g->flags = flags;
    g->nmembers = 1;
    g->next = *head;
    *head = g;
    h->st.groups++;
    if (!end.n && ++h->nexact > h->nbuckets)
        grow(h);
    return g;
}

void km__group_leave(km_hub *h, group *g)
{
    if (--g->nmembers)
        return;
    group **pp = g->range_end.n ? &h->ranges : &h->buckets[g->hash & (h->nbuckets - 1)];
    while (*pp != g)
        pp = &(*pp)->next;
    *pp = g->next;
    if (!g->range_end.n)
        h->nexact--;
    h->st.groups--;
    km__free((void *)g->key.p);
    km__free((void *)g->range_end.p);
    km__free(g);
}

void km__hub_link(km_hub *h, km_watch *w)
{
    (void)h;
    group *g = w->g;
    w->prev = NULL;
    w->next = g->watchers;
    if (g->watchers)
        g->watchers->prev = w;
    g->watchers = w;
}

void km__hub_unlink(km_hub *h, km_watch *w)
{
    (void)h;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->g->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}
