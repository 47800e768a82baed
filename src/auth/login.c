/* SPDX-License-Identifier: MIT */
/* Logging in (password check off the workers, throttled failures, a
 * simple or JWT token issued), revoking tokens, and the read-only views of
 * users and roles. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>
#include "auth/auth-int.h"
#include "rt/alloc.h"

typedef struct {
    const char *pw;
    char *hash;
    bool ok;
} verify_job;

static void verify_run(void *p)
{
    verify_job *j = p;
    j->ok = km__kdf_verify(j->pw, j->hash);
}

typedef struct {
    km__jwt *jwt;
    const char *user;
    uint64_t rev;
    int64_t now_s;
    char *out;
    size_t cap;
    int rc;
} sign_job;

static void sign_run(void *p)
{
    sign_job *j = p;
    j->rc = km__jwt_sign(j->jwt, j->user, j->rev, j->now_s, j->out, j->cap);
}

/* etcd's simple token: 16 random letters, a dot, a sequence number. */
static int simple_token(km_auth *a, char *tok, size_t cap)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint8_t r[16];
    if (RAND_bytes(r, sizeof r) != 1 || cap < 40)
        return -EIO;
    for (int i = 0; i < 16; i++)
        tok[i] = letters[r[i] % 52];
    pthread_mutex_lock(&a->tokens.mu);
    uint64_t seq = ++a->tokens.seq;
    pthread_mutex_unlock(&a->tokens.mu);
    snprintf(tok + 16, cap - 16, ".%llu", (unsigned long long)seq);
    return 0;
}

/* A token for user, whose password was checked (rev: the state's
 * revision, a JWT's claim). */
static int issue(km_auth *a, const char *user, uint64_t rev, char *tok, size_t cap)
{
    int rc;
    int64_t now = km__auth_clock();
    if (a->jwt) {
        /* an RSA signature is a millisecond or more: off the workers too */
        sign_job s = { a->jwt, user, rev, now / 1000000000, tok, cap, 0 };
        if ((rc = km__auth_offload(sign_run, &s)) < 0)
            return rc;
        return s.rc < 0 ? s.rc : 0;
    }
    if ((rc = simple_token(a, tok, cap)) < 0)
        return rc;
    return km__toktab_put(&a->tokens, tok, strlen(tok), user, now, now + a->token_ttl,
                          a->token_ttl, false);
}

/* The password checked by a->pw_check (the hashes live elsewhere), then
 * a token of this auth's for the user, if the state knows it. */
static int authenticate_elsewhere(km_auth *a, const char *user, const char *password,
                                  const char *peer, char *tok, size_t cap)
{
    int rc = a->pw_check(a->pw_check_ud, user, password ? password : "");
    if (rc == KM_EAUTH_FAILED) {
        km__throttle_fail(&a->throttle, user, peer, km__auth_clock());
        km__auth_audit(a, "authenticate", user, user, peer, KM_EAUTH_FAILED);
    }
    if (rc)
        return rc;
    /* the checker brought the state up to date if it lacked the user */
    pthread_rwlock_rdlock(&a->lk);
    bool on = a->st->enabled, known = km__auth_user(a->st, user) != NULL;
    uint64_t rev = a->st->revision;
    pthread_rwlock_unlock(&a->lk);
    if (!on)
        return KM_EAUTH_NOT_ENABLED;
    if (!known)
        return KM_EAUTH_FAILED;     /* deleted meanwhile */
    return issue(a, user, rev, tok, cap);
}

void km_auth_set_password_check(km_auth *a, km_auth_password_fn *fn, void *ud)
{
    a->pw_check = fn;
    a->pw_check_ud = ud;
}

int km_auth_authenticate(km_auth *a, const char *user, const char *password, const char *peer,
                         char *tok, size_t cap)
{
    if (!user)
        user = "";
    if (!peer)
        peer = "";
    int64_t now = km__auth_clock();
    if (!km__throttle_allow(&a->throttle, user, peer, now)) {
        km__auth_audit(a, "authenticate", user, user, peer, KM_EAUTH_THROTTLED);
        return KM_EAUTH_THROTTLED;
    }
    if (a->pw_check)
        return authenticate_elsewhere(a, user, password, peer, tok, cap);
    pthread_rwlock_rdlock(&a->lk);
    bool on = a->st->enabled;
    const km__user *u = km__auth_user(a->st, user);
    bool has = u && u->hash && !u->no_password;
    char *hash = has ? km__strdup(u->hash) : NULL;
    bool nomem = has && !hash;
    uint64_t rev = a->st->revision;
    pthread_rwlock_unlock(&a->lk);
    if (!on || nomem) {
        km__free(hash);
        return nomem ? -ENOMEM : KM_EAUTH_NOT_ENABLED;
    }
    /* an unknown user costs a hash too, so timing does not tell which
     * names exist */
    verify_job j = { password ? password : "", hash, false };
    char decoy[128];
    if (!hash) {
        snprintf(decoy, sizeof decoy, "pbkdf2-sha256$%u$AAAAAAAAAAAAAAAAAAAAAA=="
                 "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", a->kdf_iter);
        j.hash = decoy;
    }
    int rc = km__auth_offload(verify_run, &j);
    km__free(hash);
    if (rc < 0)
        return rc;
    if (!j.ok || !has) {
        km__throttle_fail(&a->throttle, user, peer, km__auth_clock());
        km__auth_audit(a, "authenticate", user, user, peer, KM_EAUTH_FAILED);
        return KM_EAUTH_FAILED;
    }
    return issue(a, user, rev, tok, cap);
}

int km_auth_revoke_token(km_auth *a, const char *token, size_t n)
{
    char user[256];
    int64_t now = km__auth_clock();
    int known = km__toktab_get(&a->tokens, token, n, now, user);
    if (known < 0 || (!a->jwt && !known))
        return KM_EAUTH_TOKEN;          /* revoked already, or never issued */
    if (!a->jwt) {
        if (!km__toktab_del(&a->tokens, token, n))
            return KM_EAUTH_TOKEN;      /* revoked meanwhile */
        km__auth_audit(a, "token revoke", user, user, NULL, 0);
        return 0;
    }
    uint64_t rev;
    if (km__jwt_verify(a->jwt, token, n, now / 1000000000, user, sizeof user, &rev) < 0)
        return KM_EAUTH_TOKEN;
    km__toktab_del(&a->tokens, token, n);   /* its verified entry, if any */
    /* a signed token stays valid by itself: remember it as refused until
     * it would have expired */
    int rc = km__toktab_put(&a->tokens, token, n, user, now, now + km__jwt_ttl(a->jwt), 0, true);
    if (rc == 0)
        km__auth_audit(a, "token revoke", user, user, NULL, 0);
    return rc;
}

/* ---- lists ---- */

static km_auth_list *list_new(size_t n, size_t bytes, bool perms)
{
    size_t head = sizeof(km_auth_list) + n * sizeof(char *);
    head = (head + 15) & ~(size_t)15;
    size_t pz = perms ? n * sizeof(km_auth_perm) : 0;
    km_auth_list *l = km__calloc(1, head + pz + bytes + 1);
    if (!l)
        return NULL;
    l->n = n;
    l->names = (char **)(l + 1);
    if (perms)
        l->perms = (km_auth_perm *)((char *)l + head);
    return l;
}

void km_auth_list_free(km_auth_list *l) { km__free(l); }

/* names[i] of each entry: a table of structs whose first field is the name. */
static int names_of(km_auth *a, bool users, const char *user, km_auth_list **out)
{
    pthread_rwlock_rdlock(&a->lk);
    const km__auth_state *s = a->st;
    char *const *v;
    size_t n, stride;
    const km__user *u = NULL;
    int rc = 0;
    if (user) {
        if (!(u = km__auth_user(s, user))) {
            pthread_rwlock_unlock(&a->lk);
            return KM_EAUTH_USER_NOT_FOUND;
        }
        v = u->roles, n = u->nroles, stride = sizeof(char *);
    } else if (users) {
        /* the tables may be empty (NULL): no name is read then */
        n = s->nusers, stride = sizeof(km__user);
        v = n ? &s->users->name : NULL;
    } else {
        n = s->nroles, stride = sizeof(km__role);
        v = n ? &s->roles->name : NULL;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(*(char **)((char *)v + i * stride)) + 1;
    km_auth_list *l = list_new(n, bytes, false);
    if (!l) {
        rc = -ENOMEM;
    } else {
        char *p = (char *)(l->names + n);
        for (size_t i = 0; i < n; i++) {
            const char *name = *(char **)((char *)v + i * stride);
            size_t k = strlen(name) + 1;
            memcpy(p, name, k);
            l->names[i] = p;
            p += k;
        }
        *out = l;
    }
    pthread_rwlock_unlock(&a->lk);
    return rc;
}

int km_auth_user_list(km_auth *a, km_auth_list **out) { return names_of(a, true, NULL, out); }
int km_auth_role_list(km_auth *a, km_auth_list **out) { return names_of(a, false, NULL, out); }

int km_auth_user_get(km_auth *a, const char *name, km_auth_list **out)
{
    return names_of(a, true, name ? name : "", out);
}

int km_auth_role_get(km_auth *a, const char *name, km_auth_list **out)
{
    pthread_rwlock_rdlock(&a->lk);
    const km__role *r = km__auth_role(a->st, name ? name : "");
    int rc = 0;
    if (!r) {
        rc = KM_EAUTH_ROLE_NOT_FOUND;
    } else {
        size_t bytes = 0;
        for (size_t i = 0; i < r->nperms; i++)
            bytes += r->perms[i].key.n + r->perms[i].end.n;
        km_auth_list *l = list_new(r->nperms, bytes, true);
        if (!l) {
            rc = -ENOMEM;
        } else {
            uint8_t *p = (uint8_t *)(l->perms + r->nperms);
            for (size_t i = 0; i < r->nperms; i++) {
                const km_auth_perm *q = &r->perms[i];
                l->perms[i].type = q->type;
                if (q->key.n)
                    memcpy(p, q->key.p, q->key.n);
                l->perms[i].key = (km_bytes){ p, q->key.n };
                p += q->key.n;
                if (q->end.n)
                    memcpy(p, q->end.p, q->end.n);
                l->perms[i].end = (km_bytes){ p, q->end.n };
                p += q->end.n;
                l->names[i] = NULL;
            }
            *out = l;
        }
    }
    pthread_rwlock_unlock(&a->lk);
    return rc;
}
