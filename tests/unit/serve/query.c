/* SPDX-License-Identifier: MIT */
/* The native API's query helpers: a prefix's range end never widens on
 * allocation failure, and one bad parameter is not forgotten by the next. */
#include "util.h"
#include <errno.h>
#include <string.h>
#include "serve/native-int.h"
#include "store/arena.h"

static void prefix_end_body(void *arg)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    km_bytes key = { (const uint8_t *)"app/", 4 }, end = { NULL, 0 };
    ck_assert_int_eq(km__prefix_end(key, a, &end), 0);
    ck_assert_uint_eq(end.n, 4);
    ck_assert(!memcmp(end.p, "app0", 4));
    km__arena_free(a);
    /* The arena's first block comes from the allocator: make it fail. An
     * error, and no range end at all ("\0" would reach every later key). */
    a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    end = (km_bytes){ NULL, 0 };
    t_fail_alloc_after(1);
    ck_assert_int_eq(km__prefix_end(key, a, &end), -ENOMEM);
    t_fail_alloc_after(0);
    ck_assert_ptr_null(end.p);
    km__arena_free(a);
}

START_TEST(prefix_end_never_widens) { t_run(prefix_end_body, NULL); }
END_TEST

static void bad_flag_body(void *arg)
{
    km__arena *a = km__arena_new();
    ck_assert_ptr_nonnull(a);
    km_str q = { "prefix=%zz&rev=1", 16 };
    km_bytes v;
    int bad = 0;
    ck_assert(!km__query_get(q, "prefix", a, &v, &bad));
    ck_assert_int_eq(bad, -EINVAL);
    ck_assert(km__query_get(q, "rev", a, &v, &bad));
    ck_assert_msg(bad == -EINVAL, "a later parameter cleared the earlier one's error");
    km__arena_free(a);
}

START_TEST(bad_flag_sticks) { t_run(bad_flag_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("serve/query");
    TCase *tc = tcase_create("query");
    tcase_add_test(tc, prefix_end_never_widens);
    tcase_add_test(tc, bad_flag_sticks);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
