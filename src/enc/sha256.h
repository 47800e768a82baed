/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), for the digest etcd appends to a snapshot. */
#ifndef KUMO_ENC_SHA256_H
#define KUMO_ENC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define KM__SHA256_LEN 32

typedef struct {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    uint8_t  buf[64];      /* a partial block */
    size_t   nbuf;
} km__sha256;

void km__sha256_init(km__sha256 *c);
void km__sha256_update(km__sha256 *c, const void *p, size_t n);
/* Writes the digest; c must be initialised again before reuse. */
void km__sha256_final(km__sha256 *c, uint8_t out[KM__SHA256_LEN]);

#endif
