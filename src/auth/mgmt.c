/* SPDX-License-Identifier: MIT */
/* Changes to users and roles, with etcd's rules and errors: each builds
 * a new state from a copy, writes it to the file and only then makes it
 * the one readers see, so a failed write changes nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth-int.h"
#include "rt/alloc.h"

typedef struct {
    const char *name, *other, *password;
    const km_auth_perm *perm;
    km_bytes key, end;
    bool no_password;
    char *hash;             /* made before the state is copied (slow) */
} change_arg;

typedef int change_fn(km_auth *a, km__auth_state *s, change_arg *c);

typedef struct {
    char *text;
    const char *file;
    int rc;
} write_job;

static void write_run(void *p)
{
    write_job *j = p;
    j->rc = km__auth_write(j->file, j->text);
}

static int change(km_auth *a, change_fn *fn, change_arg *c, const char *what, const char *by)
{
    km_mutex_lock(a->mgmt);
    if (a->mirrored) {
        /* the state is another's copy: changes are made there */
        km_mutex_unlock(a->mgmt);
        return -EOPNOTSUPP;
    }
    /* a->st only changes under mgmt: reading it here needs no lock */
    km__auth_state *s = km__auth_state_copy(a->st);
    int rc = s ? fn(a, s, c) : -ENOMEM;
    if (rc == 0 && (rc = km__auth_merge(s)) == 0) {
        s->revision++;
        if (a->file) {
            write_job j = { km__auth_dump(s), a->file, -ENOMEM };
            if (!j.text)
                rc = -ENOMEM;
            else if ((rc = km__auth_offload(write_run, &j)) == 0)
                rc = j.rc < 0 ? -EIO : 0;
        }
    }
    if (rc == 0) {
        pthread_rwlock_wrlock(&a->lk);
        km__auth_state *old = a->st;
        a->st = s;
        atomic_store_explicit(&a->on, s->enabled, memory_order_release);
        pthread_rwlock_unlock(&a->lk);
        s = old;
    }
    km_mutex_unlock(a->mgmt);
    km__auth_state_free(s);
    km__auth_audit(a, what, by, c->name, NULL, rc);
    if (rc == 0 && a->on_change) {
        km_bytes key = c->perm ? c->perm->key : c->key, end = c->perm ? c->perm->end : c->end;
        a->on_change(a->on_change_ud, what, by, c->name, key, end);
    }
    return rc;
}

/* Inserts a copy of item (size bytes) at its sorted place in a table with
 * one spare slot (km__auth_state_copy leaves one). */
static void insert(void *base, size_t *n, size_t size, const void *item)
{
    char *b = base;
    size_t i = 0;
    while (i < *n && strcmp(*(char *const *)(b + i * size), *(char *const *)item) < 0)
        i++;
    memmove(b + (i + 1) * size, b + i * size, (*n - i) * size);
    memcpy(b + i * size, item, size);
    (*n)++;
}

static void remove_at(void *base, size_t *n, size_t size, void *at)
{
    char *b = base, *p = at;
    memmove(p, p + size, (size_t)(b + *n * size - (p + size)));
    (*n)--;
}

static int do_enable(km_auth *a, km__auth_state *s, change_arg *c)
{
    if (s->enabled)
        return 0;
    const km__user *root = km__auth_user(s, "root");
    if (!root)
        return KM_EAUTH_NO_ROOT_USER;
    bool has = false;
    for (size_t i = 0; i < root->nroles; i++)
        has |= !strcmp(root->roles[i], "root");
    if (!has)
        return KM_EAUTH_NO_ROOT_ROLE;
    s->enabled = true;
    return 0;
}

static int do_disable(km_auth *a, km__auth_state *s, change_arg *c)
{
    s->enabled = false;
    return 0;
}

int km_auth_enable(km_auth *a, const char *by)
{
    change_arg c = { 0 };
    return change(a, do_enable, &c, "auth enable", by);
}

int km_auth_disable(km_auth *a, const char *by)
{
    change_arg c = { 0 };
    int rc = change(a, do_disable, &c, "auth disable", by);
    if (rc == 0)
        km__toktab_clear(&a->tokens);     /* as etcd: every token is void */
    return rc;
}

static int do_user_add(km_auth *a, km__auth_state *s, change_arg *c)
{
    if (km__auth_user(s, c->name))
        return KM_EAUTH_USER_EXISTS;
    km__user u = { 0 };
    if (!(u.name = km__strdup(c->name)) || !(u.roles = km__calloc(1, sizeof *u.roles))) {
        km__free(u.name);
        return -ENOMEM;
    }
    u.hash = c->hash;
    u.no_password = c->no_password;
    c->hash = NULL;
    insert(s->users, &s->nusers, sizeof u, &u);
    return 0;
}

typedef struct {
    const char *pw;
    uint32_t iter;
    char hash[128];
    int rc;
} hash_job;

static void hash_run(void *p)
{
    hash_job *j = p;
    j->rc = km__kdf_hash(j->pw, j->iter, j->hash, sizeof j->hash);
}

/* The slow hash, off the workers; *out malloc'd. */
static int make_hash(km_auth *a, const char *pw, char **out)
{
    hash_job j = { pw, a->kdf_iter, "", 0 };
    int rc = km__auth_offload(hash_run, &j);
    if (rc == 0 && (rc = j.rc) == 0 && !(*out = km__strdup(j.hash)))
        rc = -ENOMEM;
    return rc;
}

int km_auth_user_add(km_auth *a, const char *name, const char *password, bool no_password,
                     const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_USER_EMPTY;
    change_arg c = { .name = name, .no_password = no_password };
    int rc = no_password ? 0 : make_hash(a, password ? password : "", &c.hash);
    if (rc == 0)
        rc = change(a, do_user_add, &c, "user add", by);
    km__free(c.hash);
    return rc;
}

static int do_user_delete(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__user *u = km__auth_user(s, c->name);
    if (!u)
        return KM_EAUTH_USER_NOT_FOUND;
    if (s->enabled && !strcmp(c->name, "root"))
        return KM_EAUTH_BAD_MGMT;
    km__auth_user_free(u);
    remove_at(s->users, &s->nusers, sizeof *u, u);
    return 0;
}

int km_auth_user_delete(km_auth *a, const char *name, const char *by)
{
    change_arg c = { .name = name ? name : "" };
    if (!*c.name)
        return KM_EAUTH_USER_EMPTY;
    int rc = change(a, do_user_delete, &c, "user delete", by);
    if (rc == 0)
        km__toktab_del_user(&a->tokens, name);
    return rc;
}

static int do_user_passwd(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__user *u = km__auth_user(s, c->name);
    if (!u)
        return KM_EAUTH_USER_NOT_FOUND;
    km__free(u->hash);
    u->hash = c->hash;
    c->hash = NULL;
    return 0;
}

int km_auth_user_passwd(km_auth *a, const char *name, const char *password, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_USER_EMPTY;
    change_arg c = { .name = name };
    int rc = make_hash(a, password ? password : "", &c.hash);
    if (rc == 0)
        rc = change(a, do_user_passwd, &c, "user change password", by);
    km__free(c.hash);
    if (rc == 0)
        km__toktab_del_user(&a->tokens, name);
    return rc;
}

static int do_user_grant(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__user *u = km__auth_user(s, c->name);
    if (!u)
        return KM_EAUTH_USER_NOT_FOUND;
    if (!km__auth_role(s, c->other))
        return KM_EAUTH_ROLE_NOT_FOUND;
    for (size_t i = 0; i < u->nroles; i++)
        if (!strcmp(u->roles[i], c->other))
            return 0;       /* etcd grants twice without complaint */
    char *r = km__strdup(c->other);
    if (!r)
        return -ENOMEM;
    insert(u->roles, &u->nroles, sizeof r, &r);
    return 0;
}

int km_auth_user_grant(km_auth *a, const char *name, const char *role, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_USER_EMPTY;
    change_arg c = { .name = name, .other = role ? role : "" };
    return change(a, do_user_grant, &c, "user grant role", by);
}

static int do_user_revoke(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__user *u = km__auth_user(s, c->name);
    if (!u)
        return KM_EAUTH_USER_NOT_FOUND;
    if (s->enabled && !strcmp(c->name, "root") && !strcmp(c->other, "root"))
        return KM_EAUTH_BAD_MGMT;
    for (size_t i = 0; i < u->nroles; i++)
        if (!strcmp(u->roles[i], c->other)) {
            km__free(u->roles[i]);
            remove_at(u->roles, &u->nroles, sizeof *u->roles, &u->roles[i]);
            return 0;
        }
    return KM_EAUTH_ROLE_NOT_GRANTED;
}

int km_auth_user_revoke(km_auth *a, const char *name, const char *role, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_USER_EMPTY;
    change_arg c = { .name = name, .other = role ? role : "" };
    return change(a, do_user_revoke, &c, "user revoke role", by);
}

static int do_role_add(km_auth *a, km__auth_state *s, change_arg *c)
{
    if (km__auth_role(s, c->name))
        return KM_EAUTH_ROLE_EXISTS;
    km__role r = { 0 };
    if (!(r.name = km__strdup(c->name)) || !(r.perms = km__calloc(1, sizeof *r.perms))) {
        km__free(r.name);
        return -ENOMEM;
    }
    insert(s->roles, &s->nroles, sizeof r, &r);
    return 0;
}

int km_auth_role_add(km_auth *a, const char *name, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_ROLE_EMPTY;
    change_arg c = { .name = name };
    return change(a, do_role_add, &c, "role add", by);
}

static int do_role_delete(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__role *r = km__auth_role(s, c->name);
    if (!r)
        return KM_EAUTH_ROLE_NOT_FOUND;
    if (s->enabled && !strcmp(c->name, "root"))
        return KM_EAUTH_BAD_MGMT;
    for (size_t i = 0; i < r->nperms; i++) {
        km__free((void *)r->perms[i].key.p);
        km__free((void *)r->perms[i].end.p);
    }
    km__free(r->perms);
    km__free(r->name);
    remove_at(s->roles, &s->nroles, sizeof *r, r);
    /* users lose the role too, as in etcd */
    for (size_t i = 0; i < s->nusers; i++) {
        km__user *u = &s->users[i];
        for (size_t j = 0; j < u->nroles; j++)
            if (!strcmp(u->roles[j], c->name)) {
                km__free(u->roles[j]);
                remove_at(u->roles, &u->nroles, sizeof *u->roles, &u->roles[j]);
                break;
            }
    }
    return 0;
}

int km_auth_role_delete(km_auth *a, const char *name, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_ROLE_EMPTY;
    change_arg c = { .name = name };
    return change(a, do_role_delete, &c, "role delete", by);
}

static int bytes_cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static int perm_cmp(const km_auth_perm *p, km_bytes key, km_bytes end)
{
    int c = bytes_cmp(p->key, key);
    return c ? c : bytes_cmp(p->end, end);
}

static int do_role_grant(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__role *r = km__auth_role(s, c->name);
    if (!r)
        return KM_EAUTH_ROLE_NOT_FOUND;
    const km_auth_perm *p = c->perm;
    size_t i = 0;
    while (i < r->nperms && perm_cmp(&r->perms[i], p->key, p->end) < 0)
        i++;
    if (i < r->nperms && !perm_cmp(&r->perms[i], p->key, p->end)) {
        r->perms[i].type = p->type;     /* the same range granted again: its new type */
        return 0;
    }
    km_auth_perm q = { .type = p->type };
    uint8_t *k = km__malloc(p->key.n + 1), *e = km__malloc(p->end.n + 1);
    if (!k || !e) {
        km__free(k);
        km__free(e);
        return -ENOMEM;
    }
    if (p->key.n)
        memcpy(k, p->key.p, p->key.n);
    if (p->end.n)
        memcpy(e, p->end.p, p->end.n);
    q.key = (km_bytes){ k, p->key.n };
    q.end = (km_bytes){ e, p->end.n };
    memmove(&r->perms[i + 1], &r->perms[i], (r->nperms - i) * sizeof q);
    r->perms[i] = q;
    r->nperms++;
    return 0;
}

int km_auth_role_grant(km_auth *a, const char *name, const km_auth_perm *p, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_ROLE_EMPTY;
    if ((unsigned)p->type > KM_PERM_READWRITE)
        return -EINVAL;
    change_arg c = { .name = name, .perm = p };
    return change(a, do_role_grant, &c, "role grant permission", by);
}

static int do_role_revoke(km_auth *a, km__auth_state *s, change_arg *c)
{
    km__role *r = km__auth_role(s, c->name);
    if (!r)
        return KM_EAUTH_ROLE_NOT_FOUND;
    for (size_t i = 0; i < r->nperms; i++)
        if (!perm_cmp(&r->perms[i], c->key, c->end)) {
            km__free((void *)r->perms[i].key.p);
            km__free((void *)r->perms[i].end.p);
            remove_at(r->perms, &r->nperms, sizeof *r->perms, &r->perms[i]);
            return 0;
        }
    return KM_EAUTH_PERM_NOT_GRANTED;
}

int km_auth_role_revoke(km_auth *a, const char *name, km_bytes key, km_bytes end, const char *by)
{
    if (!name || !*name)
        return KM_EAUTH_ROLE_EMPTY;
    change_arg c = { .name = name, .key = key, .end = end };
    return change(a, do_role_revoke, &c, "role revoke permission", by);
}
