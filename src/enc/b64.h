/* SPDX-License-Identifier: MIT */
/* Standard base64 (RFC 4648 alphabet), padded as etcd's JSON carries bytes
 * or unpadded as gRPC's binary metadata sends them. */
#ifndef KUMO_ENC_B64_H
#define KUMO_ENC_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Encoded length of n bytes (without a NUL), padded or not. */
static inline size_t km__b64_enc_len(size_t n) { return (n + 2) / 3 * 4; }
static inline size_t km__b64_raw_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }
/* Largest decoded length of n base64 characters. */
static inline size_t km__b64_dec_max(size_t n) { return n / 4 * 3 + 3; }

/* Writes n bytes as base64, with padding when pad; returns the count of
 * characters written (no NUL). */
size_t  km__b64_encode_as(char *out, const void *in, size_t n, bool pad);
/* Decodes n characters into out (room for km__b64_dec_max(n) bytes).
 * With need_pad the padding must be there (etcd's JSON decoder requires
 * it); without, input is taken padded or not (gRPC receivers must take
 * both). The decoded length, or -EINVAL for a character outside the
 * alphabet, missing or misplaced padding, a length no encoding has, or
 * non-zero leftover bits. */
ssize_t km__b64_decode_as(void *out, const char *in, size_t n, bool need_pad);

/* The URL alphabet ('-', '_') without padding, as JWTs carry it
 * (RFC 7515 2); decoding refuses padding and '+' or '/', so a token has
 * one spelling. -EINVAL as km__b64_decode_as. */
size_t  km__b64url_encode(char *out, const void *in, size_t n);
ssize_t km__b64url_decode(void *out, const char *in, size_t n);

/* etcd's form: padded both ways. */
static inline size_t km__b64_encode(char *out, const uint8_t *in, size_t n)
{
    return km__b64_encode_as(out, in, n, true);
}
static inline long km__b64_decode(uint8_t *out, const char *in, size_t n)
{
    return km__b64_decode_as(out, in, n, true);
}

#endif
