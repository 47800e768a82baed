/* SPDX-License-Identifier: MIT */
/* Series: lock-free lookup by label values, creation, shard layout. */
#include "metrics-int.h"
#include <stdarg.h>

#define MAX_LABELS 32

static uint64_t hash_values(const char *const *v, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;     /* 0xff never occurs in UTF-8 */
    }
    return h;
}

static bool same(const km_series *s, uint64_t h, const char *const *v, size_t n)
{
    if (s->hash != h)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], v[i]))
            return false;
    return true;
}

static km_series *find(km__stab *t, uint64_t h, const char *const *v, size_t n)
{
    if (!t)
        return NULL;
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        km_series *s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (!s || same(s, h, v, n))
            return s;
    }
}

static void put(km__stab *t, km_series *s)
{
    size_t i = s->hash & t->mask;
    while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slot[i], s, memory_order_release);
}

static km__stab *stab_new(size_t cap)
{
    km__stab *t = km__calloc(1, sizeof *t + cap * sizeof t->slot[0]);
    if (t)
        t->mask = cap - 1;
    return t;
}

/* Bytes of one shard: whole cache lines, so two workers never share one. */
static size_t stride_of(const km_metric *m)
{
    size_t words = m->kind == KM__HISTOGRAM ? 1 + m->nbounds + 1 : m->kind == KM__COUNTER ? 2 : 1;
    return (words * sizeof(uint64_t) + KM__LINE - 1) / KM__LINE * KM__LINE;
}

static km_series *series_new(km_metric *m, uint64_t h, const char *const *v)
{
    size_t n = m->nlabels, strs = 0;
    for (size_t i = 0; i < n; i++)
        strs += strlen(v[i]) + 1;
    km_series *s = km__calloc(1, sizeof *s + n * sizeof s->values[0] + strs);
    if (!s)
        return NULL;
    s->m = m;
    s->kind = m->kind;
    s->hash = h;
    char *p = (char *)&s->values[n];
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        memcpy(p, v[i], len);
        s->values[i] = p;
        p += len;
    }
    s->nown = m->reg->nown;
    s->stride = stride_of(m);
    size_t bytes = (size_t)(s->nown + 1) * s->stride;
    s->cells_mem = km__calloc(1, bytes + KM__LINE - 1);
    if (!s->cells_mem) {
        km__free(s);
        return NULL;
    }
    s->cells = (char *)(((uintptr_t)s->cells_mem + KM__LINE - 1) & ~(uintptr_t)(KM__LINE - 1));
    return s;
}

/* Slow path: creates the series under the family's lock, growing the
 * index at half load. */
static km_series *add(km_metric *m, uint64_t h, const char *const *v)
{
    km__lock_acquire(&m->lock);
    km__stab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
    km_series *s = find(t, h, v, m->nlabels);
    if (s)
        goto out;
    if (!t || (m->nseries + 1) * 2 > t->mask + 1) {
        km__stab *nt = stab_new(t ? (t->mask + 1) * 2 : 8);
        if (!nt)
            goto out;
        for (km_series *o = m->all; o; o = o->next)
            put(nt, o);
        nt->retired = t;            /* readers may still be in t */
        atomic_store_explicit(&m->tab, nt, memory_order_release);
        t = nt;
    }
    if ((s = series_new(m, h, v))) {
        s->next = m->all;
        m->all = s;
        m->nseries++;
        put(t, s);
    }
out:
    km__lock_release(&m->lock);
    return s;
}

km_series *km_metric_withv(km_metric *m, const char *const *values)
{
    if (!m || m->fn || (m->nlabels && !values))
        return NULL;
    for (size_t i = 0; i < m->nlabels; i++)
        if (!values[i])
            return NULL;
    uint64_t h = hash_values(values, m->nlabels);
    km_series *s = find(atomic_load_explicit(&m->tab, memory_order_acquire), h, values, m->nlabels);
    return s ? s : add(m, h, values);
}

km_series *km_metric_with(km_metric *m, ...)
{
    if (!m || m->nlabels > MAX_LABELS)
        return NULL;
    const char *v[MAX_LABELS + 1];
    va_list ap;
    va_start(ap, m);
    for (size_t i = 0; i < m->nlabels; i++)
        v[i] = va_arg(ap, const char *);
    va_end(ap);
    return km_metric_withv(m, v);
}

int km__series_init(km_metric *m)
{
    return km_metric_withv(m, NULL) ? 0 : -ENOMEM;
}

void km__series_free_all(km_metric *m)
{
    for (km_series *s = m->all, *n; s; s = n) {
        n = s->next;
        km__free(s->cells_mem);
        km__free(s);
    }
    for (km__stab *t = atomic_load_explicit(&m->tab, memory_order_relaxed), *o; t; t = o) {
        o = t->retired;
        km__free(t);
    }
}

double km__shards_sumd(const km_series *s, size_t off)
{
    double sum = 0;
    for (int i = 0; i <= s->nown; i++) {
        _Atomic uint64_t *w = (_Atomic uint64_t *)(s->cells + (size_t)i * s->stride + off);
        sum += km__bits2d(atomic_load_explicit(w, memory_order_relaxed));
    }
    return sum;
}

uint64_t km__shards_sumu(const km_series *s, size_t off)
{
    uint64_t sum = 0;
    for (int i = 0; i <= s->nown; i++) {
        _Atomic uint64_t *w = (_Atomic uint64_t *)(s->cells + (size_t)i * s->stride + off);
        sum += atomic_load_explicit(w, memory_order_relaxed);
    }
    return sum;
}

double km__counter_shards(const km_series *s)
{
    return km__shards_sumd(s, 0) + (double)km__shards_sumu(s, sizeof(uint64_t));
}
