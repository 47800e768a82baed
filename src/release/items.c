/* SPDX-License-Identifier: MIT */
/* A namespace's items: secret values opened for comparison and display,
 * diffs between two item maps, and validation against the format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rt/rt-int.h"
#include "release/format.h"
#include "release/rel-int.h"

#define MASK "******"

bool km__rel_is_secret(const json_t *s, const char *k)
{
    size_t i;
    json_t *v;
    json_array_foreach(s, i, v)
        if (json_is_string(v) && !strcmp(json_string_value(v), k))
            return true;
    return false;
}

/* A secret is sealed to its namespace and key: "APP/NAME" NUL "KEY". */
static size_t seal_ctx(const char *ns, const char *k, uint8_t *buf, size_t n)
{
    size_t a = strlen(ns), b = strlen(k);
    if (a + 1 + b > n)
        return 0;
    memcpy(buf, ns, a);
    buf[a] = 0;
    memcpy(buf + a + 1, k, b);
    return a + 1 + b;
}

int km__rel_seal(km_rel *r, const char *ns, const char *k, const uint8_t *v, size_t n,
                 char **out)
{
    if (!r->key)
        return -ENOKEY;
    uint8_t ctx[512];
    size_t cn = seal_ctx(ns, k, ctx, sizeof ctx);
    return km__secret_seal(r->key, ctx, cn, v, n, out);
}

int km__rel_plain(km_rel *r, const char *ns, const json_t *secret, const char *k,
                  const char *v, char **out)
{
    if (!km__rel_is_secret(secret, k)) {
        *out = km__strdup(v);
        return *out ? 0 : -ENOMEM;
    }
    if (!r->key)
        return -ENOKEY;
    uint8_t ctx[512], *p;
    size_t cn = seal_ctx(ns, k, ctx, sizeof ctx), n;
    int rc = km__secret_open(r->key, ctx, cn, v, strlen(v), &p, &n);
    if (rc == 0)
        *out = (char *)p;
    return rc;
}

/* Whether item k differs between the two maps (secret values compared
 * opened: each seal has its own nonce). */
static bool differs(km_rel *r, const char *ons, const json_t *os, const char *nns,
                    const json_t *nsec, const char *k, const char *ov, const char *nv)
{
    bool so = km__rel_is_secret(os, k), sn = km__rel_is_secret(nsec, k);
    if (so != sn)
        return true;
    if (!so || !strcmp(ov, nv))
        return strcmp(ov, nv) != 0;
    char *a = NULL, *b = NULL;
    bool d = km__rel_plain(r, ons, os, k, ov, &a) || km__rel_plain(r, nns, nsec, k, nv, &b) ||
             strcmp(a, b);
    km__free(a);
    km__free(b);
    return d;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The union of both maps' keys, sorted. */
static const char **all_keys(const json_t *a, const json_t *b, size_t *n)
{
    size_t cap = json_object_size(a) + json_object_size(b), m = 0;
    const char **keys = km__malloc((cap ? cap : 1) * sizeof *keys);
    if (!keys)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v)
        keys[m++] = k;
    json_object_foreach((json_t *)b, k, v)
        if (!json_object_get(a, k))
            keys[m++] = k;
    qsort(keys, m, sizeof *keys, cmp_keys);
    *n = m;
    return keys;
}

json_t *km__rel_diff_items(km_rel *r, const char *ns, const json_t *oi, const json_t *os,
                           const json_t *ni, const json_t *nsec, bool values)
{
    return km__rel_diff_between(r, ns, oi, os, ns, ni, nsec, values);
}

json_t *km__rel_diff_between(km_rel *r, const char *ons, const json_t *oi, const json_t *os,
                             const char *nns, const json_t *ni, const json_t *nsec, bool values)
{
    size_t n;
    const char **keys = all_keys(oi, ni, &n);
    json_t *diff = json_array();
    if (!keys || !diff)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        const char *k = keys[i];
        const char *ov = json_string_value(json_object_get(oi, k));
        const char *nv = json_string_value(json_object_get(ni, k));
        const char *op = !ov ? "add" : !nv ? "delete" : NULL;
        if (!op && differs(r, ons, os, nns, nsec, k, ov, nv))
            op = "change";
        if (!op)
            continue;
        json_t *e = json_pack("{s:s,s:s}", "key", k, "op", op);
        if (!e || json_array_append_new(diff, e) < 0)
            goto nomem;
        if (!values)
            continue;
        if ((ov && json_object_set_new(e, "old", json_string(km__rel_is_secret(os, k) ? MASK : ov)) < 0) ||
            (nv && json_object_set_new(e, "new", json_string(km__rel_is_secret(nsec, k) ? MASK : nv)) < 0))
            goto nomem;
        if (km__rel_is_secret(os, k) || km__rel_is_secret(nsec, k))
            json_object_set_new(e, "secret", json_true());
    }
    km__free(keys);
    return diff;
nomem:
    km__free(keys);
    json_decref(diff);
    return NULL;
}

/* A format's message about a value quotes it ("near '...'", an alias's
 * anchor): for a secret only `item "KEY": ` and where it failed are kept.
 * The key is quoted with '"' and '\\' escaped. */
static void hide_value(char *msg, size_t size, int fmt)
{
    char *p = msg, *q;
    if (strncmp(p, "item \"", 6))
        return;                             /* the key's fault: no value in it */
    for (p += 6; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    if (strncmp(p, "\": ", 3))
        return;
    p += 3;
    if (!strncmp(p, "line ", 5) && (q = strstr(p, ": ")))
        p = q + 2;
    snprintf(p, size - (size_t)(p - msg), "the secret value is not valid %s (not shown)",
             km__fmt_name(fmt));
}

int km__rel_validate(km_rel *r, const char *ns, int fmt, const json_t *items,
                     const json_t *secret, km_rel_err *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)items, k, v) {
        char *plain = NULL;
        int rc = km__rel_plain(r, ns, secret, k, json_string_value(v), &plain);
        if (rc == -ENOKEY)
            return km__rel_fail(err, rc, "item %.64s is secret and the server has no "
                                         "--secret-key-file", k);
        if (rc < 0)
            return km__rel_fail(err, rc == -ENOMEM ? rc : -EIO,
                                "item %.64s: its secret value cannot be opened (%s)", k,
                                km_strerror(rc));
        rc = km__fmt_check_item(fmt, (const uint8_t *)k, strlen(k), (const uint8_t *)plain,
                                strlen(plain), err->msg, sizeof err->msg);
        km__free(plain);
        if (rc == -EINVAL && km__rel_is_secret(secret, k))
            hide_value(err->msg, sizeof err->msg, fmt);
        if (rc < 0)
            return rc;
    }
    return 0;
}

json_t *km__rel_items_view(km_rel *r, const char *ns, const json_t *items, const json_t *secret,
                           bool clear, int *rc)
{
    json_t *o = json_object();
    const char *k;
    json_t *v;
    *rc = 0;
    if (!o)
        return NULL;
    json_object_foreach((json_t *)items, k, v) {
        json_t *shown;
        if (!km__rel_is_secret(secret, k)) {
            shown = json_incref(v);
        } else if (!clear) {
            shown = json_string(MASK);
        } else {
            char *p = NULL;
            if ((*rc = km__rel_plain(r, ns, secret, k, json_string_value(v), &p)) < 0) {
                json_decref(o);
                return NULL;
            }
            shown = json_string(p);
            km__free(p);
        }
        if (json_object_set_new(o, k, shown) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

bool km__rel_doc_ok(const json_t *doc)
{
    const json_t *items = json_object_get(doc, "items"), *s = json_object_get(doc, "secret");
    if (!json_is_object(items) || (s && !json_is_array(s)))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)items, k, v)
        if (!json_is_string(v))
            return false;
    size_t i;
    json_array_foreach(s, i, v)
        if (!json_is_string(v))
            return false;
    return true;
}
