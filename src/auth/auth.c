/* SPDX-License-Identifier: MIT */
/* The auth object: opening and persisting the state, resolving a
 * request's identity, permission checks, and the audit trail. Readers
 * take the state pointer under a read lock held for the check alone; a
 * change builds a new state, writes it to the file, then swaps it in. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "auth/auth-int.h"
#include "rt/rt-int.h"

const char *km_auth_strerror(int err)
{
    switch (err) {
    case KM_EAUTH_NOT_ENABLED: return "etcdserver: authentication is not enabled";
    case KM_EAUTH_FAILED: return "etcdserver: authentication failed, invalid user ID or password";
    case KM_EAUTH_DENIED: return "etcdserver: permission denied";
    case KM_EAUTH_TOKEN: return "etcdserver: invalid auth token";
    case KM_EAUTH_USER_EMPTY: return "etcdserver: user name is empty";
    case KM_EAUTH_USER_EXISTS: return "etcdserver: user name already exists";
    case KM_EAUTH_USER_NOT_FOUND: return "etcdserver: user name not found";
    case KM_EAUTH_ROLE_EMPTY: return "etcdserver: role name is empty";
    case KM_EAUTH_ROLE_EXISTS: return "etcdserver: role name already exists";
    case KM_EAUTH_ROLE_NOT_FOUND: return "etcdserver: role name not found";
    case KM_EAUTH_ROLE_NOT_GRANTED: return "etcdserver: role is not granted to the user";
    case KM_EAUTH_PERM_NOT_GRANTED: return "etcdserver: permission is not granted to the role";
    case KM_EAUTH_NO_ROOT_USER: return "etcdserver: root user does not exist";
    case KM_EAUTH_NO_ROOT_ROLE: return "etcdserver: root user does not have root role";
    case KM_EAUTH_BAD_MGMT: return "etcdserver: invalid auth management";
    case KM_EAUTH_THROTTLED:
        return "etcdserver: too many failed authentication attempts, try again later";
    default: return NULL;
    }
}

int64_t km__auth_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The directory the state file goes in, made if missing. */
static int make_dir(const char *file)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    return km__mkdirs(dir);
}

int km_auth_open(km_auth **out, const km_auth_config *cfg, const char **err)
{
    static const km_auth_config none;
    if (!cfg)
        cfg = &none;
    *err = NULL;
    km_auth *a = km__calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    int rc = -ENOMEM;
    a->token_ttl = cfg->token_ttl > 0 ? cfg->token_ttl : 300 * 1000000000LL;
    a->kdf_iter = cfg->kdf_iter ? cfg->kdf_iter : 600000;
    a->audit = cfg->audit;
    a->on_change = cfg->on_change;
    a->on_change_ud = cfg->on_change_ud;
    pthread_rwlock_init(&a->lk, NULL);
    if (km__toktab_init(&a->tokens) < 0) {
        km__free(a);
        return -ENOMEM;
    }
    if (km__throttle_init(&a->throttle, cfg->fail_burst ? cfg->fail_burst : 10,
                          cfg->fail_rate > 0 ? cfg->fail_rate : 1) < 0) {
        km__toktab_done(&a->tokens);
        km__free(a);
        return -ENOMEM;
    }
    if (km_mutex_new(&a->mgmt) < 0 || !(a->st = km__calloc(1, sizeof *a->st)) ||
        (cfg->file && !(a->file = km__strdup(cfg->file))))
        goto fail;
    if (cfg->token && strcmp(cfg->token, "simple")) {
        if (strncmp(cfg->token, "jwt,", 4)) {
            *err = "--auth-token: \"simple\" or \"jwt,pub-key=...,priv-key=...,sign-method=...\"";
            rc = -EINVAL;
            goto fail;
        }
        if ((rc = km__jwt_new(&a->jwt, cfg->token + 4, err)) < 0)
            goto fail;
    }
    if (a->file && ((rc = make_dir(a->file)) < 0 || (rc = km__auth_load(a->file, a->st, err)) < 0))
        goto fail;
    atomic_init(&a->on, a->st->enabled);
    *out = a;
    return 0;
fail:
    if (!*err)
        *err = km_strerror(rc);
    km_auth_free(a);
    return rc;
}

void km_auth_free(km_auth *a)
{
    if (!a)
        return;
    km__auth_state_free(a->st);
    km__jwt_free(a->jwt);
    if (a->mgmt)
        km_mutex_free(a->mgmt);
    km__toktab_done(&a->tokens);
    km__throttle_done(&a->throttle);
    pthread_rwlock_destroy(&a->lk);
    km__free(a->file);
    km__free(a);
}

bool km_auth_enabled(const km_auth *a)
{
    return atomic_load_explicit(&((km_auth *)a)->on, memory_order_acquire);
}

uint64_t km_auth_revision(const km_auth *a)
{
    km_auth *m = (km_auth *)a;
    pthread_rwlock_rdlock(&m->lk);
    uint64_t r = m->st->revision;
    pthread_rwlock_unlock(&m->lk);
    return r;
}

/* Refused tokens are audited too, but a client retrying one (or someone
 * trying many) must not flood the log: one record a second at most,
 * counting the refusals since the last. */
static int refused_token(km_auth *a)
{
    long long n = atomic_fetch_add(&a->bad_tokens, 1) + 1;
    int64_t now = km__auth_clock();
    long long last = atomic_load(&a->bad_token_at);
    if (a->audit && now - last >= 1000000000LL &&
        atomic_compare_exchange_strong(&a->bad_token_at, &last, now)) {
        n = atomic_exchange(&a->bad_tokens, 0);
        km_log_field f[3] = { km_lf_str("audit", "token"), km_lf_int("refused", n),
                              km_lf_str("error", km_auth_strerror(KM_EAUTH_TOKEN)) };
        km_log_write(a->audit, KM_LOG_WARN, "auth refused", f, 3);
    }
    return KM_EAUTH_TOKEN;
}

/* The user named by a token: the table first, then (JWT) a verification
 * whose result the table keeps until the token expires. */
static int token_user(km_auth *a, const char *tok, size_t n, char *user)
{
    int64_t now = km__auth_clock();
    int found = km__toktab_get(&a->tokens, tok, n, now, user);
    if (found)
        return found > 0 ? 0 : refused_token(a);
    if (!a->jwt)
        return refused_token(a);
    uint64_t rev;
    int rc = km__jwt_verify(a->jwt, tok, n, now / 1000000000, user, 256, &rev);
    if (rc < 0)
        return rc == -ENOMEM ? rc : refused_token(a);
    /* verified: cached for its lifetime at most (the claims' exp is
     * checked against now, so the table's expiry is a bound) */
    km__toktab_put(&a->tokens, tok, n, user, now, now + km__jwt_ttl(a->jwt), 0, false);
    return 0;
}

int km_auth_identify(km_auth *a, const char *token, size_t token_n, const char *cn,
                     km_auth_id *id)
{
    id->user[0] = 0;
    id->root = false;
    id->any = !km_auth_enabled(a);
    /* etcd checks a token it is given even with authentication off (a
     * simple one is void then: turning it off voids them all) */
    if (id->any) {
        char user[256];
        return token_n ? token_user(a, token, token_n, user) : 0;
    }
    int rc = 0;
    if (token_n) {
        if ((rc = token_user(a, token, token_n, id->user)) < 0)
            return rc;
    } else if (cn && *cn) {
        snprintf(id->user, sizeof id->user, "%s", cn);
    } else {
        return KM_EAUTH_USER_EMPTY;
    }
    pthread_rwlock_rdlock(&a->lk);
    const km__user *u = km__auth_user(a->st, id->user);
    if (u)
        id->root = u->root;
    else if (token_n)
        rc = refused_token(a);      /* the user was deleted since */
    pthread_rwlock_unlock(&a->lk);
    return rc;
}

int km_auth_check(km_auth *a, const km_auth_id *id, km_perm_type type, km_bytes key,
                  km_bytes end)
{
    if (id->any || id->root)
        return 0;
    if (!id->user[0])
        return KM_EAUTH_USER_EMPTY;
    int rc = KM_EAUTH_DENIED;
    pthread_rwlock_rdlock(&a->lk);
    const km__user *u = km__auth_user(a->st, id->user);
    if (!a->st->enabled)
        rc = 0;
    else if (u && (u->root || ((type == KM_PERM_READ || type == KM_PERM_READWRITE
                                    ? km__auth_covers(&u->read, key, end) : true) &&
                               (type == KM_PERM_WRITE || type == KM_PERM_READWRITE
                                    ? km__auth_covers(&u->write, key, end) : true))))
        rc = 0;
    pthread_rwlock_unlock(&a->lk);
    return rc;
}

int km_auth_check_admin(km_auth *a, const km_auth_id *id)
{
    if (id->any || id->root)
        return 0;
    return id->user[0] ? KM_EAUTH_DENIED : KM_EAUTH_USER_EMPTY;
}

void km_auth_audit(km_auth *a, const char *what, const char *by, const char *subject,
                   const char *peer, int err)
{
    if (!a->audit)
        return;
    km_log_field f[6];
    size_t n = 0;
    f[n++] = km_lf_str("audit", what);
    if (by)
        f[n++] = km_lf_str("by", by);
    if (subject)
        f[n++] = km_lf_str("subject", subject);
    if (peer)
        f[n++] = km_lf_str("peer", peer);
    if (err)
        f[n++] = km_lf_str("error", km_auth_strerror(err) ? km_auth_strerror(err)
                                                          : km_strerror(err));
    km_log_write(a->audit, err ? KM_LOG_WARN : KM_LOG_INFO, err ? "auth refused" : "auth change",
                 f, n);
}
