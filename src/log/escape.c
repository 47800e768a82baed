/* SPDX-License-Identifier: MIT */
/* Escaping for JSON strings and logfmt values, with UTF-8 validation. */
#include "log-int.h"

static const char hexd[] = "0123456789abcdef";

/* 0: copied as is; 1: escaped; 2: starts (or breaks) a multi-byte sequence. */
static const unsigned char cls[256] = {
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
};

static bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
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

/* The JSON escape of an ASCII byte that needs one. */
static void esc_ascii(km__lbuf *b, unsigned char c)
{
    char e[6] = { '\\', 0 };
    switch (c) {
    case '"':  e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    default:
        memcpy(e, "\\u00", 4);
        e[4] = hexd[c >> 4];
        e[5] = hexd[c & 15];
        km__lbuf_put(b, e, 6);
        return;
    }
    km__lbuf_put(b, e, 2);
}

void km__json_str(km__lbuf *b, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    /* Most strings need no escape: copy them in the same pass that checks. */
    if (km__lbuf_room(b, n)) {
        char *o = b->p + b->n;
        while (i < n && !cls[s[i]]) {
            o[i] = (char)s[i];
            i++;
        }
        b->n += i;
    }
    while (i < n) {
        size_t run = i;
        while (i < n && !cls[s[i]])
            i++;
        if (i > run)
            km__lbuf_put(b, s + run, i - run);
        if (i == n)
            break;
        if (cls[s[i]] == 1) {
            esc_ascii(b, s[i++]);
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k) {
            km__lbuf_put(b, s + i, k);
            i += k;
        } else {
            /* Each byte that starts no valid sequence stands for itself as
             * U+FFFD, so the line stays valid JSON and lengths stay visible. */
            km__lbuf_put(b, "\\ufffd", 6);
            i++;
        }
    }
}

void km__json_bytes(km__lbuf *b, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (!cls[c])
            km__lbuf_ch(b, (char)c);
        else if (c < 0x80)
            esc_ascii(b, c);
        else {
            /* \u00XX: decoders read it back as the code point equal to the
             * byte, so the octets are recoverable. */
            char e[6] = { '\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15] };
            km__lbuf_put(b, e, 6);
        }
    }
}

/* Does a logfmt value need quotes? Empty, any byte <= ' ', '=', '"', DEL,
 * or invalid UTF-8 (written escaped). */
static bool logfmt_quote(const unsigned char *s, size_t n, bool bytes)
{
    if (!n)
        return true;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c <= ' ' || c == '=' || c == '"' || c == 0x7f)
            return true;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = bytes ? 0 : utf8_seq(s + i, n - i);
        if (!k)
            return true;
        i += k;
    }
    return false;
}

void km__logfmt_str(km__lbuf *b, const char *p, size_t n)
{
    if (!logfmt_quote((const unsigned char *)p, n, false)) {
        km__lbuf_put(b, p, n);
        return;
    }
    km__lbuf_ch(b, '"');
    km__json_str(b, p, n);
    km__lbuf_ch(b, '"');
}

void km__logfmt_bytes(km__lbuf *b, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    if (!logfmt_quote(s, n, true)) {
        km__lbuf_put(b, p, n);
        return;
    }
    km__lbuf_ch(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            esc_ascii(b, c);
        } else if (c < ' ' || c >= 0x7f) {
            char e[4] = { '\\', 'x', hexd[c >> 4], hexd[c & 15] };
            km__lbuf_put(b, e, 4);
        } else {
            km__lbuf_ch(b, (char)c);
        }
    }
    km__lbuf_ch(b, '"');
}

void km__logfmt_key(km__lbuf *b, const char *p, size_t n)
{
    if (!n) {
        km__lbuf_ch(b, '_');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        km__lbuf_ch(b, c <= ' ' || c == '=' || c == '"' || c >= 0x7f ? '_' : (char)c);
    }
}
