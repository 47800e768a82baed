/* SPDX-License-Identifier: MIT */
/* Encoders for etcd's JSON responses: header, kv, event and kv responses. */
#include "etcd/etcd-int.h"

void km__etcd_header(km__jbuf *b, const km_etcd *e, int64_t revision)
{
    km__jbuf_putc(b, '{');
    if (e->cluster_id) {
        km__jbuf_key(b, "cluster_id");
        km__jbuf_u64(b, e->cluster_id);
    }
    if (e->member_id) {
        km__jbuf_key(b, "member_id");
        km__jbuf_u64(b, e->member_id);
    }
    if (revision) {
        km__jbuf_key(b, "revision");
        km__jbuf_i64(b, revision);
    }
    if (e->raft_term) {
        km__jbuf_key(b, "raft_term");
        km__jbuf_u64(b, e->raft_term);
    }
    km__jbuf_putc(b, '}');
}

static void i64_field(km__jbuf *b, const char *name, int64_t v)
{
    if (v) {
        km__jbuf_key(b, name);
        km__jbuf_i64(b, v);
    }
}

static void bytes_field(km__jbuf *b, const char *name, km_bytes v)
{
    if (v.n) {
        km__jbuf_key(b, name);
        km__jbuf_b64(b, v.p, v.n);
    }
}

void km__etcd_kv(km__jbuf *b, const km_kv *kv)
{
    km__jbuf_putc(b, '{');
    bytes_field(b, "key", kv->key);
    i64_field(b, "create_revision", kv->create_revision);
    i64_field(b, "mod_revision", kv->mod_revision);
    i64_field(b, "version", kv->version);
    bytes_field(b, "value", kv->value);
    i64_field(b, "lease", kv->lease);
    km__jbuf_putc(b, '}');
}

void km__etcd_event(km__jbuf *b, const km_event *ev)
{
    km__jbuf_putc(b, '{');
    if (ev->type == KM_EV_DELETE) {
        km__jbuf_key(b, "type");
        km__jbuf_puts(b, "\"DELETE\"");
    }
    km__jbuf_key(b, "kv");
    km__etcd_kv(b, &ev->kv);
    if (ev->has_prev) {
        km__jbuf_key(b, "prev_kv");
        km__etcd_kv(b, &ev->prev_kv);
    }
    km__jbuf_putc(b, '}');
}

static void kvs_field(km__jbuf *b, const char *name, const km_kv *kvs, size_t n)
{
    if (!n)
        return;
    km__jbuf_key(b, name);
    km__jbuf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        km__jbuf_sep(b);
        km__etcd_kv(b, &kvs[i]);
    }
    km__jbuf_putc(b, ']');
}

/* The bodies below follow the "header" member the caller wrote. */

void km__etcd_enc_range(km__jbuf *b, const km_range_resp *r)
{
    kvs_field(b, "kvs", r->kvs, r->nkvs);
    if (r->more) {
        km__jbuf_key(b, "more");
        km__jbuf_puts(b, "true");
    }
    i64_field(b, "count", r->count);
}

void km__etcd_enc_put(km__jbuf *b, const km_put_resp *r)
{
    if (r->has_prev) {
        km__jbuf_key(b, "prev_kv");
        km__etcd_kv(b, &r->prev_kv);
    }
}

void km__etcd_enc_del(km__jbuf *b, const km_del_resp *r)
{
    i64_field(b, "deleted", r->deleted);
    kvs_field(b, "prev_kvs", r->prev_kvs, r->nprev);
}

/* etcd stamps each operation's header with the revision the txn had when
 * the operation ran: the old one until the first change, the new one from
 * there on. */
typedef struct { int64_t old_rev, new_rev; bool changed; } txn_walk;

static void enc_ops(km__jbuf *b, txn_walk *tw, const km_txn_resp *r);

static void op_header(km__jbuf *b, const txn_walk *tw)
{
    int64_t rev = tw->changed ? tw->new_rev : tw->old_rev;
    km__jbuf_key(b, "header");
    km__jbuf_putc(b, '{');
    i64_field(b, "revision", rev);
    km__jbuf_putc(b, '}');
}

static void enc_ops(km__jbuf *b, txn_walk *tw, const km_txn_resp *r)
{
    if (r->succeeded) {
        km__jbuf_key(b, "succeeded");
        km__jbuf_puts(b, "true");
    }
    if (!r->nresp)
        return;
    km__jbuf_key(b, "responses");
    km__jbuf_putc(b, '[');
    for (size_t i = 0; i < r->nresp; i++) {
        const km_op_resp *o = &r->resp[i];
        km__jbuf_sep(b);
        km__jbuf_putc(b, '{');
        switch (o->type) {
        case KM_OP_RANGE:
            km__jbuf_key(b, "response_range");
            km__jbuf_putc(b, '{');
            op_header(b, tw);
            km__etcd_enc_range(b, &o->range);
            break;
        case KM_OP_PUT:
            tw->changed = true;
            km__jbuf_key(b, "response_put");
            km__jbuf_putc(b, '{');
            op_header(b, tw);
            km__etcd_enc_put(b, &o->put);
            break;
        case KM_OP_DELETE:
            if (o->del.deleted)
                tw->changed = true;
            km__jbuf_key(b, "response_delete_range");
            km__jbuf_putc(b, '{');
            op_header(b, tw);
            km__etcd_enc_del(b, &o->del);
            break;
        default:
            /* a nested txn's own header stays empty, as etcd's does */
            km__jbuf_key(b, "response_txn");
            km__jbuf_putc(b, '{');
            km__jbuf_key(b, "header");
            km__jbuf_puts(b, "{}");
            if (o->txn)
                enc_ops(b, tw, o->txn);
            break;
        }
        km__jbuf_puts(b, "}}");
    }
    km__jbuf_putc(b, ']');
}

bool km__etcd_txn_changed(const km_txn_resp *r)
{
    for (size_t i = 0; i < r->nresp; i++) {
        const km_op_resp *o = &r->resp[i];
        if (o->type == KM_OP_PUT || (o->type == KM_OP_DELETE && o->del.deleted) ||
            (o->type == KM_OP_TXN && o->txn && km__etcd_txn_changed(o->txn)))
            return true;
    }
    return false;
}

void km__etcd_enc_txn(km__jbuf *b, int64_t rev, const km_txn_resp *r)
{
    txn_walk tw = { .old_rev = km__etcd_txn_changed(r) ? rev - 1 : rev, .new_rev = rev };
    enc_ops(b, &tw, r);
}
