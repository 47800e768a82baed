/* SPDX-License-Identifier: MIT */
/* A state copied whole from elsewhere (etcd's users and roles, read by
 * kumo serve over an etcd cluster): built sorted and merged like one made
 * here, swapped in only when it differs, the tokens of users that went
 * voided. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth-int.h"
#include "rt/alloc.h"

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int bytes_cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

/* Permissions sorted as mgmt.c keeps them: by key, then end. */
static int perm_sort(const void *x, const void *y)
{
    const km_auth_perm *p = x, *q = y;
    int c = bytes_cmp(p->key, q->key);
    return c ? c : bytes_cmp(p->end, q->end);
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

/* The state d describes, sorted and merged. 0, -EINVAL (a name twice),
 * -ENOMEM. */
static int build(const km_auth_def *d, km__auth_state **out)
{
    km__auth_state *s = km__calloc(1, sizeof *s);
    if (!s || !(s->users = km__calloc(d->nusers + 1, sizeof *s->users)) ||
        !(s->roles = km__calloc(d->nroles + 1, sizeof *s->roles))) {
        km__auth_state_free(s);
        return -ENOMEM;
    }
    s->enabled = d->enabled;
    for (size_t i = 0; i < d->nusers; i++) {
        const km_auth_user_def *f = &d->users[i];
        km__user *u = &s->users[s->nusers++];
        if (!(u->name = km__strdup(f->name ? f->name : "")) ||
            !(u->roles = km__calloc(f->nroles + 1, sizeof *u->roles)))
            goto nomem;
        for (size_t j = 0; j < f->nroles; j++)
            if (!(u->roles[u->nroles++] = km__strdup(f->roles[j] ? f->roles[j] : "")))
                goto nomem;
        qsort(u->roles, u->nroles, sizeof *u->roles, str_cmp);
    }
    for (size_t i = 0; i < d->nroles; i++) {
        const km_auth_role_def *f = &d->roles[i];
        km__role *r = &s->roles[s->nroles++];
        if (!(r->name = km__strdup(f->name ? f->name : "")) ||
            !(r->perms = km__calloc(f->nperms + 1, sizeof *r->perms)))
            goto nomem;
        for (size_t j = 0; j < f->nperms; j++) {
            km_auth_perm *p = &r->perms[r->nperms];
            p->type = f->perms[j].type;
            if (!dup_bytes(f->perms[j].key, &p->key))
                goto nomem;
            if (!dup_bytes(f->perms[j].end, &p->end)) {
                km__free((void *)p->key.p);
                goto nomem;
            }
            r->nperms++;
        }
        qsort(r->perms, r->nperms, sizeof *r->perms, perm_sort);
    }
    /* users and roles both begin with their name */
    qsort(s->users, s->nusers, sizeof *s->users, str_cmp);
    qsort(s->roles, s->nroles, sizeof *s->roles, str_cmp);
    for (size_t i = 1; i < s->nusers; i++)
        if (!strcmp(s->users[i - 1].name, s->users[i].name))
            goto dup;
    for (size_t i = 1; i < s->nroles; i++)
        if (!strcmp(s->roles[i - 1].name, s->roles[i].name))
            goto dup;
    if (km__auth_merge(s) < 0)
        goto nomem;
    *out = s;
    return 0;
dup:
    km__auth_state_free(s);
    return -EINVAL;
nomem:
    km__auth_state_free(s);
    return -ENOMEM;
}

static bool same(const km__auth_state *a, const km__auth_state *b)
{
    if (a->enabled != b->enabled || a->nusers != b->nusers || a->nroles != b->nroles)
        return false;
    for (size_t i = 0; i < a->nusers; i++) {
        const km__user *u = &a->users[i], *v = &b->users[i];
        if (strcmp(u->name, v->name) || u->nroles != v->nroles)
            return false;
        for (size_t j = 0; j < u->nroles; j++)
            if (strcmp(u->roles[j], v->roles[j]))
                return false;
    }
    for (size_t i = 0; i < a->nroles; i++) {
        const km__role *r = &a->roles[i], *q = &b->roles[i];
        if (strcmp(r->name, q->name) || r->nperms != q->nperms)
            return false;
        for (size_t j = 0; j < r->nperms; j++)
            if (r->perms[j].type != q->perms[j].type ||
                bytes_cmp(r->perms[j].key, q->perms[j].key) ||
                bytes_cmp(r->perms[j].end, q->perms[j].end))
                return false;
    }
    return true;
}

int km_auth_mirror(km_auth *a, const km_auth_def *d, bool *changed)
{
    if (changed)
        *changed = false;
    if (a->file)
        return -EINVAL;     /* a state of its own, in its file */
    km__auth_state *s;
    int rc = build(d, &s);
    if (rc)
        return rc;
    km_mutex_lock(a->mgmt);
    a->mirrored = true;
    /* a->st only changes under mgmt: reading it here needs no lock */
    km__auth_state *old = a->st;
    if (same(old, s)) {
        km_mutex_unlock(a->mgmt);
        km__auth_state_free(s);
        return 0;
    }
    s->revision = old->revision + 1;
    pthread_rwlock_wrlock(&a->lk);
    a->st = s;
    atomic_store_explicit(&a->on, s->enabled, memory_order_release);
    pthread_rwlock_unlock(&a->lk);
    /* tokens die with their users, and all of them with authentication
     * (identify refuses a token whose user is gone in any case) */
    if (old->enabled && !s->enabled)
        km__toktab_clear(&a->tokens);
    else
        for (size_t i = 0; i < old->nusers; i++)
            if (!km__auth_user(s, old->users[i].name))
                km__toktab_del_user(&a->tokens, old->users[i].name);
    uint64_t rev = s->revision;
    km_mutex_unlock(a->mgmt);
    km__auth_state_free(old);
    if (changed)
        *changed = true;
    if (a->audit) {
        km_log_field f[2] = { km_lf_str("audit", "mirror"), km_lf_int("revision", (int64_t)rev) };
        km_log_write(a->audit, KM_LOG_INFO, "auth state mirrored", f, 2);
    }
    return 0;
}

void km_auth_drop_tokens(km_auth *a, const char *user)
{
    if (user)
        km__toktab_del_user(&a->tokens, user);
}
