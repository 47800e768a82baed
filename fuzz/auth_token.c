/* SPDX-License-Identifier: MIT */
/* libFuzzer target for JWT verification: a stranger's bytes are refused
 * (the key is made in-process, so no input can carry its signature), and
 * tokens signed here verify, and stop verifying with any one byte changed.
 * Input "S<user>" signs and verifies; "T<p0><p1><x><user>" also flips
 * byte p0 | p1 << 8 of the token by x first. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "auth/jwt.h"

#define NOW 1700000000LL

/* A fresh P-256 key pair per run, written where km__jwt_new (which reads
 * files) finds it and removed at once: no key is ever committed. */
static km__jwt *setup(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char pub[] = "/tmp/kumo-fuzz-jwt-XXXXXX", priv[] = "/tmp/kumo-fuzz-jwt-XXXXXX";
    int pf = mkstemp(pub), kf = mkstemp(priv);
    FILE *f = pf >= 0 ? fdopen(pf, "w") : NULL, *g = kf >= 0 ? fdopen(kf, "w") : NULL;
    if (!k || !f || !g || !PEM_write_PUBKEY(f, k) ||
        !PEM_write_PrivateKey(g, k, NULL, NULL, 0, NULL, NULL))
        abort();
    fclose(f);
    fclose(g);
    char opts[256];
    snprintf(opts, sizeof opts, "pub-key=%s,priv-key=%s,sign-method=ES256,ttl=5m", pub, priv);
    km__jwt *j;
    const char *err;
    int rc = km__jwt_new(&j, opts, &err);
    unlink(pub);
    unlink(priv);
    EVP_PKEY_free(k);
    if (rc) {
        fprintf(stderr, "km__jwt_new: %d %s\n", rc, err ? err : "");
        abort();
    }
    return j;
}

/* Signs a token for the name in data and checks what verify makes of it. */
static void ours(km__jwt *j, const uint8_t *data, size_t size, bool flip)
{
    size_t skip = flip ? 4 : 1;
    if (size < skip)
        return;
    char name[256];
    const uint8_t *nul = memchr(data + skip, 0, size - skip);
    size_t un = (nul ? (size_t)(nul - data) : size) - skip;
    if (un > 255)
        un = 255;
    memcpy(name, data + skip, un);
    name[un] = '\0';
    char tok[KM__JWT_MAX], user[256];
    uint64_t rev = 0;
    int n = km__jwt_sign(j, name, size, NOW, tok, sizeof tok);
    if (n == -EINVAL) {
        /* only for a name that is empty or not UTF-8 (jansson's opinion) */
        json_t *s = un ? json_stringn(name, un) : NULL;
        if (s)
            abort();
        return;
    }
    if (n == -ENOSPC)   /* 255 control characters, six bytes each escaped */
        return;
    if (n <= 0 || (size_t)n != strlen(tok))
        abort();
    if (!flip) {
        if (km__jwt_verify(j, tok, (size_t)n, NOW, user, sizeof user, &rev) != 0 ||
            strcmp(user, name) || rev != size)
            abort();
        /* and not once expired */
        if (km__jwt_verify(j, tok, (size_t)n, NOW + 300, user, sizeof user, &rev) != -EKEYREJECTED)
            abort();
        return;
    }
    size_t at = (data[1] | (size_t)data[2] << 8) % (size_t)n;
    tok[at] ^= data[3] ? data[3] : 1;
    if (km__jwt_verify(j, tok, (size_t)n, NOW, user, sizeof user, &rev) != -EKEYREJECTED)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static km__jwt *j;
    if (!j)
        j = setup();
    if (size && (data[0] == 'S' || data[0] == 'T')) {
        ours(j, data, size, data[0] == 'T');
        return 0;
    }
    char user[256];
    uint64_t rev;
    int rc = km__jwt_verify(j, (const char *)data, size, NOW, user, sizeof user, &rev);
    if (rc != -EKEYREJECTED && rc != -ENOMEM)
        abort();
    return 0;
}
