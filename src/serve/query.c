/* SPDX-License-Identifier: MIT */
/* Query strings, percent-decoding, prefixes and JSON bytes for the native API. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "etcd/wire.h"
#include "serve/native-int.h"
#include "enc/utf8.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int km__pct_decode(km_str s, km__arena *a, km_bytes *out)
{
    uint8_t *d = km__arena_alloc(a, s.n + 1);
    if (!d)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == '%') {
            int hi = i + 2 < s.n ? hexval(s.p[i + 1]) : -1;
            int lo = i + 2 < s.n ? hexval(s.p[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            d[n++] = (uint8_t)(hi << 4 | lo);
            i += 2;
            continue;
        }
        d[n++] = s.p[i] == '+' ? ' ' : (uint8_t)s.p[i];
    }
    out->p = d;
    out->n = n;
    return 0;
}

bool km__query_get(km_str q, const char *name, km__arena *a, km_bytes *val, int *err)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < q.n;) {
        size_t j = i;
        while (j < q.n && q.p[j] != '&')
            j++;
        const char *p = q.p + i;
        size_t len = j - i;
        if (len >= nl && !memcmp(p, name, nl) && (len == nl || p[nl] == '=')) {
            km_str v = { p + (len > nl ? nl + 1 : len), len > nl ? len - nl - 1 : 0 };
            int rc = km__pct_decode(v, a, val);
            if (rc) {
                if (!*err)
                    *err = rc;
                return false;
            }
            return true;
        }
        i = j + 1;
    }
    return false;
}

int km__prefix_end(km_bytes key, km__arena *a, km_bytes *end)
{
    /* Never a fallback on failure: "\0" (every key from key on) would widen
     * a prefix delete to the rest of the keyspace. */
    char *e = km__arena_alloc(a, key.n + 2);
    if (!e)
        return -ENOMEM;
    *end = (km_bytes){ (uint8_t *)e, km__etcd_prefix_end(e, (const char *)key.p, key.n) };
    return 0;
}

bool km__parse_i64(km_bytes b, int64_t *v)
{
    size_t i = 0;
    bool neg = b.n > 0 && b.p[0] == '-';
    if (neg)
        i++;
    if (i == b.n || b.n - i > 19)
        return false;
    uint64_t x = 0;
    for (; i < b.n; i++) {
        if (b.p[i] < '0' || b.p[i] > '9')
            return false;
        x = x * 10 + (b.p[i] - '0');
    }
    if (x > (uint64_t)INT64_MAX)
        return false;
    *v = neg ? -(int64_t)x : (int64_t)x;
    return true;
}

void km__native_bytes(km__jbuf *b, const char *name, km_bytes v)
{
    if (km__utf8_valid(v.p, v.n)) {
        km__jbuf_key(b, name);
        km__jbuf_str(b, (const char *)v.p, v.n);
    } else {
        char k[64];
        snprintf(k, sizeof k, "%s_base64", name);
        km__jbuf_key(b, k);
        km__jbuf_b64(b, v.p, v.n);
    }
}

void km__native_fail(km_http_resp *w, int status, const char *msg)
{
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"error\":");
    km__jbuf_str(&b, msg, strlen(msg));
    km__jbuf_puts(&b, "}\n");
    if (b.err)
        km_http_send(w, 503, "text/plain", "out of memory\n", 14);
    else
        km_http_send(w, status, "application/json", b.p, b.n);
    km__jbuf_free(&b);
}

void km__native_fail_errno(km_http_resp *w, int err)
{
    /* The etcd mapping knows the messages; the status fits people better
     * when it says what kind of mistake it was. */
    km__etcd_err e = km__etcd_errinfo(err);
    int status = e.status;
    if (err == -EMSGSIZE || err == -E2BIG)
        status = 413;
    else if (err == -ENODATA)
        status = 410;
    else if (err == -ESHUTDOWN)
        status = 503;
    km__native_fail(w, status, e.msg);
}
