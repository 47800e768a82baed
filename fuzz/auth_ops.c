/* SPDX-License-Identifier: MIT */
/* libFuzzer target for users, roles and permissions: a sequence of
 * management requests decoded from the input (arbitrary names, keys and
 * range ends), then every permission check compared with a naive
 * reference built from the roles' permission lists, and the state
 * compared across a save and a reload. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kumo/auth.h>

static const uint8_t *in;
static size_t left;

static unsigned byte(void)
{
    if (!left)
        return 0;
    left--;
    return *in++;
}

/* A short string from the input (0..7 bytes, NUL-free for names). */
static size_t take(char *out, bool name)
{
    size_t n = byte() % 8, k = 0;
    for (size_t i = 0; i < n && left; i++) {
        char c = (char)byte();
        if (name && !c)
            c = 'z';
        out[k++] = c;
    }
    out[k] = 0;
    return k;
}

static int cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static bool is_inf(km_bytes e) { return e.n == 1 && e.p[0] == 0; }

/* Whether one permission covers key k (a point). */
static bool perm_has(const km_auth_perm *p, km_bytes k)
{
    if (!p->end.n)
        return !cmp(p->key, k);
    if (cmp(k, p->key) < 0)
        return false;
    return is_inf(p->end) || cmp(k, p->end) < 0;
}

/* The reference: the user's roles' permissions, one at a time. */
static bool naive(km_auth *a, const char *user, km_perm_type t, km_bytes k)
{
    km_auth_list *roles;
    if (km_auth_user_get(a, user, &roles))
        return false;
    bool ok = false;
    for (size_t i = 0; i < roles->n && !ok; i++) {
        if (!strcmp(roles->names[i], "root"))
            ok = true;
        km_auth_list *ps;
        if (km_auth_role_get(a, roles->names[i], &ps))
            continue;
        for (size_t j = 0; j < ps->n && !ok; j++)
            ok = (ps->perms[j].type == t || ps->perms[j].type == KM_PERM_READWRITE) &&
                 perm_has(&ps->perms[j], k);
        km_auth_list_free(ps);
    }
    km_auth_list_free(roles);
    return ok;
}

static void check_all(km_auth *a)
{
    km_auth_list *users;
    if (km_auth_user_list(a, &users))
        abort();
    static const char *probes[] = { "", "a", "a\0", "ab", "b", "\xff", "k", "a\x01", "zz" };
    static const size_t plen[] = { 0, 1, 2, 2, 1, 1, 1, 2, 2 };
    for (size_t u = 0; u < users->n; u++) {
        km_auth_id id;
        if (km_auth_identify(a, NULL, 0, users->names[u], &id))
            abort();
        for (int t = 0; t < 2; t++)
            for (size_t p = 0; p < sizeof probes / sizeof *probes; p++) {
                km_bytes k = { (const uint8_t *)probes[p], plen[p] };
                bool got = km_auth_check(a, &id, (km_perm_type)t, k, (km_bytes){ NULL, 0 }) == 0;
                if (got != naive(a, users->names[u], (km_perm_type)t, k))
                    abort();
            }
    }
    km_auth_list_free(users);
}

/* Lists as text, to compare two states. */
static void describe(km_auth *a, char *out, size_t cap)
{
    size_t n = 0;
    km_auth_list *l, *r;
    out[0] = 0;
    if (km_auth_user_list(a, &l) == 0) {
        for (size_t i = 0; i < l->n; i++) {
            n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "u%s:", l->names[i]);
            if (km_auth_user_get(a, l->names[i], &r) == 0) {
                for (size_t j = 0; j < r->n; j++)
                    n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "%s,", r->names[j]);
                km_auth_list_free(r);
            }
        }
        km_auth_list_free(l);
    }
    if (km_auth_role_list(a, &l) == 0) {
        for (size_t i = 0; i < l->n; i++) {
            n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "r%s:", l->names[i]);
            if (km_auth_role_get(a, l->names[i], &r) == 0) {
                for (size_t j = 0; j < r->n; j++)
                    n += (size_t)snprintf(out + n, cap > n ? cap - n : 0, "%d/%zu/%zu,",
                                          r->perms[j].type, r->perms[j].key.n, r->perms[j].end.n);
                km_auth_list_free(r);
            }
        }
        km_auth_list_free(l);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char file[64];
    /* in memory where there is a tmpfs: each change is written and synced */
    if (!file[0])
        snprintf(file, sizeof file, "%s/kumo-fuzz-auth-%d.json",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    unlink(file);
    km_auth_config cfg = { .file = file, .kdf_iter = 1 };
    km_auth *a;
    const char *err;
    if (km_auth_open(&a, &cfg, &err))
        abort();
    in = data, left = size;
    km_auth_user_add(a, "root", NULL, true, NULL);
    km_auth_role_add(a, "root", NULL);
    km_auth_user_grant(a, "root", "root", NULL);
    if (km_auth_enable(a, NULL))
        abort();
    char x[16], y[16];
    while (left) {
        unsigned op = byte() % 9;
        size_t xn = take(x, op != 6 && op != 7);
        size_t yn = take(y, op < 5);
        km_bytes key = { (const uint8_t *)x, xn }, end = { (const uint8_t *)y, yn };
        switch (op) {
        case 0: km_auth_user_add(a, x, NULL, true, NULL); break;
        case 1: km_auth_role_add(a, x, NULL); break;
        case 2: km_auth_user_grant(a, x, y, NULL); break;
        case 3: km_auth_user_revoke(a, x, y, NULL); break;
        case 4: km_auth_user_delete(a, x, NULL); break;
        case 5: km_auth_role_delete(a, x, NULL); break;
        case 6: case 7: {
            /* the role: the next name; the permission: x .. y */
            char r[16];
            take(r, true);
            km_auth_perm p = { (km_perm_type)(byte() % 3), key, end };
            if (op == 6)
                km_auth_role_grant(a, r, &p, NULL);
            else
                km_auth_role_revoke(a, r, key, end, NULL);
            break;
        }
        default: km_auth_disable(a, NULL); km_auth_enable(a, NULL); break;
        }
    }
    if (!km_auth_enabled(a))
        abort();    /* root can never be taken away while enabled */
    check_all(a);
    static char before[1 << 16], after[1 << 16];
    describe(a, before, sizeof before);
    km_auth_free(a);
    if (km_auth_open(&a, &cfg, &err))
        abort();
    describe(a, after, sizeof after);
    if (strcmp(before, after))
        abort();
    check_all(a);
    km_auth_free(a);
    unlink(file);
    return 0;
}
