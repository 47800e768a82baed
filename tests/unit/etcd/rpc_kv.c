/* SPDX-License-Identifier: MIT */
/* etcd's KV service over gRPC: Range with every option, Put, DeleteRange,
 * Txn (compares, nesting, per-operation headers) and Compact, with etcd's
 * codes and messages; expectations as etcd 3.4 answers the same requests
 * on a fresh data dir. */
#include "util.h"
#include "rpcfix.h"

#define RANGE "/etcdserverpb.KV/Range"
#define PUT "/etcdserverpb.KV/Put"
#define DEL "/etcdserverpb.KV/DeleteRange"
#define TXN "/etcdserverpb.KV/Txn"
#define COMPACT "/etcdserverpb.KV/Compact"

#define N(x) (sizeof(x) / sizeof((x)[0]))

static ProtobufCBinaryData B(const char *s)
{
    return (ProtobufCBinaryData){ strlen(s), (uint8_t *)s };
}

/* range_end "\0": every key from key on; with key "\0" too, all keys */
static const ProtobufCBinaryData NUL = { 1, (uint8_t *)"" };

static bool bytes_is(ProtobufCBinaryData b, const char *s)
{
    return b.len == strlen(s) && (!b.len || !memcmp(b.data, s, b.len));
}

static void header_is(const Etcdserverpb__ResponseHeader *h, int64_t rev)
{
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(h->cluster_id, FIX_CLUSTER);
    ck_assert_uint_eq(h->member_id, FIX_MEMBER);
    ck_assert_int_eq(h->revision, rev);
    ck_assert_uint_eq(h->raft_term, 2);
}

static void kv_is(const Mvccpb__KeyValue *kv, const char *key, const char *value, int64_t create,
                  int64_t mod, int64_t version)
{
    ck_assert_msg(bytes_is(kv->key, key), "key '%.*s', want '%s'", (int)kv->key.len,
                  (const char *)kv->key.data, key);
    ck_assert_msg(bytes_is(kv->value, value), "value of %s '%.*s', want '%s'", key,
                  (int)kv->value.len, (const char *)kv->value.data, value);
    ck_assert_int_eq(kv->create_revision, create);
    ck_assert_int_eq(kv->mod_revision, mod);
    ck_assert_int_eq(kv->version, version);
    ck_assert_int_eq(kv->lease, 0);
}

/* The keys of r, joined by commas. */
static void keys_are(const Etcdserverpb__RangeResponse *r, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; i < r->n_kvs; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "",
                 (int)r->kvs[i]->key.len, (const char *)r->kvs[i]->key.data);
    ck_assert_str_eq(got, want);
}

static Etcdserverpb__RangeResponse *get(rpcfix *f, const Etcdserverpb__RangeRequest *r)
{
    return (Etcdserverpb__RangeResponse *)rpcfix_ok(f, RANGE, &r->base,
                                                    &etcdserverpb__range_response__descriptor);
}

static Etcdserverpb__RangeResponse *get_all(rpcfix *f)
{
    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    r.key = NUL;
    r.range_end = NUL;
    return get(f, &r);
}

static Etcdserverpb__PutResponse *put_req(rpcfix *f, const Etcdserverpb__PutRequest *p)
{
    return (Etcdserverpb__PutResponse *)rpcfix_ok(f, PUT, &p->base,
                                                  &etcdserverpb__put_response__descriptor);
}

static void put(rpcfix *f, const char *k, const char *v)
{
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key = B(k);
    p.value = B(v);
    km_grpc_pb_free(&put_req(f, &p)->base);
}

static void fails(rpcfix *f, const char *method, const ProtobufCMessage *m, int code,
                  const char *msg)
{
    /* the response type does not matter: no message comes */
    rpcfix_fails(f, method, m, &etcdserverpb__range_response__descriptor, code, msg);
}

/* a=2 b=3 c=4 ab=5 b=6 (version 2) z=7 (empty value) c=8 (version 2) */
static void seed(rpcfix *f)
{
    static const char *const kv[][2] = {
        { "a", "3" }, { "b", "1" }, { "c", "2" }, { "ab", "x" }, { "b", "22" }, { "z", "" }, { "c", "0" },
    };
    for (size_t i = 0; i < N(kv); i++)
        put(f, kv[i][0], kv[i][1]);
}

/* ---- Range ---- */

static void put_get_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    p.key = B("foo");
    p.value = B("bar");
    Etcdserverpb__PutResponse *pr = put_req(&f, &p);
    header_is(pr->header, 2);
    ck_assert_ptr_null(pr->prev_kv);
    km_grpc_pb_free(&pr->base);

    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    r.key = B("foo");
    Etcdserverpb__RangeResponse *rr = get(&f, &r);
    header_is(rr->header, 2);
    ck_assert_uint_eq(rr->n_kvs, 1);
    kv_is(rr->kvs[0], "foo", "bar", 2, 2, 1);
    ck_assert_int_eq(rr->count, 1);
    ck_assert(!rr->more);
    km_grpc_pb_free(&rr->base);

    /* a missing key: no kvs, count 0, the header at the current revision */
    r.key = B("nope");
    rr = get(&f, &r);
    header_is(rr->header, 2);
    ck_assert_uint_eq(rr->n_kvs, 0);
    ck_assert_int_eq(rr->count, 0);
    km_grpc_pb_free(&rr->base);

    /* a second put: version 2, create stays */
    put(&f, "foo", "baz");
    r.key = B("foo");
    rr = get(&f, &r);
    header_is(rr->header, 3);
    kv_is(rr->kvs[0], "foo", "baz", 2, 3, 2);
    km_grpc_pb_free(&rr->base);

    /* an empty key is etcd's validation error */
    r.key = B("");
    fails(&f, RANGE, &r.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
    r.range_end = NUL;
    fails(&f, RANGE, &r.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
    rpcfix_down(&f);
}

START_TEST(put_get) { t_run(put_get_body, NULL); }
END_TEST

static void range_options_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    Etcdserverpb__RangeResponse *rr;

    /* all keys, in key order, the values and revisions as stored */
    rr = get_all(&f);
    header_is(rr->header, 8);
    keys_are(rr, "a,ab,b,c,z");
    kv_is(rr->kvs[0], "a", "3", 2, 2, 1);
    kv_is(rr->kvs[2], "b", "22", 3, 6, 2);
    kv_is(rr->kvs[4], "z", "", 7, 7, 1);
    ck_assert_int_eq(rr->count, 5);
    km_grpc_pb_free(&rr->base);

    /* a prefix as etcdctl asks for it: [a, b) */
    r.key = B("a");
    r.range_end = B("b");
    rr = get(&f, &r);
    keys_are(rr, "a,ab");
    ck_assert_int_eq(rr->count, 2);
    km_grpc_pb_free(&rr->base);

    /* from a key on */
    r.key = B("b");
    r.range_end = NUL;
    rr = get(&f, &r);
    keys_are(rr, "b,c,z");
    ck_assert_int_eq(rr->count, 3);
    km_grpc_pb_free(&rr->base);

    /* range_end at or below key: nothing, and no error */
    r.key = B("b");
    r.range_end = B("a");
    rr = get(&f, &r);
    header_is(rr->header, 8);
    ck_assert_uint_eq(rr->n_kvs, 0);
    ck_assert_int_eq(rr->count, 0);
    km_grpc_pb_free(&rr->base);

    /* limit: more and the whole count */
    r.key = NUL;
    r.range_end = NUL;
    r.limit = 2;
    rr = get(&f, &r);
    keys_are(rr, "a,ab");
    ck_assert(rr->more);
    ck_assert_int_eq(rr->count, 5);
    km_grpc_pb_free(&rr->base);
    r.limit = 5;
    rr = get(&f, &r);
    keys_are(rr, "a,ab,b,c,z");
    ck_assert(!rr->more);
    km_grpc_pb_free(&rr->base);
    r.limit = -1;   /* a negative limit is none */
    rr = get(&f, &r);
    ck_assert_uint_eq(rr->n_kvs, 5);
    ck_assert(!rr->more);
    km_grpc_pb_free(&rr->base);

    /* keys_only: no values, the rest stays */
    r.limit = 0;
    r.keys_only = true;
    rr = get(&f, &r);
    keys_are(rr, "a,ab,b,c,z");
    kv_is(rr->kvs[2], "b", "", 3, 6, 2);
    km_grpc_pb_free(&rr->base);

    /* count_only: the count alone, limit or not */
    r.keys_only = false;
    r.count_only = true;
    r.limit = 1;
    rr = get(&f, &r);
    header_is(rr->header, 8);
    ck_assert_uint_eq(rr->n_kvs, 0);
    ck_assert_int_eq(rr->count, 5);
    ck_assert(!rr->more);
    km_grpc_pb_free(&rr->base);
    rpcfix_down(&f);
}

START_TEST(range_options) { t_run(range_options_body, NULL); }
END_TEST

static void range_sort_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    static const struct {
        int order, target;
        const char *want;
    } cases[] = {
        { 0, 0, "a,ab,b" },
        { 1, 0, "a,ab,b" },
        { 2, 0, "z,c,b" },
        { 1, 1, "a,ab,z" },         /* ties in key order */
        { 2, 1, "b,c,a" },
        { 1, 2, "a,b,c" },
        { 2, 2, "z,ab,c" },
        { 1, 3, "a,ab,b" },
        { 2, 3, "c,z,b" },
        { 1, 4, "z,c,b" },          /* "" < "0" < "22" < "3" */
        { 2, 4, "ab,a,b" },
        /* etcd: no order with another target sorts ascending, but only
         * the first limit + 1 keys it fetched in key order */
        { 0, 1, "a,ab,b" },
        { 0, 4, "c,b,a" },
        /* an order outside the enum sorts nothing */
        { 3, 1, "a,ab,b" },
        { -1, 4, "a,ab,b" },
    };
    for (size_t i = 0; i < N(cases); i++) {
        Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
        r.key = NUL;
        r.range_end = NUL;
        r.limit = 3;
        r.sort_order = cases[i].order;
        r.sort_target = cases[i].target;
        Etcdserverpb__RangeResponse *rr = get(&f, &r);
        ck_assert_msg(rr->more && rr->count == 5, "case %zu", i);
        keys_are(rr, cases[i].want);
        km_grpc_pb_free(&rr->base);
    }
    /* no limit: a non-key target sorts everything ascending */
    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    r.key = NUL;
    r.range_end = NUL;
    r.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__VALUE;
    Etcdserverpb__RangeResponse *rr = get(&f, &r);
    keys_are(rr, "z,c,b,a,ab");
    km_grpc_pb_free(&rr->base);
    rpcfix_down(&f);
}

START_TEST(range_sort) { t_run(range_sort_body, NULL); }
END_TEST

static void range_revisions_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    Etcdserverpb__RangeResponse *rr;
    r.key = NUL;
    r.range_end = NUL;

    /* an old revision: the keys as they were; the header stays current */
    r.revision = 4;
    rr = get(&f, &r);
    header_is(rr->header, 8);
    keys_are(rr, "a,b,c");
    kv_is(rr->kvs[1], "b", "1", 3, 3, 1);
    kv_is(rr->kvs[2], "c", "2", 4, 4, 1);
    km_grpc_pb_free(&rr->base);
    r.revision = -5;    /* <= 0: the newest */
    rr = get(&f, &r);
    ck_assert_uint_eq(rr->n_kvs, 5);
    km_grpc_pb_free(&rr->base);

    r.revision = 9;
    fails(&f, RANGE, &r.base, KM_GRPC_OUT_OF_RANGE,
          "etcdserver: mvcc: required revision is a future revision");

    /* revision filters: the count stays the range's */
    r.revision = 0;
    r.min_mod_revision = 4;
    r.max_mod_revision = 6;
    rr = get(&f, &r);
    keys_are(rr, "ab,b");
    ck_assert_int_eq(rr->count, 5);
    km_grpc_pb_free(&rr->base);
    r.min_mod_revision = r.max_mod_revision = 0;
    r.min_create_revision = 3;
    r.max_create_revision = 4;
    rr = get(&f, &r);
    keys_are(rr, "b,c");
    km_grpc_pb_free(&rr->base);
    r.max_create_revision = 0;
    r.limit = 1;
    rr = get(&f, &r);
    keys_are(rr, "ab");
    ck_assert(rr->more);
    km_grpc_pb_free(&rr->base);

    /* compacted: below the compact revision fails, at it reads */
    Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    c.revision = 5;
    Etcdserverpb__CompactionResponse *cr = (Etcdserverpb__CompactionResponse *)rpcfix_ok(
        &f, COMPACT, &c.base, &etcdserverpb__compaction_response__descriptor);
    header_is(cr->header, 8);
    km_grpc_pb_free(&cr->base);
    Etcdserverpb__RangeRequest o = ETCDSERVERPB__RANGE_REQUEST__INIT;
    o.key = B("a");
    o.revision = 4;
    fails(&f, RANGE, &o.base, KM_GRPC_OUT_OF_RANGE,
          "etcdserver: mvcc: required revision has been compacted");
    o.revision = 5;
    rr = get(&f, &o);
    kv_is(rr->kvs[0], "a", "3", 2, 2, 1);
    km_grpc_pb_free(&rr->base);
    rpcfix_down(&f);
}

START_TEST(range_revisions) { t_run(range_revisions_body, NULL); }
END_TEST

/* ---- Put, DeleteRange ---- */

static void put_options_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    Etcdserverpb__PutRequest p = ETCDSERVERPB__PUT_REQUEST__INIT;
    Etcdserverpb__PutResponse *pr;

    /* prev_kv on a new key: none */
    p.key = B("k");
    p.value = B("v1");
    p.prev_kv = true;
    pr = put_req(&f, &p);
    header_is(pr->header, 2);
    ck_assert_ptr_null(pr->prev_kv);
    km_grpc_pb_free(&pr->base);
    p.value = B("v2");
    pr = put_req(&f, &p);
    header_is(pr->header, 3);
    ck_assert_ptr_nonnull(pr->prev_kv);
    kv_is(pr->prev_kv, "k", "v1", 2, 2, 1);
    km_grpc_pb_free(&pr->base);

    /* ignore_value keeps the value, ignore_lease the lease */
    p.value = B("");
    p.ignore_value = true;
    pr = put_req(&f, &p);
    header_is(pr->header, 4);
    kv_is(pr->prev_kv, "k", "v2", 2, 3, 2);
    km_grpc_pb_free(&pr->base);
    p.ignore_value = false;
    p.ignore_lease = true;
    p.value = B("v3");
    pr = put_req(&f, &p);
    km_grpc_pb_free(&pr->base);
    Etcdserverpb__RangeRequest r = ETCDSERVERPB__RANGE_REQUEST__INIT;
    r.key = B("k");
    Etcdserverpb__RangeResponse *rr = get(&f, &r);
    kv_is(rr->kvs[0], "k", "v3", 2, 5, 4);
    km_grpc_pb_free(&rr->base);

    /* etcd's errors, nothing written */
    p.ignore_lease = false;
    p.ignore_value = true;
    fails(&f, PUT, &p.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: value is provided");
    p.ignore_value = false;
    p.ignore_lease = true;
    p.lease = 7;
    fails(&f, PUT, &p.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: lease is provided");
    p.ignore_lease = false;
    fails(&f, PUT, &p.base, KM_GRPC_NOT_FOUND, "etcdserver: requested lease not found");
    p.lease = 0;
    p.key = B("missing");
    p.value = B("");
    p.ignore_value = true;
    fails(&f, PUT, &p.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key not found");
    p.ignore_value = false;
    p.ignore_lease = true;
    fails(&f, PUT, &p.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key not found");
    p.ignore_lease = false;
    p.key = B("");
    fails(&f, PUT, &p.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");

    /* a request over etcd's 1.5 MiB limit */
    static char big[1536 * 1024 + 1];
    memset(big, 'x', sizeof big - 1);
    p.key = B("big");
    p.value = B(big);
    fails(&f, PUT, &p.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: request is too large");

    rr = get_all(&f);
    header_is(rr->header, 5);
    ck_assert_uint_eq(rr->n_kvs, 1);
    km_grpc_pb_free(&rr->base);
    rpcfix_down(&f);
}

START_TEST(put_options) { t_run(put_options_body, NULL); }
END_TEST

static Etcdserverpb__DeleteRangeResponse *del(rpcfix *f, const Etcdserverpb__DeleteRangeRequest *d)
{
    return (Etcdserverpb__DeleteRangeResponse *)rpcfix_ok(
        f, DEL, &d->base, &etcdserverpb__delete_range_response__descriptor);
}

static void delete_range_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    Etcdserverpb__DeleteRangeRequest d = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    Etcdserverpb__DeleteRangeResponse *dr;

    /* nothing deleted: no new revision */
    d.key = B("nothere");
    d.prev_kv = true;
    dr = del(&f, &d);
    header_is(dr->header, 8);
    ck_assert_int_eq(dr->deleted, 0);
    ck_assert_uint_eq(dr->n_prev_kvs, 0);
    km_grpc_pb_free(&dr->base);

    /* a range, with the deleted versions */
    d.key = B("a");
    d.range_end = B("b");
    dr = del(&f, &d);
    header_is(dr->header, 9);
    ck_assert_int_eq(dr->deleted, 2);
    ck_assert_uint_eq(dr->n_prev_kvs, 2);
    kv_is(dr->prev_kvs[0], "a", "3", 2, 2, 1);
    kv_is(dr->prev_kvs[1], "ab", "x", 5, 5, 1);
    km_grpc_pb_free(&dr->base);

    /* without prev_kv: the count only */
    d.key = B("c");
    d.range_end = NUL;
    d.prev_kv = false;
    dr = del(&f, &d);
    header_is(dr->header, 10);
    ck_assert_int_eq(dr->deleted, 2);
    ck_assert_uint_eq(dr->n_prev_kvs, 0);
    km_grpc_pb_free(&dr->base);

    Etcdserverpb__RangeResponse *rr = get_all(&f);
    keys_are(rr, "b");
    km_grpc_pb_free(&rr->base);

    d.key = B("");
    fails(&f, DEL, &d.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
    rpcfix_down(&f);
}

START_TEST(delete_range) { t_run(delete_range_body, NULL); }
END_TEST

/* ---- Txn ---- */

/* A request op and the request it holds, on the caller's stack. */
typedef struct {
    Etcdserverpb__RequestOp op;
    union {
        Etcdserverpb__RangeRequest r;
        Etcdserverpb__PutRequest p;
        Etcdserverpb__DeleteRangeRequest d;
        Etcdserverpb__TxnRequest t;
    };
} xop;

static Etcdserverpb__RequestOp *xrange(xop *x, const char *key)
{
    etcdserverpb__request_op__init(&x->op);
    etcdserverpb__range_request__init(&x->r);
    x->r.key = B(key);
    x->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    x->op.request_range = &x->r;
    return &x->op;
}

static Etcdserverpb__RequestOp *xput(xop *x, const char *key, const char *value)
{
    etcdserverpb__request_op__init(&x->op);
    etcdserverpb__put_request__init(&x->p);
    x->p.key = B(key);
    x->p.value = B(value);
    x->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    x->op.request_put = &x->p;
    return &x->op;
}

static Etcdserverpb__RequestOp *xdel(xop *x, const char *key, bool prev)
{
    etcdserverpb__request_op__init(&x->op);
    etcdserverpb__delete_range_request__init(&x->d);
    x->d.key = B(key);
    x->d.prev_kv = prev;
    x->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    x->op.request_delete_range = &x->d;
    return &x->op;
}

static Etcdserverpb__RequestOp *xtxn(xop *x, Etcdserverpb__Compare **cmp, size_t nc,
                                     Etcdserverpb__RequestOp **s, size_t ns,
                                     Etcdserverpb__RequestOp **fl, size_t nf)
{
    etcdserverpb__request_op__init(&x->op);
    etcdserverpb__txn_request__init(&x->t);
    x->t.compare = cmp;
    x->t.n_compare = nc;
    x->t.success = s;
    x->t.n_success = ns;
    x->t.failure = fl;
    x->t.n_failure = nf;
    x->op.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_TXN;
    x->op.request_txn = &x->t;
    return &x->op;
}

/* A compare of key's target with num (or value, for VALUE). */
static Etcdserverpb__Compare *xcmp(Etcdserverpb__Compare *c, const char *key, int target,
                                   int result, int64_t num, const char *value)
{
    etcdserverpb__compare__init(c);
    c->key = B(key);
    c->target = target;
    c->result = result;
    switch (target) {
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
        c->version = num;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION;
        c->create_revision = num;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
        c->mod_revision = num;
        break;
    case ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
        c->value = B(value);
        break;
    default:
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_LEASE;
        c->lease = num;
        break;
    }
    return c;
}

static Etcdserverpb__TxnResponse *txn(rpcfix *f, const Etcdserverpb__TxnRequest *t)
{
    return (Etcdserverpb__TxnResponse *)rpcfix_ok(f, TXN, &t->base,
                                                  &etcdserverpb__txn_response__descriptor);
}

/* Whether the compare held, seen from which branch ran. */
static bool holds(rpcfix *f, Etcdserverpb__Compare *c)
{
    xop s, fl;
    Etcdserverpb__RequestOp *so = xrange(&s, "a"), *fo = xrange(&fl, "b");
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    t.compare = &c;
    t.n_compare = 1;
    t.success = &so;
    t.n_success = 1;
    t.failure = &fo;
    t.n_failure = 1;
    Etcdserverpb__TxnResponse *tr = txn(f, &t);
    header_is(tr->header, 8);
    ck_assert_uint_eq(tr->n_responses, 1);
    ck_assert_int_eq(tr->responses[0]->response_case,
                     ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE);
    keys_are(tr->responses[0]->response_range, tr->succeeded ? "a" : "b");
    bool ok = tr->succeeded;
    km_grpc_pb_free(&tr->base);
    return ok;
}

static void txn_compare_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    enum { EQ, GT, LT, NE };
    enum { VER, CRE, MOD, VAL, LEA };
    /* b: version 2, create 3, mod 6, value "22", no lease */
    static const struct {
        const char *key;
        int target, result;
        int64_t num;
        const char *value;
        bool want;
    } cases[] = {
        { "b", VER, EQ, 2, NULL, true },   { "b", VER, EQ, 1, NULL, false },
        { "b", VER, GT, 1, NULL, true },   { "b", VER, GT, 2, NULL, false },
        { "b", VER, LT, 3, NULL, true },   { "b", VER, LT, 2, NULL, false },
        { "b", VER, NE, 1, NULL, true },   { "b", VER, NE, 2, NULL, false },
        { "b", CRE, EQ, 3, NULL, true },   { "b", CRE, GT, 3, NULL, false },
        { "b", CRE, LT, 4, NULL, true },   { "b", CRE, NE, 3, NULL, false },
        { "b", MOD, EQ, 6, NULL, true },   { "b", MOD, GT, 5, NULL, true },
        { "b", MOD, LT, 6, NULL, false },  { "b", MOD, NE, 6, NULL, false },
        { "b", VAL, EQ, 0, "22", true },   { "b", VAL, EQ, 0, "2", false },
        { "b", VAL, GT, 0, "2", true },    { "b", VAL, LT, 0, "3", true },
        { "b", VAL, NE, 0, "22", false },  { "b", VAL, LT, 0, "22", false },
        { "b", LEA, EQ, 0, NULL, true },   { "b", LEA, GT, 0, NULL, false },
        { "b", LEA, NE, 5, NULL, true },   { "b", LEA, LT, 1, NULL, true },
        /* a missing key: version, create, mod and lease 0; value never */
        { "no", VER, EQ, 0, NULL, true },  { "no", CRE, EQ, 0, NULL, true },
        { "no", MOD, LT, 1, NULL, true },  { "no", LEA, EQ, 0, NULL, true },
        { "no", VER, GT, 0, NULL, false }, { "no", VAL, EQ, 0, "", false },
        { "no", VAL, NE, 0, "x", false },
    };
    for (size_t i = 0; i < N(cases); i++) {
        Etcdserverpb__Compare c;
        xcmp(&c, cases[i].key, cases[i].target, cases[i].result, cases[i].num, cases[i].value);
        ck_assert_msg(holds(&f, &c) == cases[i].want, "case %zu", i);
    }

    /* the operand counts only when the oneof holds the target's member */
    Etcdserverpb__Compare c;
    xcmp(&c, "b", VER, EQ, 0, NULL);
    c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_MOD_REVISION;
    c.mod_revision = 2;
    ck_assert(!holds(&f, &c));          /* version 2 against 0 */
    xcmp(&c, "b", VAL, GT, 0, "");
    c.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
    c.version = 100;
    ck_assert(holds(&f, &c));           /* "22" against "" */

    /* a range compare must hold for every key in it */
    xcmp(&c, "a", VER, GT, 0, NULL);
    c.range_end = B("z");
    ck_assert(holds(&f, &c));
    xcmp(&c, "a", VER, EQ, 1, NULL);
    c.range_end = B("z");
    ck_assert(!holds(&f, &c));          /* b and c are at version 2 */

    /* several compares: all must hold */
    Etcdserverpb__Compare c2[2], *pc[2] = { &c2[0], &c2[1] };
    xcmp(&c2[0], "b", VER, EQ, 2, NULL);
    xcmp(&c2[1], "c", VAL, EQ, 0, "1");
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    t.compare = pc;
    t.n_compare = 2;
    Etcdserverpb__TxnResponse *tr = txn(&f, &t);
    ck_assert(!tr->succeeded);
    ck_assert_uint_eq(tr->n_responses, 0);
    header_is(tr->header, 8);
    km_grpc_pb_free(&tr->base);
    rpcfix_down(&f);
}

START_TEST(txn_compare) { t_run(txn_compare_body, NULL); }
END_TEST

static void op_rev(const Etcdserverpb__ResponseOp *o, int64_t rev)
{
    const Etcdserverpb__ResponseHeader *h =
        o->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE ? o->response_range->header
        : o->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT ? o->response_put->header
        : o->response_delete_range->header;
    /* an operation's header carries its revision alone */
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(h->revision, rev);
    ck_assert_uint_eq(h->cluster_id, 0);
    ck_assert_uint_eq(h->member_id, 0);
    ck_assert_uint_eq(h->raft_term, 0);
}

static void txn_ops_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    /* each operation's header: the old revision until the first change */
    xop x[7];
    Etcdserverpb__RequestOp *ops[] = {
        xrange(&x[0], "a"), xdel(&x[1], "nothere", true), xrange(&x[2], "b"),
        xput(&x[3], "x", "1"), xrange(&x[4], "x"), xdel(&x[5], "c", true), xrange(&x[6], "c"),
    };
    x[3].p.prev_kv = true;
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    t.success = ops;
    t.n_success = N(ops);
    Etcdserverpb__TxnResponse *tr = txn(&f, &t);
    header_is(tr->header, 9);
    ck_assert(tr->succeeded);
    ck_assert_uint_eq(tr->n_responses, 7);
    static const int64_t revs[] = { 8, 8, 8, 9, 9, 9, 9 };
    for (size_t i = 0; i < 7; i++)
        op_rev(tr->responses[i], revs[i]);
    keys_are(tr->responses[0]->response_range, "a");
    ck_assert_int_eq(tr->responses[1]->response_delete_range->deleted, 0);
    ck_assert_ptr_null(tr->responses[3]->response_put->prev_kv);
    kv_is(tr->responses[4]->response_range->kvs[0], "x", "1", 9, 9, 1);
    ck_assert_int_eq(tr->responses[5]->response_delete_range->deleted, 1);
    kv_is(tr->responses[5]->response_delete_range->prev_kvs[0], "c", "0", 4, 8, 2);
    ck_assert_int_eq(tr->responses[6]->response_range->count, 0);
    km_grpc_pb_free(&tr->base);

    /* a read-only txn takes no revision */
    Etcdserverpb__RequestOp *ro[] = { xrange(&x[0], "a") };
    t.success = ro;
    t.n_success = 1;
    tr = txn(&f, &t);
    header_is(tr->header, 9);
    op_rev(tr->responses[0], 9);
    km_grpc_pb_free(&tr->base);

    /* a nested txn: its own header is there and empty, its failure
     * branch runs when its compare does not hold, and its change moves
     * the revision of the operations after it */
    xop n[4];
    Etcdserverpb__Compare c, *pc = &c;
    xcmp(&c, "zz", ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION,
         ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER, 0, NULL);
    Etcdserverpb__RequestOp *inner_s[] = { xput(&n[0], "y", "s") };
    Etcdserverpb__RequestOp *inner_f[] = { xput(&n[1], "y", "f"), xrange(&n[2], "y") };
    Etcdserverpb__RequestOp *outer[] = {
        xrange(&x[0], "a"), xtxn(&x[1], &pc, 1, inner_s, 1, inner_f, 2), xrange(&x[2], "y"),
    };
    t.success = outer;
    t.n_success = N(outer);
    tr = txn(&f, &t);
    header_is(tr->header, 10);
    ck_assert_uint_eq(tr->n_responses, 3);
    op_rev(tr->responses[0], 9);
    ck_assert_int_eq(tr->responses[1]->response_case,
                     ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_TXN);
    Etcdserverpb__TxnResponse *in = tr->responses[1]->response_txn;
    ck_assert_ptr_nonnull(in->header);
    ck_assert_int_eq(in->header->revision, 0);
    ck_assert_uint_eq(in->header->cluster_id, 0);
    ck_assert(!in->succeeded);
    ck_assert_uint_eq(in->n_responses, 2);
    op_rev(in->responses[0], 10);
    op_rev(in->responses[1], 10);
    kv_is(in->responses[1]->response_range->kvs[0], "y", "f", 10, 10, 1);
    op_rev(tr->responses[2], 10);
    kv_is(tr->responses[2]->response_range->kvs[0], "y", "f", 10, 10, 1);
    km_grpc_pb_free(&tr->base);

    /* an empty txn: succeeded, nothing else */
    Etcdserverpb__TxnRequest e = ETCDSERVERPB__TXN_REQUEST__INIT;
    tr = txn(&f, &e);
    header_is(tr->header, 10);
    ck_assert(tr->succeeded);
    ck_assert_uint_eq(tr->n_responses, 0);
    km_grpc_pb_free(&tr->base);
    rpcfix_down(&f);
}

START_TEST(txn_ops) { t_run(txn_ops_body, NULL); }
END_TEST

static void txn_errors_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    seed(&f);
    Etcdserverpb__TxnRequest t = ETCDSERVERPB__TXN_REQUEST__INIT;
    xop x[3];

    /* one key put twice, or put inside a deleted range */
    Etcdserverpb__RequestOp *dup[] = { xput(&x[0], "d", "1"), xput(&x[1], "d", "2") };
    t.success = dup;
    t.n_success = 2;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT,
          "etcdserver: duplicate key given in txn request");
    xdel(&x[0], "a", false);
    x[0].d.range_end = B("z");
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT,
          "etcdserver: duplicate key given in txn request");
    /* ... in either order */
    xput(&x[0], "c", "1");
    xdel(&x[1], "c", false);
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT,
          "etcdserver: duplicate key given in txn request");
    /* ... also through a nested txn's branch */
    Etcdserverpb__RequestOp *in[] = { xput(&x[2], "d", "3") };
    Etcdserverpb__RequestOp *nest[] = { xput(&x[0], "d", "1"), xtxn(&x[1], NULL, 0, in, 1, NULL, 0) };
    t.success = nest;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT,
          "etcdserver: duplicate key given in txn request");
    /* but the two branches of one txn may put the same key */
    Etcdserverpb__RequestOp *s1[] = { xput(&x[0], "d", "1") }, *f1[] = { xput(&x[1], "d", "2") };
    t.success = s1;
    t.n_success = 1;
    t.failure = f1;
    t.n_failure = 1;
    Etcdserverpb__TxnResponse *tr = txn(&f, &t);
    header_is(tr->header, 9);
    km_grpc_pb_free(&tr->base);

    /* validation, before anything runs */
    t.failure = NULL;
    t.n_failure = 0;
    Etcdserverpb__RequestOp *ek[] = { xput(&x[0], "", "1") };
    t.success = ek;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
    Etcdserverpb__Compare c, *pc = &c;
    xcmp(&c, "", ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION, 0, 0, NULL);
    Etcdserverpb__TxnRequest tc = ETCDSERVERPB__TXN_REQUEST__INIT;
    tc.compare = &pc;
    tc.n_compare = 1;
    fails(&f, TXN, &tc.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key is not provided");
    Etcdserverpb__RequestOp empty = ETCDSERVERPB__REQUEST_OP__INIT, *pe = &empty;
    t.success = &pe;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: key not found");
    Etcdserverpb__RequestOp *iv[] = { xput(&x[0], "a", "1") };
    x[0].p.ignore_value = true;
    t.success = iv;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT, "etcdserver: value is provided");
    x[0].p.ignore_value = false;
    x[0].p.lease = 42;
    fails(&f, TXN, &t.base, KM_GRPC_NOT_FOUND, "etcdserver: requested lease not found");
    Etcdserverpb__RequestOp *fr[] = { xrange(&x[0], "a") };
    x[0].r.revision = 100;
    t.success = fr;
    fails(&f, TXN, &t.base, KM_GRPC_OUT_OF_RANGE,
          "etcdserver: mvcc: required revision is a future revision");

    /* at most 128 operations per branch */
    Etcdserverpb__RequestOp *many[129];
    for (size_t i = 0; i < N(many); i++)
        many[i] = fr[0];
    x[0].r.revision = 0;
    t.success = many;
    t.n_success = 129;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT,
          "etcdserver: too many operations in txn request");
    t.n_success = 128;
    tr = txn(&f, &t);
    ck_assert_uint_eq(tr->n_responses, 128);
    keys_are(tr->responses[127]->response_range, "a");
    km_grpc_pb_free(&tr->base);

    /* nesting deeper than kumo unpacks is refused before unpacking */
    xop deep[22];
    Etcdserverpb__RequestOp *links[22];
    links[0] = xrange(&deep[0], "a");
    for (size_t i = 1; i < N(deep); i++)
        links[i] = xtxn(&deep[i], NULL, 0, &links[i - 1], 1, NULL, 0);
    t.success = &links[21];
    t.n_success = 1;
    fails(&f, TXN, &t.base, KM_GRPC_INVALID_ARGUMENT, "grpc: request message does not decode");
    /* 20 levels are fine */
    t.success = &links[20];
    tr = txn(&f, &t);
    Etcdserverpb__TxnResponse *r = tr;
    for (int i = 0; i < 20; i++) {
        ck_assert_uint_eq(r->n_responses, 1);
        r = r->responses[0]->response_txn;
        ck_assert(r->succeeded);
    }
    keys_are(r->responses[0]->response_range, "a");
    km_grpc_pb_free(&tr->base);
    rpcfix_down(&f);
}

START_TEST(txn_errors) { t_run(txn_errors_body, NULL); }
END_TEST

/* ---- Compact, broken requests ---- */

static void compact_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    Etcdserverpb__CompactionRequest c = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    /* etcd takes 0 from a store never compacted */
    Etcdserverpb__CompactionResponse *cr = (Etcdserverpb__CompactionResponse *)rpcfix_ok(
        &f, COMPACT, &c.base, &etcdserverpb__compaction_response__descriptor);
    header_is(cr->header, 1);
    km_grpc_pb_free(&cr->base);
    seed(&f);
    c.revision = 9;
    fails(&f, COMPACT, &c.base, KM_GRPC_OUT_OF_RANGE,
          "etcdserver: mvcc: required revision is a future revision");
    c.revision = 6;
    c.physical = true;
    cr = (Etcdserverpb__CompactionResponse *)rpcfix_ok(
        &f, COMPACT, &c.base, &etcdserverpb__compaction_response__descriptor);
    header_is(cr->header, 8);
    km_grpc_pb_free(&cr->base);
    static const int64_t done[] = { 6, 3, 0, -1 };
    for (size_t i = 0; i < N(done); i++) {
        c.revision = done[i];
        fails(&f, COMPACT, &c.base, KM_GRPC_OUT_OF_RANGE,
              "etcdserver: mvcc: required revision has been compacted");
    }
    /* the latest versions stay */
    Etcdserverpb__RangeResponse *rr = get_all(&f);
    keys_are(rr, "a,ab,b,c,z");
    km_grpc_pb_free(&rr->base);
    rpcfix_down(&f);
}

START_TEST(compact) { t_run(compact_body, NULL); }
END_TEST

static void bad_message_body(void *arg)
{
    rpcfix f;
    rpcfix_up(&f);
    /* a field 1 (bytes) whose length runs past the message */
    static const char junk[] = "\x0a\x7f" "abc";
    const char *methods[] = { RANGE, PUT, DEL, TXN, COMPACT };
    for (size_t i = 0; i < N(methods); i++) {
        km_grpc_stream *st;
        km_str rep;
        int rc = km_grpc_unary(f.ch, methods[i], NULL, 0, junk, sizeof junk - 1,
                               km_now() + 10 * SEC, &st, &rep);
        ck_assert_int_eq(rc, -EREMOTEIO);
        km_grpc_status s = km_grpc_stream_status(st);
        ck_assert_int_eq(s.code, KM_GRPC_INVALID_ARGUMENT);
        km_grpc_stream_free(st);
    }
    /* the store is untouched and the service still answers */
    Etcdserverpb__RangeResponse *rr = get_all(&f);
    header_is(rr->header, 1);
    ck_assert_uint_eq(rr->n_kvs, 0);
    km_grpc_pb_free(&rr->base);
    rpcfix_down(&f);
}

START_TEST(bad_message) { t_run(bad_message_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/rpc_kv");
    TCase *tc = tcase_create("kv");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, put_get);
    tcase_add_test(tc, range_options);
    tcase_add_test(tc, range_sort);
    tcase_add_test(tc, range_revisions);
    tcase_add_test(tc, put_options);
    tcase_add_test(tc, delete_range);
    tcase_add_test(tc, txn_compare);
    tcase_add_test(tc, txn_ops);
    tcase_add_test(tc, txn_errors);
    tcase_add_test(tc, compact);
    tcase_add_test(tc, bad_message);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
