/* SPDX-License-Identifier: MIT */
/* KV calls over the JSON gateway: range, put, delete, txn and compaction,
 * and decoding etcd's JSON kvs. */
#include <string.h>
#include "client/json-int.h"
#include "enc/b64.h"
#include "rt/alloc.h"

static size_t b64_member_max(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? km__b64_dec_max(json_string_length(v)) : 0;
}

size_t km__client_kv_size(json_t *kv)
{
    return b64_member_max(kv, "key") + b64_member_max(kv, "value") + 2;
}

static int unb64(json_t *o, const char *key, const char **out, size_t *n, km__kvmem *m)
{
    json_t *v = json_object_get(o, key);
    size_t l = json_is_string(v) ? json_string_length(v) : 0;
    if (m->left < km__b64_dec_max(l) + 1)
        return -EBADMSG;
    long d = l ? km__b64_decode((uint8_t *)m->p, json_string_value(v), l) : 0;
    if (d < 0)
        return -EBADMSG;
    m->p[d] = 0;
    *out = m->p;
    *n = (size_t)d;
    m->p += d + 1;
    m->left -= (size_t)d + 1;
    return 0;
}

int km__client_kv_decode(json_t *kv, km_client_kv *dst, km__kvmem *m)
{
    memset(dst, 0, sizeof *dst);
    if (!json_is_object(kv))
        return -EBADMSG;
    if (unb64(kv, "key", &dst->key, &dst->key_len, m) ||
        unb64(kv, "value", &dst->value, &dst->value_len, m))
        return -EBADMSG;
    dst->create_revision = km__etcd_json_i64(kv, "create_revision");
    dst->mod_revision = km__etcd_json_i64(kv, "mod_revision");
    dst->version = km__etcd_json_i64(kv, "version");
    dst->lease = km__etcd_json_i64(kv, "lease");
    return 0;
}

int km__client_decode_kvs(json_t *arr, km_client_range *r)
{
    size_t n = json_array_size(arr), bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += km__client_kv_size(json_array_get(arr, i));
    char *blk = km__malloc(n * sizeof(km_client_kv) + bytes + 1);
    if (!blk)
        return -ENOMEM;
    r->priv_ = blk;
    r->kvs = (km_client_kv *)blk;
    km__kvmem m = { blk + n * sizeof(km_client_kv), bytes + 1 };
    for (size_t i = 0; i < n; i++) {
        int rc = km__client_kv_decode(json_array_get(arr, i), &r->kvs[i], &m);
        if (rc)
            return rc;
        r->n = i + 1;
    }
    return 0;
}

/* Each member set below is checked: a request that lost one to a failed
 * allocation (a range_end, a compare's target) would ask for something
 * else, so it is refused instead (json_object_set_new takes the value and
 * fails on a NULL one). */
bool km__json_span(json_t *o, const km__span *s)
{
    bool ok = !json_object_set_new(o, "key", km__etcd_json_b64(s->key, s->key_len));
    if (s->end)
        ok &= !json_object_set_new(o, "range_end", km__etcd_json_b64(s->end, s->end_len));
    return ok;
}

static int64_t header_rev(json_t *resp)
{
    return km__etcd_json_i64(json_object_get(resp, "header"), "revision");
}

int km__json_range(km_client *c, const km__span *s, int64_t rev, int64_t limit,
                   int64_t deadline, km_client_range *out)
{
    json_t *req = json_object();
    bool ok = req && km__json_span(req, s);
    if (rev > 0)
        ok &= !json_object_set_new(req, "revision", json_integer(rev));
    if (limit > 0)
        ok &= !json_object_set_new(req, "limit", json_integer(limit));
    if (!ok) {
        json_decref(req);
        return -ENOMEM;
    }
    json_t *resp;
    int rc = km__client_call(c, "/v3/kv/range", req, deadline, &resp);
    if (rc)
        return rc;
    out->revision = header_rev(resp);
    out->count = km__etcd_json_i64(resp, "count");
    out->more = json_is_true(json_object_get(resp, "more"));
    rc = km__client_decode_kvs(json_object_get(resp, "kvs"), out);
    json_decref(resp);
    return rc;
}

int km__json_put(km_client *c, const void *key, size_t key_len, const void *value,
                 size_t value_len, int64_t lease, int64_t deadline, int64_t *rev)
{
    json_t *req = json_object();
    bool ok = !json_object_set_new(req, "key", km__etcd_json_b64(key, key_len));
    ok &= !json_object_set_new(req, "value", km__etcd_json_b64(value, value_len));
    if (lease)
        ok &= !json_object_set_new(req, "lease", json_integer(lease));
    if (!ok) {
        json_decref(req);
        return -ENOMEM;
    }
    json_t *resp;
    int rc = km__client_call(c, "/v3/kv/put", req, deadline, &resp);
    if (rc)
        return rc;
    if (rev)
        *rev = header_rev(resp);
    json_decref(resp);
    return 0;
}

int km__json_del(km_client *c, const km__span *s, int64_t deadline, int64_t *deleted,
                 int64_t *rev)
{
    json_t *req = json_object();
    if (!req || !km__json_span(req, s)) {
        json_decref(req);
        return -ENOMEM;
    }
    json_t *resp;
    int rc = km__client_call(c, "/v3/kv/deleterange", req, deadline, &resp);
    if (rc)
        return rc;
    if (deleted)
        *deleted = km__etcd_json_i64(resp, "deleted");
    if (rev)
        *rev = header_rev(resp);
    json_decref(resp);
    return 0;
}

static json_t *txn_ops(const km_client_op *ops, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_object(), *w = json_object();
        km__span s;
        if (!o || !w || (ops[i].type != KM_CLIENT_OP_PUT &&
                         km__client_span(ops[i].key, ops[i].type == KM_CLIENT_OP_DELETE_PREFIX, &s))) {
            json_decref(o);
            json_decref(w);
            json_decref(a);
            return NULL;
        }
        bool ok;
        if (ops[i].type == KM_CLIENT_OP_PUT) {
            ok = !json_object_set_new(o, "key", km__etcd_json_b64(ops[i].key, strlen(ops[i].key)));
            ok &= !json_object_set_new(o, "value",
                                       km__etcd_json_b64(ops[i].value ? ops[i].value : "",
                                                         ops[i].value_len));
            ok &= !json_object_set_new(w, "request_put", o);
        } else {
            ok = km__json_span(o, &s);
            km__client_span_free(&s);
            ok &= !json_object_set_new(w, "request_delete_range", o);
        }
        if (json_array_append_new(a, w) || !ok) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int km__json_txn(km_client *c, const km_client_cmp *cmp, size_t ncmp,
                 const km_client_op *then_ops, size_t nthen,
                 const km_client_op *else_ops, size_t nelse,
                 int64_t deadline, bool *succeeded, int64_t *rev)
{
    static const char *const results[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };
    static const char *const targets[] = { "VERSION", "CREATE", "MOD", "VALUE" };
    static const char *const fields[] = { "version", "create_revision", "mod_revision", "value" };
    json_t *req = json_object(), *cs = json_array();
    bool ok = true;
    for (size_t i = 0; cs && i < ncmp; i++) {
        json_t *o = json_object();
        ok &= !json_object_set_new(o, "key", km__etcd_json_b64(cmp[i].key, strlen(cmp[i].key)));
        ok &= !json_object_set_new(o, "result", json_string(results[cmp[i].op]));
        ok &= !json_object_set_new(o, "target", json_string(targets[cmp[i].target]));
        const char *v = cmp[i].value ? cmp[i].value : "";
        ok &= !json_object_set_new(o, fields[cmp[i].target], cmp[i].target == KM_CLIENT_TGT_VALUE ?
                                   km__etcd_json_b64(v, strlen(v)) : json_integer(cmp[i].num));
        ok &= !json_array_append_new(cs, o);
    }
    json_t *t = txn_ops(then_ops, nthen), *e = txn_ops(else_ops, nelse);
    if (!ok || !req || !cs || !t || !e) {
        json_decref(req);
        json_decref(cs);
        json_decref(t);
        json_decref(e);
        return -ENOMEM;
    }
    ok = !json_object_set_new(req, "compare", cs);
    ok &= !json_object_set_new(req, "success", t);
    ok &= !json_object_set_new(req, "failure", e);
    if (!ok) {
        json_decref(req);
        return -ENOMEM;
    }
    json_t *resp;
    int rc = km__client_call(c, "/v3/kv/txn", req, deadline, &resp);
    if (rc)
        return rc;
    if (succeeded)
        *succeeded = json_is_true(json_object_get(resp, "succeeded"));
    if (rev)
        *rev = header_rev(resp);
    json_decref(resp);
    return 0;
}

int km__json_compact(km_client *c, int64_t rev, int64_t deadline)
{
    json_t *req = json_pack("{s:I}", "revision", (json_int_t)rev), *resp;
    int rc = km__client_call(c, "/v3/kv/compaction", req, deadline, &resp);
    if (!rc)
        json_decref(resp);
    return rc;
}
