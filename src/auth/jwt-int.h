/* SPDX-License-Identifier: MIT */
/* Internals of the JWT tokens: the sign methods and the signer/verifier
 * that jwt-key.c builds from etcd's option string and jwt.c uses. */
#ifndef KUMO_AUTH_JWT_INT_H
#define KUMO_AUTH_JWT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include "auth/jwt.h"

#define NS_PER_S     1000000000LL
#define MAX_USER     255
/* RFC 7518 3.3: RSA keys of 2048 bits or more MUST be used. The upper
 * bound keeps a signature in a stack buffer. */
#define RSA_MIN_BYTES 256
#define RSA_MAX_BYTES 1024

enum { RS, PS, ES };

struct method {
    char        name[6];
    int         kind;
    const char *md;
    int         curve;      /* ES: the curve the key must be on */
    size_t      half;       /* ES: bytes of r, and of s, in JWT's raw form */
};

struct km__jwt {
    const struct method *m;
    EVP_MD   *md;           /* fetched once, not per signature */
    EVP_PKEY *pub, *priv;   /* priv NULL: verify only */
    size_t    sig_n;        /* bytes of a signature in the token */
    int64_t   ttl;
    size_t    head_n;
    char      head[40];     /* the header sign writes, encoded */
};

#endif
