/* SPDX-License-Identifier: MIT */
/* The effective configuration of an instance: the newest gray release
 * whose rules it matches, else the main release, read at one revision. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include "rt/rt-int.h"
#include "release/rel-int.h"

int km__rel_new(km_rel **out, km_store *s, const km__secret_key *key)
{
    km_rel *r = km__calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->store = s;
    r->key = key;
    *out = r;
    return 0;
}

void km__rel_free(km_rel *r)
{
    km__free(r);
}

void km__rel_pub_range(const char *ns, char *buf, size_t n, km_bytes *key, km_bytes *end)
{
    /* "/kumo/pub/NS/" and, after its NUL, "/kumo/pub/NS0" */
    int a = snprintf(buf, n / 2, "/kumo/pub/%s/", ns);
    int b = snprintf(buf + n / 2, n / 2, "/kumo/pub/%s0", ns);
    *key = (km_bytes){ (const uint8_t *)buf, (size_t)a };
    *end = (km_bytes){ (const uint8_t *)buf + n / 2, (size_t)b };
}

/* What key i of the range is: a main view, a gray release, or neither
 * (nothing this service writes; left alone). pre: "/kumo/pub/NS/". */
enum { OTHER, MAIN, GRAY };
static int kind_of(const km_kv *kv, size_t pre)
{
    const char *k = (const char *)kv->key.p + pre;
    size_t n = kv->key.n - pre;
    if (n == 4 && !memcmp(k, "main", 4))
        return MAIN;
    return n > 5 && !memcmp(k, "gray/", 5) ? GRAY : OTHER;
}

/* A published document as this service writes it (anyone with write
 * access to the keys could write another). */
static bool view_ok(const json_t *d, bool gray)
{
    if (!km__rel_doc_ok(d) || !json_is_integer(json_object_get(d, "release")) ||
        !json_is_string(json_object_get(d, "name")) ||
        !json_is_string(json_object_get(d, "format")))
        return false;
    return gray ? json_is_string(json_object_get(d, "gray")) &&
                  json_is_object(json_object_get(d, "labels")) &&
                  json_is_array(json_object_get(d, "ips"))
                : !json_object_get(d, "gray");
}

/* Of the published documents, the index of the one the instance sees,
 * or -1: the matching gray release with the highest id, else main. */
static ssize_t pick(const km_range_resp *rr, size_t pre, json_t **docs, const json_t *labels,
                    const char *ip)
{
    ssize_t best = -1, main = -1;
    int64_t best_id = -1;
    for (size_t i = 0; i < rr->nkvs; i++) {
        json_t *d = docs[i];
        int kind = kind_of(&rr->kvs[i], pre);
        int64_t id = json_integer_value(json_object_get(d, "release"));
        if (kind == MAIN)
            main = (ssize_t)i;
        else if (kind == GRAY && id > best_id && km__rel_gray_match(d, labels, ip))
            best = (ssize_t)i, best_id = id;
    }
    return best >= 0 ? best : main;
}

int km__rel_config(km_rel *r, const char *ns, const char *labels, const char *ip, bool clear,
                   json_t **out, km_rel_err *err)
{
    if (!km__rel_ns_valid(ns, NULL))
        return km__rel_fail(err, -EINVAL, "namespace \"%.140s\" is not APP/NAME", ns);
    json_t *lab;
    int rc = km__rel_labels_str(labels, &lab, err);
    if (rc < 0)
        return rc;
    char buf[2 * KM__REL_KEY_MAX];
    km_op op = { .type = KM_OP_RANGE };
    km__rel_pub_range(ns, buf, sizeof buf, &op.range.key, &op.range.range_end);
    km_store_res res = { 0 };
    if ((rc = km_store_do(r->store, &op, &res)) < 0) {
        km_store_res_free(&res);
        json_decref(lab);
        return km__rel_store_fail(err, rc);
    }
    const km_range_resp *rr = &res.txn.resp[0].range;
    json_t **docs = km__calloc(rr->nkvs ? rr->nkvs : 1, sizeof *docs);
    /* a damaged document fails the call: showing another version
     * instead would hide it (and send instances elsewhere) */
    for (size_t i = 0; docs && i < rr->nkvs && !rc; i++) {
        int kind = kind_of(&rr->kvs[i], op.range.key.n);
        json_error_t je;
        if (kind == OTHER)
            continue;
        docs[i] = json_loadb((const char *)rr->kvs[i].value.p, rr->kvs[i].value.n, 0, &je);
        if (!docs[i] && json_error_code(&je) == json_error_out_of_memory)
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
        else if (!view_ok(docs[i], kind == GRAY))
            rc = km__rel_fail(err, -EIO, "%.*s is damaged (not a published view)",
                              (int)rr->kvs[i].key.n, (const char *)rr->kvs[i].key.p);
    }
    ssize_t at = docs && !rc ? pick(rr, op.range.key.n, docs, lab, ip) : -1;
    if (!docs)
        rc = km__rel_fail(err, -ENOMEM, "out of memory");
    else if (rc < 0)
        ;
    else if (at < 0)
        rc = km__rel_fail(err, -ENOENT, "%s has no published release", ns);
    else {
        json_t *d = docs[at];
        const km_kv *kv = &rr->kvs[at];
        json_t *items = km__rel_items_view(r, ns, json_object_get(d, "items"),
                                           json_object_get(d, "secret"), clear, &rc);
        json_t *g = json_object_get(d, "gray");
        if (rc == -ENOKEY)      /* the server's fault, not the caller's */
            rc = km__rel_fail(err, -EIO, "a secret value needs the server's --secret-key-file");
        else if (rc < 0)
            rc = km__rel_fail(err, rc == -ENOMEM ? rc : -EIO,
                              "a secret value cannot be opened: %s", km_strerror(rc));
        else if (!items || !(*out = json_pack("{s:s,s:O,s:O,s:O,s:O,s:I,s:I,s:o}", "ns", ns,
                                              "format", json_object_get(d, "format"),
                                              "release", json_object_get(d, "release"),
                                              "name", json_object_get(d, "name"),
                                              "gray", g ? g : json_null(),
                                              "revision", (json_int_t)res.revision,
                                              "mod_revision", (json_int_t)kv->mod_revision,
                                              "items", items)))
            rc = km__rel_fail(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; docs && i < rr->nkvs; i++)
        json_decref(docs[i]);
    km__free(docs);
    km_store_res_free(&res);
    json_decref(lab);
    return rc;
}
