/* SPDX-License-Identifier: MIT */
/* Standard base64 (RFC 4648, with padding), as etcd's JSON carries bytes. */
#ifndef KUMO_ETCD_B64_H
#define KUMO_ETCD_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (without a NUL). */
static inline size_t km__b64_enc_len(size_t n) { return (n + 2) / 3 * 4; }
/* Largest decoded length of n base64 characters. */
static inline size_t km__b64_dec_max(size_t n) { return n / 4 * 3 + 3; }

/* Writes km__b64_enc_len(n) characters to out; returns that count. */
size_t km__b64_encode(char *out, const uint8_t *in, size_t n);
/* Decodes n characters into out (room for km__b64_dec_max(n) bytes).
 * Padding is required, as etcd's JSON decoder requires it. Returns the
 * decoded length, or -1 for a character outside the alphabet, missing or
 * misplaced padding, or non-zero leftover bits. */
long   km__b64_decode(uint8_t *out, const char *in, size_t n);

#endif
