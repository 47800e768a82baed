/* SPDX-License-Identifier: MIT */
/* Metadata: base64 for -bin values (every padding case, padded or not), keys allowed, reserved, visible. */
#include "util.h"
#include <string.h>
#include "grpc/wire-int.h"

static void b64_is(const void *in, size_t n, const char *want)
{
    char out[64];
    ck_assert_uint_eq(km__grpc_b64_encode(out, in, n), strlen(want));
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(km__grpc_b64_len(n), strlen(want));
    uint8_t back[64];
    ck_assert_int_eq(km__grpc_b64_decode(back, out, strlen(out)), (ssize_t)n);
    ck_assert(!memcmp(back, in, n));
}

/* The interop checks' values: 0 to 4 bytes, NUL, CR, LF, 0xFF. */
START_TEST(base64_unpadded_out)
{
    b64_is("", 0, "");
    b64_is("\x80", 1, "gA");
    b64_is("\x80\x81", 2, "gIE");
    b64_is("\x80\x81\x82", 3, "gIGC");
    b64_is("\x80\x81\x82\x83", 4, "gIGCgw");
    b64_is("\x00\x01\x02\xfe\xff\n\r", 7, "AAEC/v8KDQ");
    b64_is("\xff\x00\xff" "binary\x00", 10, "/wD/YmluYXJ5AA");
    b64_is("Man", 3, "TWFu");
}
END_TEST

static void dec_is(const char *in, const void *want, ssize_t n)
{
    uint8_t out[64];
    ssize_t got = km__grpc_b64_decode(out, in, strlen(in));
    ck_assert_msg(got == n, "'%s': %zd, want %zd", in, got, n);
    if (n > 0)
        ck_assert(!memcmp(out, want, (size_t)n));
}

START_TEST(base64_padded_or_not_in)
{
    dec_is("gA==", "\x80", 1);
    dec_is("gA", "\x80", 1);
    dec_is("gIE=", "\x80\x81", 2);
    dec_is("gIE", "\x80\x81", 2);
    dec_is("gIGC", "\x80\x81\x82", 3);
    dec_is("gIGCgw==", "\x80\x81\x82\x83", 4);
    dec_is("", "", 0);
    dec_is("+/+/", "\xfb\xff\xbf", 3);
    /* broken */
    dec_is("g", NULL, -EINVAL);         /* one character: no whole byte */
    dec_is("gIGCg", NULL, -EINVAL);
    dec_is("gA=", NULL, -EINVAL);       /* padding of the wrong length */
    dec_is("gA===", NULL, -EINVAL);
    dec_is("g===", NULL, -EINVAL);
    dec_is("====", NULL, -EINVAL);
    dec_is("==", NULL, -EINVAL);
    dec_is("=", NULL, -EINVAL);
    dec_is("g=A=", NULL, -EINVAL);      /* padding inside */
    dec_is("gB", NULL, -EINVAL);        /* leftover bits not zero */
    dec_is("gIF", NULL, -EINVAL);
    dec_is("gA-_", NULL, -EINVAL);      /* the URL alphabet is not gRPC's */
    dec_is("gA,gA", NULL, -EINVAL);
    dec_is("g A=", NULL, -EINVAL);
}
END_TEST

/* All 2^16 two-byte values and a long run survive. */
START_TEST(base64_round_trip)
{
    for (int v = 0; v < 65536; v++) {
        uint8_t in[3] = { (uint8_t)(v >> 8), (uint8_t)v, (uint8_t)(v * 7) };
        for (size_t n = 1; n <= 3; n++) {
            char enc[8];
            uint8_t back[4];
            size_t e = km__grpc_b64_encode(enc, in, n);
            REQUIRE_EQ(km__grpc_b64_decode(back, enc, e), (ssize_t)n);
            REQUIRE(!memcmp(back, in, n));
        }
    }
    uint8_t big[3000], back[3000];
    char enc[4100];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 131 + 7);
    size_t e = km__grpc_b64_encode(enc, big, sizeof big);
    ck_assert_int_eq(km__grpc_b64_decode(back, enc, e), (ssize_t)sizeof big);
    ck_assert(!memcmp(back, big, sizeof big));
}
END_TEST

static bool key_ok(const char *k) { return km__grpc_md_key_ok(k, strlen(k)); }
static bool visible(const char *k) { return km__grpc_md_key_visible(k, strlen(k)); }

START_TEST(keys)
{
    ck_assert(key_ok("x-echo-ascii"));
    ck_assert(key_ok("x-echo-data-bin"));
    ck_assert(key_ok("a"));
    ck_assert(key_ok("0_9.z-"));
    ck_assert(key_ok("authorization"));
    ck_assert(!key_ok(""));
    ck_assert(!key_ok("X-Upper"));
    ck_assert(!key_ok("has space"));
    ck_assert(!key_ok("colon:"));
    ck_assert(!key_ok(":path"));
    ck_assert(!key_ok("grpc-timeout"));
    ck_assert(!key_ok("grpc-status"));
    ck_assert(!key_ok("grpc-anything"));
    ck_assert(!key_ok("content-type"));
    ck_assert(!key_ok("te"));
    ck_assert(!key_ok("user-agent"));
    ck_assert(!key_ok("connection"));
    ck_assert(!key_ok("transfer-encoding"));
    ck_assert(key_ok("grpc"));
    ck_assert(key_ok("tee"));
    ck_assert(!km__grpc_md_key_ok(NULL, 0));
    ck_assert(!km__grpc_md_key_ok("a\0b", 3));

    ck_assert(km__grpc_md_key_bin("x-bin", 5));
    ck_assert(!km__grpc_md_key_bin("-bin", 4));
    ck_assert(!km__grpc_md_key_bin("x-binary", 8));
    ck_assert(!km__grpc_md_key_bin("bin", 3));

    ck_assert(visible("x-echo-a"));
    ck_assert(visible("user-agent"));
    ck_assert(visible("authorization"));
    ck_assert(!visible(":authority"));
    ck_assert(!visible("content-type"));
    ck_assert(!visible("te"));
    ck_assert(!visible("grpc-timeout"));
    ck_assert(!visible("grpc-accept-encoding"));
    ck_assert(!visible(""));
}
END_TEST

START_TEST(values)
{
    const char *all = "hello world !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    ck_assert(km__grpc_md_value_ok(all, strlen(all)));
    ck_assert(km__grpc_md_value_ok("", 0));
    ck_assert(!km__grpc_md_value_ok("tab\there", 8));
    ck_assert(!km__grpc_md_value_ok("nl\n", 3));
    ck_assert(!km__grpc_md_value_ok("\x7f", 1));
    ck_assert(!km__grpc_md_value_ok("\xc3\xa9", 2));
    ck_assert(!km__grpc_md_value_ok(" lead", 5));
    ck_assert(!km__grpc_md_value_ok("trail ", 6));
    ck_assert(km__grpc_md_value_ok("in side", 7));
}
END_TEST

START_TEST(md_get)
{
    km_grpc_md md[] = { km_grpc_md_of("a", "1", 1), km_grpc_md_of("b-bin", "\0\1", 2),
                        km_grpc_md_of("a", "2", 1) };
    km_str v = km_grpc_md_get(md, 3, "a");
    ck_assert(v.n == 1 && v.p[0] == '1');
    v = km_grpc_md_get(md, 3, "b-bin");
    ck_assert(v.n == 2 && v.p[1] == 1);
    ck_assert(km_grpc_md_get(md, 3, "c").p == NULL);
    ck_assert(km_grpc_md_get(md, 3, "").p == NULL);
    ck_assert(km_grpc_md_get(NULL, 0, "a").p == NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/metadata");
    TCase *tc = tcase_create("metadata");
    tcase_add_test(tc, base64_unpadded_out);
    tcase_add_test(tc, base64_padded_or_not_in);
    tcase_add_test(tc, base64_round_trip);
    tcase_add_test(tc, keys);
    tcase_add_test(tc, values);
    tcase_add_test(tc, md_get);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
