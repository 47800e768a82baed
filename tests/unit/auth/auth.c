/* SPDX-License-Identifier: MIT */
/* Users, roles and permissions as etcd defines them: management rules and
 * errors, merged key ranges, logins and tokens, throttling, a state
 * mirrored from elsewhere with logins checked there, the state file across
 * a restart, and a change that cannot be written changing nothing. */
#include "util.h"
#include <kumo/auth.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define B(s) ((km_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })
static const km_bytes none = { NULL, 0 };
static const km_bytes inf = { (const uint8_t *)"", 1 };   /* "\0": to the end */

static km_auth *open_auth(const char *file)
{
    km_auth_config cfg = { .file = file, .kdf_iter = 1000, .token_ttl = 200 * 1000000LL };
    km_auth *a;
    const char *err;
    ck_assert_int_eq(km_auth_open(&a, &cfg, &err), 0);
    return a;
}

static void setup_root(km_auth *a)
{
    ck_assert_int_eq(km_auth_user_add(a, "root", "rootpw", false, NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "root", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "root", "root", NULL), 0);
}

static km_auth_id login(km_auth *a, const char *user, const char *pw)
{
    char tok[2048];
    ck_assert_int_eq(km_auth_authenticate(a, user, pw, "10.0.0.1", tok, sizeof tok), 0);
    km_auth_id id;
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), 0);
    ck_assert_str_eq(id.user, user);
    return id;
}

static void mgmt_body(void *arg)
{
    km_auth *a = open_auth(NULL);
    ck_assert_int_eq(km_auth_enable(a, NULL), KM_EAUTH_NO_ROOT_USER);
    ck_assert_int_eq(km_auth_user_add(a, "root", "pw", false, NULL), 0);
    ck_assert_int_eq(km_auth_enable(a, NULL), KM_EAUTH_NO_ROOT_ROLE);
    ck_assert_int_eq(km_auth_user_add(a, "root", "pw", false, NULL), KM_EAUTH_USER_EXISTS);
    ck_assert_int_eq(km_auth_user_add(a, "", "pw", false, NULL), KM_EAUTH_USER_EMPTY);
    ck_assert_int_eq(km_auth_role_add(a, "", NULL), KM_EAUTH_ROLE_EMPTY);
    ck_assert_int_eq(km_auth_user_grant(a, "root", "root", NULL), KM_EAUTH_ROLE_NOT_FOUND);
    ck_assert_int_eq(km_auth_user_grant(a, "nobody", "root", NULL), KM_EAUTH_USER_NOT_FOUND);
    ck_assert_int_eq(km_auth_role_add(a, "root", NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "root", NULL), KM_EAUTH_ROLE_EXISTS);
    ck_assert_int_eq(km_auth_user_grant(a, "root", "root", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "root", "root", NULL), 0);   /* twice: fine */
    ck_assert_int_eq(km_auth_user_revoke(a, "root", "nope", NULL), KM_EAUTH_ROLE_NOT_GRANTED);
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    ck_assert(km_auth_enabled(a));
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    /* root stays root while authentication is on */
    ck_assert_int_eq(km_auth_user_delete(a, "root", NULL), KM_EAUTH_BAD_MGMT);
    ck_assert_int_eq(km_auth_role_delete(a, "root", NULL), KM_EAUTH_BAD_MGMT);
    ck_assert_int_eq(km_auth_user_revoke(a, "root", "root", NULL), KM_EAUTH_BAD_MGMT);
    /* lists come back sorted */
    ck_assert_int_eq(km_auth_user_add(a, "carol", "pw", false, NULL), 0);
    ck_assert_int_eq(km_auth_user_add(a, "bob", NULL, true, NULL), 0);
    km_auth_list *l;
    ck_assert_int_eq(km_auth_user_list(a, &l), 0);
    ck_assert_int_eq(l->n, 3);
    ck_assert_str_eq(l->names[0], "bob");
    ck_assert_str_eq(l->names[1], "carol");
    ck_assert_str_eq(l->names[2], "root");
    km_auth_list_free(l);
    /* deleting a role takes it from its users */
    ck_assert_int_eq(km_auth_role_add(a, "ops", NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "dev", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "bob", "ops", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "bob", "dev", NULL), 0);
    ck_assert_int_eq(km_auth_user_get(a, "bob", &l), 0);
    ck_assert_int_eq(l->n, 2);
    ck_assert_str_eq(l->names[0], "dev");
    km_auth_list_free(l);
    ck_assert_int_eq(km_auth_role_delete(a, "dev", NULL), 0);
    ck_assert_int_eq(km_auth_user_get(a, "bob", &l), 0);
    ck_assert_int_eq(l->n, 1);
    ck_assert_str_eq(l->names[0], "ops");
    km_auth_list_free(l);
    ck_assert_int_eq(km_auth_user_get(a, "zed", &l), KM_EAUTH_USER_NOT_FOUND);
    ck_assert_int_eq(km_auth_role_get(a, "zed", &l), KM_EAUTH_ROLE_NOT_FOUND);
    /* permissions: sorted, regranting a range changes its type */
    km_auth_perm p1 = { KM_PERM_READ, B("b"), B("c") }, p2 = { KM_PERM_WRITE, B("a"), none };
    ck_assert_int_eq(km_auth_role_grant(a, "ops", &p1, NULL), 0);
    ck_assert_int_eq(km_auth_role_grant(a, "ops", &p2, NULL), 0);
    p1.type = KM_PERM_READWRITE;
    ck_assert_int_eq(km_auth_role_grant(a, "ops", &p1, NULL), 0);
    ck_assert_int_eq(km_auth_role_get(a, "ops", &l), 0);
    ck_assert_int_eq(l->n, 2);
    ck_assert_int_eq(l->perms[0].type, KM_PERM_WRITE);
    ck_assert(l->perms[0].key.n == 1 && l->perms[0].key.p[0] == 'a' && l->perms[0].end.n == 0);
    ck_assert_int_eq(l->perms[1].type, KM_PERM_READWRITE);
    km_auth_list_free(l);
    ck_assert_int_eq(km_auth_role_revoke(a, "ops", B("x"), none, NULL), KM_EAUTH_PERM_NOT_GRANTED);
    ck_assert_int_eq(km_auth_role_revoke(a, "ops", B("a"), none, NULL), 0);
    ck_assert_int_eq(km_auth_disable(a, NULL), 0);
    ck_assert(!km_auth_enabled(a));
    km_auth_free(a);
}

START_TEST(management) { t_run(mgmt_body, NULL); }
END_TEST

static void perms_body(void *arg)
{
    km_auth *a = open_auth(NULL);
    setup_root(a);
    ck_assert_int_eq(km_auth_user_add(a, "u", "pw", false, NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "r1", NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "r2", NULL), 0);
    /* r1: read [a, c) and the key "k"; r2: read [c, e) (adjacent: merged)
     * and write from "w" on */
    km_auth_perm g[] = {
        { KM_PERM_READ, B("a"), B("c") }, { KM_PERM_READ, B("k"), none },
        { KM_PERM_READ, B("c"), B("e") }, { KM_PERM_WRITE, B("w"), inf },
    };
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(km_auth_role_grant(a, i < 2 ? "r1" : "r2", &g[i], NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "u", "r1", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "u", "r2", NULL), 0);
    km_auth_id anon;
    /* off: anyone may do anything */
    ck_assert_int_eq(km_auth_identify(a, NULL, 0, NULL, &anon), 0);
    ck_assert_int_eq(km_auth_check(a, &anon, KM_PERM_WRITE, B("z"), none), 0);
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    ck_assert_int_eq(km_auth_identify(a, NULL, 0, NULL, &anon), KM_EAUTH_USER_EMPTY);
    ck_assert_int_eq(km_auth_check(a, &anon, KM_PERM_READ, B("a"), none), KM_EAUTH_USER_EMPTY);
    km_auth_id u = login(a, "u", "pw");
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a"), none), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("b"), B("d")), 0);   /* across r1|r2 */
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a"), B("e")), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a"), B("e\x01")), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("e"), none), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("k"), none), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("k0"), none), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("k"), B("l")), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a"), inf), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_WRITE, B("a"), none), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_WRITE, B("zzz"), none), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_WRITE, B("w"), inf), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_WRITE, B("v"), inf), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READWRITE, B("x"), none), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check_admin(a, &u), KM_EAUTH_DENIED);
    km_auth_id r = login(a, "root", "rootpw");
    ck_assert(r.root);
    ck_assert_int_eq(km_auth_check(a, &r, KM_PERM_READWRITE, B("\0"), inf), 0);
    ck_assert_int_eq(km_auth_check_admin(a, &r), 0);
    /* a client certificate's name stands for the user */
    km_auth_id c;
    ck_assert_int_eq(km_auth_identify(a, NULL, 0, "u", &c), 0);
    ck_assert_int_eq(km_auth_check(a, &c, KM_PERM_READ, B("a"), none), 0);
    /* revoking takes effect at once, for tokens already issued */
    ck_assert_int_eq(km_auth_user_revoke(a, "u", "r1", NULL), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a"), none), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("c"), none), 0);
    km_auth_free(a);
}

START_TEST(permissions) { t_run(perms_body, NULL); }
END_TEST

static void tokens_body(void *arg)
{
    km_auth *a = open_auth(NULL);
    char tok[2048];
    ck_assert_int_eq(km_auth_authenticate(a, "root", "x", "p", tok, sizeof tok),
                     KM_EAUTH_NOT_ENABLED);
    setup_root(a);
    ck_assert_int_eq(km_auth_user_add(a, "u", "pw", false, NULL), 0);
    ck_assert_int_eq(km_auth_user_add(a, "np", NULL, true, NULL), 0);
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    ck_assert_int_eq(km_auth_authenticate(a, "u", "bad", "p", tok, sizeof tok), KM_EAUTH_FAILED);
    ck_assert_int_eq(km_auth_authenticate(a, "ghost", "pw", "p", tok, sizeof tok), KM_EAUTH_FAILED);
    ck_assert_int_eq(km_auth_authenticate(a, "np", "", "p", tok, sizeof tok), KM_EAUTH_FAILED);
    km_auth_id id;
    ck_assert_int_eq(km_auth_identify(a, "nope.1", 6, NULL, &id), KM_EAUTH_TOKEN);
    /* a token lives ttl (200 ms) past its last use */
    ck_assert_int_eq(km_auth_authenticate(a, "u", "pw", "p", tok, sizeof tok), 0);
    for (int i = 0; i < 5; i++) {
        usleep(100 * 1000);
        ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), 0);
    }
    usleep(300 * 1000);
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), KM_EAUTH_TOKEN);
    /* revoked, or its user's password changed or user deleted: gone */
    ck_assert_int_eq(km_auth_authenticate(a, "u", "pw", "p", tok, sizeof tok), 0);
    ck_assert_int_eq(km_auth_revoke_token(a, tok, strlen(tok)), 0);
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), KM_EAUTH_TOKEN);
    ck_assert_int_eq(km_auth_authenticate(a, "u", "pw", "p", tok, sizeof tok), 0);
    ck_assert_int_eq(km_auth_user_passwd(a, "u", "pw2", NULL), 0);
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), KM_EAUTH_TOKEN);
    ck_assert_int_eq(km_auth_authenticate(a, "u", "pw", "p", tok, sizeof tok), KM_EAUTH_FAILED);
    ck_assert_int_eq(km_auth_authenticate(a, "u", "pw2", "p", tok, sizeof tok), 0);
    ck_assert_int_eq(km_auth_user_delete(a, "u", NULL), 0);
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), KM_EAUTH_TOKEN);
    km_auth_free(a);
}

START_TEST(tokens) { t_run(tokens_body, NULL); }
END_TEST

/* An address that keeps failing is throttled; the user it guesses at can
 * still log in from elsewhere, and so can other users from elsewhere. */
static void throttle_body(void *arg)
{
    km_auth_config cfg = { .kdf_iter = 1000, .fail_burst = 3, .fail_rate = 0.001 };
    km_auth *a;
    const char *err;
    ck_assert_int_eq(km_auth_open(&a, &cfg, &err), 0);
    setup_root(a);
    ck_assert_int_eq(km_auth_user_add(a, "u", "pw", false, NULL), 0);
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    char tok[2048];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(km_auth_authenticate(a, "u", "guess", "6.6.6.6", tok, sizeof tok),
                         KM_EAUTH_FAILED);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(km_auth_authenticate(a, "u", "pw", "6.6.6.6", tok, sizeof tok),
                         KM_EAUTH_THROTTLED);
    ck_assert_int_eq(km_auth_authenticate(a, "u", "pw", "10.0.0.2", tok, sizeof tok), 0);
    ck_assert_int_eq(km_auth_authenticate(a, "root", "rootpw", "10.0.0.3", tok, sizeof tok), 0);
    km_auth_free(a);
}

START_TEST(throttle) { t_run(throttle_body, NULL); }
END_TEST

/* A password check standing in for etcd's: "pw" is every user's
 * password, counting its calls; "down" answers as if etcd could not be
 * reached. */
typedef struct { int calls; } elsewhere;

static int check_elsewhere(void *ud, const char *user, const char *password)
{
    elsewhere *e = ud;
    e->calls++;
    if (!strcmp(password, "down"))
        return -EHOSTUNREACH;
    return strcmp(password, "pw") ? KM_EAUTH_FAILED : 0;
}

/* etcd's users mirrored: the whole state replaced, checks made against
 * it, logins checked elsewhere with this auth's own tokens issued, the
 * management calls refused, tokens voided with their users and with
 * authentication. */
static void mirror_body(void *arg)
{
    km_auth_config cfg = { .kdf_iter = 1000, .fail_burst = 3, .fail_rate = 0.001,
                           .token_ttl = 60 * 1000000000LL };
    km_auth *a;
    const char *err;
    ck_assert_int_eq(km_auth_open(&a, &cfg, &err), 0);
    char *root_roles[] = { "root" }, *alice_roles[] = { "writer", "reader", "gone" };
    km_auth_perm reader[] = { { KM_PERM_WRITE, B("w"), none },
                              { KM_PERM_READ, B("app/"), B("app0") } };
    km_auth_user_def users[] = { { "root", root_roles, 1 }, { "alice", alice_roles, 3 } };
    km_auth_role_def roles[] = { { "root", NULL, 0 }, { "reader", reader, 2 },
                                 { "writer", NULL, 0 } };
    km_auth_def d = { true, users, 2, roles, 3 };
    bool changed;
    ck_assert_int_eq(km_auth_mirror(a, &d, &changed), 0);
    ck_assert(changed);
    ck_assert(km_auth_enabled(a));
    uint64_t rev = km_auth_revision(a);
    /* the same state again changes nothing */
    ck_assert_int_eq(km_auth_mirror(a, &d, &changed), 0);
    ck_assert(!changed);
    ck_assert_int_eq(km_auth_revision(a), rev);
    /* read back sorted, as a state made here */
    km_auth_list *l;
    ck_assert_int_eq(km_auth_user_get(a, "alice", &l), 0);
    ck_assert_int_eq(l->n, 3);
    ck_assert_str_eq(l->names[0], "gone");
    ck_assert_str_eq(l->names[1], "reader");
    km_auth_list_free(l);
    ck_assert_int_eq(km_auth_role_get(a, "reader", &l), 0);
    ck_assert_int_eq(l->n, 2);
    ck_assert_int_eq(l->perms[0].type, KM_PERM_READ);     /* app/ before w */
    km_auth_list_free(l);
    /* changes are made where the state comes from */
    ck_assert_int_eq(km_auth_user_add(a, "bob", NULL, true, NULL), -EOPNOTSUPP);
    ck_assert_int_eq(km_auth_role_add(a, "r", NULL), -EOPNOTSUPP);
    ck_assert_int_eq(km_auth_disable(a, NULL), -EOPNOTSUPP);
    /* without a check set, the stored hashes (there are none) refuse */
    char tok[2048];
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "pw", "10.0.0.1", tok, sizeof tok),
                     KM_EAUTH_FAILED);
    elsewhere e = { 0 };
    km_auth_set_password_check(a, check_elsewhere, &e);
    /* the check says yes: a token of this auth's own */
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "pw", "10.0.0.1", tok, sizeof tok), 0);
    ck_assert_int_eq(e.calls, 1);
    km_auth_id id;
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), 0);
    ck_assert_str_eq(id.user, "alice");
    ck_assert(!id.root);
    ck_assert_int_eq(km_auth_check(a, &id, KM_PERM_READ, B("app/x"), none), 0);
    ck_assert_int_eq(km_auth_check(a, &id, KM_PERM_WRITE, B("app/x"), none), KM_EAUTH_DENIED);
    ck_assert_int_eq(km_auth_check(a, &id, KM_PERM_WRITE, B("w"), none), 0);
    /* it says no, or cannot tell: no token; only a no counts as a failure */
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "down", "10.0.0.2", tok, sizeof tok),
                     -EHOSTUNREACH);
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "down", "10.0.0.2", tok, sizeof tok),
                     -EHOSTUNREACH);
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "down", "10.0.0.2", tok, sizeof tok),
                     -EHOSTUNREACH);
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "pw", "10.0.0.2", tok, sizeof tok), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(km_auth_authenticate(a, "root", "x", "10.0.0.3", tok, sizeof tok),
                         KM_EAUTH_FAILED);
    /* throttled before the check is asked */
    int calls = e.calls;
    ck_assert_int_eq(km_auth_authenticate(a, "root", "pw", "10.0.0.3", tok, sizeof tok),
                     KM_EAUTH_THROTTLED);
    ck_assert_int_eq(e.calls, calls);
    /* a user the check knows but the state lacks gets no token */
    ck_assert_int_eq(km_auth_authenticate(a, "carol", "pw", "10.0.0.4", tok, sizeof tok),
                     KM_EAUTH_FAILED);
    /* tokens go with their user, all of them with authentication */
    char rtok[2048];
    ck_assert_int_eq(km_auth_authenticate(a, "root", "pw", "10.0.0.5", rtok, sizeof rtok), 0);
    ck_assert_int_eq(km_auth_authenticate(a, "alice", "pw", "10.0.0.1", tok, sizeof tok), 0);
    d.nusers = 1;
    ck_assert_int_eq(km_auth_mirror(a, &d, &changed), 0);
    ck_assert(changed);
    ck_assert_int_eq(km_auth_revision(a), rev + 1);
    ck_assert_int_eq(km_auth_identify(a, tok, strlen(tok), NULL, &id), KM_EAUTH_TOKEN);
    ck_assert_int_eq(km_auth_identify(a, rtok, strlen(rtok), NULL, &id), 0);
    ck_assert(id.root);
    km_auth_drop_tokens(a, "root");
    ck_assert_int_eq(km_auth_identify(a, rtok, strlen(rtok), NULL, &id), KM_EAUTH_TOKEN);
    ck_assert_int_eq(km_auth_authenticate(a, "root", "pw", "10.0.0.5", rtok, sizeof rtok), 0);
    d.enabled = false;
    ck_assert_int_eq(km_auth_mirror(a, &d, NULL), 0);
    ck_assert(!km_auth_enabled(a));
    ck_assert_int_eq(km_auth_identify(a, rtok, strlen(rtok), NULL, &id), KM_EAUTH_TOKEN);
    ck_assert_int_eq(km_auth_authenticate(a, "root", "pw", "10.0.0.5", rtok, sizeof rtok),
                     KM_EAUTH_NOT_ENABLED);
    /* a name twice is refused, and changes nothing */
    km_auth_user_def twice[] = { { "root", root_roles, 1 }, { "root", NULL, 0 } };
    km_auth_def bad = { true, twice, 2, roles, 3 };
    ck_assert_int_eq(km_auth_mirror(a, &bad, NULL), -EINVAL);
    ck_assert(!km_auth_enabled(a));
    km_auth_set_password_check(a, NULL, NULL);
    km_auth_free(a);
}

START_TEST(mirror) { t_run(mirror_body, NULL); }
END_TEST

static char dir[64];

static void file_body(void *arg)
{
    char file[128];
    /* its directory is made if missing, parents too */
    snprintf(file, sizeof file, "%s/x/y/auth.json", dir);
    km_auth *first = open_auth(file);
    ck_assert_int_eq(km_auth_user_add(first, "u", "pw", false, NULL), 0);
    km_auth_free(first);
    struct stat xs;
    ck_assert_int_eq(stat(file, &xs), 0);
    snprintf(file, sizeof file, "%s/auth.json", dir);
    km_auth *a = open_auth(file);
    setup_root(a);
    ck_assert_int_eq(km_auth_user_add(a, "u", "pw", false, NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "r", NULL), 0);
    km_auth_perm p = { KM_PERM_READ, B("a\0b"), B("z") };
    ck_assert_int_eq(km_auth_role_grant(a, "r", &p, NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "u", "r", NULL), 0);
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    uint64_t rev = km_auth_revision(a);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* a change that cannot be written changes nothing (the directory moved
     * away: root may write anywhere, so permissions would not do) */
    char moved[80];
    snprintf(moved, sizeof moved, "%s.moved", dir);
    ck_assert_int_eq(rename(dir, moved), 0);
    ck_assert_int_eq(km_auth_user_add(a, "v", "pw", false, NULL), -EIO);
    km_auth_list *l;
    ck_assert_int_eq(km_auth_user_get(a, "v", &l), KM_EAUTH_USER_NOT_FOUND);
    ck_assert_int_eq(km_auth_revision(a), rev);
    ck_assert_int_eq(rename(moved, dir), 0);
    km_auth_free(a);
    /* the same state after a restart */
    a = open_auth(file);
    ck_assert(km_auth_enabled(a));
    ck_assert_int_eq(km_auth_revision(a), rev);
    km_auth_id u = login(a, "u", "pw");
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a\0b"), none), 0);
    ck_assert_int_eq(km_auth_check(a, &u, KM_PERM_READ, B("a"), none), KM_EAUTH_DENIED);
    km_auth_free(a);
    /* a damaged file is refused, not taken for an empty state */
    FILE *f = fopen(file, "w");
    fputs("{\"version\":1,\"users\":[{\"roles\":[]}],\"roles\":[]}", f);
    fclose(f);
    km_auth_config cfg = { .file = file };
    const char *err;
    ck_assert_int_eq(km_auth_open(&a, &cfg, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "auth file"));
    /* a state kept in a file is its own: it mirrors nothing */
    unlink(file);
    a = open_auth(file);
    km_auth_def d = { .enabled = true };
    ck_assert_int_eq(km_auth_mirror(a, &d, NULL), -EINVAL);
    km_auth_free(a);
}

START_TEST(state_file)
{
    snprintf(dir, sizeof dir, "/tmp/kumo-auth-XXXXXX");
    ck_assert(mkdtemp(dir));
    t_run(file_body, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(bad_token_option)
{
    km_auth_config cfg = { .token = "magic" };
    km_auth *a;
    const char *err;
    ck_assert_int_eq(km_auth_open(&a, &cfg, &err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "--auth-token"));
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, management);
    tcase_add_test(tc, permissions);
    tcase_add_test(tc, tokens);
    tcase_add_test(tc, throttle);
    tcase_add_test(tc, mirror);
    tcase_add_test(tc, state_file);
    tcase_add_test(tc, bad_token_option);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(make_suite)
