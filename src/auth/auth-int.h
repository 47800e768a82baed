/* SPDX-License-Identifier: MIT */
/* Internals of the auth module: the immutable state readers see (users,
 * roles, each user's merged permissions), the token table, the login
 * throttle and the password hash. */
#ifndef KUMO_AUTH_INT_H
#define KUMO_AUTH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <kumo/auth.h>
#include <kumo/sync.h>
#include "auth/jwt.h"

/* ---- the state: copied on every change, never edited in place ---- */

/* One merged range of a user's permissions: [lo, hi), hi_inf for "to
 * the end of the keyspace". */
typedef struct {
    km_bytes lo, hi;
    bool hi_inf;
} km__ivl;

typedef struct {
    km__ivl *v;
    size_t n;
} km__ivls;

typedef struct {
    char *name;
    char *hash;             /* km__kdf_hash's text; NULL until a password is set */
    bool no_password;       /* made so: never logs in with a password, as etcd */
    char **roles;           /* sorted */
    size_t nroles;
    bool root;              /* holds the root role */
    km__ivls read, write;   /* merged from the roles (km__auth_merge) */
} km__user;

typedef struct {
    char *name;
    km_auth_perm *perms;    /* sorted by key, then end */
    size_t nperms;
} km__role;

typedef struct {
    bool enabled;
    uint64_t revision;
    km__user *users;        /* sorted by name */
    size_t nusers;
    km__role *roles;        /* sorted by name */
    size_t nroles;
} km__auth_state;

/* A deep copy (NULL: out of memory) and its release. */
km__auth_state *km__auth_state_copy(const km__auth_state *s);
void km__auth_state_free(km__auth_state *s);
km__user *km__auth_user(const km__auth_state *s, const char *name);
/* Frees what u holds (not u itself: it sits in the state's table). */
void km__auth_user_free(km__user *u);
km__role *km__auth_role(const km__auth_state *s, const char *name);
/* Recomputes every user's root flag and merged ranges. 0 or -ENOMEM. */
int  km__auth_merge(km__auth_state *s);
/* Whether ranges cover [key, end) in etcd's forms. */
bool km__auth_covers(const km__ivls *r, km_bytes key, km_bytes end);

/* The file: km__auth_load fills *s (empty when the file is missing).
 * km__auth_dump makes its text (malloc'd; NULL: out of memory), which
 * km__auth_write puts in place atomically (temporary file, fsync, rename,
 * fsync of the directory) and frees. 0, -EINVAL (*err) or -errno. */
int  km__auth_load(const char *file, km__auth_state *s, const char **err);
char *km__auth_dump(const km__auth_state *s);
int  km__auth_write(const char *file, char *text);

/* ---- passwords: PBKDF2-HMAC-SHA256, stored as
 * "pbkdf2-sha256$ITER$SALT$HASH" (base64) ---- */
/* A new hash of pw into out (cap >= 128). 0, -EIO (no randomness). */
int  km__kdf_hash(const char *pw, uint32_t iter, char *out, size_t cap);
/* Whether pw matches stored, compared in constant time. */
bool km__kdf_verify(const char *pw, const char *stored);

/* ---- tokens ----
 * Simple tokens and verified JWTs in one table: token text to user and
 * expiry. Lookups refresh a simple token's expiry. */
typedef struct km__tok km__tok;
typedef struct {
    pthread_mutex_t mu;
    km__tok **b;            /* buckets */
    size_t nb, n, swept_at;
    uint64_t seq;           /* the suffix of simple tokens */
} km__toktab;

int  km__toktab_init(km__toktab *t);
void km__toktab_done(km__toktab *t);
/* Adds tok for user until expires (realtime ns); ttl > 0: refreshed by
 * ttl on each use (simple tokens); banned: a revoked JWT, refused until
 * it expires. Expired entries go as the table grows. 0 or -ENOMEM. */
int  km__toktab_put(km__toktab *t, const char *tok, size_t n, const char *user, int64_t now,
                    int64_t expires, int64_t ttl, bool banned);
/* 1 and the user (cap >= 256) for a live token, -1 for a banned one, 0
 * when it is not there (or expired). */
int  km__toktab_get(km__toktab *t, const char *tok, size_t n, int64_t now, char *user);
/* Drops tok (true if it was there), or every token of user. */
bool km__toktab_del(km__toktab *t, const char *tok, size_t n);
void km__toktab_del_user(km__toktab *t, const char *user);
/* Drops every token (authentication turned off). */
void km__toktab_clear(km__toktab *t);

/* ---- failed-login throttle: a bucket per user and per address ---- */
typedef struct km__bucket km__bucket;
typedef struct {
    pthread_mutex_t mu;
    km__bucket **b;
    size_t nb, n;
    double burst, rate;
} km__throttle;

int  km__throttle_init(km__throttle *t, double burst, double rate);
void km__throttle_done(km__throttle *t);
/* Whether a login from addr as user may be tried now: refused when addr
 * has used up its failures, or when user has and addr has failed too (so
 * that someone guessing one user's password cannot lock its owner out). */
bool km__throttle_allow(km__throttle *t, const char *user, const char *addr, int64_t now);
/* Counts a failure against both. */
void km__throttle_fail(km__throttle *t, const char *user, const char *addr, int64_t now);

struct km_auth {
    pthread_rwlock_t lk;        /* guards st (the pointer); never held across a wait */
    km__auth_state *st;
    atomic_bool on;             /* st->enabled, read without the lock */
    km_mutex *mgmt;             /* one change at a time (held across the file write) */
    char *file;
    km__jwt *jwt;               /* NULL: simple tokens */
    int64_t token_ttl;
    uint32_t kdf_iter;
    km__toktab tokens;
    km__throttle throttle;
    km_logger *audit;
    void (*on_change)(void *ud, const char *what, const char *by, const char *subject,
                      km_bytes key, km_bytes end);
    void *on_change_ud;
    km_auth_password_fn *pw_check;  /* NULL: the stored hashes check logins */
    void *pw_check_ud;
    bool mirrored;              /* the state is copied from elsewhere (km_auth_mirror):
                                   the management calls change nothing here */
    atomic_llong bad_tokens;    /* refused since the last record of them */
    atomic_llong bad_token_at;  /* realtime ns of that record */
};

/* Realtime ns (token expiries are wall-clock, as JWT's exp). */
int64_t km__auth_clock(void);

/* Runs fn(arg) on a blocking-call thread (directly outside the runtime)
 * and waits for it, cancellation or not: for the KDF, JWT signing and the
 * file write. 0, or -ENOMEM / -EAGAIN when no thread could take it. */
int  km__auth_offload(km_fn *fn, void *arg);

/* The audit line of a change or refusal (km_auth_audit). */
#define km__auth_audit km_auth_audit

#endif
