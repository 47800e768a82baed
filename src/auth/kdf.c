/* SPDX-License-Identifier: MIT */
/* Password hashes: PBKDF2-HMAC-SHA256 (OpenSSL) with a random 16-byte
 * salt, the iteration count stored with each hash so it can be raised
 * without breaking old ones. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "auth/auth-int.h"
#include "enc/b64.h"

#define SALT 16
#define HASH 32
static const char prefix[] = "pbkdf2-sha256$";

static bool derive(const char *pw, const uint8_t *salt, size_t sn, uint32_t iter, uint8_t *out)
{
    return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)sn, (int)iter, EVP_sha256(), HASH,
                             out) == 1;
}

int km__kdf_hash(const char *pw, uint32_t iter, char *out, size_t cap)
{
    uint8_t salt[SALT], h[HASH];
    char s64[32], h64[64];
    if (RAND_bytes(salt, SALT) != 1 || !derive(pw, salt, SALT, iter, h))
        return -EIO;
    s64[km__b64_encode(s64, salt, SALT)] = 0;
    h64[km__b64_encode(h64, h, HASH)] = 0;
    OPENSSL_cleanse(h, sizeof h);
    int n = snprintf(out, cap, "%s%u$%s$%s", prefix, iter, s64, h64);
    return n > 0 && (size_t)n < cap ? 0 : -ENOSPC;
}

bool km__kdf_verify(const char *pw, const char *stored)
{
    if (strncmp(stored, prefix, sizeof prefix - 1))
        return false;
    const char *p = stored + sizeof prefix - 1;
    char *e;
    unsigned long iter = strtoul(p, &e, 10);
    if (e == p || *e != '$' || iter < 1 || iter > 100000000)
        return false;
    const char *s = e + 1, *d = strchr(s, '$');
    if (!d)
        return false;
    uint8_t salt[64], want[64], got[HASH];
    size_t sn = (size_t)(d - s), hn = strlen(d + 1);
    if (sn > 80 || hn > 80)
        return false;
    long ns = km__b64_decode(salt, s, sn), nh = km__b64_decode(want, d + 1, hn);
    if (ns <= 0 || nh != HASH || !derive(pw, salt, (size_t)ns, (uint32_t)iter, got))
        return false;
    bool ok = CRYPTO_memcmp(got, want, HASH) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}
