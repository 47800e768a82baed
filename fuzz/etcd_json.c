/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the etcd JSON request decoders, checks and encoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "etcd/etcd-int.h"

static void check_bytes(km_bytes b)
{
    if (b.n && !b.p)
        abort();
}

/* Encodes what was decoded, to run the writer over arbitrary bytes. */
static void encode_put(const km_put_req *p)
{
    km__jbuf b = KM__JBUF_INIT;
    km_kv kv = { .key = p->key, .value = p->value, .lease = p->lease, .version = 1 };
    km_event ev = { .type = KM_EV_DELETE, .kv = kv, .has_prev = true, .prev_kv = kv };
    km__etcd_event(&b, &ev);
    km__jbuf_str(&b, (const char *)p->value.p, p->value.n);
    if (!b.err && (b.n < 2 || b.p[0] != '{'))
        abort();
    km__jbuf_free(&b);
}

static void ops(const km_op *o, size_t n, int depth)
{
    if (depth > 100)
        abort();
    for (size_t i = 0; i < n; i++) {
        switch (o[i].type) {
        case KM_OP_RANGE: check_bytes(o[i].range.key); break;
        case KM_OP_PUT: check_bytes(o[i].put.value); encode_put(&o[i].put); break;
        case KM_OP_DELETE: check_bytes(o[i].del.range_end); break;
        case KM_OP_TXN:
            ops(o[i].txn->success, o[i].txn->nsuccess, depth + 1);
            ops(o[i].txn->failure, o[i].txn->nfailure, depth + 1);
            break;
        default: break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km__arena *a = km__arena_new();
    if (!a)
        return 0;
    const char *msg = NULL;
    json_t *o = km__etcd_parse((const char *)data, size, a, &msg);
    if (!o) {
        if (!msg)
            abort();
        km__jbuf b = KM__JBUF_INIT;
        km__etcd_errbody(&b, 3, msg);
        km__jbuf_free(&b);
        km__arena_free(a);
        return 0;
    }
    km_range_req r;
    if (km__etcd_dec_range(o, a, &r, &msg) == 0) {
        check_bytes(r.key);
        (void)km__etcd_check_range(&r);
    }
    km_put_req p;
    if (km__etcd_dec_put(o, a, &p, &msg) == 0) {
        (void)km__etcd_check_put(&p);
        encode_put(&p);
    }
    km_del_req d;
    if (km__etcd_dec_del(o, a, &d, &msg) == 0)
        (void)km__etcd_check_del(&d);
    km_txn_req t;
    if (km__etcd_dec_txn(o, a, &t, &msg) == 0) {
        (void)km__etcd_check_txn(&t);
        ops(t.success, t.nsuccess, 0);
        ops(t.failure, t.nfailure, 0);
    }
    int64_t v;
    bool bv;
    (void)km__etcd_dec_i64(o, "ID", &v, &msg);
    (void)km__etcd_dec_bool(o, "keys", &bv, &msg);
    json_decref(o);
    km__arena_free(a);
    return 0;
}
