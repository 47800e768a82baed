/* SPDX-License-Identifier: MIT */
/* Base64 by hand: two small tables beat a library call per field. */
#include "enc/b64.h"
#include <errno.h>

static const char enc_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char enc_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63, or 0xff for a character outside the alphabet. */
static const uint8_t dec[256] = {
#define X 0xff
#define R16 X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
    R16, R16,
    X, X, X, X, X, X, X, X, X, X, X, 62, X, X, X, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, X,
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    R16, R16, R16, R16, R16, R16, R16, R16,
#undef R16
#undef X
};

static size_t encode(char *out, const void *in, size_t n, bool pad, const char *enc)
{
    const uint8_t *b = in;
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        *o++ = enc[v >> 18];
        *o++ = enc[(v >> 12) & 63];
        *o++ = enc[(v >> 6) & 63];
        *o++ = enc[v & 63];
    }
    if (n - i) {
        uint32_t v = (uint32_t)b[i] << 16 | (n - i == 2 ? (uint32_t)b[i + 1] << 8 : 0);
        *o++ = enc[v >> 18];
        *o++ = enc[(v >> 12) & 63];
        if (n - i == 2)
            *o++ = enc[(v >> 6) & 63];
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    return (size_t)(o - out);
}

size_t km__b64_encode_as(char *out, const void *in, size_t n, bool pad)
{
    return encode(out, in, n, pad, enc_std);
}

size_t km__b64url_encode(char *out, const void *in, size_t n)
{
    return encode(out, in, n, false, enc_url);
}

/* url: the url alphabet, where '-' and '_' stand for '+' and '/' and no
 * padding is allowed. */
static ssize_t decode(void *out, const char *in, size_t n, bool need_pad, bool url)
{
    /* Padding, if any, makes the length a multiple of 4; without it, a
     * last group of one character encodes no whole byte. */
    size_t pad = 0;
    while (!url && n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if ((pad || need_pad) && (n + pad) % 4)
        return -EINVAL;
    if (n % 4 == 1)
        return -EINVAL;
    uint8_t *o = out;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)in[i];
        if (url && (c == '+' || c == '/'))
            return -EINVAL;
        uint8_t d = url && c == '-' ? 62 : url && c == '_' ? 63 : dec[c];
        if (d == 0xff)
            return -EINVAL;
        acc = acc << 6 | d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits are zero in any canonical encoding (Go checks it too). */
    if (bits && (acc & ((1u << bits) - 1)))
        return -EINVAL;
    return (ssize_t)(o - (uint8_t *)out);
}

ssize_t km__b64_decode_as(void *out, const char *in, size_t n, bool need_pad)
{
    return decode(out, in, n, need_pad, false);
}

ssize_t km__b64url_decode(void *out, const char *in, size_t n)
{
    return decode(out, in, n, false, true);
}
