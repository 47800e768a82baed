/* SPDX-License-Identifier: MIT */
/* Metadata keys and values: what an application may send, and what of the received fields it sees. */
#include <string.h>
#include <kumo/grpc.h>
#include "grpc/wire-int.h"

static bool is(const char *k, size_t n, const char *lit)
{
    return n == strlen(lit) && !memcmp(k, lit, n);
}

static bool grpc_prefixed(const char *k, size_t n)
{
    return n >= 5 && !memcmp(k, "grpc-", 5);
}

bool km__grpc_md_key_ok(const char *k, size_t n)
{
    if (!k || !n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    /* The protocol's own fields, and those HTTP/2 forbids. */
    static const char *const reserved[] = { "content-type", "te", "user-agent", "connection",
                                            "keep-alive", "proxy-connection",
                                            "transfer-encoding", "upgrade", "host" };
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (is(k, n, reserved[i]))
            return false;
    return !grpc_prefixed(k, n);
}

bool km__grpc_md_key_visible(const char *k, size_t n)
{
    if (!n || k[0] == ':')
        return false;
    return !is(k, n, "content-type") && !is(k, n, "te") && !grpc_prefixed(k, n);
}

bool km__grpc_md_key_bin(const char *k, size_t n)
{
    return n > 4 && !memcmp(k + n - 4, "-bin", 4);
}

bool km__grpc_md_value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    /* RFC 9113: no whitespace at either end of a field value. */
    return !n || (v[0] != ' ' && v[n - 1] != ' ');
}

km_str km_grpc_md_get(const km_grpc_md *md, size_t n, const char *key)
{
    size_t kl = key ? strlen(key) : 0;
    for (size_t i = 0; md && i < n; i++)
        if (md[i].key.n == kl && !memcmp(md[i].key.p, key, kl))
            return md[i].value;
    return (km_str){ NULL, 0 };
}
