/* SPDX-License-Identifier: MIT */
/* Store txns: compares of every target and result, branches, nesting, the duplicate-key rule. */
#include "st.h"

static int run(km_store *s, const km_txn_req *t, km_store_res *res)
{
    return km_store_txn(s, t, res);
}

/* Evaluates a single compare in a read-only txn. */
static bool holds(km_store *s, km_cmp c)
{
    km_txn_req t = { .cmp = &c, .ncmp = 1 };
    km_store_res res;
    int rc = run(s, &t, &res);
    ck_assert_msg(rc == 0, "txn: %s", km_strerror(rc));
    bool ok = res.txn.succeeded;
    km_store_res_free(&res);
    return ok;
}

static void compares_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    REQUIRE_EQ(st_put(s, "k", "m", 0, NULL), 0);    /* rev 2 */
    REQUIRE_EQ(st_put(s, "k", "m", 0, NULL), 0);    /* rev 3, version 2 */
    REQUIRE_EQ(st_put(s, "k2", "z", 0, NULL), 0);   /* rev 4 */
#define C(res, tgt, k_, n) (km_cmp){ .result = KM_CMP_##res, .target = KM_CMP_##tgt, .key = B(k_), .num = n }
#define CV(res, k_, v) (km_cmp){ .result = KM_CMP_##res, .target = KM_CMP_VALUE, .key = B(k_), .value = B(v) }
    REQUIRE(holds(s, C(EQUAL, VERSION, "k", 2)));
    REQUIRE(!holds(s, C(EQUAL, VERSION, "k", 1)));
    REQUIRE(holds(s, C(GREATER, VERSION, "k", 1)));
    REQUIRE(holds(s, C(LESS, VERSION, "k", 3)));
    REQUIRE(holds(s, C(NOT_EQUAL, VERSION, "k", 3)));
    REQUIRE(holds(s, C(EQUAL, CREATE, "k", 2)));
    REQUIRE(holds(s, C(EQUAL, MOD, "k", 3)));
    REQUIRE(holds(s, C(LESS, MOD, "k", 4)));
    REQUIRE(holds(s, C(EQUAL, LEASE, "k", 0)));
    REQUIRE(holds(s, CV(EQUAL, "k", "m")));
    REQUIRE(holds(s, CV(GREATER, "k", "a")));
    REQUIRE(holds(s, CV(LESS, "k", "mm")));
    REQUIRE(holds(s, CV(NOT_EQUAL, "k", "x")));
    /* a missing key: zeros, but a value compare is always false */
    REQUIRE(holds(s, C(EQUAL, VERSION, "none", 0)));
    REQUIRE(holds(s, C(EQUAL, CREATE, "none", 0)));
    REQUIRE(!holds(s, CV(EQUAL, "none", "")));
    REQUIRE(!holds(s, CV(NOT_EQUAL, "none", "x")));
    /* with range_end: every key must hold */
    km_cmp c = C(GREATER, VERSION, "k", 0);
    c.range_end = B("l");
    REQUIRE(holds(s, c));
    c = C(EQUAL, VERSION, "k", 2);
    c.range_end = B("l");
    REQUIRE(!holds(s, c));
    c = C(LESS, MOD, "k", 5);
    c.range_end = ALL;
    REQUIRE(holds(s, c));
    c = CV(EQUAL, "x", "m");
    c.range_end = B("y");
    REQUIRE(!holds(s, c));
    REQUIRE_EQ(st_rev(s), 4);
    st_close(&e);
}

START_TEST(compares) { t_run(compares_body, NULL); }
END_TEST

static void branches_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    km_store_res res;
    /* create-if-missing, the classic lock pattern */
    km_cmp c = { .result = KM_CMP_EQUAL, .target = KM_CMP_CREATE, .key = B("lock"), .num = 0 };
    km_op put = { .type = KM_OP_PUT, .put = { .key = B("lock"), .value = B("me") } };
    km_op get = { .type = KM_OP_RANGE, .range = { .key = B("lock") } };
    km_txn_req t = { .cmp = &c, .ncmp = 1, .success = &put, .nsuccess = 1, .failure = &get, .nfailure = 1 };
    REQUIRE_EQ(run(s, &t, &res), 0);
    REQUIRE(res.txn.succeeded);
    REQUIRE_EQ(res.revision, 2);
    REQUIRE_EQ(res.txn.nresp, 1);
    REQUIRE_EQ(res.txn.resp[0].type, KM_OP_PUT);
    km_store_res_free(&res);
    REQUIRE_EQ(run(s, &t, &res), 0);
    REQUIRE(!res.txn.succeeded);
    REQUIRE_EQ(res.revision, 2);
    REQUIRE_EQ(res.txn.resp[0].type, KM_OP_RANGE);
    REQUIRE(bytes_is(res.txn.resp[0].range.kvs[0].value, "me"));
    km_store_res_free(&res);

    /* several changes share one revision, ranges see earlier writes */
    km_op ops[] = {
        { .type = KM_OP_PUT, .put = { .key = B("a"), .value = B("1") } },
        { .type = KM_OP_PUT, .put = { .key = B("b"), .value = B("2") } },
        { .type = KM_OP_RANGE, .range = { .key = B("a"), .range_end = B("c") } },
        { .type = KM_OP_DELETE, .del = { .key = B("lock"), .prev_kv = true } },
        { .type = KM_OP_RANGE, .range = { .key = B("a"), .range_end = ALL, .revision = 2 } },
    };
    km_txn_req t2 = { .success = ops, .nsuccess = 5 };
    REQUIRE_EQ(run(s, &t2, &res), 0);
    REQUIRE_EQ(res.revision, 3);
    km_range_resp *r = &res.txn.resp[2].range;
    REQUIRE_EQ(r->nkvs, 2);
    REQUIRE_EQ(r->kvs[0].mod_revision, 3);
    REQUIRE_EQ(r->kvs[1].mod_revision, 3);
    REQUIRE_EQ(res.txn.resp[3].del.deleted, 1);
    REQUIRE(bytes_is(res.txn.resp[3].del.prev_kvs[0].value, "me"));
    REQUIRE_EQ(res.txn.resp[4].range.nkvs, 1);   /* the past is the past */
    km_store_res_free(&res);
    REQUIRE_EQ(st_rev(s), 3);

    /* a failing op rolls the whole txn back */
    km_op bad[] = {
        { .type = KM_OP_PUT, .put = { .key = B("c"), .value = B("3") } },
        { .type = KM_OP_PUT, .put = { .key = B("d"), .ignore_value = true } },
    };
    km_txn_req t3 = { .success = bad, .nsuccess = 2 };
    REQUIRE_EQ(run(s, &t3, &res), -ENOKEY);
    km_store_res_free(&res);
    REQUIRE_EQ(st_get(s, "c", 0, NULL, NULL, 0), 0);
    km_op fut = { .type = KM_OP_RANGE, .range = { .key = B("a"), .revision = 99 } };
    km_op bad2[] = { bad[0], fut };
    km_txn_req t4 = { .success = bad2, .nsuccess = 2 };
    REQUIRE_EQ(run(s, &t4, &res), -ERANGE);
    km_store_res_free(&res);
    REQUIRE_EQ(st_rev(s), 3);
    /* a write txn that changes nothing takes no revision */
    km_op del = { .type = KM_OP_DELETE, .del = { .key = B("zzz") } };
    km_txn_req t5 = { .success = &del, .nsuccess = 1 };
    REQUIRE_EQ(run(s, &t5, &res), 0);
    REQUIRE_EQ(res.revision, 3);
    km_store_res_free(&res);
    st_close(&e);
}

START_TEST(branches) { t_run(branches_body, NULL); }
END_TEST

static void nested_body(void *arg)
{
    (void)arg;
    st_env e;
    st_open(&e);
    km_store *s = e.s;
    km_store_res res;
    /* nested compares see the state before the txn, as in etcd */
    km_cmp inner_c = { .result = KM_CMP_EQUAL, .target = KM_CMP_VERSION, .key = B("x"), .num = 0 };
    km_op inner_ok = { .type = KM_OP_PUT, .put = { .key = B("y"), .value = B("then") } };
    km_op inner_else = { .type = KM_OP_PUT, .put = { .key = B("y"), .value = B("else") } };
    km_txn_req inner = { .cmp = &inner_c, .ncmp = 1, .success = &inner_ok, .nsuccess = 1,
                         .failure = &inner_else, .nfailure = 1 };
    km_op outer_ops[] = {
        { .type = KM_OP_PUT, .put = { .key = B("x"), .value = B("1") } },
        { .type = KM_OP_TXN, .txn = &inner },
    };
    km_txn_req outer = { .success = outer_ops, .nsuccess = 2 };
    REQUIRE_EQ(run(s, &outer, &res), 0);
    REQUIRE_EQ(res.revision, 2);
    REQUIRE_EQ(res.txn.resp[1].type, KM_OP_TXN);
    REQUIRE(res.txn.resp[1].txn->succeeded);
    REQUIRE_EQ(res.txn.resp[1].txn->nresp, 1);
    km_store_res_free(&res);
    char v[16];
    REQUIRE_EQ(st_get(s, "y", 0, NULL, v, sizeof v), 1);
    REQUIRE(strcmp(v, "then") == 0);

    /* duplicates: the same key twice in one branch, or put in a deleted range */
    km_op dup1[] = {
        { .type = KM_OP_PUT, .put = { .key = B("a") } },
        { .type = KM_OP_PUT, .put = { .key = B("a") } },
    };
    km_txn_req d1 = { .success = dup1, .nsuccess = 2 };
    REQUIRE_EQ(run(s, &d1, &res), -ENOTUNIQ);
    km_store_res_free(&res);
    km_op dup2[] = {
        { .type = KM_OP_PUT, .put = { .key = B("b") } },
        { .type = KM_OP_DELETE, .del = { .key = B("a"), .range_end = B("c") } },
    };
    km_txn_req d2 = { .success = dup2, .nsuccess = 2 };
    REQUIRE_EQ(run(s, &d2, &res), -ENOTUNIQ);
    km_store_res_free(&res);
    /* through a nested txn */
    km_op dup3[] = {
        { .type = KM_OP_PUT, .put = { .key = B("y") } },
        { .type = KM_OP_TXN, .txn = &inner },
    };
    km_txn_req d3 = { .failure = dup3, .nfailure = 2 };
    REQUIRE_EQ(run(s, &d3, &res), -ENOTUNIQ);
    km_store_res_free(&res);
    /* the two branches of one nested txn may share a key; so may the
     * success and failure branches of the top txn */
    km_op ok1[] = { { .type = KM_OP_TXN, .txn = &inner } };
    km_op put_y = { .type = KM_OP_PUT, .put = { .key = B("y"), .value = B("top") } };
    km_txn_req o1 = { .success = ok1, .nsuccess = 1, .failure = &put_y, .nfailure = 1 };
    REQUIRE_EQ(run(s, &o1, &res), 0);
    REQUIRE(res.txn.succeeded);
    REQUIRE(!res.txn.resp[0].txn->succeeded);   /* x exists now */
    REQUIRE_EQ(res.revision, 3);
    km_store_res_free(&res);
    REQUIRE_EQ(st_get(s, "y", 0, NULL, v, sizeof v), 1);
    REQUIRE(strcmp(v, "else") == 0);
    /* deletes may overlap each other */
    km_op dels[] = {
        { .type = KM_OP_DELETE, .del = { .key = B("x") } },
        { .type = KM_OP_DELETE, .del = { .key = B("a"), .range_end = ALL } },
    };
    km_txn_req o2 = { .success = dels, .nsuccess = 2 };
    REQUIRE_EQ(run(s, &o2, &res), 0);
    REQUIRE_EQ(res.txn.resp[0].del.deleted, 1);
    REQUIRE_EQ(res.txn.resp[1].del.deleted, 1);
    REQUIRE_EQ(res.revision, 4);
    km_store_res_free(&res);
    /* limits */
    static km_op many[KM_STORE_MAX_OPS + 1];
    for (int i = 0; i < KM_STORE_MAX_OPS + 1; i++)
        many[i] = (km_op){ .type = KM_OP_RANGE, .range = { .key = B("a") } };
    km_txn_req big = { .success = many, .nsuccess = KM_STORE_MAX_OPS + 1 };
    REQUIRE_EQ(run(s, &big, &res), -E2BIG);
    km_store_res_free(&res);
    big.nsuccess = KM_STORE_MAX_OPS;
    REQUIRE_EQ(run(s, &big, &res), 0);
    km_store_res_free(&res);
    km_cmp badc = { .result = 9, .target = KM_CMP_VERSION, .key = B("a") };
    km_txn_req bt = { .cmp = &badc, .ncmp = 1 };
    REQUIRE_EQ(run(s, &bt, &res), -EINVAL);
    km_store_res_free(&res);
    st_close(&e);
}

START_TEST(nested) { t_run(nested_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_txn");
    TCase *tc = tcase_create("txn");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, compares);
    tcase_add_test(tc, branches);
    tcase_add_test(tc, nested);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
