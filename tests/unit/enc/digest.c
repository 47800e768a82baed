/* SPDX-License-Identifier: MIT */
/* CRC-32C and SHA-256 against their published check values, whole and fed in pieces. */
#include "util.h"
#include <stdio.h>
#include <string.h>
#include "enc/crc32c.h"
#include "enc/sha256.h"

START_TEST(crc32c_check)
{
    /* the check value of CRC-32C (iSCSI, RFC 3720 B.4's polynomial) */
    ck_assert_uint_eq(km__crc32c(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(km__crc32c(km__crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
    ck_assert_uint_eq(km__crc32c(0, "", 0), 0);
    uint8_t zeros[32] = { 0 };
    ck_assert_uint_eq(km__crc32c(0, zeros, sizeof zeros), 0x8a9136aau);   /* RFC 3720 B.4 */
}
END_TEST

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < KM__SHA256_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha_is(const void *p, size_t n, size_t piece, const char *want)
{
    km__sha256 c;
    km__sha256_init(&c);
    for (size_t off = 0; off < n; off += piece)
        km__sha256_update(&c, (const uint8_t *)p + off, n - off < piece ? n - off : piece);
    uint8_t d[KM__SHA256_LEN];
    char h[2 * KM__SHA256_LEN + 1];
    km__sha256_final(&c, d);
    hex(d, h);
    ck_assert_str_eq(h, want);
}

START_TEST(sha256_vectors)
{
    /* FIPS 180-4's examples */
    sha_is("", 0, 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_is("abc", 3, 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    for (size_t piece = 1; piece <= 56; piece += 11)
        sha_is(two, strlen(two), piece,
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    static char mil[1000000];
    memset(mil, 'a', sizeof mil);
    sha_is(mil, sizeof mil, 4096 + 7,
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("enc/digest");
    TCase *tc = tcase_create("digest");
    tcase_add_test(tc, crc32c_check);
    tcase_add_test(tc, sha256_vectors);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
