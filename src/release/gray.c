/* SPDX-License-Identifier: MIT */
/* Gray releases: the draft published to the instances a rule selects,
 * then promoted to the main release or abandoned. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "release/rel-int.h"

/* meta with gray name g added (add) or removed. NULL without memory. */
static json_t *meta_gray(const json_t *meta, const char *g, bool add)
{
    json_t *m = json_deep_copy(meta), *arr = json_object_get(m, "gray");
    if (!m)
        return NULL;
    if (add && json_array_append_new(arr, json_string(g)) < 0) {
        json_decref(m);     /* else the gray key would be written, its name not */
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (!add && !strcmp(json_string_value(v), g)) {
            json_array_remove(arr, i);
            break;
        }
    return m;
}

static bool has_gray(const json_t *meta, const char *g)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(meta, "gray"), i, v)
        if (!strcmp(json_string_value(v), g))
            return true;
    return false;
}

static int check_name(const char *g, km_rel_err *err)
{
    if (!g || !km__rel_name_valid(g))
        return km__rel_fail(err, -EINVAL,
                            "a gray release's name is 1-64 of A-Z a-z 0-9 . _ -");
    return 0;
}

int km__rel_gray(km_rel *r, const km_rel_who *who, const char *ns, const char *name,
                 json_t *labels, json_t *ips, const char *notes, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    json_t *lab = NULL, *ipl = NULL, *rel = NULL;
    int rc = check_name(name, err);
    if (rc == 0)
        rc = km__rel_load(r, ns, KM__REL_META | KM__REL_DRAFT | KM__REL_MAIN, &st, err);
    else
        memset(&st, 0, sizeof st);
    if (rc == 0)
        rc = km__rel_check_draft(r, &st, name, err);
    if (rc == 0 && has_gray(st.meta, name))
        rc = km__rel_fail(err, -EEXIST, "gray release %s of %s exists", name, ns);
    if (rc == 0 && !(rc = km__rel_labels(labels, &lab, err)))
        rc = km__rel_ips(ips, &ipl, err);
    if (rc == 0 && !json_object_size(lab) && !json_array_size(ipl))
        rc = km__rel_fail(err, -EINVAL, "a gray release needs labels or ips to select instances");
    if (rc == 0) {
        json_t *items = json_object_get(st.draft, "items"), *sec = json_object_get(st.draft, "secret");
        int64_t id = km__rel_next_id(&st);
        json_t *diff = km__rel_diff_items(r, ns, json_object_get(st.main, "items"),
                                          json_object_get(st.main, "secret"), items, sec, false);
        rel = diff ? km__rel_new_release(&st, who, id, "gray", name, notes, items, sec, diff) : NULL;
        json_t *view = rel ? km__rel_view(&st, rel) : NULL;
        json_t *meta = km__rel_next_meta(&st, id, false), *m2 = meta ? meta_gray(meta, name, true) : NULL;
        bool ok = rel && view && m2 && !json_object_set_new(rel, "gray", json_string(name)) &&
                  !json_object_set_new(view, "gray", json_string(name)) &&
                  !json_object_set(view, "labels", lab) && !json_object_set(view, "ips", ipl) &&
                  !json_object_set(rel, "labels", lab) && !json_object_set(rel, "ips", ipl);
        char rkey[KM__REL_KEY_MAX], gkey[KM__REL_KEY_MAX];
        km__rel_release_key(&st, id, rkey);
        km__rel_gray_key(&st, name, gkey);
        km__rel_batch b = { .nomem = !ok };
        km__rel_expect(&b, st.meta_key, st.meta_mod);
        km__rel_expect(&b, st.draft_key, st.draft_mod);
        km__rel_put(&b, st.meta_key, m2);
        km__rel_put(&b, rkey, rel);
        km__rel_put(&b, gkey, view);
        km__rel_audit_put(&b, who, "gray", ns,
                          json_pack("{s:I,s:s,s:O,s:O}", "release", (json_int_t)id, "gray", name,
                                    "labels", lab, "ips", ipl));
        json_decref(view);
        json_decref(meta);
        json_decref(m2);
        rc = km__rel_commit(r, &b, NULL, err);
        if (rc == 0 && !(*out = km__rel_summary(rel)))
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
    }
    json_decref(rel);
    json_decref(lab);
    json_decref(ipl);
    km__rel_ns_free(&st);
    return rc;
}

int km__rel_gray_list(km_rel *r, const char *ns, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    int rc = km__rel_load(r, ns, KM__REL_META, &st, err);
    json_t *arr = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(rc ? NULL : json_object_get(st.meta, "gray"), i, g) {
        char key[KM__REL_KEY_MAX];
        json_t *doc;
        int64_t mod;
        km__rel_gray_key(&st, json_string_value(g), key);
        if ((rc = km__rel_get(r, key, &doc, &mod, err)) < 0)
            break;
        if (doc && arr)
            json_array_append_new(arr, json_pack("{s:O,s:O,s:O,s:O,s:O}", "gray", g,
                                                 "release", json_object_get(doc, "release"),
                                                 "name", json_object_get(doc, "name"),
                                                 "labels", json_object_get(doc, "labels"),
                                                 "ips", json_object_get(doc, "ips")));
        json_decref(doc);
    }
    km__rel_ns_free(&st);
    if (rc == 0 && (!arr || !(*out = json_pack("{s:O}", "gray", arr))))
        rc = km__rel_fail(err, -ENOMEM, "out of memory");
    json_decref(arr);
    return rc;
}

/* Reads gray release g of st's namespace: 0, *doc and *mod; -ENOENT. */
static int get_gray(km_rel *r, const km__rel_ns *st, const char *g, json_t **doc, int64_t *mod,
                    char *key, km_rel_err *err)
{
    int rc = check_name(g, err);
    if (rc < 0)
        return rc;
    km__rel_gray_key(st, g, key);
    if ((rc = km__rel_get(r, key, doc, mod, err)) < 0)
        return rc;
    if (!*doc || !has_gray(st->meta, g)) {
        json_decref(*doc);
        *doc = NULL;        /* the callers decref it too */
        return km__rel_fail(err, -ENOENT, "gray release %s of %s not found", g, st->ns);
    }
    if (!km__rel_doc_ok(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        return km__rel_fail(err, -EIO, "%s is damaged (not a gray release)", key);
    }
    return 0;
}

int km__rel_promote(km_rel *r, const km_rel_who *who, const char *ns, const char *gray,
                    const char *notes, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    json_t *doc = NULL, *rel = NULL;
    int64_t gmod = 0;
    char gkey[KM__REL_KEY_MAX];
    int rc = km__rel_load(r, ns, KM__REL_META | KM__REL_MAIN, &st, err);
    if (rc == 0)
        rc = get_gray(r, &st, gray, &doc, &gmod, gkey, err);
    if (rc == 0) {
        json_t *items = json_object_get(doc, "items"), *sec = json_object_get(doc, "secret");
        int64_t id = km__rel_next_id(&st);
        json_t *diff = km__rel_diff_items(r, ns, json_object_get(st.main, "items"),
                                          json_object_get(st.main, "secret"), items, sec, false);
        rel = diff ? km__rel_new_release(&st, who, id, "promote",
                                         json_string_value(json_object_get(doc, "name")), notes,
                                         items, sec, diff) : NULL;
        bool ok = rel && !json_object_set_new(rel, "gray", json_string(gray)) &&
                  !json_object_set(rel, "from", json_object_get(doc, "release"));
        json_t *view = ok ? km__rel_view(&st, rel) : NULL;
        json_t *meta = km__rel_next_meta(&st, id, true), *m2 = meta ? meta_gray(meta, gray, false) : NULL;
        char rkey[KM__REL_KEY_MAX];
        km__rel_release_key(&st, id, rkey);
        km__rel_batch b = { .nomem = !view || !m2 };
        km__rel_expect(&b, st.meta_key, st.meta_mod);
        km__rel_expect(&b, gkey, gmod);
        km__rel_put(&b, st.meta_key, m2);
        km__rel_put(&b, rkey, rel);
        km__rel_put(&b, st.main_key, view);
        km__rel_del_key(&b, gkey);
        km__rel_audit_put(&b, who, "promote", ns,
                          json_pack("{s:I,s:s,s:O}", "release", (json_int_t)id, "gray", gray,
                                    "from", json_object_get(doc, "release")));
        json_decref(view);
        json_decref(meta);
        json_decref(m2);
        rc = km__rel_commit(r, &b, NULL, err);
        if (rc == 0 && !(*out = km__rel_summary(rel)))
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
    }
    json_decref(rel);
    json_decref(doc);
    km__rel_ns_free(&st);
    return rc;
}

int km__rel_abandon(km_rel *r, const km_rel_who *who, const char *ns, const char *gray,
                    int64_t *revision, km_rel_err *err)
{
    km__rel_ns st;
    json_t *doc = NULL;
    int64_t gmod = 0;
    char gkey[KM__REL_KEY_MAX];
    int rc = km__rel_load(r, ns, KM__REL_META, &st, err);
    if (rc == 0)
        rc = get_gray(r, &st, gray, &doc, &gmod, gkey, err);
    if (rc == 0) {
        json_t *m2 = meta_gray(st.meta, gray, false);
        km__rel_batch b = { .nomem = !m2 };
        km__rel_expect(&b, st.meta_key, st.meta_mod);
        km__rel_expect(&b, gkey, gmod);
        km__rel_put(&b, st.meta_key, m2);
        km__rel_del_key(&b, gkey);
        km__rel_audit_put(&b, who, "abandon", ns,
                          json_pack("{s:s,s:O}", "gray", gray, "release",
                                    json_object_get(doc, "release")));
        json_decref(m2);
        rc = km__rel_commit(r, &b, revision, err);
    }
    json_decref(doc);
    km__rel_ns_free(&st);
    return rc;
}
