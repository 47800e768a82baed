/* SPDX-License-Identifier: MIT */
/* The informer's immutable views: sorted arrays of shared, reference-counted entries. */
#include <string.h>
#include "client/client-int.h"
#include "rt/rt-int.h"

km__entry *km__entry_new(const km_client_kv *kv)
{
    km__entry *e = km__malloc(sizeof *e + kv->key_len + kv->value_len + 2);
    if (!e)
        return NULL;
    atomic_init(&e->refs, 1);
    e->kv = *kv;
    char *k = e->data, *v = e->data + kv->key_len + 1;
    memcpy(k, kv->key, kv->key_len);
    k[kv->key_len] = 0;
    if (kv->value_len)
        memcpy(v, kv->value, kv->value_len);
    v[kv->value_len] = 0;
    e->kv.key = k;
    e->kv.value = v;
    return e;
}

void km__entry_unref(km__entry *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        km__free(e);
}

int km__key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

km_informer_view *km__view_copy(const km_informer_view *from)
{
    km_informer_view *v = km__calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->refs, 1);
    size_t n = from ? from->n : 0;
    v->cap = n ? n + n / 8 + 4 : 8;
    v->e = km__malloc(v->cap * sizeof *v->e);
    if (!v->e) {
        km__free(v);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        v->e[i] = km__entry_ref(from->e[i]);
    v->n = n;
    v->rev = from ? from->rev : 0;
    return v;
}

void km_informer_view_release(km_informer_view *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    for (size_t i = 0; i < v->n; i++)
        km__entry_unref(v->e[i]);
    km__free(v->e);
    km__free(v);
}

size_t km__view_find(const km_informer_view *v, const char *key, size_t kn, bool *found)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = km__key_cmp(v->e[mid]->kv.key, v->e[mid]->kv.key_len, key, kn);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

km__entry *km__view_set(km_informer_view *v, km__entry *e, int *err)
{
    bool found;
    size_t i = km__view_find(v, e->kv.key, e->kv.key_len, &found);
    *err = 0;
    if (found) {
        km__entry *old = v->e[i];
        v->e[i] = e;
        return old;
    }
    if (v->n == v->cap) {
        size_t nc = v->cap * 2;
        km__entry **ne = km__malloc(nc * sizeof *ne);
        if (!ne) {
            *err = -ENOMEM;
            return NULL;
        }
        memcpy(ne, v->e, v->n * sizeof *ne);
        km__free(v->e);
        v->e = ne;
        v->cap = nc;
    }
    memmove(v->e + i + 1, v->e + i, (v->n - i) * sizeof *v->e);
    v->e[i] = e;
    v->n++;
    return NULL;
}

km__entry *km__view_del(km_informer_view *v, const char *key, size_t kn)
{
    bool found;
    size_t i = km__view_find(v, key, kn, &found);
    if (!found)
        return NULL;
    km__entry *old = v->e[i];
    memmove(v->e + i, v->e + i + 1, (v->n - i - 1) * sizeof *v->e);
    v->n--;
    return old;
}

size_t km_informer_view_len(const km_informer_view *v) { return v->n; }
int64_t km_informer_view_revision(const km_informer_view *v) { return v->rev; }

const km_client_kv *km_informer_view_at(const km_informer_view *v, size_t i)
{
    return i < v->n ? &v->e[i]->kv : NULL;
}

const km_client_kv *km_informer_view_get(const km_informer_view *v, const char *key,
                                         size_t key_len)
{
    bool found;
    size_t i = km__view_find(v, key, key_len, &found);
    return found ? &v->e[i]->kv : NULL;
}
