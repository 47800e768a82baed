/* SPDX-License-Identifier: MIT */
/* POST /v3/kv/range, put, deleterange, txn and compaction, each checked
 * against the caller's permissions as etcd checks them. */
#include <errno.h>
#include <string.h>
#include "etcd/authz.h"

/* Runs one op and answers with enc's body. */
static void do_op(km_etcd *e, km_http_resp *w, const km_op *op)
{
    km_store_res res;
    memset(&res, 0, sizeof res);
    int rc = km_store_do(e->store, op, &res);
    if (rc) {
        km_store_res_free(&res);
        km__etcd_fail(w, rc);
        return;
    }
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, e, res.revision);
    if (res.txn.nresp) {
        const km_op_resp *o = &res.txn.resp[0];
        switch (op->type) {
        case KM_OP_RANGE: km__etcd_enc_range(&b, &o->range); break;
        case KM_OP_PUT: km__etcd_enc_put(&b, &o->put); break;
        default: km__etcd_enc_del(&b, &o->del); break;
        }
    }
    km__jbuf_putc(&b, '}');
    km_store_res_free(&res);
    km__etcd_send(w, &b);
}

/* Whether the request's caller may run op: 0 or a KM_EAUTH_ error. As in
 * etcd, asked after the request was found valid, so a malformed request
 * is refused as such whoever sends it. */
static int allowed(km_etcd *e, km_http_req *r, const km_op *op)
{
    km_auth_id id;
    int rc = km__etcd_http_who(e, r, &id);
    return rc ? rc : km__etcd_authz_op(e->auth, &id, op);
}

/* Decodes and checks one operation of op->type: 0, or -EINVAL with *msg
 * (etcd's wording), or another -errno. */
static int decode_op(json_t *o, km__arena *a, km_op *op, const char **msg)
{
    int rc;
    switch (op->type) {
    case KM_OP_RANGE:
        if (!(rc = km__etcd_dec_range(o, a, &op->range, msg)))
            *msg = km__etcd_check_range(&op->range);
        break;
    case KM_OP_PUT:
        if (!(rc = km__etcd_dec_put(o, a, &op->put, msg)))
            *msg = km__etcd_check_put(&op->put);
        break;
    default:
        if (!(rc = km__etcd_dec_del(o, a, &op->del, msg)))
            *msg = km__etcd_check_del(&op->del);
        break;
    }
    return rc ? rc : *msg ? -EINVAL : 0;
}

/* The range, put and deleterange endpoints: one operation each. */
static void single(km_http_req *r, km_http_resp *w, km_etcd *e, int type)
{
    km__arena *a;
    json_t *o;
    if (km__etcd_begin(e, r, w, &a, &o))
        return;
    km_op op = { .type = type };
    const char *msg = NULL;
    int rc = decode_op(o, a, &op, &msg);
    if (rc)
        msg ? km__etcd_fail_msg(w, 400, 3, msg) : km__etcd_fail(w, rc);
    else if ((rc = allowed(e, r, &op)))
        km__etcd_fail(w, rc);
    else
        do_op(e, w, &op);
    km__etcd_end(a, o);
}

void km__etcd_range(km_http_req *r, km_http_resp *w, void *etcd)
{
    single(r, w, etcd, KM_OP_RANGE);
}

void km__etcd_put(km_http_req *r, km_http_resp *w, void *etcd)
{
    single(r, w, etcd, KM_OP_PUT);
}

void km__etcd_delete(km_http_req *r, km_http_resp *w, void *etcd)
{
    single(r, w, etcd, KM_OP_DELETE);
}

void km__etcd_txn(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km__arena *a;
    json_t *o;
    if (km__etcd_begin(e, r, w, &a, &o))
        return;
    km_txn_req t;
    const char *msg = NULL;
    int rc = km__etcd_dec_txn(o, a, &t, &msg);
    if (!rc && (msg = km__etcd_check_txn(&t)))
        rc = -EINVAL;
    if (!rc)
        rc = allowed(e, r, &(km_op){ .type = KM_OP_TXN, .txn = &t });
    if (rc) {
        msg ? km__etcd_fail_msg(w, 400, 3, msg) : km__etcd_fail(w, rc);
        km__etcd_end(a, o);
        return;
    }
    km_store_res res;
    memset(&res, 0, sizeof res);
    rc = km_store_txn(e->store, &t, &res);
    if (rc) {
        km_store_res_free(&res);
        km__etcd_fail(w, rc);
        km__etcd_end(a, o);
        return;
    }
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, e, res.revision);
    km__etcd_enc_txn(&b, res.revision, &res.txn);
    km__jbuf_putc(&b, '}');
    km_store_res_free(&res);
    km__etcd_end(a, o);
    km__etcd_send(w, &b);
}

void km__etcd_compact(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km__arena *a;
    json_t *o;
    if (km__etcd_begin(e, r, w, &a, &o))
        return;
    int64_t rev = 0, cur = 0;
    bool physical;
    const char *msg = NULL;
    int rc = km__etcd_dec_i64a(o, "revision", a, &rev, &msg);
    if (!rc)
        rc = km__etcd_dec_bool(o, "physical", &physical, &msg);   /* compaction is always durable here */
    km_auth_id id;
    if (rc) {
        msg ? km__etcd_fail_msg(w, 400, 3, msg) : km__etcd_fail(w, rc);
    } else if ((rc = km__etcd_http_who(e, r, &id)) ||
               (rc = km_auth_check_admin(e->auth, &id))) {
        /* etcd 3.4 lets anyone compact; kumo asks for the root role, as
         * its gRPC Compact does (and etcd's own maintenance calls) */
        km__etcd_fail(w, rc);
    } else if ((rc = km_store_compact(e->store, rev, &cur))) {
        km__etcd_fail(w, rc);
    } else {
        km__jbuf b = KM__JBUF_INIT;
        km__jbuf_puts(&b, "{\"header\":");
        km__etcd_header(&b, e, cur);
        km__jbuf_putc(&b, '}');
        km__etcd_send(w, &b);
    }
    km__etcd_end(a, o);
}
