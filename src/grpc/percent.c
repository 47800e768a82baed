/* SPDX-License-Identifier: MIT */
/* grpc-message: the status message, percent-encoded UTF-8 in a header field. */
#include "grpc/wire-int.h"

static const char hex[] = "0123456789ABCDEF";

size_t km__grpc_pct_encode(char *out, const char *in, size_t n)
{
    /* Spaces at the ends are encoded too: RFC 9113 forbids them at the
     * ends of a field value, and nghttp2 enforces it. */
    size_t lead = 0, trail = n;
    while (lead < n && in[lead] == ' ')
        lead++;
    while (trail > lead && in[trail - 1] == ' ')
        trail--;
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        bool edge = c == ' ' && (i < lead || i >= trail);
        if (c < 0x20 || c > 0x7e || c == '%' || edge) {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o = 0;
    return (size_t)(o - out);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t km__grpc_pct_decode(char *out, const char *in, size_t n)
{
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '%' && i + 2 < n &&
            (hi = hexval(in[i + 1])) >= 0 && (lo = hexval(in[i + 2])) >= 0) {
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = in[i];
        }
    }
    return (size_t)(o - out);
}
