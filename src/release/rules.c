/* SPDX-License-Identifier: MIT */
/* Names of namespaces and gray releases, and a gray release's rules:
 * label selectors and IP ranges, parsed strictly and matched. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "enc/utf8.h"
#include "release/rel-int.h"

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

static size_t name_len(const char *s)
{
    size_t n = 0;
    while (name_char(s[n]))
        n++;
    return n;
}

bool km__rel_name_valid(const char *s)
{
    size_t n = name_len(s);
    /* "." and ".." would read as path steps in URLs and keys */
    return n >= 1 && n <= 64 && !s[n] && strcmp(s, ".") && strcmp(s, "..");
}

bool km__rel_ns_valid(const char *ns, size_t *app_len)
{
    size_t a = name_len(ns);
    if (a < 1 || a > 64 || ns[a] != '/')
        return false;
    char app[65];
    memcpy(app, ns, a);
    app[a] = 0;
    if (!km__rel_name_valid(app) || !km__rel_name_valid(ns + a + 1))
        return false;
    if (app_len)
        *app_len = a;
    return true;
}

/* s[0..n) for a message, in buf (bn bytes): control characters and bytes
 * of no well-formed UTF-8 as \xHH, cut at a character with "..." (the
 * message goes into JSON, which wants valid UTF-8). */
static const char *shown(const char *s, size_t n, char *buf, size_t bn)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        size_t w = c < 0x80 ? 1 : km__utf8_seq((const unsigned char *)s + i, n - i);
        bool esc = c < 0x20 || c == 0x7f || !w || (c == 0xc2 && (uint8_t)s[i + 1] < 0xa0);
        if (o + (esc ? 4 : w) + 4 > bn) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (esc)
            o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
        else
            memcpy(buf + o, s + i, w), o += w;
        i += esc ? 1 : w;
    }
    buf[o] = 0;
    return buf;
}

/* ---- labels ---- */

static bool label_ok(const char *s, size_t n)
{
    if (!n || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i]) && s[i] != '/')
            return false;
    return true;
}

static int add_label(json_t *o, const char *k, size_t kn, const char *v, size_t vn,
                     km_rel_err *err)
{
    char a[100], b[100];
    if (!label_ok(k, kn) || (vn && !label_ok(v, vn)))
        return km__rel_fail(err, -EINVAL,
                            "label \"%s=%s\": names and values are 1-128 of "
                            "A-Z a-z 0-9 . _ - /", shown(k, kn, a, sizeof a),
                            shown(v, vn, b, sizeof b));
    char key[129];
    memcpy(key, k, kn);
    key[kn] = 0;
    if (json_object_get(o, key))
        return km__rel_fail(err, -EINVAL, "label %s given twice", key);
    if (json_object_set_new(o, key, json_stringn(v, vn)) < 0)
        return km__rel_fail(err, -ENOMEM, "out of memory");
    return 0;
}

static size_t trim(const char **s, size_t n)
{
    while (n && (**s == ' ' || **s == '\t'))
        (*s)++, n--;
    while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t'))
        n--;
    return n;
}

int km__rel_labels_str(const char *s, json_t **out, km_rel_err *err)
{
    json_t *o = json_object();
    if (!o)
        return km__rel_fail(err, -ENOMEM, "out of memory");
    int rc = 0;
    char a[200];
    while (s && *s && !rc) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *item = s;
        n = trim(&item, n);
        const char *eq = memchr(item, '=', n);
        if (!n)
            rc = km__rel_fail(err, -EINVAL, "an empty label in \"%s\"",
                              shown(s, strlen(s), a, sizeof a));
        else if (!eq)
            rc = km__rel_fail(err, -EINVAL, "label \"%s\" is not NAME=VALUE",
                              shown(item, n, a, sizeof a));
        else {
            const char *k = item, *v = eq + 1;
            size_t kn = trim(&k, (size_t)(eq - item)), vn = trim(&v, n - (size_t)(v - item));
            rc = add_label(o, k, kn, v, vn, err);
        }
        s = end ? end + 1 : NULL;
    }
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

int km__rel_labels(const json_t *in, json_t **out, km_rel_err *err)
{
    if (!in || json_is_null(in))
        return km__rel_labels_str(NULL, out, err);
    /* (a JSON string may hold NUL, which would end the C string early) */
    if (json_is_string(in) && strlen(json_string_value(in)) != json_string_length(in))
        return km__rel_fail(err, -EINVAL, "labels must not hold NUL");
    if (json_is_string(in))
        return km__rel_labels_str(json_string_value(in), out, err);
    if (!json_is_object(in))
        return km__rel_fail(err, -EINVAL, "labels must be an object of strings or \"k=v,...\"");
    json_t *o = json_object();
    if (!o)
        return km__rel_fail(err, -ENOMEM, "out of memory");
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)in, k, v) {
        if (!json_is_string(v)) {
            char a[140];
            rc = km__rel_fail(err, -EINVAL, "label %s: the value must be a string",
                              shown(k, strlen(k), a, sizeof a));
            break;
        }
        if ((rc = add_label(o, k, strlen(k), json_string_value(v), json_string_length(v), err)))
            break;
    }
    if (rc)
        json_decref(o);
    else
        *out = o;
    return rc;
}

/* ---- IPs and CIDRs ---- */

typedef struct {
    int     family;         /* AF_INET or AF_INET6 */
    uint8_t a[16];
    int     bits;
} cidr;

/* An IPv4 address inside IPv6 (::ffff:a.b.c.d) is the IPv4 address. */
static void unmap(cidr *c)
{
    static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (c->family == AF_INET6 && !memcmp(c->a, pfx, 12) && c->bits >= 96) {
        memmove(c->a, c->a + 12, 4);
        c->family = AF_INET;
        c->bits -= 96;
    }
}

static bool parse_cidr(const char *s, size_t n, cidr *c)
{
    char buf[64];
    if (!n || n >= sizeof buf || memchr(s, 0, n))
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *slash = strchr(buf, '/');
    int max;
    if (slash)
        *slash = 0;
    if (inet_pton(AF_INET, buf, c->a) == 1)
        c->family = AF_INET, max = 32;
    else if (inet_pton(AF_INET6, buf, c->a) == 1)
        c->family = AF_INET6, max = 128;
    else
        return false;
    c->bits = max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        /* digits only: strtol would take " 8", "+8" and "-0" too */
        if (slash[1] < '0' || slash[1] > '9' || *end || b > max || (slash[1] == '0' && slash[2]))
            return false;
        c->bits = (int)b;
    }
    unmap(c);
    return true;
}

static bool cidr_has(const cidr *net, const cidr *ip)
{
    if (net->family != ip->family)
        return false;
    int full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->a, ip->a, (size_t)full))
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net->a[full] & mask) == (ip->a[full] & mask);
}

static int add_ip(json_t *arr, const char *s, size_t n, km_rel_err *err)
{
    cidr c;
    char a[100];
    if (!parse_cidr(s, n, &c))
        return km__rel_fail(err, -EINVAL, "\"%s\" is not an IP address or CIDR",
                            shown(s, n, a, sizeof a));
    /* Stored normalized, so rules read the same whoever typed them. */
    char txt[INET6_ADDRSTRLEN + 8];
    inet_ntop(c.family, c.a, txt, sizeof txt);
    int max = c.family == AF_INET ? 32 : 128;
    if (c.bits != max)
        snprintf(txt + strlen(txt), 8, "/%d", c.bits);
    if (json_array_append_new(arr, json_string(txt)) < 0)
        return km__rel_fail(err, -ENOMEM, "out of memory");
    return 0;
}

int km__rel_ips(const json_t *in, json_t **out, km_rel_err *err)
{
    json_t *arr = json_array();
    if (!arr)
        return km__rel_fail(err, -ENOMEM, "out of memory");
    int rc = 0;
    if (!in || json_is_null(in)) {
    } else if (json_is_string(in) && strlen(json_string_value(in)) != json_string_length(in)) {
        rc = km__rel_fail(err, -EINVAL, "ips must not hold NUL");
    } else if (json_is_string(in)) {
        const char *s = json_string_value(in);
        while (*s && !rc) {
            const char *end = strchr(s, ',');
            size_t raw = end ? (size_t)(end - s) : strlen(s);
            const char *item = s;
            size_t n = trim(&item, raw);
            rc = add_ip(arr, item, n, err);
            s += raw + (end != NULL);
        }
    } else if (json_is_array(in)) {
        size_t i;
        json_t *v;
        json_array_foreach(in, i, v) {
            if (!json_is_string(v)) {
                rc = km__rel_fail(err, -EINVAL, "ips must be strings");
                break;
            }
            if ((rc = add_ip(arr, json_string_value(v), json_string_length(v), err)))
                break;
        }
    } else {
        rc = km__rel_fail(err, -EINVAL, "ips must be an array of strings or \"a,b/n,...\"");
    }
    if (rc)
        json_decref(arr);
    else
        *out = arr;
    return rc;
}

bool km__rel_gray_match(const json_t *gray, const json_t *labels, const char *ip)
{
    const json_t *want = json_object_get(gray, "labels");
    const json_t *ips = json_object_get(gray, "ips");
    bool has_labels = json_object_size(want) > 0, has_ips = json_array_size(ips) > 0;
    if (!has_labels && !has_ips)
        return false;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        json_t *got = json_object_get(labels, k);
        if (!got || !json_equal(got, v))
            return false;
    }
    if (!has_ips)
        return true;
    cidr me;
    if (!ip || !parse_cidr(ip, strlen(ip), &me))
        return false;
    size_t i;
    json_array_foreach(ips, i, v) {
        cidr net;
        if (parse_cidr(json_string_value(v), json_string_length(v), &net) && cidr_has(&net, &me))
            return true;
    }
    return false;
}
