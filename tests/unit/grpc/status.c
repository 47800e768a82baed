/* SPDX-License-Identifier: MIT */
/* Status codes by name, and grpc-message's percent-encoding both ways. */
#include "util.h"
#include <string.h>
#include "grpc/wire-int.h"

START_TEST(code_names_both_ways)
{
    ck_assert_str_eq(km_grpc_code_name(KM_GRPC_OK), "OK");
    ck_assert_str_eq(km_grpc_code_name(KM_GRPC_CANCELLED), "CANCELLED");
    ck_assert_str_eq(km_grpc_code_name(KM_GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    ck_assert_str_eq(km_grpc_code_name(KM_GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    ck_assert_str_eq(km_grpc_code_name(17), "");
    ck_assert_str_eq(km_grpc_code_name(-1), "");
    for (int c = 0; c <= 16; c++) {
        const char *n = km_grpc_code_name(c);
        ck_assert_int_eq(km_grpc_code_parse(n, strlen(n)), c);
    }
    ck_assert_int_eq(km_grpc_code_parse("ok", 2), -EINVAL);
    ck_assert_int_eq(km_grpc_code_parse("OK ", 3), -EINVAL);
    ck_assert_int_eq(km_grpc_code_parse("", 0), -EINVAL);
    ck_assert_int_eq(km_grpc_code_parse(NULL, 0), -EINVAL);
}
END_TEST

static void enc_is(const char *in, const char *want)
{
    char out[512];
    size_t n = km__grpc_pct_encode(out, in, strlen(in));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_str_eq(out, want);
    /* and back */
    char back[512];
    size_t m = km__grpc_pct_decode(back, out, n);
    ck_assert_uint_eq(m, strlen(in));
    ck_assert(!memcmp(back, in, m));
}

/* What grpc-go and grpcio send for the interop check's messages, except
 * the spaces at the ends, which go as %20. */
START_TEST(percent_encoding)
{
    enc_is("", "");
    enc_is("plain text, with (punctuation)!", "plain text, with (punctuation)!");
    enc_is("100% sure: 50%25 is not %", "100%25 sure: 50%2525 is not %25");
    enc_is("line one\nline two\r\n\ttabbed", "line one%0Aline two%0D%0A%09tabbed");
    enc_is("d\xc3\xa9j\xc3\xa0 \xe2\x98\x83 \xf0\x9f\x98\x80", "d%C3%A9j%C3%A0 %E2%98%83 %F0%9F%98%80");
    enc_is("  spaces at both ends  ", "%20%20spaces at both ends%20%20");
    enc_is(" ", "%20");
    enc_is("   ", "%20%20%20");
    enc_is("~\x7f", "~%7F");
    enc_is("%e2%98%83 stays as typed", "%25e2%2598%2583 stays as typed");
    /* NUL and 0xFF are bytes like any other */
    char out[16];
    ck_assert_uint_eq(km__grpc_pct_encode(out, "a\0\xff", 3), 7);
    ck_assert_str_eq(out, "a%00%FF");
}
END_TEST

static void dec_is(const char *in, const char *want)
{
    char out[512];
    size_t n = km__grpc_pct_decode(out, in, strlen(in));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert(!memcmp(out, want, n));
}

/* Decoding takes either case of hex and keeps what is not a valid escape. */
START_TEST(percent_decoding_is_lenient)
{
    dec_is("%c3%A9", "\xc3\xa9");
    dec_is("%", "%");
    dec_is("%2", "%2");
    dec_is("%zz", "%zz");
    dec_is("%%41", "%A");
    dec_is("50%", "50%");
    dec_is("%4", "%4");
    dec_is("%41%", "A%");
    dec_is("a%20b", "a b");
}
END_TEST

/* Every byte value, in every position, survives the round trip. */
START_TEST(percent_round_trip_every_byte)
{
    char in[256], enc[3 * 256 + 1], back[256];
    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    size_t n = km__grpc_pct_encode(enc, in, 256);
    for (size_t i = 0; i < n; i++)
        ck_assert(enc[i] >= 0x21 && enc[i] <= 0x7e ? 1 : (enc[i] == ' ' && i > 0 && i < n - 1));
    ck_assert_uint_eq(km__grpc_pct_decode(back, enc, n), 256);
    ck_assert(!memcmp(in, back, 256));
    ck_assert_uint_le(n, km__grpc_pct_room(256) - 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/status");
    TCase *tc = tcase_create("status");
    tcase_add_test(tc, code_names_both_ways);
    tcase_add_test(tc, percent_encoding);
    tcase_add_test(tc, percent_decoding_is_lenient);
    tcase_add_test(tc, percent_round_trip_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
