/* SPDX-License-Identifier: MIT */
/* Keyed rate limiter: a bounded table of token buckets in 64 locked shards. */
#include "resil/resil-int.h"
#include <string.h>

#define NSHARDS 64

typedef struct {
    uint64_t        hash;
    int32_t         next;           /* chain, or free list; -1 ends */
    uint8_t         klen;
    bool            used;
    _Atomic int64_t tat;
    char            key[KM_RATELIMIT_KEY_MAX];
} entry;

/* A shard's lock guards a hash lookup and a few stores: never held across
 * anything that blocks. Padded so shards do not share cache lines. */
typedef struct {
    _Alignas(64) km__lock lock;
    int32_t  free;              /* free list head */
    int32_t  len;
    entry   *e;                 /* cap entries */
    int32_t *head;              /* nb chain heads */
} shard;

struct km_ratelimit_keyed {
    shard     sh[NSHARDS];
    int32_t   cap, nb;          /* entries and chain heads per shard */
    int64_t   interval, tau;
    km__clock clock;
    entry    *entries;
    int32_t  *heads;
};

static uint64_t hash_key(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    /* FNV's high bits mix poorly; the shard comes from them. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int km_ratelimit_keyed_new(km_ratelimit_keyed **out, const km_ratelimit_keyed_config *cfg)
{
    if (!out || !cfg || cfg->max_keys < 0)
        return -EINVAL;
    km_ratelimit_keyed *k = km__calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    int rc = km__gcra_params(cfg->rate, cfg->burst, &k->interval, &k->tau);
    if (rc) {
        km__free(k);
        return rc;
    }
    int max = cfg->max_keys ? cfg->max_keys : 10000;
    k->cap = (max + NSHARDS - 1) / NSHARDS;
    for (k->nb = 4; k->nb < k->cap * 2; k->nb *= 2)
        ;
    k->clock = (km__clock){ cfg->clock, cfg->clock_ud };
    k->entries = km__calloc((size_t)k->cap * NSHARDS, sizeof(entry));
    k->heads = km__malloc((size_t)k->nb * NSHARDS * sizeof(int32_t));
    if (!k->entries || !k->heads) {
        km_ratelimit_keyed_free(k);
        return -ENOMEM;
    }
    for (int s = 0; s < NSHARDS; s++) {
        shard *sh = &k->sh[s];
        sh->e = k->entries + (size_t)s * k->cap;
        sh->head = k->heads + (size_t)s * k->nb;
        for (int i = 0; i < k->nb; i++)
            sh->head[i] = -1;
        for (int i = 0; i < k->cap; i++)
            sh->e[i].next = i + 1 < k->cap ? i + 1 : -1;
        sh->free = 0;
    }
    *out = k;
    return 0;
}

void km_ratelimit_keyed_free(km_ratelimit_keyed *k)
{
    if (!k)
        return;
    km__free(k->entries);
    km__free(k->heads);
    km__free(k);
}

static void unlink_entry(km_ratelimit_keyed *k, shard *sh, int32_t i)
{
    int32_t *pp = &sh->head[sh->e[i].hash & (uint64_t)(k->nb - 1)];
    while (*pp != i)
        pp = &sh->e[*pp].next;
    *pp = sh->e[i].next;
    sh->e[i].used = false;
    sh->e[i].next = sh->free;
    sh->free = i;
    sh->len--;
}

/* Makes room in a full shard: every bucket that has refilled goes (it is
 * indistinguishable from a new one), else the one closest to full. */
static void evict(km_ratelimit_keyed *k, shard *sh, int64_t now)
{
    int32_t victim = -1;
    int64_t best = INT64_MAX;
    for (int32_t i = 0; i < k->cap; i++) {
        if (!sh->e[i].used)
            continue;
        int64_t tat = atomic_load_explicit(&sh->e[i].tat, memory_order_relaxed);
        if (tat <= now)
            unlink_entry(k, sh, i);
        else if (tat < best)
            best = tat, victim = i;
    }
    if (sh->free < 0)
        unlink_entry(k, sh, victim);
}

int km_ratelimit_keyed_take(km_ratelimit_keyed *k, const void *key, size_t n, int64_t *wait)
{
    uint64_t h = hash_key(key, n);
    size_t kl = n < KM_RATELIMIT_KEY_MAX ? n : KM_RATELIMIT_KEY_MAX;
    shard *sh = &k->sh[h >> 58];
    int64_t now = km__clock_now(&k->clock);
    km__lock_acquire(&sh->lock);
    int32_t *pp = &sh->head[h & (uint64_t)(k->nb - 1)], i;
    for (i = *pp; i >= 0; i = sh->e[i].next)
        if (sh->e[i].hash == h && sh->e[i].klen == kl && !memcmp(sh->e[i].key, key, kl))
            break;
    if (i < 0) {
        if (sh->free < 0)
            evict(k, sh, now);
        i = sh->free;
        entry *e = &sh->e[i];
        sh->free = e->next;
        e->hash = h;
        e->klen = (uint8_t)kl;
        e->used = true;
        memcpy(e->key, key, kl);
        atomic_store_explicit(&e->tat, INT64_MIN / 2, memory_order_relaxed);
        e->next = *pp;          /* eviction may have changed the chain: re-read */
        *pp = i;
        sh->len++;
    }
    int rc = km__gcra_take(&sh->e[i].tat, k->interval, k->tau, now, wait);
    km__lock_release(&sh->lock);
    return rc;
}

int km_ratelimit_keyed_len(km_ratelimit_keyed *k)
{
    int n = 0;
    for (int s = 0; s < NSHARDS; s++) {
        km__lock_acquire(&k->sh[s].lock);
        n += k->sh[s].len;
        km__lock_release(&k->sh[s].lock);
    }
    return n;
}
