/* SPDX-License-Identifier: MIT */
/* Helpers kumo's Echo server and conformance client share. */
#include <string.h>
#include "common.h"

void echo_pattern(uint8_t *out, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)((i * 7 + i / 251) ^ seed);
}

int echo_has_prefix(const char *key, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    return n >= p && !memcmp(key, prefix, p);
}
