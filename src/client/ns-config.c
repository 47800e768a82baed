/* SPDX-License-Identifier: MIT */
/* The config follower's parsing: Server-Sent Events lines into events (the
 * WHATWG event-stream rules a config stream uses), and a config event's
 * JSON into one immutable, reference-counted allocation. */
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "client/follow-int.h"
#include "rt/alloc.h"

/* ---- Server-Sent Events ---- */

static int data_add(km__sse *s, const char *p, size_t n)
{
    size_t max = s->max ? s->max : KM__SSE_MAX_DATA;
    size_t need = s->dn + (s->has_data ? 1 : 0) + n;
    if (need > max)
        return -EMSGSIZE;
    if (need + 1 > s->dcap) {
        size_t nc = s->dcap ? s->dcap : 1024;
        while (nc < need + 1)
            nc *= 2;
        char *np = km__malloc(nc);
        if (!np)
            return -ENOMEM;
        if (s->dn)
            memcpy(np, s->data, s->dn);
        km__free(s->data);
        s->data = np;
        s->dcap = nc;
    }
    if (s->has_data)
        s->data[s->dn++] = '\n';
    memcpy(s->data + s->dn, p, n);
    s->dn += n;
    s->data[s->dn] = 0;
    s->has_data = true;
    return 0;
}

/* Forgets the event being read (the id stays: it is the stream's). */
static void event_reset(km__sse *s)
{
    s->dn = 0;
    s->has_data = false;
    s->en = 0;
}

int km__sse_line(km__sse *s, const char *line, size_t n, km__sse_ev *ev)
{
    if (n && line[n - 1] == '\r')
        n--;
    if (n == 0) {
        if (!s->has_data || s->skip) {
            s->skip = false;
            event_reset(s);
            return 0;
        }
        ev->config = s->en == 6 && !memcmp(s->event, "config", 6);
        ev->data = s->data;
        ev->n = s->dn;
        ev->id = s->id;
        /* The data stays in place for the caller until the next line. */
        s->has_data = false;
        s->en = 0;
        s->dn = 0;
        return 1;
    }
    if (line[0] == ':' || s->skip)
        return 0;                   /* a comment (the keep-alives), or the rest of a dropped event */
    const char *colon = memchr(line, ':', n);
    size_t fn = colon ? (size_t)(colon - line) : n;
    const char *v = colon ? colon + 1 : line + n;
    size_t vn = colon ? n - fn - 1 : 0;
    if (vn && *v == ' ')
        v++, vn--;
    if (fn == 4 && !memcmp(line, "data", 4)) {
        int rc = data_add(s, v, vn);
        if (rc) {
            event_reset(s);
            s->skip = true;     /* the rest of this event goes with it */
        }
        return rc;
    }
    if (fn == 5 && !memcmp(line, "event", 5)) {
        memcpy(s->event, v, vn < sizeof s->event ? vn : sizeof s->event);
        s->en = vn;
        return 0;
    }
    if (fn == 2 && !memcmp(line, "id", 2)) {
        int64_t id = 0;
        bool ok = vn > 0 && vn <= 18;
        for (size_t i = 0; ok && i < vn; i++) {
            ok = v[i] >= '0' && v[i] <= '9';
            id = id * 10 + (v[i] - '0');
        }
        s->id = ok ? id : -1;
    }
    return 0;                       /* retry and unknown fields: ignored */
}

void km__sse_free(km__sse *s)
{
    km__free(s->data);
    memset(s, 0, sizeof *s);
}

/* ---- configurations ---- */

/* One allocation: the public struct, the count, the items, their strings. */
typedef struct {
    km_ns_config pub;
    atomic_long  refs;
    km_ns_item   items[];
} cfgobj;

static cfgobj *obj_of(const km_ns_config *cfg)
{
    return (cfgobj *)((char *)cfg - offsetof(cfgobj, pub));
}

const km_ns_config *km_ns_config_ref(const km_ns_config *cfg)
{
    atomic_fetch_add_explicit(&obj_of(cfg)->refs, 1, memory_order_relaxed);
    return cfg;
}

void km_ns_config_release(const km_ns_config *cfg)
{
    if (!cfg)
        return;
    cfgobj *o = obj_of(cfg);
    if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
        km__free(o);
}

static int item_cmp(const void *a, const void *b)
{
    const km_ns_item *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

const km_ns_item *km_ns_config_get(const km_ns_config *cfg, const char *key)
{
    if (!cfg || !key)
        return NULL;
    km_ns_item k = { .key = key, .key_len = strlen(key) };
    return bsearch(&k, cfg->items, cfg->nitems, sizeof k, item_cmp);
}

/* Copies n bytes of s into *at, NUL-terminated; the copy. */
static const char *put(char **at, const char *s, size_t n)
{
    char *p = *at;
    memcpy(p, s, n);
    p[n] = 0;
    *at = p + n + 1;
    return p;
}

static bool is_int(json_t *o, const char *k, int64_t min, int64_t *v)
{
    json_t *j = json_object_get(o, k);
    if (!json_is_integer(j) || json_integer_value(j) < min)
        return false;
    *v = json_integer_value(j);
    return true;
}

int km__ns_config_parse(const char *p, size_t n, km_ns_config **out)
{
    *out = NULL;
    json_error_t je;
    /* No NUL inside strings: the items are handed out NUL-terminated. */
    json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
    json_t *ns = json_object_get(j, "ns"), *fmt = json_object_get(j, "format"),
           *name = json_object_get(j, "name"), *gray = json_object_get(j, "gray"),
           *items = json_object_get(j, "items");
    int64_t rel, rev, mod;
    if (!json_is_string(ns) || !json_is_string(fmt) || !json_is_string(name) ||
        !(json_is_string(gray) || json_is_null(gray)) || !json_is_object(items) ||
        !is_int(j, "release", 1, &rel) || !is_int(j, "revision", 0, &rev) ||
        !is_int(j, "mod_revision", 0, &mod)) {
        json_decref(j);
        return -EBADMSG;
    }
    size_t ni = json_object_size(items), bytes = 0;
    const char *k;
    json_t *v;
    json_object_foreach(items, k, v) {
        if (!json_is_string(v)) {
            json_decref(j);
            return -EBADMSG;
        }
        bytes += strlen(k) + json_string_length(v) + 2;
    }
    bytes += json_string_length(ns) + json_string_length(fmt) + json_string_length(name) + 3;
    if (json_is_string(gray))
        bytes += json_string_length(gray) + 1;
    cfgobj *o = km__malloc(sizeof *o + ni * sizeof(km_ns_item) + bytes);
    if (!o) {
        json_decref(j);
        return -ENOMEM;
    }
    char *at = (char *)(o->items + ni);
    atomic_init(&o->refs, 1);
    km_ns_config *c = &o->pub;
    *c = (km_ns_config){ .release = rel, .revision = rev, .mod_revision = mod,
                         .nitems = ni, .items = o->items, .priv_ = o };
    c->ns = put(&at, json_string_value(ns), json_string_length(ns));
    c->format = put(&at, json_string_value(fmt), json_string_length(fmt));
    c->name = put(&at, json_string_value(name), json_string_length(name));
    if (json_is_string(gray))
        c->gray = put(&at, json_string_value(gray), json_string_length(gray));
    size_t i = 0;
    json_object_foreach(items, k, v) {
        km_ns_item *it = &o->items[i++];
        it->key_len = strlen(k);
        it->key = put(&at, k, it->key_len);
        it->value_len = json_string_length(v);
        it->value = put(&at, json_string_value(v), it->value_len);
    }
    json_decref(j);
    qsort(o->items, ni, sizeof *o->items, item_cmp);
    *out = c;
    return 0;
}
