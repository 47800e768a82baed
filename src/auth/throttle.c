/* SPDX-License-Identifier: MIT */
/* Failed-login throttling: a token bucket of allowed failures per user
 * and per client address, refilled at a steady rate. The table is bounded:
 * full buckets carry no information and are dropped first. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "auth/auth-int.h"
#include "rt/alloc.h"

/* Past this many tracked names and addresses, full buckets are swept;
 * if none are full the oldest failures are forgotten by resetting. */
#define MAX_BUCKETS 65536

struct km__bucket {
    km__bucket *next;
    uint64_t h;
    double tokens;
    int64_t at;     /* ns of the last refill */
    char key[];     /* "u:NAME" or "a:ADDR" */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int km__throttle_init(km__throttle *t, double burst, double rate)
{
    memset(t, 0, sizeof *t);
    t->nb = 1024, t->burst = burst, t->rate = rate;
    if (!(t->b = km__calloc(t->nb, sizeof *t->b)))
        return -ENOMEM;
    pthread_mutex_init(&t->mu, NULL);
    return 0;
}

static void clear(km__throttle *t, bool all, int64_t now)
{
    for (size_t i = 0; i < t->nb; i++)
        for (km__bucket **pp = &t->b[i]; *pp;) {
            km__bucket *e = *pp;
            if (all || e->tokens + (double)(now - e->at) / 1e9 * t->rate >= t->burst) {
                *pp = e->next;
                km__free(e);
                t->n--;
            } else {
                pp = &e->next;
            }
        }
}

void km__throttle_done(km__throttle *t)
{
    clear(t, true, 0);
    km__free(t->b);
    pthread_mutex_destroy(&t->mu);
}

/* The bucket for kind:name, refilled to now; NULL when absent and !make
 * (a full bucket), or out of memory. */
static km__bucket *get(km__throttle *t, char kind, const char *name, int64_t now, bool make)
{
    char key[320];
    snprintf(key, sizeof key, "%c:%s", kind, name);
    uint64_t h = hash(key);
    km__bucket *e = t->b[h & (t->nb - 1)];
    for (; e; e = e->next)
        if (e->h == h && !strcmp(e->key, key))
            break;
    if (!e) {
        if (!make)
            return NULL;
        if (t->n >= MAX_BUCKETS) {
            clear(t, false, now);
            if (t->n >= MAX_BUCKETS)
                clear(t, true, now);
        }
        size_t n = strlen(key) + 1;
        if (!(e = km__malloc(sizeof *e + n)))
            return NULL;
        memcpy(e->key, key, n);
        e->h = h, e->tokens = t->burst, e->at = now;
        e->next = t->b[h & (t->nb - 1)];
        t->b[h & (t->nb - 1)] = e;
        t->n++;
    }
    e->tokens += (double)(now - e->at) / 1e9 * t->rate;
    if (e->tokens > t->burst)
        e->tokens = t->burst;
    e->at = now;
    return e;
}

bool km__throttle_allow(km__throttle *t, const char *user, const char *addr, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    km__bucket *a = get(t, 'a', addr, now, false), *u = get(t, 'u', user, now, false);
    bool addr_failed = a && a->tokens < t->burst;
    bool ok = !(a && a->tokens < 1) && !(u && u->tokens < 1 && addr_failed);
    pthread_mutex_unlock(&t->mu);
    return ok;
}

void km__throttle_fail(km__throttle *t, const char *user, const char *addr, int64_t now)
{
    pthread_mutex_lock(&t->mu);
    km__bucket *a = get(t, 'a', addr, now, true), *u = get(t, 'u', user, now, true);
    if (a && a->tokens >= 1)
        a->tokens -= 1;
    if (u && u->tokens >= 1)
        u->tokens -= 1;
    pthread_mutex_unlock(&t->mu);
}
