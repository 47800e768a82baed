/* SPDX-License-Identifier: MIT */
/* The auth state's copies and lookups, and each user's permissions merged
 * into sorted disjoint ranges so that a check is one binary search. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth-int.h"
#include "rt/alloc.h"

void km__auth_user_free(km__user *u)
{
    km__free(u->name);
    km__free(u->hash);
    for (size_t i = 0; i < u->nroles; i++)
        km__free(u->roles[i]);
    km__free(u->roles);
    km__free(u->read.v);
    km__free(u->write.v);
}

static void role_free(km__role *r)
{
    km__free(r->name);
    for (size_t i = 0; i < r->nperms; i++) {
        km__free((void *)r->perms[i].key.p);
        km__free((void *)r->perms[i].end.p);
    }
    km__free(r->perms);
}

void km__auth_state_free(km__auth_state *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nusers; i++)
        km__auth_user_free(&s->users[i]);
    for (size_t i = 0; i < s->nroles; i++)
        role_free(&s->roles[i]);
    km__free(s->users);
    km__free(s->roles);
    km__free(s);
}

static bool dup_bytes(km_bytes in, km_bytes *out)
{
    uint8_t *p = km__malloc(in.n ? in.n : 1);
    if (!p)
        return false;
    if (in.n)
        memcpy(p, in.p, in.n);
    *out = (km_bytes){ p, in.n };
    return true;
}

/* The copy carries names, hashes, roles and permissions; merged ranges
 * are rebuilt by km__auth_merge after the change is made. */
km__auth_state *km__auth_state_copy(const km__auth_state *s)
{
    km__auth_state *c = km__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->enabled = s->enabled;
    c->revision = s->revision;
    /* one spare slot each: a change adds at most one user or role */
    if (!(c->users = km__calloc(s->nusers + 1, sizeof *c->users)) ||
        !(c->roles = km__calloc(s->nroles + 1, sizeof *c->roles)))
        goto fail;
    for (size_t i = 0; i < s->nusers; i++, c->nusers++) {
        const km__user *u = &s->users[i];
        km__user *d = &c->users[i];
        d->no_password = u->no_password;
        if (!(d->name = km__strdup(u->name)) || (u->hash && !(d->hash = km__strdup(u->hash))) ||
            !(d->roles = km__calloc(u->nroles + 1, sizeof *d->roles)))
            goto fail_one;
        for (; d->nroles < u->nroles; d->nroles++)
            if (!(d->roles[d->nroles] = km__strdup(u->roles[d->nroles])))
                goto fail_one;
        continue;
    fail_one:
        c->nusers++;
        goto fail;
    }
    for (size_t i = 0; i < s->nroles; i++, c->nroles++) {
        const km__role *r = &s->roles[i];
        km__role *d = &c->roles[i];
        if (!(d->name = km__strdup(r->name)) ||
            !(d->perms = km__calloc(r->nperms + 1, sizeof *d->perms))) {
            c->nroles++;
            goto fail;
        }
        for (; d->nperms < r->nperms; d->nperms++) {
            km_auth_perm *p = &d->perms[d->nperms];
            p->type = r->perms[d->nperms].type;
            if (!dup_bytes(r->perms[d->nperms].key, &p->key)) {
                c->nroles++;
                goto fail;
            }
            if (!dup_bytes(r->perms[d->nperms].end, &p->end)) {
                km__free((void *)p->key.p);
                c->nroles++;
                goto fail;
            }
        }
    }
    return c;
fail:
    km__auth_state_free(c);
    return NULL;
}

static int name_cmp(const void *k, const void *e)
{
    /* users and roles both begin with their name */
    return strcmp(k, *(char *const *)e);
}

km__user *km__auth_user(const km__auth_state *s, const char *name)
{
    return s->nusers ? bsearch(name, s->users, s->nusers, sizeof *s->users, name_cmp) : NULL;
}

km__role *km__auth_role(const km__auth_state *s, const char *name)
{
    return s->nroles ? bsearch(name, s->roles, s->nroles, sizeof *s->roles, name_cmp) : NULL;
}

static int bytes_cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static bool is_inf(km_bytes end) { return end.n == 1 && end.p[0] == 0; }

/* The end of [key, end) with a single key's end as key + "\0"; the
 * returned bytes point into scratch (key.n + 1 bytes) for that case. */
static km__ivl ivl_of(km_bytes key, km_bytes end, uint8_t *scratch)
{
    km__ivl v = { key, end, is_inf(end) };
    if (!end.n) {
        if (key.n)
            memcpy(scratch, key.p, key.n);
        scratch[key.n] = 0;
        v.hi = (km_bytes){ scratch, key.n + 1 };
    }
    return v;
}

/* b's end at or past a's? */
static int hi_cmp(const km__ivl *a, const km__ivl *b)
{
    if (a->hi_inf || b->hi_inf)
        return a->hi_inf - b->hi_inf;
    return bytes_cmp(a->hi, b->hi);
}

static int ivl_sort(const void *x, const void *y)
{
    return bytes_cmp(((const km__ivl *)x)->lo, ((const km__ivl *)y)->lo);
}

/* Merges the ranges of one kind granted by the user's roles. The ranges
 * point into the roles' permissions, or into one block for single keys. */
static int merge_kind(const km__auth_state *s, km__user *u, bool write, km__ivls *out)
{
    size_t n = 0, extra = 0;
    for (size_t i = 0; i < u->nroles; i++) {
        const km__role *r = km__auth_role(s, u->roles[i]);
        for (size_t j = 0; r && j < r->nperms; j++) {
            km_perm_type t = r->perms[j].type;
            if (t == KM_PERM_READWRITE || t == (write ? KM_PERM_WRITE : KM_PERM_READ)) {
                n++;
                if (!r->perms[j].end.n)
                    extra += r->perms[j].key.n + 1;
            }
        }
    }
    km__free(out->v);
    *out = (km__ivls){ NULL, 0 };
    if (!n)
        return 0;
    /* the single keys' ends live after the array, in the same block */
    km__ivl *v = km__malloc(n * sizeof *v + extra);
    if (!v)
        return -ENOMEM;
    uint8_t *scratch = (uint8_t *)(v + n);
    size_t k = 0;
    for (size_t i = 0; i < u->nroles; i++) {
        const km__role *r = km__auth_role(s, u->roles[i]);
        for (size_t j = 0; r && j < r->nperms; j++) {
            const km_auth_perm *p = &r->perms[j];
            if (p->type == KM_PERM_READWRITE || p->type == (write ? KM_PERM_WRITE : KM_PERM_READ)) {
                v[k++] = ivl_of(p->key, p->end, scratch);
                if (!p->end.n)
                    scratch += p->key.n + 1;
            }
        }
    }
    qsort(v, n, sizeof *v, ivl_sort);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && (v[m - 1].hi_inf || bytes_cmp(v[i].lo, v[m - 1].hi) <= 0)) {
            if (hi_cmp(&v[i], &v[m - 1]) > 0)
                v[m - 1].hi = v[i].hi, v[m - 1].hi_inf = v[i].hi_inf;
        } else {
            v[m++] = v[i];
        }
    }
    *out = (km__ivls){ v, m };
    return 0;
}

int km__auth_merge(km__auth_state *s)
{
    for (size_t i = 0; i < s->nusers; i++) {
        km__user *u = &s->users[i];
        u->root = false;
        for (size_t j = 0; j < u->nroles; j++)
            if (!strcmp(u->roles[j], "root"))
                u->root = true;
        if (merge_kind(s, u, false, &u->read) < 0 || merge_kind(s, u, true, &u->write) < 0)
            return -ENOMEM;
    }
    return 0;
}

bool km__auth_covers(const km__ivls *r, km_bytes key, km_bytes end)
{
    /* the last range starting at or before key is the only candidate:
     * merged ranges are disjoint and not adjacent */
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bytes_cmp(r->v[mid].lo, key) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!lo)
        return false;
    const km__ivl *v = &r->v[lo - 1];
    if (v->hi_inf)
        return true;
    if (is_inf(end))
        return false;
    if (!end.n) /* key alone: key < hi */
        return bytes_cmp(key, v->hi) < 0;
    return bytes_cmp(key, v->hi) < 0 && bytes_cmp(end, v->hi) <= 0;
}
