/* SPDX-License-Identifier: MIT */
/* UTF-8 as RFC 3629 has it (no overlong forms, no surrogates, nothing
 * past U+10FFFF): what JSON encoders and jansson accept. */
#ifndef KUMO_ENC_UTF8_H
#define KUMO_ENC_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (2..4) of the well-formed multi-byte sequence at s[0..n), or 0
 * (an ASCII byte included: callers pass those through themselves). */
size_t km__utf8_seq(const unsigned char *s, size_t n);
/* Whether p[0..n) is well-formed UTF-8. */
bool   km__utf8_valid(const void *p, size_t n);

#endif
