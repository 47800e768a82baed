/* SPDX-License-Identifier: MIT */
/* Escaping for JSON strings and logfmt values, with UTF-8 validation. */
#include "log-int.h"
#include "enc/utf8.h"

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

/* The JSON escape of an ASCII byte that needs one, unchecked: 2 or 6 bytes. */
static char *esc_ascii(char *o, unsigned char c)
{
    char e = 0;
    switch (c) {
    case '"':  e = '"'; break;
    case '\\': e = '\\'; break;
    case '\n': e = 'n'; break;
    case '\r': e = 'r'; break;
    case '\t': e = 't'; break;
    case '\b': e = 'b'; break;
    case '\f': e = 'f'; break;
    default:
        memcpy(o, "\\u00", 4);
        o[4] = hexd[c >> 4];
        o[5] = hexd[c & 15];
        return o + 6;
    }
    o[0] = '\\';
    o[1] = e;
    return o + 2;
}

/* The high bit of each byte of x that may need an escape: >= 0x80, < 0x20,
 * '"' or '\\'. A borrow can only set bits above the first such byte. */
static inline uint64_t flagged(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
    uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
    return (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high;
}

/* Copies from s to o the bytes that need no JSON escape, up to the first
 * that may (below 0x20, '"', '\\', or from 0x80: perhaps a multi-byte
 * sequence), and says how many. Eight at a time, each word tested with
 * carry tricks and stored whole (o has room for n bytes). By hand: every
 * request path in the access log goes through here. */
static size_t plain_run(char *o, const unsigned char *s, size_t n)
{
    if (n < 8) {
        if (n >= 4) {
            /* Two overlapping halves make one word of the n bytes (zeros
             * above them, flagged but masked off). */
            uint32_t lo, hi;
            memcpy(&lo, s, 4);
            memcpy(&hi, s + n - 4, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            uint64_t x = lo | (uint64_t)hi << (8 * (n - 4));
            if (!(flagged(x) & ((1ull << (8 * n)) - 1))) {
                memcpy(o, &lo, 4);
                memcpy(o + n - 4, &hi, 4);
                return n;
            }
#endif
        }
        size_t i = 0;
        for (; i < n && !cls[s[i]]; i++)
            o[i] = (char)s[i];
        return i;
    }
    /* The last word overlaps the one before: its first bytes are known
     * plain by then, so its first flagged byte is still the run's end. */
    for (size_t i = 0;; i = i + 16 <= n ? i + 8 : n - 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        memcpy(o + i, &x, 8);
        uint64_t m = flagged(x);
        if (m) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            return i + (size_t)__builtin_clzll(m) / 8;
#else
            return i + (size_t)__builtin_ctzll(m) / 8;
#endif
        }
        if (i + 8 == n)
            return n;
    }
}

char *km__put_json_str(char *o, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    for (;;) {
        size_t k = plain_run(o, s + i, n - i);
        o += k;
        i += k;
        if (i == n)
            return o;
        if (cls[s[i]] == 1) {
            o = esc_ascii(o, s[i++]);
        } else if ((k = km__utf8_seq(s + i, n - i))) {
            memcpy(o, s + i, k);
            o += k;
            i += k;
        } else {
            /* Each byte that starts no valid sequence stands for itself as
             * U+FFFD, so the line stays valid JSON and lengths stay visible. */
            memcpy(o, "\\ufffd", 6);
            o += 6;
            i++;
        }
    }
}

/* Input pieces for km__json_str: each reserves its worst case (six bytes
 * per byte), so a long string never needs more room at once than a record
 * buffer has. */
#define PIECE 256

void km__json_str(km__lbuf *b, const char *p, size_t n)
{
    while (n) {
        size_t k = n;
        if (k > PIECE) {
            /* Cut before a byte that starts a character. If the four bytes
             * up to the cut all continue one, no valid sequence (three
             * continuations at most) crosses it there either. */
            k = PIECE;
            for (size_t back = 0; back < 4; back++)
                if (((unsigned char)p[PIECE - back] & 0xC0) != 0x80) {
                    k = PIECE - back;
                    break;
                }
        }
        if (!km__lbuf_room(b, 6 * k))
            return;
        b->n = (size_t)(km__put_json_str(b->p + b->n, p, k) - b->p);
        p += k;
        n -= k;
    }
}

void km__json_bytes(km__lbuf *b, const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n && km__lbuf_room(b, 6); i++) {
        unsigned char c = s[i];
        char *o = b->p + b->n;
        if (!cls[c]) {
            *o++ = (char)c;
        } else if (c < 0x80) {
            o = esc_ascii(o, c);
        } else {
            /* \u00XX: decoders read it back as the code point equal to the
             * byte, so the octets are recoverable. */
            memcpy(o, "\\u00", 4);
            o[4] = hexd[c >> 4];
            o[5] = hexd[c & 15];
            o += 6;
        }
        b->n = (size_t)(o - b->p);
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
        size_t k = bytes ? 0 : km__utf8_seq(s + i, n - i);
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

char *km__put_logfmt_str(char *o, const char *p, size_t n)
{
    if (!logfmt_quote((const unsigned char *)p, n, false))
        return km__put(o, p, n);
    *o++ = '"';
    o = km__put_json_str(o, p, n);
    *o++ = '"';
    return o;
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
            if (km__lbuf_room(b, 2))
                b->n = (size_t)(esc_ascii(b->p + b->n, c) - b->p);
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
