/* SPDX-License-Identifier: MIT */
/* A raw HTTP/2 client for the server's hardening tests: frames built by
 * hand and sent as they are, including what no real client would send
 * (floods, oversized or endless header blocks, resets in a loop); the
 * server's frames read back, counted and waited for with deadlines.
 * Nothing of nghttp2, on purpose: HPACK out is literal fields without
 * indexing or Huffman, and HPACK in is only as much as finds :status. */
#ifndef KUMO_TEST_H2RAW_CLIENT_H
#define KUMO_TEST_H2RAW_CLIENT_H

#include "util.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef SEC
#define SEC 1000000000LL
#endif

/* RFC 9113: frame types (§6), flags, error codes (§7), settings (§6.5.2). */
enum { H2_DATA, H2_HEADERS, H2_PRIORITY, H2_RST_STREAM, H2_SETTINGS, H2_PUSH_PROMISE,
       H2_PING, H2_GOAWAY, H2_WINDOW_UPDATE, H2_CONTINUATION, H2_NTYPES };
enum { H2_END_STREAM = 0x1, H2_ACK = 0x1, H2_END_HEADERS = 0x4, H2_PADDED = 0x8,
       H2_PRIO = 0x20 };
enum { H2E_NO_ERROR, H2E_PROTOCOL, H2E_INTERNAL, H2E_FLOW_CONTROL, H2E_SETTINGS_TIMEOUT,
       H2E_STREAM_CLOSED, H2E_FRAME_SIZE, H2E_REFUSED_STREAM, H2E_CANCEL, H2E_COMPRESSION,
       H2E_CONNECT, H2E_CALM, H2E_INADEQUATE_SECURITY, H2E_HTTP_1_1 };
enum { H2S_HEADER_TABLE_SIZE = 1, H2S_ENABLE_PUSH, H2S_MAX_CONCURRENT_STREAMS,
       H2S_INITIAL_WINDOW_SIZE, H2S_MAX_FRAME_SIZE, H2S_MAX_HEADER_LIST_SIZE };

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"    /* 24 bytes */
#define H2_MAX_FRAME 16384                              /* until SETTINGS say more */

/* ---- bytes to send ---- */

typedef struct { uint8_t *p; size_t len, cap; } h2b;

static inline void h2b_put(h2b *b, const void *src, size_t n)
{
    if (!n)
        return;
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n)
            nc *= 2;
        b->p = realloc(b->p, nc);
        REQUIRE(b->p != NULL);
        b->cap = nc;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static inline void h2b_byte(h2b *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    h2b_put(b, &c, 1);
}

static inline void h2b_free(h2b *b)
{
    free(b->p);
    *b = (h2b){ 0 };
}

static inline void h2_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline uint32_t h2_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A frame: the 9-byte header (24-bit length, type, flags, 31-bit stream
 * id), then the payload. The length is whatever n is: a test may lie. */
static inline void h2b_frame(h2b *b, int type, int flags, uint32_t sid, const void *payload, size_t n)
{
    uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, (uint8_t)type,
                     (uint8_t)flags, 0, 0, 0, 0 };
    h2_put32(h + 5, sid & 0x7fffffffu);
    h2b_put(b, h, 9);
    h2b_put(b, payload, n);
}

typedef struct { uint16_t id; uint32_t value; } h2set;

static inline void h2b_settings(h2b *b, const h2set *s, size_t n)
{
    uint8_t p[6 * 16];
    REQUIRE(n <= 16);
    for (size_t i = 0; i < n; i++) {
        p[6 * i] = (uint8_t)(s[i].id >> 8);
        p[6 * i + 1] = (uint8_t)s[i].id;
        h2_put32(p + 6 * i + 2, s[i].value);
    }
    h2b_frame(b, H2_SETTINGS, 0, 0, p, 6 * n);
}

static inline void h2b_settings_ack(h2b *b) { h2b_frame(b, H2_SETTINGS, H2_ACK, 0, NULL, 0); }

static inline void h2b_ping(h2b *b, int flags, uint64_t opaque)
{
    uint8_t p[8];
    h2_put32(p, (uint32_t)(opaque >> 32));
    h2_put32(p + 4, (uint32_t)opaque);
    h2b_frame(b, H2_PING, flags, 0, p, 8);
}

static inline void h2b_window(h2b *b, uint32_t sid, uint32_t inc)
{
    uint8_t p[4];
    h2_put32(p, inc);
    h2b_frame(b, H2_WINDOW_UPDATE, 0, sid, p, 4);
}

static inline void h2b_rst(h2b *b, uint32_t sid, uint32_t code)
{
    uint8_t p[4];
    h2_put32(p, code);
    h2b_frame(b, H2_RST_STREAM, 0, sid, p, 4);
}

static inline void h2b_priority(h2b *b, uint32_t sid, uint32_t dep, int weight)
{
    uint8_t p[5];
    h2_put32(p, dep);
    p[4] = (uint8_t)(weight - 1);
    h2b_frame(b, H2_PRIORITY, 0, sid, p, 5);
}

/* n body bytes of 'x' (p NULL) or p, in frames of at most H2_MAX_FRAME;
 * end: END_STREAM on the last (an empty one if n is 0). */
static inline void h2b_body(h2b *b, uint32_t sid, const void *p, size_t n, bool end)
{
    static uint8_t xs[H2_MAX_FRAME];
    if (!p) {
        memset(xs, 'x', sizeof xs);
    }
    do {
        size_t k = n < H2_MAX_FRAME ? n : H2_MAX_FRAME;
        n -= k;
        h2b_frame(b, H2_DATA, end && !n ? H2_END_STREAM : 0, sid, p ? p : xs, k);
        if (p)
            p = (const uint8_t *)p + k;
    } while (n);
}

/* ---- HPACK out (RFC 7541) ---- */

/* An integer with an n-bit prefix (§5.1); first has the bits above it. */
static inline void hpack_int(h2b *b, unsigned first, int prefix, uint64_t v)
{
    unsigned max = (1u << prefix) - 1;
    if (v < max) {
        h2b_byte(b, first | (unsigned)v);
        return;
    }
    h2b_byte(b, first | max);
    for (v -= max; v >= 128; v /= 128)
        h2b_byte(b, (unsigned)(v % 128) + 128);
    h2b_byte(b, (unsigned)v);
}

/* A literal field without indexing, new name, no Huffman (§6.2.2): the
 * server's decoder state stays as it was, whatever the test sends. */
static inline void hpack_field(h2b *b, const char *name, size_t nl, const char *value, size_t vl)
{
    h2b_byte(b, 0x00);
    hpack_int(b, 0x00, 7, nl);
    h2b_put(b, name, nl);
    hpack_int(b, 0x00, 7, vl);
    h2b_put(b, value, vl);
}

static inline void hpack_lit(h2b *b, const char *name, const char *value)
{
    hpack_field(b, name, strlen(name), value, strlen(value));
}

static inline void hpack_request(h2b *b, const char *method, const char *path)
{
    hpack_lit(b, ":method", method);
    hpack_lit(b, ":scheme", "http");
    hpack_lit(b, ":authority", "h2raw");
    hpack_lit(b, ":path", path);
}

/* A request in one HEADERS frame; end: no body follows. */
static inline void h2b_request(h2b *b, uint32_t sid, const char *method, const char *path, bool end)
{
    h2b blk = { 0 };
    hpack_request(&blk, method, path);
    h2b_frame(b, H2_HEADERS, H2_END_HEADERS | (end ? H2_END_STREAM : 0), sid, blk.p, blk.len);
    h2b_free(&blk);
}

/* ---- HPACK in: just :status ---- */

/* An integer with an n-bit prefix at *pp; -1 if it runs past end. */
static inline long hpack_get_int(const uint8_t **pp, const uint8_t *end, int prefix)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return -1;
    unsigned max = (1u << prefix) - 1;
    long v = *p++ & max;
    if ((unsigned)v == max) {
        for (int shift = 0;; shift += 7) {
            if (p >= end || shift > 28)
                return -1;
            v += (long)(*p & 0x7f) << shift;
            if (!(*p++ & 0x80))
                break;
        }
    }
    *pp = p;
    return v;
}

/* Three digits, Huffman-coded (RFC 7541 Appendix B: '0'..'2' are 5-bit
 * codes 0..2, '3'..'9' 6-bit codes 0x19..0x1f). -1 if not that. */
static inline int hpack_huff_digits(const uint8_t *p, size_t n)
{
    uint64_t bits = 0;
    int nbits = 0, v = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        bits = bits << 8 | p[i], nbits += 8;
    for (int d = 0; d < 3; d++) {
        if (nbits < 5)
            return -1;
        unsigned c5 = (unsigned)(bits >> (nbits - 5)) & 0x1f;
        if (c5 <= 2) {
            v = v * 10 + (int)c5;
            nbits -= 5;
            continue;
        }
        if (nbits < 6)
            return -1;
        unsigned c6 = (unsigned)(bits >> (nbits - 6)) & 0x3f;
        if (c6 < 0x19)
            return -1;
        v = v * 10 + 3 + (int)(c6 - 0x19);
        nbits -= 6;
    }
    return v;
}

/* ---- the connection ---- */

typedef struct {
    uint8_t        type, flags;
    uint32_t       sid, len;
    const uint8_t *p;           /* the payload: valid until the next read */
} h2f;

typedef struct {
    int      fd;
    uint8_t *in;                /* bytes read: [off, len) not handed out yet */
    size_t   off, len, cap;
    bool     closed;            /* EOF, or the connection was reset */
    bool     no_ack;            /* leave the server's SETTINGS and PINGs unanswered */
    /* What came so far. */
    long     nframes[H2_NTYPES];
    long     data_bytes;
    bool     goaway;
    uint32_t goaway_code, goaway_last;
    uint32_t max_streams, window, header_list;  /* from the server's SETTINGS */
} h2c;

/* The :status of a response HEADERS frame (with the server's encoder as
 * kumo's is: :status first), -1 if it cannot tell. */
static inline int h2f_status(const h2f *f)
{
    static const int indexed[] = { 200, 204, 206, 304, 400, 404, 500 };  /* static 8..14 */
    const uint8_t *p = f->p, *end = f->p + f->len;
    if (f->flags & H2_PADDED) {
        if (p == end || *p >= f->len)
            return -1;
        end -= *p++;
    }
    if (f->flags & H2_PRIO)
        p += 5;
    while (p < end && (*p & 0xe0) == 0x20)          /* dynamic table size updates */
        if (hpack_get_int(&p, end, 5) < 0)
            return -1;
    if (p >= end)
        return -1;
    if (*p & 0x80) {
        long i = hpack_get_int(&p, end, 7);
        return i >= 8 && i <= 14 ? indexed[i - 8] : -1;
    }
    /* A literal whose name is static entry 8, :status. */
    long name = hpack_get_int(&p, end, (*p & 0x40) ? 6 : 4);
    if (name != 8 || p >= end)
        return -1;
    bool huff = *p & 0x80;
    long n = hpack_get_int(&p, end, 7);
    if (n < 0 || n > end - p)
        return -1;
    if (huff)
        return hpack_huff_digits(p, (size_t)n);
    if (n != 3)
        return -1;
    return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

static inline void h2c_dial(h2c *c, int port)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    *c = (h2c){ .fd = km_dial(addr, km_now() + 10 * SEC) };
    ck_assert_msg(c->fd >= 0, "dial %s: %s", addr, km_strerror(c->fd));
    c->cap = 1 << 20;
    c->in = malloc(c->cap);
    REQUIRE(c->in != NULL);
}

static inline void h2c_close(h2c *c)
{
    km_close(c->fd);
    free(c->in);
    c->in = NULL;
}

/* Sends b's bytes (and empties b): 0 or -errno, e.g. once the server
 * closed (a test may expect that). */
static inline int h2c_send(h2c *c, h2b *b)
{
    ssize_t w = b->len ? km_write(c->fd, b->p, b->len, km_now() + 10 * SEC) : 0;
    b->len = 0;
    return w < 0 ? (int)w : 0;
}

/* Bookkeeping of a frame that came, and the answers a peer owes. */
static inline void h2c_saw(h2c *c, const h2f *f)
{
    if (f->type < H2_NTYPES)
        c->nframes[f->type]++;
    if (f->type == H2_DATA)
        c->data_bytes += f->len;
    if (f->type == H2_GOAWAY && f->len >= 8) {
        c->goaway = true;
        c->goaway_last = h2_get32(f->p) & 0x7fffffffu;
        c->goaway_code = h2_get32(f->p + 4);
    }
    if (f->type == H2_SETTINGS && !(f->flags & H2_ACK)) {
        for (uint32_t i = 0; i + 6 <= f->len; i += 6) {
            unsigned id = (unsigned)f->p[i] << 8 | f->p[i + 1];
            if (id == H2S_MAX_CONCURRENT_STREAMS)
                c->max_streams = h2_get32(f->p + i + 2);
            else if (id == H2S_INITIAL_WINDOW_SIZE)
                c->window = h2_get32(f->p + i + 2);
            else if (id == H2S_MAX_HEADER_LIST_SIZE)
                c->header_list = h2_get32(f->p + i + 2);
        }
    }
    if (c->no_ack || c->closed)
        return;
    h2b b = { 0 };
    if (f->type == H2_SETTINGS && !(f->flags & H2_ACK))
        h2b_settings_ack(&b);
    else if (f->type == H2_PING && !(f->flags & H2_ACK) && f->len == 8)
        h2b_frame(&b, H2_PING, H2_ACK, 0, f->p, 8);
    h2c_send(c, &b);
    h2b_free(&b);
}

/* The next frame: 1, 0 once the connection is closed (EOF or reset; what
 * came before is handed out first), -ETIMEDOUT at deadline. */
static inline int h2c_read(h2c *c, h2f *f, int64_t deadline)
{
    for (;;) {
        size_t have = c->len - c->off, need = 9;
        if (have >= 9) {
            const uint8_t *h = c->in + c->off;
            uint32_t n = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
            need = 9 + (size_t)n;
            if (have >= need) {
                *f = (h2f){ .type = h[3], .flags = h[4], .sid = h2_get32(h + 5) & 0x7fffffffu,
                            .len = n, .p = h + 9 };
                c->off += need;
                h2c_saw(c, f);
                return 1;
            }
        }
        if (c->closed)
            return 0;
        if (c->off) {
            memmove(c->in, c->in + c->off, have);
            c->len = have;
            c->off = 0;
        }
        if (need > c->cap) {
            c->in = realloc(c->in, need);
            REQUIRE(c->in != NULL);
            c->cap = need;
        }
        ssize_t r = km_read(c->fd, c->in + c->len, c->cap - c->len, deadline);
        if (r == -ETIMEDOUT)
            return -ETIMEDOUT;
        if (r <= 0)
            c->closed = true;       /* EOF, or reset: either way it is over */
        else
            c->len += (size_t)r;
    }
}

/* Reads until a frame of type on stream sid (-1: any) comes: 1; 0 if the
 * connection closed first; -ETIMEDOUT. */
static inline int h2c_wait(h2c *c, int type, long sid, h2f *f, int64_t deadline)
{
    for (;;) {
        int rc = h2c_read(c, f, deadline);
        if (rc <= 0)
            return rc;
        if (f->type == type && (sid < 0 || f->sid == (uint32_t)sid))
            return 1;
    }
}

/* Reads (and counts) whatever comes until the connection closes: 0, or
 * -ETIMEDOUT if it is still open at deadline. */
static inline int h2c_wait_closed(h2c *c, int64_t deadline)
{
    h2f f;
    int rc;
    while ((rc = h2c_read(c, &f, deadline)) > 0)
        ;
    return rc;
}

/* Reads what is there now, without waiting; false once closed. */
static inline bool h2c_drain(h2c *c)
{
    h2f f;
    int rc;
    while ((rc = h2c_read(c, &f, 0)) > 0)
        ;
    return rc != 0;
}

/* Preface and SETTINGS s, then until both sides' SETTINGS are
 * acknowledged (the server's limits are in force from then on). */
static inline void h2c_handshake(h2c *c, const h2set *s, size_t n)
{
    h2b b = { 0 };
    h2b_put(&b, H2_PREFACE, 24);
    h2b_settings(&b, s, n);
    ck_assert_int_eq(h2c_send(c, &b), 0);
    h2b_free(&b);
    bool theirs = false, acked = false;
    int64_t dl = km_now() + 10 * SEC;
    while (!theirs || !acked) {
        h2f f;
        int rc = h2c_read(c, &f, dl);
        ck_assert_msg(rc > 0, "handshake: %s", rc ? km_strerror(rc) : "closed");
        if (f.type == H2_SETTINGS)
            *(f.flags & H2_ACK ? &acked : &theirs) = true;
    }
}

#endif
