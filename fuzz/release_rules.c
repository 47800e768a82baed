/* SPDX-License-Identifier: MIT */
/* libFuzzer target for gray releases' rules: the label parser, the IP and
 * CIDR parser (a JSON string and an array) and the matcher. Every result
 * is 0 or -EINVAL (-ENOMEM never, with malloc working) with a message
 * that is valid UTF-8 without control characters; the IP parser accepts
 * exactly what an independent reading with inet_pton does, and what it
 * stores reparses to itself; the matcher agrees with a reference. Input:
 * a mode byte, then four parts split at '\n': the rule's labels, its ips,
 * the instance's labels and its address. Mode bit 0: the rule's labels as
 * a JSON object (each "k=v" of the part); bit 1: its ips as an array
 * (split at ','; elements may hold NUL); bit 2: a rule of a wrong shape
 * (labels an array, ips an object); bit 3: no instance address; bit 4
 * (without bit 0): the rule's labels as a JSON string. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "enc/utf8.h"
#include "release/rel-int.h"

static void check_rc(int rc, const km_rel_err *err)
{
    if (rc != 0 && rc != -EINVAL)
        abort();
    if (!rc)
        return;
    const char *nul = memchr(err->msg, 0, sizeof err->msg);
    if (!nul || nul == err->msg)
        abort();
    size_t n = (size_t)(nul - err->msg);
    if (!km__utf8_valid(err->msg, n))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)err->msg[i] < 0x20 || err->msg[i] == 0x7f)
            abort();
}

/* ---- the reference for IPs ---- */

typedef struct {
    int     v6;
    uint8_t a[16];
    int     bits;
} net;

/* One rule or address as docs/API.md has it: an IPv4 or IPv6 address
 * (inet_pton's forms), optionally "/" and a prefix length in decimal
 * without leading zeros; an IPv4-mapped IPv6 address with a prefix of 96
 * or more is the IPv4 one. */
static bool ref_parse(const char *s, size_t n, net *out)
{
    char buf[80];
    if (!n || n >= 64 || memchr(s, 0, n))
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = 0;
    memset(out, 0, sizeof *out);
    int max;
    if (inet_pton(AF_INET, buf, out->a) == 1)
        out->v6 = 0, max = 32;
    else if (inet_pton(AF_INET6, buf, out->a) == 1)
        out->v6 = 1, max = 128;
    else
        return false;
    out->bits = max;
    if (slash) {
        size_t k = strlen(slash);
        if (!k || k > 3 || (slash[0] == '0' && k > 1))
            return false;
        int b = 0;
        for (size_t i = 0; i < k; i++) {
            if (slash[i] < '0' || slash[i] > '9')
                return false;
            b = b * 10 + (slash[i] - '0');
        }
        if (b > max)
            return false;
        out->bits = b;
    }
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (out->v6 && out->bits >= 96 && !memcmp(out->a, mapped, 12)) {
        memmove(out->a, out->a + 12, 4);
        memset(out->a + 4, 0, 12);
        out->v6 = 0;
        out->bits -= 96;
    }
    return true;
}

static bool ref_contains(const net *n, const net *ip)
{
    if (n->v6 != ip->v6)
        return false;
    for (int i = 0; i < n->bits; i++) {
        int byte = i / 8, bit = 7 - i % 8;
        if (((n->a[byte] >> bit) & 1) != ((ip->a[byte] >> bit) & 1))
            return false;
    }
    return true;
}

/* The items of a "a, b/n" string as km__rel_ips splits them: at ',', each
 * trimmed of spaces and tabs; an empty last one after a ',' is no item. */
static bool ref_ips_str(const char *s, size_t len)
{
    if (memchr(s, 0, len))
        return false;
    size_t i = 0;
    while (i < len) {
        const char *end = memchr(s + i, ',', len - i);
        size_t raw = end ? (size_t)(end - (s + i)) : len - i;
        const char *item = s + i;
        size_t n = raw;
        while (n && (*item == ' ' || *item == '\t'))
            item++, n--;
        while (n && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            n--;
        net x;
        if (!ref_parse(item, n, &x))
            return false;
        i += raw + (end != NULL);
    }
    return true;
}

/* Each stored rule is normalized: it reads back as itself, as a string
 * and in an array. */
static void check_stored(const json_t *arr)
{
    size_t i;
    json_t *v;
    km_rel_err err;
    json_array_foreach(arr, i, v) {
        net x;
        if (!json_is_string(v) || !ref_parse(json_string_value(v), json_string_length(v), &x))
            abort();
        /* the full length is left out; an IPv4-mapped one is IPv4 */
        const char *slash = strchr(json_string_value(v), '/');
        if (slash && atoi(slash + 1) == (x.v6 ? 128 : 32))
            abort();
        if (!x.v6 && strchr(json_string_value(v), ':'))
            abort();
        json_t *again = NULL;
        int rc = km__rel_ips(v, &again, &err);
        if (rc || json_array_size(again) != 1 || !json_equal(json_array_get(again, 0), v))
            abort();
        json_decref(again);
    }
    json_t *again = NULL;
    if (km__rel_ips(arr, &again, &err) || !json_equal(again, arr))
        abort();
    json_decref(again);
}

/* ---- the reference for labels ---- */

static bool label_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/';
}

static void check_labels(const json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        size_t kn = strlen(k), vn = json_string_length(v);
        if (!kn || kn > 128 || vn > 128 || !json_is_string(v))
            abort();
        for (size_t i = 0; i < kn; i++)
            if (!label_char((uint8_t)k[i]))
                abort();
        for (size_t i = 0; i < vn; i++)
            if (!label_char((uint8_t)json_string_value(v)[i]))
                abort();
    }
    /* as "k=v,..." and as an object, the same again */
    char s[8192] = "";
    size_t n = 0;
    json_object_foreach((json_t *)o, k, v)
        n += (size_t)snprintf(s + n, sizeof s - n, "%s%s=%s", n ? "," : "", k, json_string_value(v));
    json_t *a = NULL, *b = NULL;
    km_rel_err err;
    if (n >= sizeof s || km__rel_labels_str(s, &a, &err) || !json_equal(a, o) ||
        km__rel_labels(o, &b, &err) || !json_equal(b, o))
        abort();
    json_decref(a);
    json_decref(b);
}

/* ---- the target ---- */

static char *part(const uint8_t **p, const uint8_t *end, size_t *len)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = (size_t)((nl ? nl : end) - *p);
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, *p, n);
    s[n] = 0;
    *len = n;
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    size_t ln, in, iln, ipn;
    char *lab = part(&p, end, &ln), *ips = part(&p, end, &in);
    char *ilab = part(&p, end, &iln), *ip = part(&p, end, &ipn);
    km_rel_err err;
    memset(&err, 0, sizeof err);

    /* the rule's labels */
    json_t *rl = NULL;
    int rc;
    if (mode & 1) {
        /* "k=v" items into an object: a key given twice keeps the last */
        json_t *o = json_object();
        for (char *save = NULL, *t = strtok_r(lab, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(t, '=');
            if (!eq)
                continue;
            *eq = 0;
            json_t *v = json_stringn_nocheck(eq + 1, strlen(eq + 1));
            if (json_object_set_new_nocheck(o, t, v) < 0)
                continue;
        }
        rc = km__rel_labels(o, &rl, &err);
        json_decref(o);
    } else if (mode & 16) {
        /* as a JSON string, which may hold NUL: refused then */
        json_t *js = json_stringn_nocheck(lab, ln);
        rc = km__rel_labels(js, &rl, &err);
        json_decref(js);
        if (memchr(lab, 0, ln) && rc != -EINVAL)
            abort();
    } else {
        rc = km__rel_labels_str(lab, &rl, &err);
    }
    check_rc(rc, &err);
    if (!rc)
        check_labels(rl);

    /* the rule's ips: a string (any bytes, NUL too), or an array */
    json_t *ri = NULL, *in_v;
    bool want;
    if (mode & 2) {
        in_v = json_array();
        want = true;
        size_t i = 0;
        while (i <= in) {
            const char *c = memchr(ips + i, ',', in - i);
            size_t n = c ? (size_t)(c - (ips + i)) : in - i;
            net x;
            json_array_append_new(in_v, json_stringn_nocheck(ips + i, n));
            want = want && ref_parse(ips + i, n, &x);
            i += n + 1;
        }
    } else {
        in_v = json_stringn_nocheck(ips, in);
        want = ref_ips_str(ips, in);
    }
    rc = km__rel_ips(in_v, &ri, &err);
    check_rc(rc, &err);
    if ((rc == 0) != want) {
        fprintf(stderr, "ips %s: km__rel_ips %d, the reference %d\n", mode & 2 ? "array" : "string",
                rc, want);
        abort();
    }
    if (!rc)
        check_stored(ri);
    json_decref(in_v);

    /* the instance */
    json_t *il = NULL;
    rc = km__rel_labels_str(ilab, &il, &err);
    check_rc(rc, &err);
    if (!rc)
        check_labels(il);

    /* the matcher, on what parsed (an empty rule where it did not) */
    json_t *gray = json_object();
    json_object_set_new(gray, "labels", rl ? json_incref(rl) : json_object());
    json_object_set_new(gray, "ips", ri ? json_incref(ri) : json_array());
    if (mode & 4) {
        json_t *la = json_array(), *io = json_object();
        json_array_append_new(la, json_stringn_nocheck(lab, strlen(lab)));
        json_object_set_new_nocheck(io, "a", json_stringn_nocheck(ips, in));
        json_object_set_new(gray, "labels", la);
        json_object_set_new(gray, "ips", io);
    }
    const char *ipv = (mode & 8) ? NULL : ip;
    bool got = km__rel_gray_match(gray, il, ipv);
    bool ref = false;
    if (!(mode & 4)) {
        const json_t *want_l = json_object_get(gray, "labels"), *want_i = json_object_get(gray, "ips");
        bool has_l = json_object_size(want_l) > 0, has_i = json_array_size(want_i) > 0;
        ref = has_l || has_i;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)want_l, k, v)
            ref = ref && json_equal(json_object_get(il, k), v);
        if (ref && has_i) {
            net me;
            bool any = false;
            if (ipv && ref_parse(ipv, strlen(ipv), &me)) {
                size_t i;
                json_array_foreach(want_i, i, v) {
                    net x;
                    any = any || (ref_parse(json_string_value(v), json_string_length(v), &x) &&
                                  ref_contains(&x, &me));
                }
            }
            ref = any;
        }
    }
    if (got != ref) {
        fprintf(stderr, "match: %d, the reference %d\n", got, ref);
        abort();
    }
    json_decref(gray);
    json_decref(rl);
    json_decref(ri);
    json_decref(il);
    free(lab);
    free(ips);
    free(ilab);
    free(ip);
    return 0;
}
