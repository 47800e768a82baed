/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request-head parsing (RFC 9112), strict about framing. */
#include "parse.h"
#include <string.h>

/* Written for kumo rather than taken from a library: the parser is the
 * server's hot path and its first line of defence, and it must parse into
 * the connection's own buffer without copying or allocating. */

/* tchar (RFC 9110 §5.6.2) */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static inline bool is_vchar(unsigned char c) { return c > 0x20 && c < 0x7f; }
/* field-value octets: VCHAR, obs-text, SP, HTAB. No CTL, no DEL. */
static inline bool is_fvchar(unsigned char c) { return is_vchar(c) || c >= 0x80 || c == ' ' || c == '\t'; }

static inline unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

bool km__str_ieq(km_str s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.p[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

km_str km__hdr_findn(const km__hdr *hdrs, size_t n, const char *name, size_t len)
{
    /* Lengths first: most names differ in length from the one looked for. */
    for (size_t i = 0; i < n; i++) {
        km_str h = hdrs[i].name;
        if (h.n != len)
            continue;
        size_t j = 0;
        while (j < len && lower((unsigned char)h.p[j]) == lower((unsigned char)name[j]))
            j++;
        if (j == len)
            return hdrs[i].value;
    }
    return (km_str){ NULL, 0 };
}

/* Does the comma-separated list v contain token tok (case-insensitive)? */
static bool list_has(km_str v, const char *tok)
{
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t s = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e > s && km__str_ieq((km_str){ v.p + s, e - s }, tok))
            return true;
    }
    return false;
}

static int parse_content_length(km_str v, int64_t *out)
{
    if (v.n == 0 || v.n > 18)
        return -400;
    int64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -400;    /* no sign, no list, no spaces */
        n = n * 10 + (v.p[i] - '0');
    }
    *out = n;
    return 0;
}

/* Request line: method SP request-target SP HTTP-version CRLF. */
static int parse_request_line(const char *p, const char *end, km__head *h)
{
    const char *s = p;
    while (p < end && tchar[(unsigned char)*p])
        p++;
    if (p == s || p == end || *p != ' ')
        return -400;
    h->method = (km_str){ s, (size_t)(p - s) };
    s = ++p;
    while (p < end && is_vchar((unsigned char)*p))
        p++;
    if (p == s || p == end || *p != ' ')
        return -400;        /* also NUL, bytes >= 0x80, tabs, double spaces */
    h->target = (km_str){ s, (size_t)(p - s) };
    p++;
    if (end - p != 8 || memcmp(p, "HTTP/", 5) || p[6] != '.' ||
        p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
        return -400;
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
        return -505;
    h->version = p[7] == '1' ? 11 : 10;

    km_str t = h->target;
    if (t.p[0] == '/') {
        h->path = t;
    } else if (t.n == 1 && t.p[0] == '*') {
        if (h->method.n != 7 || memcmp(h->method.p, "OPTIONS", 7))
            return -400;
        h->path = t;
        h->query = (km_str){ t.p + 1, 0 };
        return 0;
    } else if ((t.n > 7 && !memcmp(t.p, "http://", 7)) || (t.n > 8 && !memcmp(t.p, "https://", 8))) {
        /* absolute-form: the path starts after the authority */
        const char *a = memchr(t.p, ':', t.n) + 3;
        const char *slash = memchr(a, '/', (size_t)(t.p + t.n - a));
        const char *q = memchr(a, '?', (size_t)(t.p + t.n - a));
        if (slash && q && q < slash)
            slash = NULL;
        h->path = slash ? (km_str){ slash, (size_t)(t.p + t.n - slash) } : (km_str){ "/", 1 };
        if (!slash) {
            h->query = q ? (km_str){ q + 1, (size_t)(t.p + t.n - q - 1) } : (km_str){ t.p + t.n, 0 };
            return 0;
        }
    } else {
        /* authority-form is for CONNECT, which a server like this refuses */
        return h->method.n == 7 && !memcmp(h->method.p, "CONNECT", 7) ? -501 : -400;
    }
    const char *q = memchr(h->path.p, '?', h->path.n);
    if (q) {
        h->query = (km_str){ q + 1, (size_t)(h->path.p + h->path.n - q - 1) };
        h->path.n = (size_t)(q - h->path.p);
    } else {
        h->query = (km_str){ h->path.p + h->path.n, 0 };
    }
    return 0;
}

/* Applies what framing and connection handling need from one header. */
static int note_header(km__head *h, km__hdr *x, int *hosts, int *cls, int *tes, bool *close_, bool *keep)
{
    km_str n = x->name, v = x->value;
    switch (lower((unsigned char)n.p[0])) {
    case 'c':
        if (km__str_ieq(n, "content-length")) {
            int64_t cl;
            if (parse_content_length(v, &cl))
                return -400;
            if ((*cls)++ && cl != h->content_length)
                return -400;    /* conflicting lengths: a smuggling shape */
            h->content_length = cl;
        } else if (km__str_ieq(n, "connection")) {
            if (list_has(v, "close")) *close_ = true;
            if (list_has(v, "keep-alive")) *keep = true;
        }
        break;
    case 't':
        if (km__str_ieq(n, "transfer-encoding")) {
            if ((*tes)++)
                return -400;
            if (!km__str_ieq(v, "chunked")) {
                /* chunked must come last, else the length is unknowable;
                 * other codings (gzip, ...) are answered with 501 */
                size_t e = v.n;
                while (e > 0 && v.p[e - 1] != ',') e--;
                km_str last = { v.p + e, v.n - e };
                while (last.n && (*last.p == ' ' || *last.p == '\t')) { last.p++; last.n--; }
                return list_has(v, "chunked") && !km__str_ieq(last, "chunked") ? -400 : -501;
            }
            h->chunked = true;
        }
        break;
    case 'h':
        if (km__str_ieq(n, "host"))
            (*hosts)++;
        break;
    case 'e':
        if (km__str_ieq(n, "expect")) {
            if (!km__str_ieq(v, "100-continue"))
                return -417;
            h->expect_continue = true;
        }
        break;
    }
    return 0;
}

/* Finds the CRLF CRLF that ends a head, resuming at *scanned. NULL when
 * not there yet; *err is then -431 if max_bytes were searched in vain. */
static const char *find_head_end(const char *buf, size_t len, size_t skip,
                                 size_t *scanned, size_t max_bytes, int *err)
{
    size_t from = *scanned > skip + 3 ? *scanned - 3 : skip;
    size_t lim = len < max_bytes + skip ? len : max_bytes + skip;
    const char *end = NULL;
    *err = 0;
    for (size_t i = from; i + 3 < lim; i++) {
        const char *c = memchr(buf + i, '\r', lim - 3 - i);
        if (!c)
            break;
        i = (size_t)(c - buf);
        if (c[1] == '\n' && c[2] == '\r' && c[3] == '\n') {
            end = c + 4;
            break;
        }
    }
    /* A LF without its CR never ends a head here: say so now rather than
     * wait for a CRLF CRLF that may never come. Only the head is checked
     * (a body that follows may hold anything). */
    const char *stop = end ? end : buf + lim;
    for (const char *lf = buf + from; (lf = memchr(lf, '\n', (size_t)(stop - lf))); lf++) {
        if (lf == buf || lf[-1] != '\r') {
            *err = -400;
            return NULL;
        }
    }
    if (end)
        return end;
    *scanned = lim;
    if (len >= max_bytes + skip)
        *err = -431;
    return NULL;
}

/* Parses the field line at *pp (ending in CRLF before end) into x. */
static int parse_field(const char **pp, const char *end, km__hdr *x)
{
    const char *p = *pp;
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol[1] != '\n')
        return -400;
    if (*p == ' ' || *p == '\t')
        return -400;    /* obs-fold */
    const char *s = p;
    while (p < eol && tchar[(unsigned char)*p])
        p++;
    if (p == s || p == eol || *p != ':')
        return -400;    /* empty name, bad byte, or space before ':' */
    x->name = (km_str){ s, (size_t)(p - s) };
    p++;
    while (p < eol && (*p == ' ' || *p == '\t'))
        p++;
    s = p;
    for (; p < eol; p++)
        if (!is_fvchar((unsigned char)*p))
            return -400;    /* NUL, bare LF, other controls */
    const char *e = eol;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    x->value = (km_str){ s, (size_t)(e - s) };
    *pp = eol + 2;
    return 0;
}

int km__http_parse_head(const char *buf, size_t len, size_t *scanned, km__head *h,
                        km__hdr *hdrs, size_t max_hdrs, size_t max_bytes)
{
    /* Tolerate empty lines before the request line (RFC 9112 §2.2). */
    size_t skip = 0;
    while (skip + 1 < len && buf[skip] == '\r' && buf[skip + 1] == '\n')
        skip += 2;
    if (skip >= 16)
        return -400;
    int err;
    const char *end = find_head_end(buf, len, skip, scanned, max_bytes, &err);
    if (!end)
        return err;
    memset(h, 0, sizeof *h);
    h->content_length = -1;
    h->hdrs = hdrs;
    const char *p = buf + skip;
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol[1] != '\n')
        return -400;        /* bare CR */
    int rc = parse_request_line(p, eol, h);
    if (rc)
        return rc;
    p = eol + 2;

    int hosts = 0, cls = 0, tes = 0;
    bool close_ = false, keep = false;
    while (p < end - 2) {
        if (h->nhdrs == max_hdrs)
            return -431;
        km__hdr *x = &hdrs[h->nhdrs++];
        if ((rc = parse_field(&p, end, x)) ||
            (rc = note_header(h, x, &hosts, &cls, &tes, &close_, &keep)))
            return rc;
    }
    if (h->chunked && cls)
        return -400;        /* both framings: a smuggling shape */
    if (h->chunked && h->version == 10)
        return -400;
    if (h->version == 11 && hosts != 1)
        return -400;
    if (hosts > 1)
        return -400;
    h->keep_alive = h->version == 11 ? !close_ : (keep && !close_);
    return (int)(end - buf);
}

int km__http_parse_resp_head(const char *buf, size_t len, size_t *scanned, km__resp_head *h,
                             km__hdr *hdrs, size_t max_hdrs, size_t max_bytes)
{
    int err;
    const char *end = find_head_end(buf, len, 0, scanned, max_bytes, &err);
    if (!end)
        return err;
    memset(h, 0, sizeof *h);
    h->content_length = -1;
    h->hdrs = hdrs;
    /* HTTP/1.x SP 3DIGIT SP [reason] CRLF */
    const char *p = buf;
    if (end - p < 14 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ' || p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
        p[11] < '0' || p[11] > '9' || (p[12] != ' ' && p[12] != '\r'))
        return -400;
    h->version = p[7] == '1' ? 11 : 10;
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    if (eol[1] != '\n')
        return -400;
    for (const char *q = p + 12; q < eol; q++)
        if (!is_fvchar((unsigned char)*q))
            return -400;
    p = eol + 2;
    km__head tmp = { .content_length = -1, .version = h->version };
    int hosts = 0, cls = 0, tes = 0, rc;
    bool close_ = false, keep = false;
    while (p < end - 2) {
        if (h->nhdrs == max_hdrs)
            return -431;
        km__hdr *x = &hdrs[h->nhdrs++];
        if ((rc = parse_field(&p, end, x)))
            return rc;
        if (km__str_ieq(x->name, "expect"))
            continue;   /* meaningless in a response */
        if ((rc = note_header(&tmp, x, &hosts, &cls, &tes, &close_, &keep)))
            return rc;
    }
    if (tmp.chunked && cls)
        return -400;
    h->content_length = tmp.content_length;
    h->chunked = tmp.chunked;
    h->keep_alive = h->version == 11 ? !close_ : (keep && !close_);
    return (int)(end - buf);
}
