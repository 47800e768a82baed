/* SPDX-License-Identifier: MIT */
/* libFuzzer target: gRPC's header field parsers (grpc-timeout, grpc-message, -bin base64, metadata keys) on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "grpc/wire-int.h"

static void timeout(const char *s, size_t n)
{
    int64_t ns;
    if (km__grpc_timeout_parse(s, n, &ns))
        return;
    if (ns < 0)
        abort();
    /* What parses formats again and parses back to no less. */
    char out[KM__GRPC_TIMEOUT_MAX];
    size_t k = km__grpc_timeout_format(ns, out);
    int64_t back;
    if (k >= sizeof out || km__grpc_timeout_parse(out, k, &back) || back < ns)
        abort();
}

static void message(const char *s, size_t n)
{
    /* Decoding never fails and never grows. */
    char *dec = malloc(n + 1), *enc = malloc(km__grpc_pct_room(n));
    size_t d = km__grpc_pct_decode(dec, s, n);
    if (d > n)
        abort();
    /* Any bytes encode to printable ASCII without edge spaces, and back. */
    size_t e = km__grpc_pct_encode(enc, s, n);
    if (e >= km__grpc_pct_room(n) || enc[e] || (e && (enc[0] == ' ' || enc[e - 1] == ' ')))
        abort();
    for (size_t i = 0; i < e; i++)
        if (enc[i] < 0x20 || enc[i] > 0x7e)
            abort();
    char *back = malloc(e + 1);
    if (km__grpc_pct_decode(back, enc, e) != n || memcmp(back, s, n))
        abort();
    free(back);
    free(dec);
    free(enc);
}

static void base64(const char *s, size_t n)
{
    uint8_t *dec = malloc(n * 3 / 4 + 2);
    ssize_t d = km__grpc_b64_decode(dec, s, n);
    if (d >= 0) {
        if ((size_t)d > n * 3 / 4 + 2)
            abort();
        /* A value that decodes is the canonical encoding, maybe padded. */
        char *enc = malloc(km__grpc_b64_len((size_t)d) + 1);
        size_t e = km__grpc_b64_encode(enc, dec, (size_t)d);
        size_t m = n;
        while (m && s[m - 1] == '=')
            m--;
        if (e != m || memcmp(enc, s, e))
            abort();
        free(enc);
    }
    free(dec);
}

static void keys(const char *s, size_t n)
{
    if (km__grpc_md_key_ok(s, n)) {
        /* A key one may send is one the receiver shows. */
        if (!km__grpc_md_key_visible(s, n))
            abort();
        for (size_t i = 0; i < n; i++)
            if (s[i] >= 'A' && s[i] <= 'Z')
                abort();
    }
    km__grpc_md_key_bin(s, n);
    km__grpc_md_value_ok(s, n);
}

/* The first byte picks the parser; the rest is the field's value. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: timeout(s, n); break;
    case 1: message(s, n); break;
    case 2: base64(s, n); break;
    case 3: keys(s, n); break;
    }
    return 0;
}
