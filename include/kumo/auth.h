/* SPDX-License-Identifier: MIT */
/* Users, roles and key-range permissions as etcd v3 defines them, login
 * tokens (simple or JWT), failed-login throttling and an audit trail; the
 * state is kept in one file written atomically. */
#ifndef KUMO_AUTH_H
#define KUMO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kumo/log.h>
#include <kumo/store.h>

/* etcd's auth errors, beyond errno; km_auth_strerror names each with the
 * message etcd's clients see. */
#define KM_EAUTH_NOT_ENABLED      (-8193)  /* authentication is not enabled */
#define KM_EAUTH_FAILED           (-8194)  /* invalid user ID or password */
#define KM_EAUTH_DENIED           (-8195)  /* permission denied */
#define KM_EAUTH_TOKEN            (-8196)  /* invalid (unknown, expired, forged) token */
#define KM_EAUTH_USER_EMPTY       (-8197)
#define KM_EAUTH_USER_EXISTS      (-8198)
#define KM_EAUTH_USER_NOT_FOUND   (-8199)
#define KM_EAUTH_ROLE_EMPTY       (-8200)
#define KM_EAUTH_ROLE_EXISTS      (-8201)
#define KM_EAUTH_ROLE_NOT_FOUND   (-8202)
#define KM_EAUTH_ROLE_NOT_GRANTED (-8203)  /* revoking a role the user lacks */
#define KM_EAUTH_PERM_NOT_GRANTED (-8204)  /* revoking a permission the role lacks */
#define KM_EAUTH_NO_ROOT_USER     (-8205)  /* enabling without a root user */
#define KM_EAUTH_NO_ROOT_ROLE     (-8206)  /* the root user lacks the root role */
#define KM_EAUTH_BAD_MGMT         (-8207)  /* e.g. revoking root from root while enabled */
#define KM_EAUTH_THROTTLED        (-8208)  /* too many failed logins: wait */
#define KM_EAUTH_MIN              (-8208)
#define KM_EAUTH_MAX              (-8193)

/* etcd's message for an auth error ("etcdserver: permission denied"), or
 * NULL when err is not one of them. */
const char *km_auth_strerror(int err);

/* A key-range permission: [key, end), key alone when end is empty, every
 * key from key on when end is the single byte 0 (etcd's --from-key). */
typedef enum { KM_PERM_READ = 0, KM_PERM_WRITE = 1, KM_PERM_READWRITE = 2 } km_perm_type;
typedef struct {
    km_perm_type type;
    km_bytes key, end;
} km_auth_perm;

typedef struct km_auth km_auth;

typedef struct {
    /* Where the users, roles and the enabled flag live (written with
     * mode 0600, replaced atomically on each change); NULL: memory only. */
    const char *file;
    /* etcd's --auth-token: NULL or "simple", or "jwt,pub-key=F,priv-key=F,
     * sign-method=M,ttl=D" (src/auth/jwt.h). */
    const char *token;
    /* Lifetime of a simple token, refreshed on each use (etcd's
     * --auth-token-ttl); 0: 300 s. */
    int64_t token_ttl;
    /* PBKDF2-HMAC-SHA256 iterations for new passwords; 0: 600,000. Stored
     * hashes keep the count they were made with. */
    uint32_t kdf_iter;
    /* Failed logins allowed per user and per address before throttling,
     * and how fast that allowance refills (per second); 0: 10 and 1. */
    uint32_t fail_burst;
    double fail_rate;
    /* Receives an "audit" line for each change and each refused login; may
     * be NULL. Passwords and tokens are never logged. */
    km_logger *audit;
    /* Also called after each change that succeeded (what, by whom, about
     * whom: "role grant permission", "root", "app"; for a permission
     * granted or revoked, its key range, else key.n == 0), e.g. to keep
     * some in the store's audit trail; may be NULL. Runs on the changing
     * goroutine, outside a's locks; it must not change a. */
    void (*on_change)(void *ud, const char *what, const char *by, const char *subject,
                      km_bytes key, km_bytes end);
    void *on_change_ud;
} km_auth_config;

/* Loads cfg->file if it exists. 0; -EINVAL with *err (static text) for a
 * bad token option or a damaged file; -errno from reading; -ENOMEM. */
int  km_auth_open(km_auth **out, const km_auth_config *cfg, const char **err);
void km_auth_free(km_auth *a);

bool km_auth_enabled(const km_auth *a);
/* Counts changes to users, roles and the enabled flag (etcd's auth revision). */
uint64_t km_auth_revision(const km_auth *a);

/* ---- who is calling ----
 * The identity of a request, resolved once and used for each check it
 * makes. With authentication off everyone may do everything. */
typedef struct {
    char     user[256];     /* "" when none was given */
    bool     root;          /* holds the root role */
    bool     any;           /* authentication is off */
} km_auth_id;

/* Resolves a request's credentials: a token (from the "token" or
 * "authorization" metadata), else the common name of a verified client
 * certificate (cn, may be NULL or empty). 0 and *id; KM_EAUTH_TOKEN for a
 * token that is unknown, expired or forged; KM_EAUTH_USER_EMPTY with
 * neither (a user may still be required by the check that follows; etcd
 * answers "user name is empty"). */
int  km_auth_identify(km_auth *a, const char *token, size_t token_n, const char *cn,
                      km_auth_id *id);
/* Whether id may do type on [key, end) (km_auth_perm's forms; a range
 * must be covered whole by the union of the user's permissions). 0 or
 * KM_EAUTH_DENIED (KM_EAUTH_USER_EMPTY for an anonymous id). */
int  km_auth_check(km_auth *a, const km_auth_id *id, km_perm_type type, km_bytes key,
                   km_bytes end);
/* Whether id may administer (root role): 0 or KM_EAUTH_DENIED. */
int  km_auth_check_admin(km_auth *a, const km_auth_id *id);

/* ---- login ----
 * Checks the password with the slow KDF on a blocking-call thread (call
 * it from a goroutine) and issues a token into tok (NUL-terminated, cap >=
 * 2048). peer names the client's address for throttling and the audit.
 * 0; KM_EAUTH_NOT_ENABLED; KM_EAUTH_FAILED for an unknown user, a wrong
 * password or a user without one; KM_EAUTH_THROTTLED; -ENOMEM. */
int  km_auth_authenticate(km_auth *a, const char *user, const char *password, const char *peer,
                          char *tok, size_t cap);
/* Forgets a simple token, or refuses a JWT until it expires. 0 or
 * KM_EAUTH_TOKEN when it is not valid now. */
int  km_auth_revoke_token(km_auth *a, const char *token, size_t n);

/* ---- management (callers check km_auth_check_admin first) ----
 * by names who asks, for the audit (may be NULL). Each returns 0, one of
 * the KM_EAUTH_ errors, -EIO when the file could not be written (nothing
 * changed), or -ENOMEM. */
int  km_auth_enable(km_auth *a, const char *by);
int  km_auth_disable(km_auth *a, const char *by);
int  km_auth_user_add(km_auth *a, const char *name, const char *password, bool no_password,
                      const char *by);
int  km_auth_user_delete(km_auth *a, const char *name, const char *by);
int  km_auth_user_passwd(km_auth *a, const char *name, const char *password, const char *by);
int  km_auth_user_grant(km_auth *a, const char *name, const char *role, const char *by);
int  km_auth_user_revoke(km_auth *a, const char *name, const char *role, const char *by);
int  km_auth_role_add(km_auth *a, const char *name, const char *by);
int  km_auth_role_delete(km_auth *a, const char *name, const char *by);
int  km_auth_role_grant(km_auth *a, const char *name, const km_auth_perm *p, const char *by);
int  km_auth_role_revoke(km_auth *a, const char *name, km_bytes key, km_bytes end,
                         const char *by);

/* ---- a state mirrored from elsewhere ----
 * For kumo serve over an etcd cluster: the users, roles, permissions and
 * enabled flag are etcd's, copied here (km_auth_mirror) so that requests
 * are checked locally; etcd keeps the password hashes and checks logins
 * (km_auth_set_password_check). The auth is opened without a file; its
 * management calls above then answer -EOPNOTSUPP (changes go to etcd). */

/* One user and its roles, one role and its permissions, as the mirror
 * reads them; the strings and arrays stay the caller's. */
typedef struct {
    const char  *name;
    char *const *roles;
    size_t       nroles;
} km_auth_user_def;
typedef struct {
    const char         *name;
    const km_auth_perm *perms;
    size_t              nperms;
} km_auth_role_def;
typedef struct {
    bool                    enabled;
    const km_auth_user_def *users;
    size_t                  nusers;
    const km_auth_role_def *roles;
    size_t                  nroles;
} km_auth_def;

/* Replaces the whole state with a copy of d (call from a goroutine). When
 * it equals the current one nothing happens (*changed false; changed may
 * be NULL); otherwise the revision moves on, the tokens of users no longer
 * there are voided, and all tokens when authentication went off (as etcd
 * voids them). A user's roles may name roles d lacks (they grant
 * nothing). 0; -EINVAL (an auth with a file, or a name given twice);
 * -ENOMEM (nothing changed). */
int  km_auth_mirror(km_auth *a, const km_auth_def *d, bool *changed);

/* A password check done elsewhere: fn(ud, user, password) answers 0 (the
 * password is right), KM_EAUTH_FAILED (wrong, or no such user),
 * KM_EAUTH_NOT_ENABLED, or another error (passed on, not counted as a
 * failed login). Called from a goroutine, without a's locks. */
typedef int km_auth_password_fn(void *ud, const char *user, const char *password);
/* Makes km_auth_authenticate ask fn instead of the stored hashes: once fn
 * says yes, a token is issued for the user from this auth (simple or
 * JWT, as configured) without a password check of its own, if the state
 * knows the user and authentication is on. The throttling of failed
 * logins and the audit apply as ever. fn NULL: the stored hashes again.
 * Set it before logins are served, or after they are done. */
void km_auth_set_password_check(km_auth *a, km_auth_password_fn *fn, void *ud);

/* Voids every token of user (its password was changed elsewhere). */
void km_auth_drop_tokens(km_auth *a, const char *user);

/* Writes an audit line (what was asked, by whom, about whom, from where,
 * and err when it was refused) to cfg->audit, if any. */
void km_auth_audit(km_auth *a, const char *what, const char *by, const char *subject,
                   const char *peer, int err);

/* A list read out of the state: names (users, a user's roles, roles) or a
 * role's permissions, in one allocation freed with km_auth_list_free. */
typedef struct {
    size_t n;
    char **names;           /* n names, NUL-terminated, sorted */
    km_auth_perm *perms;    /* n permissions (role_get), sorted by key */
} km_auth_list;

int  km_auth_user_list(km_auth *a, km_auth_list **out);
/* The user's roles; KM_EAUTH_USER_NOT_FOUND. */
int  km_auth_user_get(km_auth *a, const char *name, km_auth_list **out);
int  km_auth_role_list(km_auth *a, km_auth_list **out);
/* The role's permissions; KM_EAUTH_ROLE_NOT_FOUND. */
int  km_auth_role_get(km_auth *a, const char *name, km_auth_list **out);
void km_auth_list_free(km_auth_list *l);

#endif
