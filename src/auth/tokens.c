/* SPDX-License-Identifier: MIT */
/* The token table: simple tokens (etcd's form, 16 random letters, a dot
 * and a sequence number) and JWTs already verified, to user and expiry.
 * A chained hash table under one mutex: a lookup is a hash and a compare,
 * far below the cost of the request it authorises. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "auth/auth-int.h"
#include "rt/alloc.h"

struct km__tok {
    km__tok *next;
    uint64_t h;
    int64_t expires, ttl;   /* ttl 0: fixed expiry (JWT) */
    bool banned;            /* a revoked JWT, refused until it expires */
    char user[256];
    size_t n;
    char text[];
};

/* FNV-1a's step over 8 bytes at a time, then a final mix: a JWT is a
 * few hundred bytes, and a byte at a time costs a multiply's latency per
 * byte on every request. */
static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 1099511628211ull;
    }
    for (; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

int km__toktab_init(km__toktab *t)
{
    memset(t, 0, sizeof *t);
    t->nb = 64;
    if (!(t->b = km__calloc(t->nb, sizeof *t->b)))
        return -ENOMEM;
    pthread_mutex_init(&t->mu, NULL);
    return 0;
}

void km__toktab_done(km__toktab *t)
{
    for (size_t i = 0; i < t->nb; i++)
        for (km__tok *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            km__free(e);
        }
    km__free(t->b);
    pthread_mutex_destroy(&t->mu);
}

/* Drops expired entries; called as the table grows, so it stays the size
 * of the tokens alive. */
static void sweep(km__toktab *t, int64_t now)
{
    for (size_t i = 0; i < t->nb; i++)
        for (km__tok **pp = &t->b[i]; *pp;) {
            km__tok *e = *pp;
            if (e->expires <= now) {
                *pp = e->next;
                km__free(e);
                t->n--;
            } else {
                pp = &e->next;
            }
        }
    t->swept_at = t->n;
}

static void grow(km__toktab *t)
{
    size_t nb = t->nb * 2;
    km__tok **b = km__calloc(nb, sizeof *b);
    if (!b)
        return;     /* longer chains, still correct */
    for (size_t i = 0; i < t->nb; i++)
        for (km__tok *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
        }
    km__free(t->b);
    t->b = b, t->nb = nb;
}

int km__toktab_put(km__toktab *t, const char *tok, size_t n, const char *user, int64_t now,
                   int64_t expires, int64_t ttl, bool banned)
{
    km__tok *e = km__malloc(sizeof *e + n);
    if (!e)
        return -ENOMEM;
    e->h = hash(tok, n);
    e->expires = expires, e->ttl = ttl, e->n = n, e->banned = banned;
    memcpy(e->text, tok, n);
    snprintf(e->user, sizeof e->user, "%s", user);
    pthread_mutex_lock(&t->mu);
    if (t->n >= 2 * t->swept_at + 64)
        sweep(t, now);
    if (t->n >= t->nb)
        grow(t);
    e->next = t->b[e->h & (t->nb - 1)];
    t->b[e->h & (t->nb - 1)] = e;
    t->n++;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static km__tok **find(km__toktab *t, const char *tok, size_t n)
{
    uint64_t h = hash(tok, n);
    for (km__tok **pp = &t->b[h & (t->nb - 1)]; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && (*pp)->n == n && !memcmp((*pp)->text, tok, n))
            return pp;
    return NULL;
}

int km__toktab_get(km__toktab *t, const char *tok, size_t n, int64_t now, char *user)
{
    int ok = 0;
    pthread_mutex_lock(&t->mu);
    km__tok **pp = find(t, tok, n);
    if (pp && (*pp)->expires > now) {
        km__tok *e = *pp;
        if (e->banned) {
            ok = -1;
        } else {
            if (e->ttl)
                e->expires = now + e->ttl;
            memcpy(user, e->user, strlen(e->user) + 1);
            ok = 1;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

bool km__toktab_del(km__toktab *t, const char *tok, size_t n)
{
    pthread_mutex_lock(&t->mu);
    km__tok **pp = find(t, tok, n), *e = pp ? *pp : NULL;
    if (e) {
        *pp = e->next;
        t->n--;
    }
    pthread_mutex_unlock(&t->mu);
    km__free(e);
    return e != NULL;
}

static void del_matching(km__toktab *t, const char *user)
{
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nb; i++)
        for (km__tok **pp = &t->b[i]; *pp;) {
            km__tok *e = *pp;
            if (!user || !strcmp(e->user, user)) {
                *pp = e->next;
                km__free(e);
                t->n--;
            } else {
                pp = &e->next;
            }
        }
    pthread_mutex_unlock(&t->mu);
}

void km__toktab_del_user(km__toktab *t, const char *user) { del_matching(t, user); }
void km__toktab_clear(km__toktab *t) { del_matching(t, NULL); }
