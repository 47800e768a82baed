/* SPDX-License-Identifier: MIT */
/* A Watch stream's watches by id: ids are mostly 0, 1, 2... but a client
 * may pick any, so a hash table rather than an array. */
#include <errno.h>
#include "etcd/rpc-watch-int.h"
#include "rt/rt-int.h"

static size_t home(const km__wtab *t, int64_t id)
{
    return (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15ull) >> 17) & (t->cap - 1);
}

km__wentry *km__wtab_get(const km__wtab *t, int64_t id)
{
    if (!t->cap)
        return NULL;
    for (size_t i = home(t, id);; i = (i + 1) & (t->cap - 1)) {
        km__wentry *e = t->slot[i];
        if (!e || e->id == id)
            return e;
    }
}

static void place(km__wtab *t, km__wentry *e)
{
    size_t i = home(t, e->id);
    while (t->slot[i])
        i = (i + 1) & (t->cap - 1);
    t->slot[i] = e;
}

int km__wtab_put(km__wtab *t, km__wentry *e)
{
    /* Kept at most half full: probes stay short. */
    if ((t->n + 1) * 2 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 8;
        km__wentry **ns = km__calloc(nc, sizeof *ns);
        if (!ns)
            return -ENOMEM;
        km__wentry **old = t->slot;
        size_t oc = t->cap;
        t->slot = ns;
        t->cap = nc;
        for (size_t i = 0; i < oc; i++)
            if (old[i])
                place(t, old[i]);
        km__free(old);
    }
    place(t, e);
    t->n++;
    return 0;
}

void km__wtab_del(km__wtab *t, int64_t id)
{
    if (!t->cap)
        return;
    size_t i = home(t, id);
    while (t->slot[i] && t->slot[i]->id != id)
        i = (i + 1) & (t->cap - 1);
    if (!t->slot[i])
        return;
    t->slot[i] = NULL;
    t->n--;
    /* Backward shift: entries after the hole that probed past it move
     * into it, so lookups never stop early at a hole. */
    for (size_t j = (i + 1) & (t->cap - 1); t->slot[j]; j = (j + 1) & (t->cap - 1)) {
        size_t h = home(t, t->slot[j]->id);
        /* Does h lie cyclically in (i, j]? Then it stays. */
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) {
            t->slot[i] = t->slot[j];
            t->slot[j] = NULL;
            i = j;
        }
    }
}

void km__wtab_free(km__wtab *t)
{
    km__free(t->slot);
    t->slot = NULL;
    t->cap = t->n = 0;
}
