/* SPDX-License-Identifier: MIT */
/* grpc-timeout: every unit, the bounds, garbage refused, formatting rounded up. */
#include "util.h"
#include <string.h>
#include "grpc/wire-int.h"

static int64_t parse_ok(const char *s)
{
    int64_t ns = -1;
    int rc = km__grpc_timeout_parse(s, strlen(s), &ns);
    ck_assert_msg(rc == 0, "'%s': %s", s, km_strerror(rc));
    return ns;
}

static void parse_bad(const char *s, size_t n)
{
    int64_t ns = 12345;
    ck_assert_msg(km__grpc_timeout_parse(s, n, &ns) == -EINVAL, "'%.*s' accepted", (int)n, s);
    ck_assert_int_eq(ns, 12345);
}

START_TEST(parse_units)
{
    ck_assert_int_eq(parse_ok("1n"), 1);
    ck_assert_int_eq(parse_ok("1u"), 1000);
    ck_assert_int_eq(parse_ok("1m"), 1000000);
    ck_assert_int_eq(parse_ok("1S"), 1000000000);
    ck_assert_int_eq(parse_ok("1M"), 60000000000LL);
    ck_assert_int_eq(parse_ok("1H"), 3600000000000LL);
    ck_assert_int_eq(parse_ok("0n"), 0);
    ck_assert_int_eq(parse_ok("0H"), 0);
    /* as the peers send them */
    ck_assert_int_eq(parse_ok("29999554u"), 29999554000LL);
    ck_assert_int_eq(parse_ok("10100m"), 10100000000LL);
    ck_assert_int_eq(parse_ok("301m"), 301000000);
    ck_assert_int_eq(parse_ok("00000001S"), 1000000000);
}
END_TEST

START_TEST(parse_bounds)
{
    ck_assert_int_eq(parse_ok("99999999n"), 99999999);
    ck_assert_int_eq(parse_ok("99999999S"), 99999999000000000LL);
    ck_assert_int_eq(parse_ok("99999999M"), 5999999940000000000LL);
    /* past int64 nanoseconds: the largest deadline there is */
    ck_assert_int_eq(parse_ok("99999999H"), INT64_MAX);
    ck_assert_int_eq(parse_ok("2562048H"), INT64_MAX);
    ck_assert_int_eq(parse_ok("2562047H"), 2562047 * 3600000000000LL);
}
END_TEST

START_TEST(parse_garbage)
{
    parse_bad("", 0);
    parse_bad("n", 1);
    parse_bad("1", 1);
    parse_bad("10", 2);
    parse_bad("1s", 2);         /* seconds are upper case */
    parse_bad("1h", 2);
    parse_bad("1U", 2);
    parse_bad("1N", 2);
    parse_bad("1x", 2);
    parse_bad("123456789n", 10);    /* nine digits */
    parse_bad("-1S", 3);
    parse_bad("+1S", 3);
    parse_bad(" 1S", 3);
    parse_bad("1S ", 3);
    parse_bad("1 S", 3);
    parse_bad("1.5S", 4);
    parse_bad("1SS", 3);
    parse_bad("0x1S", 4);
    parse_bad("1\0S", 3);
    parse_bad("1S\0", 3);
    ck_assert_int_eq(km__grpc_timeout_parse(NULL, 0, &(int64_t){ 0 }), -EINVAL);
}
END_TEST

static void fmt_is(int64_t ns, const char *want)
{
    char out[KM__GRPC_TIMEOUT_MAX];
    size_t n = km__grpc_timeout_format(ns, out);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
    /* and it parses back to no less than asked */
    ck_assert_int_ge(parse_ok(out), ns < 0 ? 0 : ns);
}

START_TEST(format_finest_unit_rounded_up)
{
    fmt_is(-5, "0n");
    fmt_is(0, "0n");
    fmt_is(1, "1n");
    fmt_is(99999999, "99999999n");
    fmt_is(100000000, "100000u");
    fmt_is(100000001, "100001u");
    fmt_is(300 * 1000000LL, "300000u");
    fmt_is(30 * 1000000000LL, "30000000u");
    fmt_is(99999999000LL, "99999999u");
    fmt_is(99999999001LL, "100000m");
    fmt_is(3600 * 1000000000LL, "3600000m");
    fmt_is(99999999 * 1000000LL + 1, "100000S");
    fmt_is(INT64_MAX / 2, "76861434M");
    fmt_is(INT64_MAX, "2562048H");
}
END_TEST

/* Whatever is formatted parses back within one unit of the value. */
START_TEST(format_parse_round_trip)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ns = (int64_t)(x >> (1 + i % 63));
        char out[KM__GRPC_TIMEOUT_MAX];
        km__grpc_timeout_format(ns, out);
        int64_t back;
        REQUIRE_EQ(km__grpc_timeout_parse(out, strlen(out), &back), 0);
        REQUIRE(back >= ns);
        /* within one unit: a coarser unit is taken only past 8 digits of
         * the finer one, so the value has 5 digits at least (units step by
         * 1000 or 60), or the unit is the finest, 1 ns */
        REQUIRE((double)(back - ns) <= (double)ns / 1e5 + 1.0 || back == INT64_MAX);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/timeout");
    TCase *tc = tcase_create("timeout");
    tcase_add_test(tc, parse_units);
    tcase_add_test(tc, parse_bounds);
    tcase_add_test(tc, parse_garbage);
    tcase_add_test(tc, format_finest_unit_rounded_up);
    tcase_add_test(tc, format_parse_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
