/* SPDX-License-Identifier: MIT */
/* Splitting http:// URLs for the client (RFC 3986, the parts HTTP needs). */
#include <kumo/http.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

int km_http_url_parse(const char *url, km_str *host, int *port, km_str *path)
{
    if (!url || !host || !port || !path)
        return -EINVAL;
    size_t len = strlen(url);
    const char *p;
    if (len >= 8 && !strncasecmp(url, "https://", 8))
        return -EPROTONOSUPPORT;
    if (len < 8 || strncasecmp(url, "http://", 7))
        return -EINVAL;
    p = url + 7;
    const char *end = url + len;
    for (const char *q = url; q < end; q++)
        if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
            return -EINVAL;         /* no spaces, controls or raw 8-bit bytes */
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
        auth_end++;
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return -EINVAL;             /* userinfo: not supported, never sent */
    const char *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (!rb || rb == p + 1)
            return -EINVAL;
        for (const char *q = p + 1; q < rb; q++)
            if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
                return -EINVAL;
        *host = (km_str){ p, (size_t)(rb + 1 - p) };
        if (rb + 1 < auth_end) {
            if (rb[1] != ':')
                return -EINVAL;
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', (size_t)(auth_end - p));
        const char *he = colon ? colon : auth_end;
        if (he == p)
            return -EINVAL;
        for (const char *q = p; q < he; q++)
            if (!host_char((unsigned char)*q))
                return -EINVAL;
        *host = (km_str){ p, (size_t)(he - p) };
    }
    *port = 80;
    if (colon) {
        const char *d = colon + 1;
        if (d == auth_end || auth_end - d > 5)
            return -EINVAL;
        int v = 0;
        for (; d < auth_end; d++) {
            if (*d < '0' || *d > '9')
                return -EINVAL;
            v = v * 10 + (*d - '0');
        }
        if (v < 1 || v > 65535)
            return -EINVAL;
        *port = v;
    }
    const char *frag = memchr(auth_end, '#', (size_t)(end - auth_end));
    const char *pe = frag ? frag : end;
    if (auth_end == pe || *auth_end == '?') {
        /* no path: "/" (a query alone is kept after it by the caller) */
        *path = (km_str){ "/", 1 };
        if (auth_end < pe && *auth_end == '?')
            *path = (km_str){ auth_end, (size_t)(pe - auth_end) };
    } else {
        *path = (km_str){ auth_end, (size_t)(pe - auth_end) };
    }
    return 0;
}
