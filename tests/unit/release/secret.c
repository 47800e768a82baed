/* SPDX-License-Identifier: MIT */
/* Sealed secret values: round trips, the stored layout checked by an
 * independent decryption, the strings a key must refuse (another key or
 * context, flipped bits, truncated, garbled), and the key file's forms,
 * sizes and permissions. */
#include "util.h"
#include "enc/b64.h"
#include "release/secret.h"
#include "rt/alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

static char dir[64];

static char *path(const char *name) { return t_path(dir, name); }

static void mk_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/kumo-secret-XXXXXX");
    ck_assert(mkdtemp(dir));
}

static void rm_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes name with mode and n bytes of data; returns its path. */
static char *spill(const char *name, int mode, const void *data, size_t n)
{
    char *p = path(name);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, (mode_t)mode), 0);     /* past the umask */
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    return p;
}

static const uint8_t key_bytes[32] = {
    0xfb, 0xff, 0xbf, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
    0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a,
    0xfe, 0xff,
};
/* key_bytes written out: the base64 forms hold '+' '/' or '-' '_'. */
#define KEY_HEX "fbffbf000102030405060708090a0b0c0d0e0f101112131415161718191afeff"
#define KEY_B64 "+/+/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka/v8="
#define KEY_URL "-_-_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka_v8"

static const uint8_t ctx[] = "app/ns\0db.password";
#define CTXN (sizeof ctx - 1)

static km__secret_key *load(const char *file)
{
    km__secret_key *k;
    char err[256];
    int rc = km__secret_key_load(&k, file, err, sizeof err);
    ck_assert_msg(rc == 0, "load %s: %d %s", file, rc, err);
    return k;
}

static km__secret_key *key_a(void) { return load(spill("a.key", 0600, key_bytes, 32)); }

static km__secret_key *key_b(void)
{
    uint8_t b[32];
    memcpy(b, key_bytes, 32);
    b[31] ^= 1;
    return load(spill("b.key", 0600, b, 32));
}

/* ---- round trips ---- */

static void round_trip_body(void *arg)
{
    km__secret_key *k = key_a();
    static uint8_t big[64 << 10];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    const size_t sizes[] = { 0, 1, 15, 16, 17, sizeof big };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *s;
        ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, big, sizes[i], &s), 0);
        size_t sn = strlen(s);
        ck_assert(km__secret_is_sealed(s, sn));
        ck_assert_uint_eq(sn, 7 + km__b64_raw_len(12 + sizes[i] + 16));
        for (size_t j = 7; j < sn; j++)
            ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                             s[j]));
        uint8_t *p;
        size_t n;
        ck_assert_int_eq(km__secret_open(k, ctx, CTXN, s, sn, &p, &n), 0);
        ck_assert_uint_eq(n, sizes[i]);
        ck_assert(!memcmp(p, big, n));
        ck_assert_int_eq(p[n], 0);
        km__free(p);
        km__free(s);
    }
    /* no context at all is a context too */
    char *s;
    uint8_t *p;
    size_t n;
    ck_assert_int_eq(km__secret_seal(k, NULL, 0, (const uint8_t *)"v", 1, &s), 0);
    ck_assert_int_eq(km__secret_open(k, NULL, 0, s, strlen(s), &p, &n), 0);
    km__free(p);
    ck_assert_int_eq(km__secret_open(k, ctx, CTXN, s, strlen(s), &p, &n), -EBADMSG);
    km__free(s);
    km__secret_key_free(k);
}

START_TEST(round_trip)
{
    t_run(round_trip_body, NULL);
}
END_TEST

START_TEST(fresh_nonces)
{
    km__secret_key *k = key_a();
    char *s[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, (const uint8_t *)"same", 4, &s[i]), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            /* the nonce is the first 16 characters after the prefix */
            ck_assert(memcmp(s[i] + 7, s[j] + 7, 16) != 0);
    for (int i = 0; i < 4; i++)
        km__free(s[i]);
    km__secret_key_free(k);
}
END_TEST

/* The stored form is exactly docs/API.md's: decrypted here with EVP and
 * OpenSSL's own base64 decoder, not secret.c's code. */
START_TEST(layout)
{
    km__secret_key *k = key_a();
    const char *v = "hunter2";
    char *s;
    ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, (const uint8_t *)v, 7, &s), 0);
    char b64[128];
    size_t n = 0;
    for (const char *c = s + 7; *c; c++)
        b64[n++] = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    while (n % 4)
        b64[n++] = '=';
    b64[n] = '\0';
    uint8_t raw[96];
    int rn = EVP_DecodeBlock(raw, (const uint8_t *)b64, (int)n);
    rn -= (int)(strchr(b64, '=') ? strlen(strchr(b64, '=')) : 0);
    ck_assert_int_eq(rn, 12 + 7 + 16);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t out[16];
    int got, fin;
    ck_assert(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key_bytes, raw));
    ck_assert(EVP_DecryptUpdate(c, NULL, &got, ctx, (int)CTXN));
    ck_assert(EVP_DecryptUpdate(c, out, &got, raw + 12, 7));
    ck_assert(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, raw + 19));
    ck_assert_int_eq(EVP_DecryptFinal_ex(c, out + got, &fin), 1);
    ck_assert_int_eq(got + fin, 7);
    ck_assert(!memcmp(out, v, 7));
    EVP_CIPHER_CTX_free(c);
    km__free(s);
    km__secret_key_free(k);
}
END_TEST

/* ---- refusals ---- */

static int try_open(const km__secret_key *k, const uint8_t *c, size_t cn, const char *s)
{
    uint8_t *p = (uint8_t *)"x";
    size_t n = 99;
    int rc = km__secret_open(k, c, cn, s, strlen(s), &p, &n);
    if (rc == 0)
        km__free(p);
    else
        ck_assert(p == NULL && n == 0);
    return rc;
}

START_TEST(other_key_or_context)
{
    km__secret_key *a = key_a(), *b = key_b();
    char *s;
    ck_assert_int_eq(km__secret_seal(a, ctx, CTXN, (const uint8_t *)"secret", 6, &s), 0);
    ck_assert_int_eq(try_open(a, ctx, CTXN, s), 0);
    ck_assert_int_eq(try_open(b, ctx, CTXN, s), -EBADMSG);
    /* another item, another namespace, the NUL moved, a byte less */
    static const uint8_t other_key[] = "app/ns\0db.user";
    static const uint8_t other_ns[] = "app/ns2\0db.password";
    static const uint8_t moved[] = "app/ns\0d\0b.password";
    ck_assert_int_eq(try_open(a, other_key, sizeof other_key - 1, s), -EBADMSG);
    ck_assert_int_eq(try_open(a, other_ns, sizeof other_ns - 1, s), -EBADMSG);
    ck_assert_int_eq(try_open(a, moved, sizeof moved - 1, s), -EBADMSG);
    ck_assert_int_eq(try_open(a, ctx, CTXN - 1, s), -EBADMSG);
    km__free(s);
    km__secret_key_free(a);
    km__secret_key_free(b);
}
END_TEST

START_TEST(flipped_bits)
{
    km__secret_key *k = key_a();
    char *s;
    ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, (const uint8_t *)"0123456789", 10, &s), 0);
    uint8_t raw[64];
    ssize_t rn = km__b64url_decode(raw, s + 7, strlen(s + 7));
    ck_assert_int_eq(rn, 12 + 10 + 16);
    /* every bit of nonce, ciphertext and tag, re-encoded as valid base64 */
    for (size_t i = 0; i < (size_t)rn * 8; i++) {
        raw[i / 8] ^= (uint8_t)(1 << i % 8);
        char t[96] = "kmenc1:";
        t[7 + km__b64url_encode(t + 7, raw, (size_t)rn)] = '\0';
        REQUIRE_EQ(try_open(k, ctx, CTXN, t), -EBADMSG);
        raw[i / 8] ^= (uint8_t)(1 << i % 8);
    }
    km__free(s);
    km__secret_key_free(k);
}
END_TEST

START_TEST(truncated_and_garbled)
{
    km__secret_key *k = key_a();
    char *s;
    ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, (const uint8_t *)"0123456789", 10, &s), 0);
    size_t sn = strlen(s);
    char t[128];
    /* shorter by whole bytes: a valid encoding with a wrong tag, until
     * nothing is left beyond nonce and tag */
    for (size_t cut = 1; cut < sn; cut++) {
        memcpy(t, s, sn - cut);
        t[sn - cut] = '\0';
        int rc = try_open(k, ctx, CTXN, t);
        size_t left = sn - cut >= 7 ? sn - cut - 7 : 0;
        if (left % 4 == 1 || left < km__b64_raw_len(28))
            REQUIRE_EQ(rc, -EINVAL);
        else
            REQUIRE(rc == -EBADMSG || rc == -EINVAL);   /* -EINVAL: leftover bits set */
    }
    ck_assert_int_eq(try_open(k, ctx, CTXN, "kmenc1:"), -EINVAL);
    ck_assert_int_eq(try_open(k, ctx, CTXN, ""), -EINVAL);
    ck_assert_int_eq(try_open(k, ctx, CTXN, "kmenc1"), -EINVAL);
    /* missing or other prefix */
    ck_assert_int_eq(try_open(k, ctx, CTXN, s + 7), -EINVAL);
    ck_assert_int_eq(try_open(k, ctx, CTXN, s + 1), -EINVAL);
    memcpy(t, s, sn + 1);
    t[5] = '2';
    ck_assert_int_eq(try_open(k, ctx, CTXN, t), -EINVAL);
    memcpy(t, s, sn + 1);
    t[0] = 'K';
    ck_assert_int_eq(try_open(k, ctx, CTXN, t), -EINVAL);
    ck_assert(!km__secret_is_sealed("kmenc", 5));
    ck_assert(!km__secret_is_sealed(s, 6));
    ck_assert(km__secret_is_sealed(s, 7));
    /* characters outside the url alphabet, padding, a NUL inside */
    const char bad[] = { '+', '/', '=', '!', ' ', '\n', '\0', (char)0xc3 };
    for (size_t i = 0; i < sizeof bad; i++) {
        memcpy(t, s, sn + 1);
        t[10] = bad[i];
        uint8_t *p;
        size_t n;
        ck_assert_int_eq(km__secret_open(k, ctx, CTXN, t, sn, &p, &n), -EINVAL);
    }
    memcpy(t, s, sn);
    memcpy(t + sn, "==", 3);
    ck_assert_int_eq(try_open(k, ctx, CTXN, t), -EINVAL);
    km__free(s);
    km__secret_key_free(k);
}
END_TEST

/* ---- allocation failures ---- */

static void alloc_body(void *arg)
{
    km__secret_key *k = key_a();
    for (long i = 1; i <= 2; i++) {
        char *s = (char *)"x";
        t_fail_alloc_after(i);
        int rc = km__secret_seal(k, ctx, CTXN, (const uint8_t *)"abc", 3, &s);
        t_fail_alloc_after(0);
        REQUIRE_EQ(rc, -ENOMEM);
        REQUIRE(s == NULL);
    }
    char *s;
    ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, (const uint8_t *)"abc", 3, &s), 0);
    for (long i = 1; i <= 2; i++) {
        uint8_t *p;
        size_t n;
        t_fail_alloc_after(i);
        int rc = km__secret_open(k, ctx, CTXN, s, strlen(s), &p, &n);
        t_fail_alloc_after(0);
        REQUIRE_EQ(rc, -ENOMEM);
    }
    km__free(s);
    km__secret_key_free(k);
    km__secret_key *k2 = (km__secret_key *)&k;
    char err[128];
    t_fail_alloc_after(1);
    int rc = km__secret_key_load(&k2, path("a.key"), err, sizeof err);
    t_fail_alloc_after(0);
    ck_assert_int_eq(rc, -ENOMEM);
    ck_assert(k2 == NULL);
}

START_TEST(alloc_failures)
{
    t_run(alloc_body, NULL);
}
END_TEST

/* ---- key files ---- */

/* The key in file seals what key_bytes opens. */
static void same_key(const char *file)
{
    km__secret_key *k = load(file), *a = key_a();
    char *s;
    ck_assert_int_eq(km__secret_seal(k, ctx, CTXN, (const uint8_t *)"v", 1, &s), 0);
    ck_assert_msg(try_open(a, ctx, CTXN, s) == 0, "%s holds another key", file);
    km__free(s);
    km__secret_key_free(k);
    km__secret_key_free(a);
}

START_TEST(key_forms)
{
    static const char *const texts[] = {
        KEY_HEX, KEY_HEX "\n", KEY_HEX "\r\n",
        "FBFFBF000102030405060708090A0B0C0D0E0F101112131415161718191AFEFF",
        KEY_B64, KEY_B64 "\n", "+/+/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka/v8",
        KEY_URL, KEY_URL "\n", KEY_URL "=\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        same_key(spill("t.key", 0600, texts[i], strlen(texts[i])));
    same_key(spill("raw.key", 0600, key_bytes, 32));
    same_key(spill("ro.key", 0400, key_bytes, 32));
    /* 32 raw bytes that happen to be text are still raw */
    km__secret_key *k = load(spill("t.key", 0600, KEY_HEX, 32));
    km__secret_key_free(k);
}
END_TEST

static void refused(const char *file, int want, const char *says)
{
    km__secret_key *k = (km__secret_key *)&k;
    char err[512];
    int rc = km__secret_key_load(&k, file, err, sizeof err);
    ck_assert_msg(rc == want, "%s: %d, want %d (%s)", file, rc, want, err);
    ck_assert(k == NULL);
    ck_assert_msg(strstr(err, says), "%s: \"%s\" lacks \"%s\"", file, err, says);
}

START_TEST(key_sizes)
{
    uint8_t b[300];
    memset(b, 0x41, sizeof b);
    refused(spill("t.key", 0600, b, 31), -EINVAL, "t.key");
    refused(spill("t.key", 0600, key_bytes, 0), -EINVAL, "empty");
    refused(spill("t.key", 0600, "\n", 1), -EINVAL, "empty");
    refused(spill("t.key", 0600, key_bytes, 30), -EINVAL, "t.key");
    memset(b, 0xfe, 33);
    refused(spill("t.key", 0600, b, 33), -EINVAL, "neither");
    refused(spill("t.key", 0600, b, sizeof b), -EINVAL, "larger");
    refused(spill("t.key", 0600, KEY_HEX, 63), -EINVAL, "63 hex digits");
    refused(spill("t.key", 0600, KEY_HEX "ab\n", 67), -EINVAL, "66 hex digits");
    const char *odd = "fbffbf000102030405060708090a0b0c0d0e0f101112131415161718191afegg";
    refused(spill("t.key", 0600, odd, strlen(odd)), -EINVAL, "base64 of 48 bytes");
    const char *b31 = "+/+/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka/g==\n";    /* 31 bytes */
    refused(spill("t.key", 0600, b31, strlen(b31)), -EINVAL, "base64 of 31 bytes");
    const char *b33 = KEY_URL "A\n";
    refused(spill("t.key", 0600, b33, strlen(b33)), -EINVAL, "base64 of 33 bytes");
    const char *two = KEY_HEX "\n\n";
    refused(spill("t.key", 0600, two, strlen(two)), -EINVAL, "t.key");
}
END_TEST

START_TEST(key_permissions)
{
    char want[160];
    char *p = spill("open.key", 0644, key_bytes, 32);
    snprintf(want, sizeof want, "chmod 600 %s", p);
    refused(p, -EPERM, want);
    refused(spill("open.key", 0640, key_bytes, 32), -EPERM, "0640");
    refused(spill("open.key", 0604, key_bytes, 32), -EPERM, "chmod 600");
    refused(spill("open.key", 0620, key_bytes, 32), -EPERM, "chmod 600");
    refused(path("missing.key"), -ENOENT, "missing.key");
    ck_assert_int_eq(mkdir(path("dir.key"), 0700), 0);
    refused(path("dir.key"), -EISDIR, "dir.key");
    if (geteuid() != 0) {       /* root reads a 0000 file anyway */
        refused(spill("none.key", 0000, key_bytes, 32), -EACCES, "none.key");
    }
    /* a message cut to fit its buffer, and none at all */
    km__secret_key *k;
    char err[8];
    ck_assert_int_eq(km__secret_key_load(&k, path("missing.key"), err, sizeof err), -ENOENT);
    ck_assert_uint_eq(strlen(err), 7);
    ck_assert_int_eq(km__secret_key_load(&k, path("missing.key"), NULL, 0), -ENOENT);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("release/secret");
    TCase *tc = tcase_create("secret");
    tcase_add_unchecked_fixture(tc, mk_dir, rm_dir);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, fresh_nonces);
    tcase_add_test(tc, layout);
    tcase_add_test(tc, other_key_or_context);
    tcase_add_test(tc, flipped_bits);
    tcase_add_test(tc, truncated_and_garbled);
    tcase_add_test(tc, alloc_failures);
    tcase_add_test(tc, key_forms);
    tcase_add_test(tc, key_sizes);
    tcase_add_test(tc, key_permissions);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
