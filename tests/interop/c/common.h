/* SPDX-License-Identifier: MIT */
/* What kumo's Echo server and conformance client share: address parsing, patterned payloads. */
#ifndef KUMO_INTEROP_COMMON_H
#define KUMO_INTEROP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <kumo.h>
#include <protobuf-c/protobuf-c.h>
#include "kumo/test/echo.pb-c.h"

#define SEC 1000000000LL
#define MS  1000000LL
#define MIB (1 << 20)

/* n bytes that differ from their neighbours and from a shifted copy, so
 * a lost, repeated or reordered chunk shows (the Go driver's pattern). */
void echo_pattern(uint8_t *out, size_t n, uint8_t seed);

/* Whether key (n bytes) starts with prefix. */
int echo_has_prefix(const char *key, size_t n, const char *prefix);

#endif
