/* SPDX-License-Identifier: MIT */
/* UTF-8 validation, shared by the log's escaping, the native API's JSON
 * and JWT claims. */
#include "enc/utf8.h"

static bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

size_t km__utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return n >= 2 && cont(s[1]) ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || !cont(s[1]) || !cont(s[2]) || (c == 0xE0 && s[1] < 0xA0) ||
            (c == 0xED && s[1] > 0x9F))
            return 0;
        return 3;
    }
    if (n < 4 || !cont(s[1]) || !cont(s[2]) || !cont(s[3]) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return 4;
}

bool km__utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = km__utf8_seq(s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}
