/* SPDX-License-Identifier: MIT */
/* RESP parser: every RESP2/RESP3 type, byte-by-byte feeding, attributes, limits, malformed input. */
#include "util.h"
#include "redis/resp.h"
#include <math.h>
#include <string.h>

/* Parses s whole and byte by byte; both must agree. rc of the whole parse. */
static int parse(const char *s, size_t n, const km_redis_limits *lim, km_redis_reply **out, size_t *used)
{
    km__resp p;
    REQUIRE_EQ(km__resp_init(&p, lim), 0);
    int whole = km__resp_feed(&p, s, n, out, used);
    /* again, a byte at a time: 0 until the last byte of the reply */
    km__resp q;
    km__resp_init(&q, lim);
    km_redis_reply *r = NULL;
    size_t u = 0;
    int rc = 0;
    for (size_t i = 1; i <= n; i++) {
        rc = km__resp_feed(&q, s, i, &r, &u);
        if (rc != 0)
            break;
    }
    REQUIRE_EQ(rc, whole);
    if (rc == 1) {
        REQUIRE_EQ(u, *used);
        REQUIRE_EQ(r->type, (*out)->type);
        km_redis_reply_free(r);
    }
    return whole;
}

static km_redis_reply *one(const char *s)
{
    km_redis_reply *r = NULL;
    size_t used = 0;
    int rc = parse(s, strlen(s), NULL, &r, &used);
    ck_assert_msg(rc == 1, "parse of %s: %d", s, rc);
    REQUIRE_EQ(used, strlen(s));
    return r;
}

static int bad(const char *s, const km_redis_limits *lim)
{
    km_redis_reply *r = NULL;
    size_t used;
    int rc = parse(s, strlen(s), lim, &r, &used);
    REQUIRE(r == NULL);
    return rc;
}

static void scalars_body(void *arg)
{
    (void)arg;
    km_redis_reply *r;
    r = one("+OK\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_STATUS); ck_assert_str_eq(r->str, "OK"); km_redis_reply_free(r);
    r = one("-ERR wrong\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_ERROR); ck_assert_str_eq(r->str, "ERR wrong"); km_redis_reply_free(r);
    r = one(":-42\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_INTEGER); REQUIRE_EQ(r->integer, -42); km_redis_reply_free(r);
    r = one(":9223372036854775807\r\n");
    REQUIRE(r->integer == INT64_MAX); km_redis_reply_free(r);
    r = one(":-9223372036854775808\r\n");
    REQUIRE(r->integer == INT64_MIN); km_redis_reply_free(r);
    r = one("$5\r\nhe\r\no\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_STRING); REQUIRE_EQ(r->len, 5);
    REQUIRE(memcmp(r->str, "he\r\no", 6) == 0); km_redis_reply_free(r);
    r = one("$0\r\n\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_STRING); REQUIRE_EQ(r->len, 0); ck_assert_str_eq(r->str, ""); km_redis_reply_free(r);
    r = one("$-1\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_NIL); km_redis_reply_free(r);
    r = one("*-1\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_NIL); km_redis_reply_free(r);
    r = one("_\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_NIL); km_redis_reply_free(r);
    r = one(",3.25\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_DOUBLE); REQUIRE(r->dval == 3.25); ck_assert_str_eq(r->str, "3.25"); km_redis_reply_free(r);
    r = one(",-inf\r\n");
    REQUIRE(isinf(r->dval) && r->dval < 0); km_redis_reply_free(r);
    r = one(",nan\r\n");
    REQUIRE(isnan(r->dval)); km_redis_reply_free(r);
    r = one("#t\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_BOOL); REQUIRE_EQ(r->integer, 1); km_redis_reply_free(r);
    r = one("#f\r\n");
    REQUIRE_EQ(r->integer, 0); km_redis_reply_free(r);
    r = one("(3492890328409238509324850943850943825024385\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_BIGNUM); ck_assert_str_eq(r->str, "3492890328409238509324850943850943825024385"); km_redis_reply_free(r);
    r = one("=15\r\ntxt:Some string\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_VERBATIM); ck_assert_str_eq(r->str, "Some string");
    ck_assert_str_eq(r->format, "txt"); REQUIRE_EQ(r->len, 11); km_redis_reply_free(r);
    r = one("!21\r\nSYNTAX invalid syntax\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_ERROR); ck_assert_str_eq(r->str, "SYNTAX invalid syntax"); km_redis_reply_free(r);
}
START_TEST(scalars) { t_run(scalars_body, NULL); }
END_TEST

static void aggregates_body(void *arg)
{
    (void)arg;
    km_redis_reply *r;
    r = one("*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n*0\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_ARRAY); REQUIRE_EQ(r->len, 3);
    REQUIRE_EQ(r->elem[0]->integer, 1);
    REQUIRE_EQ(r->elem[1]->type, KM_REDIS_ARRAY); REQUIRE_EQ(r->elem[1]->len, 2);
    ck_assert_str_eq(r->elem[1]->elem[0]->str, "a");
    ck_assert_str_eq(r->elem[1]->elem[1]->str, "b");
    REQUIRE_EQ(r->elem[2]->type, KM_REDIS_ARRAY); REQUIRE_EQ(r->elem[2]->len, 0);
    km_redis_reply_free(r);
    r = one("%2\r\n+first\r\n:1\r\n+second\r\n%1\r\n_\r\n#t\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_MAP); REQUIRE_EQ(r->len, 4);
    ck_assert_str_eq(r->elem[0]->str, "first"); REQUIRE_EQ(r->elem[1]->integer, 1);
    REQUIRE_EQ(r->elem[3]->type, KM_REDIS_MAP); REQUIRE_EQ(r->elem[3]->elem[0]->type, KM_REDIS_NIL);
    km_redis_reply_free(r);
    r = one("~2\r\n+a\r\n+b\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_SET); REQUIRE_EQ(r->len, 2); km_redis_reply_free(r);
    r = one(">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_PUSH); ck_assert_str_eq(r->elem[2]->str, "hi"); km_redis_reply_free(r);
    /* attributes: at the top, nested, inside an aggregate, empty */
    r = one("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n|0\r\n:9543892\r\n");
    REQUIRE_EQ(r->type, KM_REDIS_ARRAY); REQUIRE_EQ(r->len, 2);
    REQUIRE_EQ(r->elem[0]->integer, 2039123); REQUIRE_EQ(r->elem[1]->integer, 9543892);
    km_redis_reply_free(r);
    r = one("*2\r\n|1\r\n+k\r\n|1\r\n+x\r\n+y\r\n+v\r\n:1\r\n:2\r\n");
    REQUIRE_EQ(r->len, 2); REQUIRE_EQ(r->elem[0]->integer, 1); REQUIRE_EQ(r->elem[1]->integer, 2);
    km_redis_reply_free(r);
    /* two replies back to back: one at a time */
    km__resp p;
    km__resp_init(&p, NULL);
    const char *two = "+A\r\n:7\r\n+partial";
    size_t used;
    REQUIRE_EQ(km__resp_feed(&p, two, strlen(two), &r, &used), 1);
    REQUIRE_EQ(used, 4); ck_assert_str_eq(r->str, "A"); km_redis_reply_free(r);
    REQUIRE_EQ(km__resp_feed(&p, two + 4, strlen(two) - 4, &r, &used), 1);
    REQUIRE_EQ(used, 4); REQUIRE_EQ(r->integer, 7); km_redis_reply_free(r);
    REQUIRE_EQ(km__resp_feed(&p, two + 8, strlen(two) - 8, &r, &used), 0);
    REQUIRE(r == NULL);
}
START_TEST(aggregates) { t_run(aggregates_body, NULL); }
END_TEST

static void malformed_body(void *arg)
{
    (void)arg;
    const char *protos[] = {
        "?\r\n", "+OK\rX", ":\r\n", ":12a\r\n", ":99999999999999999999\r\n",
        ":9223372036854775808\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "$3\r\nabc\n\n",
        "*-2\r\n", "%-1\r\n", "#x\r\n", "#tt\r\n", "_x\r\n", ",\r\n", ",1.5x\r\n",
        "(\r\n", "(12a\r\n", "=3\r\nabc\r\n", "=5\r\nabcde\r\n", "$1x\r\n", "*1\r\n?\r\n",
    };
    for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++)
        ck_assert_msg(bad(protos[i], NULL) == -EPROTO, "%s", protos[i]);
    /* incomplete is not an error */
    REQUIRE_EQ(bad("*2\r\n:1\r\n", NULL), 0);
    REQUIRE_EQ(bad("$10\r\nabc", NULL), 0);
}
START_TEST(malformed) { t_run(malformed_body, NULL); }
END_TEST

static void limits_body(void *arg)
{
    (void)arg;
    km_redis_limits lim = { .max_bulk = 4, .max_elems = 3, .max_line = 16, .max_depth = 3 };
    REQUIRE_EQ(bad("$5\r\n", &lim), -EMSGSIZE);            /* before the payload came */
    REQUIRE_EQ(bad("!5\r\n", &lim), -EMSGSIZE);
    REQUIRE_EQ(bad("*4\r\n", &lim), -EMSGSIZE);
    REQUIRE_EQ(bad("%2\r\n", &lim), -EMSGSIZE);           /* 2 pairs = 4 entries */
    REQUIRE_EQ(bad("|2\r\n", &lim), -EMSGSIZE);
    REQUIRE_EQ(bad("+0123456789abcdefgh", &lim), -EMSGSIZE); /* no CRLF yet, too long already */
    REQUIRE_EQ(bad("*1\r\n*1\r\n*1\r\n*1\r\n", &lim), -EMSGSIZE);
    REQUIRE_EQ(bad("*1\r\n*1\r\n*1\r\n|1\r\n", &lim), -EMSGSIZE);
    km_redis_reply *r;
    size_t used;
    REQUIRE_EQ(parse("*1\r\n*1\r\n*1\r\n$4\r\nabcd\r\n", 22, &lim, &r, &used), 1);
    ck_assert_str_eq(r->elem[0]->elem[0]->elem[0]->str, "abcd");
    km_redis_reply_free(r);
    /* huge declared sizes allocate nothing until their bytes come */
    REQUIRE_EQ(bad("*16777216\r\n", NULL), 0);
    REQUIRE_EQ(bad("*16777217\r\n", NULL), -EMSGSIZE);
    REQUIRE_EQ(bad("$536870913\r\n", NULL), -EMSGSIZE);
    REQUIRE_EQ(bad("$9223372036854775807\r\n", NULL), -EMSGSIZE);
    REQUIRE_EQ(bad("*9223372036854775807\r\n", NULL), -EMSGSIZE);
    REQUIRE_EQ(bad("%9223372036854775807\r\n", NULL), -EMSGSIZE);
    km__resp p;
    km_redis_limits deep = { .max_depth = KM__RESP_DEPTH_MAX + 1 };
    REQUIRE_EQ(km__resp_init(&p, &deep), -EINVAL);
    /* default depth: 32 */
    char buf[200] = "";
    for (int i = 0; i < 33; i++)
        strcat(buf, "*1\r\n");
    REQUIRE_EQ(bad(buf, NULL), -EMSGSIZE);
    /* out of memory: an error, nothing leaked */
    km__resp_init(&p, NULL);
    t_fail_alloc_after(1);
    REQUIRE_EQ(km__resp_feed(&p, "*1\r\n:1\r\n", 8, &r, &used), -ENOMEM);
    t_fail_alloc_after(0);
}
START_TEST(limits) { t_run(limits_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("redis/resp");
    TCase *tc = tcase_create("resp");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, scalars);
    tcase_add_test(tc, aggregates);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, limits);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
