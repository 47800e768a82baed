/* SPDX-License-Identifier: MIT */
/* Namespaces and their drafts: create, list, show, set and delete items,
 * and the draft's diff against the main release. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "rt/rt-int.h"
#include "release/format.h"
#include "release/rel-int.h"

/* Draft edits of different items may race; they retry this often before
 * answering "changed meanwhile". */
#define EDIT_TRIES 8

int km__rel_create(km_rel *r, const km_rel_who *who, const char *ns, const char *format,
                   json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    int rc = km__rel_load(r, ns, 0, &st, err);
    if (rc < 0)
        return rc;
    int fmt = format ? km__fmt_parse(format) : -EINVAL;
    if (fmt < 0)
        return km__rel_fail(err, -EINVAL,
                            "format must be one of json, yaml, properties, text");
    json_t *meta = json_pack("{s:s,s:I,s:s,s:i,s:i,s:[]}", "format", km__fmt_name(fmt),
                             "created", (json_int_t)km__rel_now(), "author",
                             who && who->user ? who->user : "", "last", 0, "main", 0, "gray");
    json_t *draft = json_pack("{s:{},s:[]}", "items", "secret");
    km__rel_batch b = { 0 };
    km__rel_expect(&b, st.meta_key, 0);
    km__rel_put(&b, st.meta_key, meta);
    km__rel_put(&b, st.draft_key, draft);
    km__rel_audit_put(&b, who, "create", ns, json_pack("{s:s}", "format", km__fmt_name(fmt)));
    json_decref(meta);
    json_decref(draft);
    rc = km__rel_commit(r, &b, NULL, err);
    if (rc == -EBUSY)
        return km__rel_fail(err, -EEXIST, "namespace %s exists", ns);
    if (rc == 0 && !(*out = json_pack("{s:s,s:s}", "ns", ns, "format", km__fmt_name(fmt))))
        rc = km__rel_fail(err, -ENOMEM, "out of memory");
    return rc;
}

int km__rel_list(km_rel *r, const char *app, bool (*keep)(void *ud, const char *ns), void *ud,
                 json_t **out, km_rel_err *err)
{
    char lo[KM__REL_KEY_MAX], hi[KM__REL_KEY_MAX];
    if (app && !km__rel_name_valid(app))
        return km__rel_fail(err, -EINVAL, "app \"%.64s\" is not 1-64 of A-Z a-z 0-9 . _ -", app);
    snprintf(lo, sizeof lo, "/kumo/meta/%s%s", app ? app : "", app ? "/" : "");
    snprintf(hi, sizeof hi, "%s", lo);
    hi[strlen(hi) - 1]++;       /* '/' + 1: every key under lo */
    km_op op = { .type = KM_OP_RANGE,
                 .range = { .key = { (const uint8_t *)lo, strlen(lo) },
                            .range_end = { (const uint8_t *)hi, strlen(hi) } } };
    km_store_res res = { 0 };
    int rc = km_store_do(r->store, &op, &res);
    if (rc < 0) {
        km_store_res_free(&res);
        return km__rel_store_fail(err, rc);
    }
    json_t *arr = json_array();
    const km_range_resp *rr = &res.txn.resp[0].range;
    for (size_t i = 0; arr && i < rr->nkvs; i++) {
        const km_kv *kv = &rr->kvs[i];
        char ns[140];
        size_t pre = strlen("/kumo/meta/");
        if (kv->key.n - pre >= sizeof ns)
            continue;
        memcpy(ns, kv->key.p + pre, kv->key.n - pre);
        ns[kv->key.n - pre] = 0;
        if (!km__rel_ns_valid(ns, NULL) || (keep && !keep(ud, ns)))
            continue;
        json_t *m = json_loadb((const char *)kv->value.p, kv->value.n, 0, NULL);
        json_t *e = json_object_get(m, "format") ?
            json_pack("{s:s,s:O,s:O,s:O,s:O}", "ns", ns, "format", json_object_get(m, "format"),
                      "main", json_object_get(m, "main"), "last", json_object_get(m, "last"),
                      "gray", json_object_get(m, "gray")) : NULL;
        json_decref(m);
        if (e && json_array_append_new(arr, e) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    km_store_res_free(&res);
    if (!arr || !(*out = json_pack("{s:o}", "namespaces", arr)))
        return km__rel_fail(err, -ENOMEM, "out of memory");
    return 0;
}

int km__rel_show(km_rel *r, const char *ns, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    int rc = km__rel_load(r, ns, KM__REL_META | KM__REL_DRAFT, &st, err);
    if (rc == 0) {
        json_t *items = json_object_get(st.draft, "items"), *sec = json_object_get(st.draft, "secret");
        json_t *view = km__rel_items_view(r, ns, items, sec, false, &rc);
        *out = view ? json_pack("{s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:{s:o,s:o},s:I}", "ns", ns,
                                "format", json_object_get(st.meta, "format"),
                                "created", json_object_get(st.meta, "created"),
                                "author", json_object_get(st.meta, "author"),
                                "main", json_object_get(st.meta, "main"),
                                "last", json_object_get(st.meta, "last"),
                                "gray", json_object_get(st.meta, "gray"),
                                "draft", "items", view, "secret", sec ? json_incref(sec) : json_array(),
                                "revision", (json_int_t)st.revision) : NULL;
        if (!*out)
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
    }
    km__rel_ns_free(&st);
    return rc;
}

/* The bytes the items take (keys and stored values), the namespace's limit. */
static size_t items_bytes(const json_t *items)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)items, k, v)
        n += strlen(k) + json_string_length(v);
    return n;
}

/* One draft edit: set (val non-NULL) or delete item key, retried when
 * another edit landed between reading and writing the draft. */
static int edit(km_rel *r, const km_rel_who *who, const char *ns, const char *key,
                const uint8_t *val, size_t vn, bool secret, int64_t *revision, km_rel_err *err)
{
    int rc = -EBUSY;
    char *sealed = NULL;
    if (val && secret && (rc = km__rel_seal(r, ns, key, val, vn, &sealed)) < 0)
        return km__rel_fail(err, rc, rc == -ENOKEY ?
                            "secret values need the server's --secret-key-file" :
                            "cannot seal the value: %s", km_strerror(rc));
    rc = -EBUSY;
    for (int t = 0; t < EDIT_TRIES && rc == -EBUSY; t++) {
        km__rel_ns st;
        if ((rc = km__rel_load(r, ns, KM__REL_META | KM__REL_DRAFT, &st, err)) < 0) {
            km__rel_ns_free(&st);
            break;
        }
        json_t *d = st.draft ? json_deep_copy(st.draft) : json_pack("{s:{},s:[]}", "items", "secret");
        json_t *items = json_object_get(d, "items"), *sec = json_object_get(d, "secret");
        /* (without d, json_object_set_new would free the new array at once) */
        if (d && !sec && json_object_set_new(d, "secret", sec = json_array()) < 0)
            sec = NULL;
        if (!sec) {
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
            json_decref(d);
            km__rel_ns_free(&st);
            break;
        }
        /* drop key from the secret list; re-added below for a secret set */
        size_t i;
        json_t *v;
        bool was_secret = false;
        json_array_foreach(sec, i, v)
            if (!strcmp(json_string_value(v), key)) {
                json_array_remove(sec, i);
                was_secret = true;
                break;
            }
        json_t *detail;
        bool nomem = false;
        if (!val) {
            if (!json_object_get(items, key)) {
                rc = km__rel_fail(err, -ENOENT, "item %.256s not found in %s", key, ns);
                json_decref(d);
                km__rel_ns_free(&st);
                break;
            }
            json_object_del(items, key);
            detail = json_pack("{s:s}", "key", key);
            if (was_secret)
                json_object_set_new(detail, "secret", json_true());
        } else {
            /* unchecked, a failure would store the draft without the change */
            nomem = json_object_set_new(items, key, sealed ? json_string(sealed)
                                                           : json_stringn((const char *)val, vn)) < 0 ||
                    (secret && json_array_append_new(sec, json_string(key)) < 0);
            /* what changed, but never a secret's value */
            detail = secret ? json_pack("{s:s,s:b}", "key", key, "secret", 1)
                            : json_pack("{s:s,s:s%}", "key", key, "value", (const char *)val, vn);
        }
        if (json_object_size(items) > KM_REL_MAX_ITEMS || items_bytes(items) > KM_REL_MAX_BYTES) {
            rc = km__rel_fail(err, -EMSGSIZE, "a namespace holds at most %d items and %d bytes",
                              KM_REL_MAX_ITEMS, KM_REL_MAX_BYTES);
            json_decref(detail);
            json_decref(d);
            km__rel_ns_free(&st);
            break;
        }
        km__rel_batch b = { .nomem = nomem };
        km__rel_expect(&b, st.draft_key, st.draft_mod);
        km__rel_put(&b, st.draft_key, d);
        km__rel_audit_put(&b, who, val ? "set" : "delete-item", ns, detail);
        json_decref(d);
        km__rel_ns_free(&st);
        rc = km__rel_commit(r, &b, revision, err);
    }
    km__free(sealed);
    return rc;
}

/* The checks every format shares (the format's own wait for publish:
 * drafts are edited freely). */
static int check_item(const uint8_t *key, size_t kn, const uint8_t *val, size_t vn,
                      km_rel_err *err)
{
    return km__fmt_check_item(KM_FMT_TEXT, key, kn, val ? val : (const uint8_t *)"",
                              val ? vn : 0, err->msg, sizeof err->msg);
}

int km__rel_set(km_rel *r, const km_rel_who *who, const char *ns, const uint8_t *key, size_t kn,
                const uint8_t *val, size_t vn, bool secret, int64_t *revision, km_rel_err *err)
{
    int rc = check_item(key, kn, val, vn, err);
    if (rc < 0)
        return rc;
    char k[KM__REL_KEY_MAX];
    memcpy(k, key, kn);
    k[kn] = 0;
    return edit(r, who, ns, k, val ? val : (const uint8_t *)"", vn, secret, revision, err);
}

int km__rel_del(km_rel *r, const km_rel_who *who, const char *ns, const uint8_t *key, size_t kn,
                int64_t *revision, km_rel_err *err)
{
    int rc = check_item(key, kn, NULL, 0, err);
    if (rc < 0)
        return rc;
    char k[KM__REL_KEY_MAX];
    memcpy(k, key, kn);
    k[kn] = 0;
    return edit(r, who, ns, k, NULL, 0, false, revision, err);
}

int km__rel_diff(km_rel *r, const char *ns, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    int rc = km__rel_load(r, ns, KM__REL_META | KM__REL_DRAFT | KM__REL_MAIN, &st, err);
    if (rc == 0) {
        json_t *di = json_object_get(st.draft, "items"), *ds = json_object_get(st.draft, "secret");
        json_t *diff = km__rel_diff_items(r, ns, json_object_get(st.main, "items"),
                                          json_object_get(st.main, "secret"), di, ds, true);
        km_rel_err verr;
        int fmt = km__fmt_parse(json_string_value(json_object_get(st.meta, "format")));
        int v = km__rel_validate(r, ns, fmt, di, ds, &verr);
        *out = diff ? json_pack("{s:O,s:o,s:b}", "base", json_object_get(st.meta, "main"),
                                "diff", diff, "valid", v == 0) : NULL;
        if (*out && v < 0)
            json_object_set_new(*out, "error", json_string(verr.msg));
        if (!*out)
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
    }
    km__rel_ns_free(&st);
    return rc;
}
