/* SPDX-License-Identifier: MIT */
/* The etcd JSON codec against bodies recorded from etcd 3.4.23's gateway:
 * encoders, decoders (types, enums, names, errors) and request checks. */
#include "util.h"
#include <string.h>
#include "etcd/etcd-int.h"

/* ids of the etcd the expected bodies were recorded from */
static km_etcd E = { .cluster_id = 8140765981764738059ULL, .member_id = 185828541645115251ULL,
                     .raft_term = 2 };
#define HDR(rev) "{\"cluster_id\":\"8140765981764738059\",\"member_id\":\"185828541645115251\"," \
                 "\"revision\":\"" rev "\",\"raft_term\":\"2\"}"

#define B(s) ((km_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })

static void expect(km__jbuf *b, const char *want)
{
    ck_assert_int_eq(b->err, 0);
    ck_assert_msg(b->n == strlen(want) && memcmp(b->p, want, b->n) == 0,
                  "got  %.*s\nwant %s", (int)b->n, b->p, want);
    km__jbuf_free(b);
}

START_TEST(header_and_kv)
{
    km__jbuf b = KM__JBUF_INIT;
    km__etcd_header(&b, &E, 2);
    expect(&b, HDR("2"));

    km_kv kv = { .key = B("foo"), .value = B("baz"), .create_revision = 2, .mod_revision = 3,
                 .version = 2 };
    km__etcd_kv(&b, &kv);
    expect(&b, "{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"YmF6\"}");
    kv.value.n = 0;     /* keys_only */
    kv.lease = 1000;
    km__etcd_kv(&b, &kv);
    expect(&b, "{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"lease\":\"1000\"}");
    km_kv zero = { 0 };
    km__etcd_kv(&b, &zero);
    expect(&b, "{}");
}
END_TEST

START_TEST(events)
{
    km__jbuf b = KM__JBUF_INIT;
    km_event put = { .type = KM_EV_PUT,
                     .kv = { .key = B("a"), .value = B("1"), .create_revision = 5,
                             .mod_revision = 5, .version = 1 } };
    km__etcd_event(&b, &put);
    expect(&b, "{\"kv\":{\"key\":\"YQ==\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"MQ==\"}}");
    km_event del = { .type = KM_EV_DELETE, .kv = { .key = B("a"), .mod_revision = 7 },
                     .has_prev = true,
                     .prev_kv = { .key = B("a"), .value = B("1"), .create_revision = 5,
                                  .mod_revision = 5, .version = 1 } };
    km__etcd_event(&b, &del);
    expect(&b, "{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"7\"},\"prev_kv\":{\"key\":\"YQ==\",\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"MQ==\"}}");
}
END_TEST

START_TEST(kv_responses)
{
    km__jbuf b = KM__JBUF_INIT;
    km_kv kv = { .key = B("foo"), .value = B("baz"), .create_revision = 2, .mod_revision = 3,
                 .version = 2 };
    km_range_resp rr = { .kvs = &kv, .nkvs = 1, .count = 1 };
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, &E, 3);
    km__etcd_enc_range(&b, &rr);
    km__jbuf_putc(&b, '}');
    expect(&b, "{\"header\":" HDR("3") ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"YmF6\"}],\"count\":\"1\"}");

    km_range_resp none = { 0 };
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, &E, 3);
    km__etcd_enc_range(&b, &none);
    km__jbuf_putc(&b, '}');
    expect(&b, "{\"header\":" HDR("3") "}");

    km_kv prev = { .key = B("foo"), .value = B("bar"), .create_revision = 2, .mod_revision = 2,
                   .version = 1 };
    km_put_resp pr = { .has_prev = true, .prev_kv = prev };
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, &E, 3);
    km__etcd_enc_put(&b, &pr);
    km__jbuf_putc(&b, '}');
    expect(&b, "{\"header\":" HDR("3") ",\"prev_kv\":{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\"}}");

    km_del_resp dr = { .deleted = 1, .prev_kvs = &kv, .nprev = 1 };
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, &E, 4);
    km__etcd_enc_del(&b, &dr);
    km__jbuf_putc(&b, '}');
    expect(&b, "{\"header\":" HDR("4") ",\"deleted\":\"1\",\"prev_kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":\"2\",\"value\":\"YmF6\"}]}");
}
END_TEST

/* etcd stamps op headers with the revision current when each op ran */
START_TEST(txn_response)
{
    km_kv kb = { .key = B("b"), .value = B("2"), .create_revision = 6, .mod_revision = 8,
                 .version = 2 };
    km_op_resp inner_ops[1] = { { .type = KM_OP_RANGE,
                                  .range = { .kvs = &kb, .nkvs = 1, .count = 1 } } };
    km_txn_resp inner = { .succeeded = true, .resp = inner_ops, .nresp = 1 };
    km_op_resp ops[5] = {
        { .type = KM_OP_RANGE },
        { .type = KM_OP_DELETE },
        { .type = KM_OP_PUT },
        { .type = KM_OP_RANGE, .range = { .kvs = &kb, .nkvs = 1, .count = 1 } },
        { .type = KM_OP_TXN, .txn = &inner },
    };
    km_txn_resp t = { .succeeded = true, .resp = ops, .nresp = 5 };
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, &E, 8);
    km__etcd_enc_txn(&b, 8, &t);
    km__jbuf_putc(&b, '}');
    expect(&b, "{\"header\":" HDR("8") ",\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"7\"}}},{\"response_delete_range\":{\"header\":{\"revision\":\"7\"}}},{\"response_put\":{\"header\":{\"revision\":\"8\"}}},{\"response_range\":{\"header\":{\"revision\":\"8\"},\"kvs\":[{\"key\":\"Yg==\",\"create_revision\":\"6\",\"mod_revision\":\"8\",\"version\":\"2\",\"value\":\"Mg==\"}],\"count\":\"1\"}},{\"response_txn\":{\"header\":{},\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"8\"},\"kvs\":[{\"key\":\"Yg==\",\"create_revision\":\"6\",\"mod_revision\":\"8\",\"version\":\"2\",\"value\":\"Mg==\"}],\"count\":\"1\"}}]}}]}");

    /* failure branch: delete then an empty nested txn */
    km_txn_resp empty = { .succeeded = true };
    km_op_resp fops[2] = { { .type = KM_OP_DELETE, .del = { .deleted = 1 } },
                           { .type = KM_OP_TXN, .txn = &empty } };
    km_txn_resp f = { .succeeded = false, .resp = fops, .nresp = 2 };
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, &E, 7);
    km__etcd_enc_txn(&b, 7, &f);
    km__jbuf_putc(&b, '}');
    expect(&b, "{\"header\":" HDR("7") ",\"responses\":[{\"response_delete_range\":{\"header\":{\"revision\":\"7\"},\"deleted\":\"1\"}},{\"response_txn\":{\"header\":{},\"succeeded\":true}}]}");

    /* read-only: every op at the current revision */
    km_op_resp ro[2] = { { .type = KM_OP_RANGE }, { .type = KM_OP_DELETE } };
    km_txn_resp r = { .succeeded = true, .resp = ro, .nresp = 2 };
    km__etcd_enc_txn(&b, 8, &r);
    expect(&b, "\"succeeded\":true,\"responses\":[{\"response_range\":{\"header\":{\"revision\":\"8\"}}},{\"response_delete_range\":{\"header\":{\"revision\":\"8\"}}}]");
}
END_TEST

START_TEST(errors)
{
    static const struct { int err, status; const char *body; } cases[] = {
        { -ERANGE, 400, "{\"error\":\"etcdserver: mvcc: required revision is a future revision\",\"message\":\"etcdserver: mvcc: required revision is a future revision\",\"code\":11}" },
        { -ENODATA, 400, "{\"error\":\"etcdserver: mvcc: required revision has been compacted\",\"message\":\"etcdserver: mvcc: required revision has been compacted\",\"code\":11}" },
        { -ENOTUNIQ, 400, "{\"error\":\"etcdserver: duplicate key given in txn request\",\"message\":\"etcdserver: duplicate key given in txn request\",\"code\":3}" },
        { -ENOENT, 404, "{\"error\":\"etcdserver: requested lease not found\",\"message\":\"etcdserver: requested lease not found\",\"code\":5}" },
        { -EINVAL, 400, "{\"error\":\"etcdserver: key is not provided\",\"message\":\"etcdserver: key is not provided\",\"code\":3}" },
        { -EMSGSIZE, 400, "{\"error\":\"etcdserver: request is too large\",\"message\":\"etcdserver: request is too large\",\"code\":3}" },
        { -E2BIG, 400, "{\"error\":\"etcdserver: too many operations in txn request\",\"message\":\"etcdserver: too many operations in txn request\",\"code\":3}" },
        { -ENOKEY, 400, "{\"error\":\"etcdserver: key not found\",\"message\":\"etcdserver: key not found\",\"code\":3}" },
        { -EEXIST, 412, "{\"error\":\"etcdserver: lease already exists\",\"message\":\"etcdserver: lease already exists\",\"code\":9}" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        km__etcd_err e = km__etcd_errinfo(cases[i].err);
        ck_assert_int_eq(e.status, cases[i].status);
        km__jbuf b = KM__JBUF_INIT;
        km__etcd_errbody(&b, e.code, e.msg);
        expect(&b, cases[i].body);
    }
    km__etcd_err u = km__etcd_errinfo(-EIO);
    ck_assert_int_eq(u.status, 500);
    ck_assert_int_eq(u.code, 2);
    /* Go's encoder escapes quotes and HTML characters */
    km__jbuf b = KM__JBUF_INIT;
    km__etcd_errbody(&b, 3, "unknown value \"FOO\" for enum etcdserverpb.RangeRequest_SortOrder");
    expect(&b, "{\"error\":\"unknown value \\\"FOO\\\" for enum etcdserverpb.RangeRequest_SortOrder\",\"message\":\"unknown value \\\"FOO\\\" for enum etcdserverpb.RangeRequest_SortOrder\",\"code\":3}");
    km__jbuf_str(&b, "<a&b>\n\x01", 7);
    expect(&b, "\"\\u003ca\\u0026b\\u003e\\n\\u0001\"");
}
END_TEST

START_TEST(numbers)
{
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_i64(&b, INT64_MIN);
    km__jbuf_putc(&b, ',');
    km__jbuf_i64(&b, -1);
    km__jbuf_putc(&b, ',');
    km__jbuf_u64(&b, UINT64_MAX);
    km__jbuf_putc(&b, ',');
    km__jbuf_int(&b, 0);
    expect(&b, "\"-9223372036854775808\",\"-1\",\"18446744073709551615\",0");
}
END_TEST

/* Decodes body as a range request; returns rc, *msg set on error. */
static int range_of(const char *body, km_range_req *req, km__arena *a, const char **msg)
{
    *msg = NULL;
    json_t *o = km__etcd_parse(body, strlen(body), a, msg);
    if (!o)
        return -EINVAL;
    int rc = km__etcd_dec_range(o, a, req, msg);
    json_decref(o);
    return rc;
}

static void range_err(const char *body, const char *want)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    km_range_req req;
    const char *msg;
    int rc = range_of(body, &req, a, &msg);
    ck_assert_msg(rc == -EINVAL && msg && strcmp(msg, want) == 0, "%s: rc %d msg %s (want %s)",
                  body, rc, msg ? msg : "(null)", want);
    km__arena_free(a);
}

START_TEST(decode_range)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    km_range_req r;
    const char *msg;
    ck_assert_int_eq(range_of("{\"key\":\"Zm9v\",\"range_end\":\"AA==\",\"limit\":\"5\",\"revision\":7,"
                              "\"sort_order\":\"DESCEND\",\"sort_target\":\"MOD\",\"serializable\":true,"
                              "\"keys_only\":true,\"count_only\":false,\"min_mod_revision\":\"-3\","
                              "\"max_create_revision\":9,\"unknown\":{\"x\":[1,2]}}",
                              &r, a, &msg), 0);
    ck_assert(r.key.n == 3 && memcmp(r.key.p, "foo", 3) == 0);
    ck_assert(r.range_end.n == 1 && r.range_end.p[0] == 0);
    ck_assert_int_eq(r.limit, 5);
    ck_assert_int_eq(r.revision, 7);
    ck_assert_int_eq(r.sort_order, KM_SORT_DESCEND);
    ck_assert_int_eq(r.sort_target, KM_SORT_MOD);
    ck_assert(r.serializable && r.keys_only && !r.count_only);
    ck_assert_int_eq(r.min_mod_revision, -3);
    ck_assert_int_eq(r.max_create_revision, 9);

    /* camelCase names, enums by number, last duplicate wins, null = absent */
    ck_assert_int_eq(range_of("{\"key\":\"eA==\",\"key\":\"YQ==\",\"keysOnly\":true,\"sortOrder\":1,"
                              "\"limit\":null}", &r, a, &msg), 0);
    ck_assert(r.key.n == 1 && r.key.p[0] == 'a' && r.keys_only);
    ck_assert_int_eq(r.sort_order, KM_SORT_ASCEND);
    ck_assert_int_eq(r.limit, 0);
    /* the proto name wins over the camelCase one */
    ck_assert_int_eq(range_of("{\"keysOnly\":false,\"keys_only\":true}", &r, a, &msg), 0);
    ck_assert(r.keys_only);
    /* out-of-range enum numbers are accepted (etcd: no sort, any target) */
    ck_assert_int_eq(range_of("{\"sort_order\":7,\"sort_target\":1,\"key\":\"AA==\"}", &r, a, &msg), 0);
    ck_assert_int_eq(r.sort_order, KM_SORT_NONE);
    ck_assert_int_eq(r.sort_target, KM_SORT_KEY);
    /* a target other than KEY keeps order NONE: the store sorts as etcd does */
    ck_assert_int_eq(range_of("{\"sort_target\":\"VERSION\"}", &r, a, &msg), 0);
    ck_assert_int_eq(r.sort_order, KM_SORT_NONE);
    ck_assert_int_eq(r.sort_target, KM_SORT_VERSION);
    /* empty body and null are the empty request; trailing bytes are ignored */
    ck_assert_int_eq(range_of("", &r, a, &msg), 0);
    ck_assert_int_eq(r.key.n, 0);
    ck_assert_str_eq(km__etcd_check_range(&r), "etcdserver: key is not provided");
    ck_assert_int_eq(range_of("null", &r, a, &msg), 0);
    ck_assert_int_eq(range_of("{\"key\":\"YQ==\"} x", &r, a, &msg), 0);
    ck_assert_int_eq(r.key.n, 1);
    ck_assert_int_eq(range_of("{\"limit\":\"-9223372036854775808\"}", &r, a, &msg), 0);
    ck_assert(r.limit == INT64_MIN);
    /* the arena-less variant (watch requests) */
    json_t *o = km__etcd_parse("{\"a\":\"12\",\"b\":\"x\",\"c\":1.5}", 26, a, &msg);
    ck_assert_ptr_nonnull(o);
    int64_t v;
    ck_assert_int_eq(km__etcd_dec_i64(o, "a", &v, &msg), 0);
    ck_assert_int_eq(v, 12);
    ck_assert_int_eq(km__etcd_dec_i64(o, "b", &v, &msg), -EINVAL);
    ck_assert_str_eq(msg, "invalid character looking for beginning of value");
    ck_assert_int_eq(km__etcd_dec_i64(o, "c", &v, &msg), -EINVAL);
    ck_assert_str_eq(msg, "json: cannot unmarshal number into Go value of type int64");
    ck_assert_int_eq(km__etcd_dec_i64(o, "none", &v, &msg), 0);
    ck_assert_int_eq(v, 0);
    json_decref(o);
    km__arena_free(a);

    /* messages recorded from etcd (Go's decoder) */
    range_err("{\"key\":\"!!\"}", "illegal base64 data at input byte 0");
    range_err("{\"key\":5}", "json: cannot unmarshal number into Go value of type []uint8");
    range_err("{\"key\":{}}", "json: cannot unmarshal object into Go value of type []uint8");
    range_err("{\"limit\":\"abc\"}", "invalid character 'a' looking for beginning of value");
    range_err("{\"limit\":\"1.5\"}", "json: cannot unmarshal number 1.5 into Go value of type int64");
    range_err("{\"limit\":\"99999999999999999999\"}",
              "json: cannot unmarshal number 99999999999999999999 into Go value of type int64");
    range_err("{\"limit\":true}", "json: cannot unmarshal bool into Go value of type int64");
    range_err("{\"keys_only\":\"true\"}", "json: cannot unmarshal string into Go value of type bool");
    range_err("{\"keys_only\":1}", "json: cannot unmarshal number into Go value of type bool");
    range_err("{\"sort_order\":\"FOO\"}",
              "unknown value \"FOO\" for enum etcdserverpb.RangeRequest_SortOrder");
    range_err("{\"sort_order\":\"1\"}",
              "unknown value \"1\" for enum etcdserverpb.RangeRequest_SortOrder");
    range_err("{\"sort_order\":true}",
              "json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder");
    range_err("[1]", "json: cannot unmarshal array into Go value of type map[string]json.RawMessage");
    /* parse errors: close to Go's wording, code 3 either way */
    range_err("{bad", "invalid character 'b' looking for beginning of value");
    range_err("{\"key\":\"YQ==\"", "unexpected EOF");
}
END_TEST

static json_t *parse(const char *s, km__arena *a)
{
    const char *msg = NULL;
    json_t *o = km__etcd_parse(s, strlen(s), a, &msg);
    ck_assert_msg(o, "parse %s: %s", s, msg);
    return o;
}

START_TEST(decode_put_del)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    const char *msg = NULL;
    km_put_req p;
    json_t *o = parse("{\"key\":\"Zm9v\",\"value\":\"YmFy\",\"lease\":\"1000\",\"prev_kv\":true}", a);
    ck_assert_int_eq(km__etcd_dec_put(o, a, &p, &msg), 0);
    json_decref(o);
    ck_assert(p.key.n == 3 && p.value.n == 3 && memcmp(p.value.p, "bar", 3) == 0);
    ck_assert(p.lease == 1000 && p.prev_kv && !p.ignore_value);
    ck_assert_ptr_null(km__etcd_check_put(&p));

    o = parse("{\"key\":\"YQ==\",\"lease\":\"5\",\"ignore_lease\":true}", a);
    ck_assert_int_eq(km__etcd_dec_put(o, a, &p, &msg), 0);
    json_decref(o);
    ck_assert_str_eq(km__etcd_check_put(&p), "etcdserver: lease is provided");
    o = parse("{\"key\":\"YQ==\",\"ignore_value\":true,\"value\":\"YQ==\"}", a);
    ck_assert_int_eq(km__etcd_dec_put(o, a, &p, &msg), 0);
    json_decref(o);
    ck_assert_str_eq(km__etcd_check_put(&p), "etcdserver: value is provided");
    o = parse("{}", a);
    ck_assert_int_eq(km__etcd_dec_put(o, a, &p, &msg), 0);
    json_decref(o);
    ck_assert_str_eq(km__etcd_check_put(&p), "etcdserver: key is not provided");

    km_del_req d;
    o = parse("{\"key\":\"Zm9v\",\"rangeEnd\":\"Zm9w\",\"prevKv\":true}", a);
    ck_assert_int_eq(km__etcd_dec_del(o, a, &d, &msg), 0);
    json_decref(o);
    ck_assert(d.key.n == 3 && d.range_end.n == 3 && d.prev_kv);
    ck_assert_ptr_null(km__etcd_check_del(&d));
    km__arena_free(a);
}
END_TEST

START_TEST(decode_txn)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    const char *msg = NULL;
    km_txn_req t;
    json_t *o = parse(
        "{\"compare\":[{\"key\":\"YQ==\",\"result\":\"EQUAL\",\"target\":\"VALUE\",\"value\":\"MQ==\"},"
        "{\"key\":\"YQ==\",\"target\":\"MOD\",\"mod_revision\":\"1\",\"version\":\"9\",\"result\":\"GREATER\"},"
        "{\"key\":\"YQ==\",\"target\":\"CREATE\",\"create_revision\":1,\"result\":2},"
        "{\"key\":\"YQ==\",\"target\":\"LEASE\",\"lease\":\"0\",\"result\":\"NOT_EQUAL\"},"
        "{\"key\":\"YQ==\",\"version\":\"3\"}],"
        "\"success\":[{\"request_put\":{\"key\":\"Yg==\",\"value\":\"Mg==\"}},"
        "{\"request_range\":{\"key\":\"YQ==\"}},"
        "{\"requestTxn\":{\"success\":[{\"request_delete_range\":{\"key\":\"Yw==\"}}]}}],"
        "\"failure\":[{\"request_delete_range\":{\"key\":\"YQ==\"}}]}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), 0);
    json_decref(o);
    ck_assert_int_eq(t.ncmp, 5);
    ck_assert(t.cmp[0].result == KM_CMP_EQUAL && t.cmp[0].target == KM_CMP_VALUE &&
              t.cmp[0].value.n == 1 && t.cmp[0].value.p[0] == '1');
    /* only the operand the target names counts */
    ck_assert(t.cmp[1].result == KM_CMP_GREATER && t.cmp[1].target == KM_CMP_MOD && t.cmp[1].num == 1);
    ck_assert(t.cmp[2].result == KM_CMP_LESS && t.cmp[2].target == KM_CMP_CREATE && t.cmp[2].num == 1);
    ck_assert(t.cmp[3].result == KM_CMP_NOT_EQUAL && t.cmp[3].target == KM_CMP_LEASE && t.cmp[3].num == 0);
    ck_assert(t.cmp[4].target == KM_CMP_VERSION && t.cmp[4].num == 3);
    ck_assert_int_eq(t.nsuccess, 3);
    ck_assert_int_eq(t.success[0].type, KM_OP_PUT);
    ck_assert_int_eq(t.success[1].type, KM_OP_RANGE);
    ck_assert_int_eq(t.success[2].type, KM_OP_TXN);
    ck_assert_int_eq(t.success[2].txn->nsuccess, 1);
    ck_assert_int_eq(t.success[2].txn->success[0].type, KM_OP_DELETE);
    ck_assert_int_eq(t.nfailure, 1);
    ck_assert_ptr_null(km__etcd_check_txn(&t));

    o = parse("{}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), 0);
    json_decref(o);
    ck_assert(t.ncmp == 0 && t.nsuccess == 0 && t.nfailure == 0);

    /* recorded etcd answers for bad txns */
    o = parse("{\"success\":[{}]}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), 0);
    json_decref(o);
    ck_assert_str_eq(km__etcd_check_txn(&t), "etcdserver: key not found");
    o = parse("{\"success\":[{\"request_put\":{}}]}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), 0);
    json_decref(o);
    ck_assert_str_eq(km__etcd_check_txn(&t), "etcdserver: key is not provided");
    o = parse("{\"compare\":[{\"result\":0}]}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), 0);
    json_decref(o);
    ck_assert_str_eq(km__etcd_check_txn(&t), "etcdserver: key is not provided");
    o = parse("{\"compare\":{}}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), -EINVAL);
    json_decref(o);
    ck_assert_str_eq(msg, "json: cannot unmarshal object into Go value of type []json.RawMessage");
    o = parse("{\"compare\":[{\"key\":\"YQ==\",\"result\":\"BAD\"}]}", a);
    ck_assert_int_eq(km__etcd_dec_txn(o, a, &t, &msg), -EINVAL);
    json_decref(o);
    ck_assert_str_eq(msg, "unknown value \"BAD\" for enum etcdserverpb.Compare_CompareResult");

    /* 129 ops: too many */
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"success\":[");
    for (int i = 0; i < 129; i++) {
        km__jbuf_sep(&b);
        km__jbuf_puts(&b, "{\"request_put\":{\"key\":\"eA==\"}}");
    }
    km__jbuf_puts(&b, "]}");
    json_t *big = km__etcd_parse(b.p, b.n, a, &msg);
    ck_assert_ptr_nonnull(big);
    km__jbuf_free(&b);
    ck_assert_int_eq(km__etcd_dec_txn(big, a, &t, &msg), 0);
    json_decref(big);
    ck_assert_str_eq(km__etcd_check_txn(&t), "etcdserver: too many operations in txn request");
    km__arena_free(a);
}
END_TEST

START_TEST(too_deep)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    char body[4096];
    size_t n = 0;
    for (int i = 0; i < 1000; i++)
        body[n++] = '[';
    const char *msg = NULL;
    ck_assert_ptr_null(km__etcd_parse(body, n, a, &msg));
    ck_assert_ptr_nonnull(msg);
    km__arena_free(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, header_and_kv);
    tcase_add_test(tc, events);
    tcase_add_test(tc, kv_responses);
    tcase_add_test(tc, txn_response);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, decode_range);
    tcase_add_test(tc, decode_put_del);
    tcase_add_test(tc, decode_txn);
    tcase_add_test(tc, too_deep);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
