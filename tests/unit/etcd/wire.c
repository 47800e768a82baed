/* SPDX-License-Identifier: MIT */
/* etcd's JSON conventions for callers: prefix range ends, int64 members, base64. */
#include "util.h"
#include <string.h>
#include "etcd/wire.h"

static void check_end(const char *key, size_t n, const char *want, size_t wn)
{
    char out[16];
    memset(out, 'x', sizeof out);
    size_t en = km__etcd_prefix_end(out, key, n);
    ck_assert_uint_eq(en, wn);
    ck_assert(!memcmp(out, want, wn));
    ck_assert_int_eq(out[en], 0);
}

START_TEST(prefix_end)
{
    check_end("foo", 3, "fop", 3);
    check_end("a/", 2, "a0", 2);
    check_end("a\xff", 2, "b", 1);              /* trailing 0xff dropped */
    check_end("a\xfe\xff\xff", 4, "a\xff", 2);
    check_end("\xff\xff", 2, "\0", 1);          /* to the end of the keyspace */
    check_end("", 0, "\0", 1);
}
END_TEST

START_TEST(json_members)
{
    json_t *o = json_pack("{s:s, s:I, s:b, s:s}", "rev", "9007199254740993", "n", (json_int_t)-7,
                          "yes", 1, "junk", "x");
    ck_assert_int_eq(km__etcd_json_i64(o, "rev"), 9007199254740993LL);  /* beyond a double */
    ck_assert_int_eq(km__etcd_json_i64(o, "n"), -7);
    ck_assert_int_eq(km__etcd_json_i64(o, "yes"), 1);
    ck_assert_int_eq(km__etcd_json_i64(o, "missing"), 0);
    ck_assert_int_eq(km__etcd_json_i64(o, "junk"), 0);
    json_decref(o);
    json_t *b = km__etcd_json_b64("\0\xff" "ab", 4);
    ck_assert_str_eq(json_string_value(b), "AP9hYg==");
    json_decref(b);
    b = km__etcd_json_b64("", 0);
    ck_assert_str_eq(json_string_value(b), "");
    json_decref(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("etcd/wire");
    TCase *tc = tcase_create("wire");
    tcase_add_test(tc, prefix_end);
    tcase_add_test(tc, json_members);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
