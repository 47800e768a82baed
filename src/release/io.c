/* SPDX-License-Identifier: MIT */
/* The release service's store access: a namespace read at one revision,
 * and guarded write batches committed as one txn. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "rt/rt-int.h"
#include "release/format.h"
#include "release/rel-int.h"

int km__rel_fail(km_rel_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int km__rel_store_fail(km_rel_err *err, int rc)
{
    return km__rel_fail(err, rc, "store: %s", km_strerror(rc));
}

int64_t km__rel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static km_bytes bytes(const char *s)
{
    return (km_bytes){ (const uint8_t *)s, strlen(s) };
}

/* A stored value as JSON; NULL if it is not (someone wrote the key by hand). */
static json_t *parse(const km_kv *kv, km_rel_err *err, int *rc)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)kv->value.p, kv->value.n, 0, &je);
    if (!v && json_error_code(&je) == json_error_out_of_memory)
        *rc = km__rel_fail(err, -ENOMEM, "out of memory");
    else if (!v)
        *rc = km__rel_fail(err, -EIO, "%.*s holds no JSON document: %s", (int)kv->key.n,
                           (const char *)kv->key.p, je.text);
    return v;
}

static bool meta_ok(const json_t *m)
{
    const json_t *g = json_object_get(m, "gray");
    json_int_t last = json_integer_value(json_object_get(m, "last"));
    json_int_t main = json_integer_value(json_object_get(m, "main"));
    if (km__fmt_parse(json_string_value(json_object_get(m, "format"))) < 0 ||
        !json_is_integer(json_object_get(m, "created")) ||
        !json_is_string(json_object_get(m, "author")) ||
        !json_is_integer(json_object_get(m, "last")) ||
        !json_is_integer(json_object_get(m, "main")) || !json_is_array(g))
        return false;
    /* release ids are 1.. and fit the keys' 10 digits (and last + 1 an int64) */
    if (main < 0 || main > last || last > 9999999999LL)
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(g, i, v)
        if (!json_is_string(v))
            return false;
    return true;
}

int km__rel_load(km_rel *r, const char *ns, unsigned what, km__rel_ns *st, km_rel_err *err)
{
    memset(st, 0, sizeof *st);
    if (!km__rel_ns_valid(ns, &st->app_len))
        return km__rel_fail(err, -EINVAL,
                            "namespace \"%.140s\" is not APP/NAME (each 1-64 of A-Z a-z 0-9 . _ -)",
                            ns);
    snprintf(st->ns, sizeof st->ns, "%s", ns);
    snprintf(st->meta_key, sizeof st->meta_key, "/kumo/meta/%s", ns);
    snprintf(st->draft_key, sizeof st->draft_key, "/kumo/ns/%s/draft", ns);
    snprintf(st->main_key, sizeof st->main_key, "/kumo/pub/%s/main", ns);
    const char *keys[3] = { st->meta_key, st->draft_key, st->main_key };
    json_t **vals[3] = { &st->meta, &st->draft, &st->main };
    int64_t *mods[3] = { &st->meta_mod, &st->draft_mod, &st->main_mod };
    km_op ops[3];
    int idx[3];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        if (what & (1u << i)) {
            ops[n] = (km_op){ .type = KM_OP_RANGE, .range = { .key = bytes(keys[i]) } };
            idx[n++] = i;
        }
    km_txn_req req = { .success = ops, .nsuccess = n };
    km_store_res res = { 0 };
    int rc = km_store_txn(r->store, &req, &res);
    if (rc < 0) {
        km_store_res_free(&res);
        return km__rel_store_fail(err, rc);
    }
    st->revision = res.revision;
    for (size_t i = 0; i < n && !rc; i++) {
        const km_range_resp *rr = &res.txn.resp[i].range;
        if (!rr->nkvs)
            continue;
        *vals[idx[i]] = parse(&rr->kvs[0], err, &rc);
        *mods[idx[i]] = rr->kvs[0].mod_revision;
    }
    km_store_res_free(&res);
    if (!rc && st->meta && !meta_ok(st->meta))
        rc = km__rel_fail(err, -EIO, "%s is damaged (not a namespace's meta)", st->meta_key);
    if (!rc && st->draft && !km__rel_doc_ok(st->draft))
        rc = km__rel_fail(err, -EIO, "%s is damaged (not a draft)", st->draft_key);
    if (!rc && st->main && !km__rel_doc_ok(st->main))
        rc = km__rel_fail(err, -EIO, "%s is damaged (not a published view)", st->main_key);
    if (!rc && (what & KM__REL_META) && !st->meta)
        rc = km__rel_fail(err, -ENOENT, "namespace %s not found", ns);
    return rc;
}

void km__rel_ns_free(km__rel_ns *st)
{
    json_decref(st->meta);
    json_decref(st->draft);
    json_decref(st->main);
    st->meta = st->draft = st->main = NULL;
}

void km__rel_release_key(const km__rel_ns *st, int64_t id, char *buf)
{
    snprintf(buf, KM__REL_KEY_MAX, "/kumo/ns/%s/rel/%010lld", st->ns, (long long)id);
}

void km__rel_gray_key(const km__rel_ns *st, const char *g, char *buf)
{
    snprintf(buf, KM__REL_KEY_MAX, "/kumo/pub/%s/gray/%s", st->ns, g);
}

int km__rel_get(km_rel *r, const char *key, json_t **out, int64_t *mod, km_rel_err *err)
{
    km_op op = { .type = KM_OP_RANGE, .range = { .key = bytes(key) } };
    km_store_res res = { 0 };
    int rc = km_store_do(r->store, &op, &res);
    *out = NULL;
    *mod = 0;
    if (rc < 0)
        rc = km__rel_store_fail(err, rc);
    else if (res.txn.resp[0].range.nkvs) {
        *out = parse(&res.txn.resp[0].range.kvs[0], err, &rc);
        *mod = res.txn.resp[0].range.kvs[0].mod_revision;
    }
    km_store_res_free(&res);
    return rc;
}

/* ---- batches ---- */

static char *own(km__rel_batch *b, char *s)
{
    if (!s || b->nowned == sizeof b->owned / sizeof b->owned[0]) {
        b->nomem = true;
        free(s);
        return NULL;
    }
    return b->owned[b->nowned++] = s;
}

void km__rel_expect(km__rel_batch *b, const char *key, int64_t mod)
{
    char *k = own(b, strdup(key));
    if (!k || b->ncmp == sizeof b->cmp / sizeof b->cmp[0]) {
        b->nomem = true;
        return;
    }
    b->cmp[b->ncmp++] = (km_cmp){ .result = KM_CMP_EQUAL, .target = KM_CMP_MOD,
                                  .key = bytes(k), .num = mod };
}

void km__rel_put(km__rel_batch *b, const char *key, const json_t *v)
{
    char *k = own(b, strdup(key));
    char *s = own(b, v ? json_dumps(v, JSON_COMPACT) : NULL);
    if (!k || !s || b->nops == KM__REL_OPS) {
        b->nomem = true;
        return;
    }
    b->ops[b->nops++] = (km_op){ .type = KM_OP_PUT,
                                 .put = { .key = bytes(k), .value = bytes(s) } };
}

void km__rel_del_key(km__rel_batch *b, const char *key)
{
    char *k = own(b, strdup(key));
    if (!k || b->nops == KM__REL_OPS) {
        b->nomem = true;
        return;
    }
    b->ops[b->nops++] = (km_op){ .type = KM_OP_DELETE, .del = { .key = bytes(k) } };
}

void km__rel_audit_put(km__rel_batch *b, const km_rel_who *who, const char *action,
                       const char *ns, json_t *detail)
{
    int64_t now = km__rel_now();
    json_t *rec = json_pack("{s:I,s:s,s:s,s:s,s:s}", "time", (json_int_t)now, "user",
                            who && who->user ? who->user : "", "addr",
                            who && who->addr ? who->addr : "", "action", action, "ns", ns);
    if (!rec || (detail && json_object_update(rec, detail) < 0))
        b->nomem = true;
    json_decref(detail);
    /* The time orders records; the random part keeps two of the same
     * nanosecond (or from two servers on one etcd) apart. */
    uint32_t rnd = (uint32_t)km__rand64();
    char key[64];
    snprintf(key, sizeof key, "/kumo/audit/%020lld-%08x", (long long)now, rnd);
    if (rec)
        km__rel_put(b, key, rec);
    json_decref(rec);
}

void km__rel_batch_free(km__rel_batch *b)
{
    for (size_t i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    b->nowned = 0;
}

int km__rel_commit(km_rel *r, km__rel_batch *b, int64_t *revision, km_rel_err *err)
{
    int rc;
    if (b->nomem) {
        rc = km__rel_fail(err, -ENOMEM, "out of memory");
        goto out;
    }
    km_txn_req req = { .cmp = b->cmp, .ncmp = b->ncmp, .success = b->ops, .nsuccess = b->nops };
    km_store_res res = { 0 };
    rc = km_store_txn(r->store, &req, &res);
    if (rc < 0) {
        if (rc == -EMSGSIZE)
            rc = km__rel_fail(err, rc, "the change is over the store's %d-byte value limit",
                              KM_STORE_MAX_VALUE);
        else
            rc = km__rel_store_fail(err, rc);
    } else if (!res.txn.succeeded) {
        rc = km__rel_fail(err, -EBUSY, "the namespace changed meanwhile; try again");
    } else if (revision) {
        *revision = res.revision;
    }
    km_store_res_free(&res);
out:
    km__rel_batch_free(b);
    return rc;
}
