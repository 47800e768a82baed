/* SPDX-License-Identifier: MIT */
/* Releases: publishing the draft, the history, one release with its diff,
 * and rollback (a new release restoring an old one's content). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "rt/rt-int.h"
#include "release/format.h"
#include "release/rel-int.h"

json_t *km__rel_new_release(const km__rel_ns *st, const km_rel_who *who, int64_t id,
                            const char *kind, const char *name, const char *notes,
                            const json_t *items, const json_t *secret, json_t *diff)
{
    json_t *rel = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:s,s:O,s:o,s:o,s:O}",
                            "id", (json_int_t)id, "name", name ? name : "",
                            "notes", notes ? notes : "",
                            "author", who && who->user ? who->user : "",
                            "addr", who && who->addr ? who->addr : "",
                            "time", (json_int_t)km__rel_now(), "kind", kind,
                            "items", items, "secret", secret ? json_incref((json_t *)secret) : json_array(),
                            "diff", diff, "base", json_object_get(st->meta, "main"));
    return rel;
}

json_t *km__rel_view(const km__rel_ns *st, const json_t *rel)
{
    return json_pack("{s:O,s:O,s:O,s:O,s:O}", "release", json_object_get(rel, "id"),
                     "name", json_object_get(rel, "name"),
                     "format", json_object_get(st->meta, "format"),
                     "items", json_object_get(rel, "items"),
                     "secret", json_object_get(rel, "secret"));
}

json_t *km__rel_summary(const json_t *rel)
{
    json_t *s = json_deep_copy(rel);
    if (s)
        json_object_del(s, "items");
    return s;
}

/* meta with last (and main, when main > 0) moved on to id. */
json_t *km__rel_next_meta(const km__rel_ns *st, int64_t id, bool main)
{
    json_t *m = json_deep_copy(st->meta);
    if (m && (json_object_set_new(m, "last", json_integer(id)) < 0 ||
              (main && json_object_set_new(m, "main", json_integer(id)) < 0))) {
        json_decref(m);
        m = NULL;
    }
    return m;
}

int64_t km__rel_next_id(const km__rel_ns *st)
{
    return json_integer_value(json_object_get(st->meta, "last")) + 1;
}

/* The checks publishing and starting a gray release share: a name, a
 * valid draft. */
int km__rel_check_draft(km_rel *r, const km__rel_ns *st, const char *name, km_rel_err *err)
{
    if (!name || !*name || strlen(name) > 200)
        return km__rel_fail(err, -EINVAL, "a release needs a name (at most 200 bytes)");
    int fmt = km__fmt_parse(json_string_value(json_object_get(st->meta, "format")));
    return km__rel_validate(r, st->ns, fmt, json_object_get(st->draft, "items"),
                            json_object_get(st->draft, "secret"), err);
}

static int done(json_t *rel, json_t **out, int rc, km_rel_err *err)
{
    if (rc == 0 && !(*out = km__rel_summary(rel)))
        rc = km__rel_fail(err, -ENOMEM, "out of memory");
    json_decref(rel);
    return rc;
}

int km__rel_publish(km_rel *r, const km_rel_who *who, const char *ns, const char *name,
                    const char *notes, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    int rc = km__rel_load(r, ns, KM__REL_META | KM__REL_DRAFT | KM__REL_MAIN, &st, err);
    if (rc < 0 || (rc = km__rel_check_draft(r, &st, name, err)) < 0) {
        km__rel_ns_free(&st);
        return rc;
    }
    json_t *items = json_object_get(st.draft, "items"), *sec = json_object_get(st.draft, "secret");
    json_t *diff = km__rel_diff_items(r, ns, json_object_get(st.main, "items"),
                                      json_object_get(st.main, "secret"), items, sec, false);
    if (diff && !json_array_size(diff) && st.main) {
        json_decref(diff);
        rc = km__rel_fail(err, -EALREADY, "nothing to publish: the draft equals release %lld",
                          (long long)json_integer_value(json_object_get(st.meta, "main")));
        km__rel_ns_free(&st);
        return rc;
    }
    int64_t id = km__rel_next_id(&st);
    json_t *rel = diff ? km__rel_new_release(&st, who, id, "publish", name, notes, items, sec, diff)
                       : NULL;
    json_t *view = rel ? km__rel_view(&st, rel) : NULL;
    json_t *meta = km__rel_next_meta(&st, id, true);
    char rkey[KM__REL_KEY_MAX];
    km__rel_release_key(&st, id, rkey);
    km__rel_batch b = { .nomem = !rel || !view || !meta };
    /* the draft too: what was validated is what gets published */
    km__rel_expect(&b, st.meta_key, st.meta_mod);
    km__rel_expect(&b, st.draft_key, st.draft_mod);
    km__rel_put(&b, st.meta_key, meta);
    km__rel_put(&b, rkey, rel);
    km__rel_put(&b, st.main_key, view);
    km__rel_audit_put(&b, who, "publish", ns, json_pack("{s:I,s:s}", "release", (json_int_t)id,
                                                        "name", name));
    json_decref(view);
    json_decref(meta);
    km__rel_ns_free(&st);
    rc = km__rel_commit(r, &b, NULL, err);
    return done(rel, out, rc, err);
}

int km__rel_releases(km_rel *r, const char *ns, int64_t limit, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    int rc = km__rel_load(r, ns, KM__REL_META, &st, err);
    km__rel_ns_free(&st);
    if (rc < 0)
        return rc;
    char lo[KM__REL_KEY_MAX], hi[KM__REL_KEY_MAX];
    snprintf(lo, sizeof lo, "/kumo/ns/%s/rel/", ns);
    snprintf(hi, sizeof hi, "/kumo/ns/%s/rel0", ns);
    km_op op = { .type = KM_OP_RANGE,
                 .range = { .key = { (const uint8_t *)lo, strlen(lo) },
                            .range_end = { (const uint8_t *)hi, strlen(hi) },
                            .limit = limit > 0 && limit <= 1000 ? limit : 100,
                            .sort_order = KM_SORT_DESCEND, .sort_target = KM_SORT_KEY } };
    km_store_res res = { 0 };
    if ((rc = km_store_do(r->store, &op, &res)) < 0) {
        km_store_res_free(&res);
        return km__rel_store_fail(err, rc);
    }
    json_t *arr = json_array();
    const km_range_resp *rr = &res.txn.resp[0].range;
    for (size_t i = 0; arr && i < rr->nkvs; i++) {
        json_t *rel = json_loadb((const char *)rr->kvs[i].value.p, rr->kvs[i].value.n, 0, NULL);
        if (rel && km__rel_doc_ok(rel))
            json_array_append_new(arr, km__rel_summary(rel));
        json_decref(rel);
    }
    km_store_res_free(&res);
    if (!arr || !(*out = json_pack("{s:o}", "releases", arr)))
        return km__rel_fail(err, -ENOMEM, "out of memory");
    return 0;
}

/* Release id of st's namespace: 0 and *rel, or -ENOENT. */
static int get_release(km_rel *r, const km__rel_ns *st, int64_t id, json_t **rel,
                       km_rel_err *err)
{
    char key[KM__REL_KEY_MAX];
    int64_t mod;
    km__rel_release_key(st, id, key);
    int rc = id > 0 ? km__rel_get(r, key, rel, &mod, err) : 0;
    if (rc == 0 && (id <= 0 || !*rel))
        return km__rel_fail(err, -ENOENT, "release %lld of %s not found", (long long)id, st->ns);
    if (rc == 0 && !km__rel_doc_ok(*rel)) {
        json_decref(*rel);
        *rel = NULL;        /* the callers decref it too */
        return km__rel_fail(err, -EIO, "%s is damaged (not a release)", key);
    }
    return rc;
}

int km__rel_release(km_rel *r, const char *ns, int64_t id, json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    json_t *rel = NULL, *base = NULL;
    int rc = km__rel_load(r, ns, KM__REL_META, &st, err);
    if (rc == 0)
        rc = get_release(r, &st, id, &rel, err);
    /* the diff with values, against the release it was compared with */
    int64_t bid = json_integer_value(json_object_get(rel, "base"));
    if (rc == 0 && bid > 0)
        rc = get_release(r, &st, bid, &base, err);
    if (rc == 0) {
        json_t *items = json_object_get(rel, "items"), *sec = json_object_get(rel, "secret");
        json_t *diff = km__rel_diff_items(r, ns, json_object_get(base, "items"),
                                          json_object_get(base, "secret"), items, sec, true);
        json_t *view = km__rel_items_view(r, ns, items, sec, false, &rc);
        if (!diff || !view || json_object_set_new(rel, "diff", diff) < 0 ||
            json_object_set_new(rel, "items", view) < 0)
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
        else
            *out = json_incref(rel);
    }
    json_decref(rel);
    json_decref(base);
    km__rel_ns_free(&st);
    return rc;
}

int km__rel_rollback(km_rel *r, const km_rel_who *who, const char *ns, int64_t to,
                     json_t **out, km_rel_err *err)
{
    km__rel_ns st;
    json_t *old = NULL, *rel = NULL;
    int rc = km__rel_load(r, ns, KM__REL_META | KM__REL_MAIN, &st, err);
    if (rc == 0)
        rc = get_release(r, &st, to, &old, err);
    if (rc == 0 && to == json_integer_value(json_object_get(st.meta, "main")))
        rc = km__rel_fail(err, -EALREADY, "release %lld is the main release already",
                          (long long)to);
    if (rc == 0) {
        json_t *items = json_object_get(old, "items"), *sec = json_object_get(old, "secret");
        int64_t id = km__rel_next_id(&st);
        json_t *diff = km__rel_diff_items(r, ns, json_object_get(st.main, "items"),
                                          json_object_get(st.main, "secret"), items, sec, false);
        char name[256], rkey[KM__REL_KEY_MAX];
        snprintf(name, sizeof name, "rollback to %lld", (long long)to);
        rel = diff ? km__rel_new_release(&st, who, id, "rollback", name, NULL, items, sec, diff)
                   : NULL;
        if (rel)
            json_object_set_new(rel, "from", json_integer(to));
        json_t *view = rel ? km__rel_view(&st, rel) : NULL;
        json_t *meta = km__rel_next_meta(&st, id, true);
        km__rel_release_key(&st, id, rkey);
        km__rel_batch b = { .nomem = !rel || !view || !meta };
        km__rel_expect(&b, st.meta_key, st.meta_mod);
        km__rel_put(&b, st.meta_key, meta);
        km__rel_put(&b, rkey, rel);
        km__rel_put(&b, st.main_key, view);
        km__rel_audit_put(&b, who, "rollback", ns,
                          json_pack("{s:I,s:I}", "release", (json_int_t)id, "to", (json_int_t)to));
        json_decref(view);
        json_decref(meta);
        rc = km__rel_commit(r, &b, NULL, err);
    }
    json_decref(old);
    km__rel_ns_free(&st);
    if (!rel)
        return rc;
    return done(rel, out, rc, err);
}
