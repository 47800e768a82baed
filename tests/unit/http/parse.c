/* SPDX-License-Identifier: MIT */
/* The request-head parser and chunked decoder, called directly: valid forms, incremental input, and every malformed or smuggling shape. */
#include "util.h"
#include "http/parse.h"
#include <stdio.h>
#include <string.h>

#define MAXH 32

static km__hdr hdrs[MAXH];
static km__head h;
static char *held;      /* the buffer h points into, freed by the fixture */

static void teardown(void) { free(held); held = NULL; }

/* Parses n bytes from an exactly-sized heap copy (a read past the end
 * trips ASan); the copy stays alive until the next call. */
static int parse_ex(const char *s, size_t n, size_t max_hdrs, size_t max_bytes)
{
    free(held);
    held = malloc(n ? n : 1);
    memcpy(held, s, n);
    size_t scanned = 0;
    return km__http_parse_head(held, n, &scanned, &h, hdrs, max_hdrs, max_bytes);
}

static int parse_n(const char *s, size_t n) { return parse_ex(s, n, MAXH, 4096); }
#define PARSE(lit) parse_n(lit, sizeof(lit) - 1)

/* Feeds s one byte at a time, each call on an exactly-sized copy of the
 * prefix and with *scanned carried over; returns the first non-zero result
 * (h stays valid) and its prefix length in *at. */
static int parse_bytewise(const char *s, size_t n, size_t *at)
{
    size_t scanned = 0;
    for (size_t i = 1; i <= n; i++) {
        free(held);
        held = malloc(i);
        memcpy(held, s, i);
        int rc = km__http_parse_head(held, i, &scanned, &h, hdrs, MAXH, 4096);
        if (rc) {
            *at = i;
            return rc;
        }
        ck_assert_msg(scanned <= i, "scanned %zu past len %zu", scanned, i);
    }
    *at = n;
    return 0;
}

static void want_str(km_str s, const char *lit, const char *what)
{
    size_t n = strlen(lit);
    ck_assert_msg(s.p && s.n == n && memcmp(s.p, lit, n) == 0, "%s: got '%.*s' (%zu), want '%s'",
                  what, s.p ? (int)s.n : 6, s.p ? s.p : "(null)", s.n, lit);
}

/* ---- valid requests ---- */

START_TEST(origin_form_with_query)
{
    static const char r[] = "GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    ck_assert_int_eq(PARSE(r), sizeof r - 1);
    want_str(h.method, "GET", "method");
    want_str(h.target, "/a/b?x=1&y=%20", "target");
    want_str(h.path, "/a/b", "path");
    want_str(h.query, "x=1&y=%20", "query");
    ck_assert_int_eq(h.version, 11);
    ck_assert_uint_eq(h.nhdrs, 2);
    want_str(h.hdrs[0].name, "Host", "name 0");
    want_str(h.hdrs[0].value, "example.com", "value 0");
    want_str(h.hdrs[1].name, "Accept", "name 1");
    want_str(h.hdrs[1].value, "*/*", "value 1");
    ck_assert_int_eq(h.content_length, -1);
    ck_assert(!h.chunked && h.keep_alive && !h.expect_continue);

    ck_assert_int_eq(PARSE("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n"), 29);
    want_str(h.path, "/a", "path");
    ck_assert_uint_eq(h.query.n, 0);
    ck_assert_int_eq(PARSE("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27);
    want_str(h.path, "/", "path");
    ck_assert_uint_eq(h.query.n, 0);
    /* a lower-case method is still a token; the router decides */
    ck_assert_int_gt(PARSE("get / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}
END_TEST

START_TEST(body_follows_head)
{
    static const char r[] = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
    int rc = PARSE(r);
    ck_assert_int_eq(rc, (int)(strstr(r, "hello") - r));
    ck_assert_int_eq(h.content_length, 5);
    ck_assert(!h.chunked);
    static const char c[] = "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    ck_assert_int_eq(PARSE(c), (int)(strstr(c, "5\r\n") - c));
    ck_assert(h.chunked);
    ck_assert_int_eq(h.content_length, -1);
    /* the same length twice is not a conflict */
    ck_assert_int_gt(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 7);
    ck_assert_int_gt(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 0);
    ck_assert_int_gt(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 999999999999999999LL);
    ck_assert_int_gt(PARSE("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"), 0);
    ck_assert(h.expect_continue);
}
END_TEST

/* Only the head is parsed: body bytes after it (bare LF, CR, NUL, 8-bit)
 * arriving in the same read are none of the parser's business. */
START_TEST(binary_body_after_head)
{
    static const char r[] = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"
                            "a\nb\0\r\rc\n\n\xff\x01\n";
    size_t hl = (size_t)(strstr(r, "\r\n\r\n") - r) + 4;
    ck_assert_int_eq(PARSE(r), (int)hl);
    /* also when an earlier call saw part of the head (scanned > 0) */
    for (size_t cut = 1; cut < hl; cut++) {
        size_t scanned = 0;
        ck_assert_int_eq(km__http_parse_head(r, cut, &scanned, &h, hdrs, MAXH, 4096), 0);
        int rc = km__http_parse_head(r, sizeof r - 1, &scanned, &h, hdrs, MAXH, 4096);
        ck_assert_msg(rc == (int)hl, "cut %zu: %d", cut, rc);
    }
    static const char c[] = "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "3\r\n\n\n\n\r\n0\r\n\r\n";
    ck_assert_int_eq(PARSE(c), (int)(strstr(c, "3\r\n") - c));
}
END_TEST

START_TEST(absolute_form)
{
    ck_assert_int_gt(PARSE("GET http://example.com:8080/p/q?z=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), 0);
    want_str(h.target, "http://example.com:8080/p/q?z=1", "target");
    want_str(h.path, "/p/q", "path");
    want_str(h.query, "z=1", "query");
    ck_assert_int_gt(PARSE("GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
    want_str(h.path, "/", "path");
    ck_assert_uint_eq(h.query.n, 0);
    ck_assert_int_gt(PARSE("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
    want_str(h.path, "/", "path without one");
    ck_assert_uint_eq(h.query.n, 0);
    ck_assert_int_gt(PARSE("GET http://example.com?a=/b HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
    want_str(h.path, "/", "path before a query with a slash");
    want_str(h.query, "a=/b", "query");
    /* authority-form is CONNECT's, which is not implemented */
    ck_assert_int_eq(PARSE("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), -501);
    ck_assert_int_eq(PARSE("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    ck_assert_int_eq(PARSE("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(options_asterisk)
{
    ck_assert_int_gt(PARSE("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    want_str(h.method, "OPTIONS", "method");
    want_str(h.path, "*", "path");
    ck_assert_uint_eq(h.query.n, 0);
    ck_assert_int_eq(PARSE("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(connection_semantics)
{
    ck_assert_int_gt(PARSE("GET / HTTP/1.0\r\n\r\n"), 0);          /* no Host needed */
    ck_assert_int_eq(h.version, 10);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(PARSE("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
    ck_assert(h.keep_alive);
    ck_assert_int_gt(PARSE("GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n"), 0);
    ck_assert(h.keep_alive);
    ck_assert_int_gt(PARSE("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade,  CLOSE \r\n\r\n"), 0);
    ck_assert(!h.keep_alive);
    ck_assert_int_gt(PARSE("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), 0);
    ck_assert(h.keep_alive);
}
END_TEST

START_TEST(header_ows_trimmed)
{
    static const char r[] = "GET / HTTP/1.1\r\nHost:a\r\nX-A:   v  with  inner \t \r\n"
                            "X-B:\t\tv\r\nX-C:\r\nX-D:   \t\r\n\r\n";
    ck_assert_int_eq(PARSE(r), sizeof r - 1);
    ck_assert_uint_eq(h.nhdrs, 5);
    want_str(h.hdrs[0].value, "a", "no space");
    want_str(h.hdrs[1].value, "v  with  inner", "spaces and tab");
    want_str(h.hdrs[2].value, "v", "tabs");
    ck_assert_uint_eq(h.hdrs[3].value.n, 0);
    ck_assert_uint_eq(h.hdrs[4].value.n, 0);
    ck_assert_int_gt(PARSE("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  12 \t\r\n\r\n"), 0);
    ck_assert_int_eq(h.content_length, 12);
}
END_TEST

START_TEST(obs_text_in_values)
{
    static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\nX-U: caf\xc3\xa9 \x80\xff!\r\n\r\n";
    ck_assert_int_eq(PARSE(r), sizeof r - 1);
    want_str(h.hdrs[1].value, "caf\xc3\xa9 \x80\xff!", "obs-text");
}
END_TEST

START_TEST(leading_empty_lines)
{
    static const char r[] = "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(PARSE(r), sizeof r - 1);
    want_str(h.method, "GET", "method");
    want_str(h.path, "/x", "path");
    static const char seven[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(PARSE(seven), sizeof seven - 1);
    ck_assert_int_eq(PARSE("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    /* only empty lines so far: wait for more */
    ck_assert_int_eq(PARSE("\r\n\r\n"), 0);
}
END_TEST

/* ---- incremental input ---- */

static const char *const valid[] = {
    "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    "\r\n\r\nPOST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
    "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Pad: \r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
};

START_TEST(bytewise_valid)
{
    const char *r = valid[_i];
    size_t n = strlen(r), at;
    int rc = parse_bytewise(r, n, &at);
    ck_assert_msg(rc == (int)n && at == n, "request %d: %d at byte %zu of %zu", _i, rc, at, n);
    /* the same through one call */
    ck_assert_int_eq(parse_n(r, n), (int)n);
}
END_TEST

START_TEST(bytewise_scanned_resumes)
{
    /* a head growing in two large pieces, then completed */
    static const char r[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    size_t n = sizeof r - 1, scanned = 0;
    for (size_t cut = 1; cut < n; cut++) {
        scanned = 0;
        ck_assert_int_eq(km__http_parse_head(r, cut, &scanned, &h, hdrs, MAXH, 4096), 0);
        ck_assert_int_eq(km__http_parse_head(r, n, &scanned, &h, hdrs, MAXH, 4096), (int)n);
        want_str(h.hdrs[1].value, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "value");
    }
}
END_TEST

/* ---- malformed and smuggling shapes ---- */

typedef struct { const char *name; const char *req; size_t n; int want; } bad_t;
#define BAD(name, lit, want) { name, lit, sizeof(lit) - 1, want }
#define HOST "Host: a\r\n"

static const bad_t bad[] = {
    BAD("CL and TE", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
    BAD("TE and CL", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", -400),
    BAD("conflicting CL", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", -400),
    BAD("CL plus", "POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n", -400),
    BAD("CL minus", "POST / HTTP/1.1\r\n" HOST "Content-Length: -5\r\n\r\n", -400),
    BAD("CL inner space", "POST / HTTP/1.1\r\n" HOST "Content-Length: 1 2\r\n\r\n", -400),
    BAD("CL list", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\n", -400),
    BAD("CL list no space", "POST / HTTP/1.1\r\n" HOST "Content-Length: 5,5\r\n\r\n", -400),
    BAD("CL hex", "POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n", -400),
    BAD("CL exponent", "POST / HTTP/1.1\r\n" HOST "Content-Length: 1e3\r\n\r\n", -400),
    BAD("CL 19 digits", "POST / HTTP/1.1\r\n" HOST "Content-Length: 1234567890123456789\r\n\r\n", -400),
    BAD("CL 40 digits", "POST / HTTP/1.1\r\n" HOST "Content-Length: 0000000000000000000000000000000000000001\r\n\r\n", -400),
    BAD("CL empty", "POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n", -400),
    BAD("TE gzip", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n", -501),
    BAD("TE identity", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n\r\n", -501),
    BAD("TE gzip, chunked", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n", -501),
    BAD("TE chunked, gzip", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, gzip\r\n\r\n", -400),
    BAD("TE chunked with junk", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: xchunked\r\n\r\n", -501),
    BAD("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
    BAD("two TE headers", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
    BAD("two TE, second empty", "POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n", -400),
    BAD("obs-fold space", "GET / HTTP/1.1\r\n" HOST "X-A: a\r\n b\r\n\r\n", -400),
    BAD("obs-fold tab", "GET / HTTP/1.1\r\n" HOST "X-A: a\r\n\tb\r\n\r\n", -400),
    BAD("fold before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400),
    BAD("bare CR in value", "GET / HTTP/1.1\r\n" HOST "X-A: a\rb\r\n\r\n", -400),
    BAD("bare CR ends value", "GET / HTTP/1.1\r\n" HOST "X-A: a\r\r\n\r\n", -400),
    BAD("bare CR in name", "GET / HTTP/1.1\r\n" HOST "X\r-A: b\r\n\r\n", -400),
    BAD("bare CR in target", "GET /a\rb HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("bare CR after version", "GET / HTTP/1.1\r\r\n" HOST "\r\n", -400),
    BAD("bare LF in value", "GET / HTTP/1.1\r\n" HOST "X-A: a\nb\r\n\r\n", -400),
    BAD("bare LF ends a field", "GET / HTTP/1.1\r\nHost: a\nX-B: b\r\n\r\n", -400),
    BAD("bare LF ends request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", -400),
    BAD("bare LF starts a field", "GET / HTTP/1.1\r\n" HOST "\nX-B: b\r\n\r\n", -400),
    BAD("LF-only line endings", "GET / HTTP/1.1\nHost: a\n\n", -400),
    BAD("LF-only, CRLF at the end", "GET / HTTP/1.1\nHost: a\n\r\n\r\n", -400),
    BAD("LF before request line", "\nGET / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("NUL leading", "\0GET / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("NUL in method", "G\0T / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("NUL in target", "GET /a\0b HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("NUL in version", "GET / HTTP/1\0001\r\n" HOST "\r\n", -400),
    BAD("NUL in name", "GET / HTTP/1.1\r\n" HOST "X-\0A: b\r\n\r\n", -400),
    BAD("NUL in value", "GET / HTTP/1.1\r\n" HOST "X-A: a\0b\r\n\r\n", -400),
    BAD("NUL ends value", "GET / HTTP/1.1\r\n" HOST "X-A: b\0\r\n\r\n", -400),
    BAD("NUL starts a field", "GET / HTTP/1.1\r\n" HOST "\0X-A: b\r\n\r\n", -400),
    BAD("DEL in value", "GET / HTTP/1.1\r\n" HOST "X-A: a\x7f\r\n\r\n", -400),
    BAD("control in value", "GET / HTTP/1.1\r\n" HOST "X-A: a\x01\r\n\r\n", -400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400),
    BAD("tab before colon", "GET / HTTP/1.1\r\n" HOST "Content-Length\t: 0\r\n\r\n", -400),
    BAD("empty name", "GET / HTTP/1.1\r\n" HOST ": a\r\n\r\n", -400),
    BAD("no colon", "GET / HTTP/1.1\r\n" HOST "X-A\r\n\r\n", -400),
    BAD("name with slash", "GET / HTTP/1.1\r\n" HOST "X/A: b\r\n\r\n", -400),
    BAD("method with paren", "GE(T / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("method with at", "G@T / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("method with 8-bit", "G\xc9T / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("tab after method", "GET\t/ HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("empty method", " / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("two spaces", "GET  / HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("space in target", "GET /a b HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("tab in target", "GET /a\tb HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("control in target", "GET /a\x01 HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("DEL in target", "GET /a\x7f HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("8-bit in target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("relative target", "GET a/b HTTP/1.1\r\n" HOST "\r\n", -400),
    BAD("no version", "GET /\r\n" HOST "\r\n", -400),
    BAD("lower-case version", "GET / http/1.1\r\n" HOST "\r\n", -400),
    BAD("long version", "GET / HTTP/1.10\r\n" HOST "\r\n", -400),
    BAD("space after version", "GET / HTTP/1.1 \r\n" HOST "\r\n", -400),
    BAD("version letters", "GET / HTTP/x.y\r\n" HOST "\r\n", -400),
    BAD("missing Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", -400),
    BAD("duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", -400),
    BAD("duplicate Host 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\n" HOST "\r\n", -505),
    BAD("HTTP/1.2", "GET / HTTP/1.2\r\n" HOST "\r\n", -505),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\n" HOST "\r\n", -505),
    BAD("HTTP/3.0", "GET / HTTP/3.0\r\n" HOST "\r\n", -505),
    BAD("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -505),
    BAD("Expect other", "POST / HTTP/1.1\r\n" HOST "Expect: 200-ok\r\nContent-Length: 1\r\n\r\n", -417),
    BAD("Expect list", "POST / HTTP/1.1\r\n" HOST "Expect: 100-continue, x\r\nContent-Length: 1\r\n\r\n", -417),
    BAD("16 bytes of empty lines", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n", -400),
};

START_TEST(malformed)
{
    const bad_t *b = &bad[_i];
    int rc = parse_n(b->req, b->n);
    ck_assert_msg(rc == b->want, "%s: got %d, want %d", b->name, rc, b->want);
    /* byte by byte: nothing is accepted on the way, and the end result is the same */
    size_t at;
    rc = parse_bytewise(b->req, b->n, &at);
    ck_assert_msg(rc == b->want, "%s bytewise: got %d at byte %zu, want %d", b->name, rc, at, b->want);
}
END_TEST

/* ---- limits ---- */

START_TEST(head_too_large)
{
    enum { MAX = 1024 };
    char r[4096];
    int n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: %*s\r\n\r\n", 2000, "x");
    ck_assert_int_eq(parse_ex(r, (size_t)n, MAXH, MAX), -431);
    /* an incomplete head stops at max_bytes too, not only a complete one */
    ck_assert_int_eq(parse_ex(r, MAX - 1, MAXH, MAX), 0);
    ck_assert_int_eq(parse_ex(r, MAX, MAXH, MAX), -431);
    /* a head of exactly max_bytes fits */
    n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    memset(r + n, 'p', (size_t)(MAX - 4 - n));
    memcpy(r + MAX - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(parse_ex(r, MAX, MAXH, MAX), MAX);
    /* and one more byte does not */
    n = snprintf(r, sizeof r, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    memset(r + n, 'p', (size_t)(MAX + 1 - 4 - n));
    memcpy(r + MAX + 1 - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(parse_ex(r, MAX + 1, MAXH, MAX), -431);
}
END_TEST

START_TEST(too_many_headers)
{
    static const char four[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    static const char five[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    ck_assert_int_eq(parse_ex(four, sizeof four - 1, 4, 4096), sizeof four - 1);
    ck_assert_int_eq(parse_ex(five, sizeof five - 1, 4, 4096), -431);
    ck_assert_int_eq(parse_ex(five, sizeof five - 1, 5, 4096), sizeof five - 1);
    ck_assert_int_eq(parse_ex(four, sizeof four - 1, 0, 4096), -431);
}
END_TEST

/* ---- chunked bodies ---- */

/* Decodes s (n bytes) from offset start, as the server does after a head.
 * The buffer beyond len is poisoned, so reading it changes the result. */
static int dechunk(const char *s, size_t n, size_t start, size_t max, char *out, size_t *outn,
                   size_t *end)
{
    char *b = malloc(n);
    memcpy(b, s, n);
    km__chunked d = { .rpos = start, .wpos = start };
    int rc = km__chunked_decode(&d, b, n, start + max);
    if (rc == 1) {
        ck_assert_uint_le(d.wpos, d.rpos);
        memcpy(out, b + start, d.wpos - start);
        *outn = d.wpos - start;
        *end = d.rpos;
    }
    free(b);
    return rc;
}
#define DECHUNK(lit, out, on, end) dechunk(lit, sizeof(lit) - 1, 0, 1 << 20, out, on, end)

START_TEST(chunked_valid)
{
    char out[256];
    size_t on, end;
    static const char a[] = "5\r\nhello\r\n6;name=val;q=\"x y\"\r\n world\r\n0\r\n\r\n";
    ck_assert_int_eq(DECHUNK(a, out, &on, &end), 1);
    ck_assert_uint_eq(on, 11);
    ck_assert(memcmp(out, "hello world", 11) == 0);
    ck_assert_uint_eq(end, sizeof a - 1);
    static const char t[] = "3\r\nabc\r\n0\r\nX-Trailer: 1\r\nChecksum: abc\r\n\r\nGET / HTTP/1.1\r\n";
    ck_assert_int_eq(DECHUNK(t, out, &on, &end), 1);
    ck_assert_uint_eq(on, 3);
    ck_assert_uint_eq(end, (size_t)(strstr(t, "GET") - t));    /* stops at the body's end */
    static const char hex[] = "A\r\n0123456789\r\n000b\r\nabcdefghijk\r\n00\r\n\r\n";
    ck_assert_int_eq(DECHUNK(hex, out, &on, &end), 1);
    ck_assert_uint_eq(on, 21);
    ck_assert(memcmp(out, "0123456789abcdefghijk", 21) == 0);
    static const char empty[] = "0\r\n\r\n";
    ck_assert_int_eq(DECHUNK(empty, out, &on, &end), 1);
    ck_assert_uint_eq(on, 0);
    static const char ext0[] = "0;last\r\n\r\n";
    ck_assert_int_eq(DECHUNK(ext0, out, &on, &end), 1);
    /* after a head, at a non-zero offset */
    static const char off[] = "HEADHEAD2\r\nok\r\n0\r\n\r\n";
    ck_assert_int_eq(dechunk(off, sizeof off - 1, 8, 100, out, &on, &end), 1);
    ck_assert_uint_eq(on, 2);
    ck_assert(memcmp(out, "ok", 2) == 0);
    /* not complete yet */
    ck_assert_int_eq(DECHUNK("5\r\nhel", out, &on, &end), 0);
    ck_assert_int_eq(DECHUNK("5\r\nhello\r\n0\r\n", out, &on, &end), 0);
    ck_assert_int_eq(DECHUNK("5\r\nhello\r\n0\r\nX: y\r\n", out, &on, &end), 0);
}
END_TEST

static const char split_body[] =
    "1\r\na\r\n10;ext=1\r\nbcdefghijklmnopq\r\n3\r\n\r\n\r\r\n2\r\n0\r\r\n0\r\nT: v\r\n\r\n";
static const char split_want[] = "abcdefghijklmnopq\r\n\r0\r";

/* The body split in two at every byte boundary, the second part arriving later. */
START_TEST(chunked_split_everywhere)
{
    size_t n = sizeof split_body - 1, wn = sizeof split_want - 1;
    for (size_t cut = 0; cut <= n; cut++) {
        char *b = malloc(n);
        memset(b, '#', n);              /* not yet arrived */
        memcpy(b, split_body, cut);
        km__chunked d = { 0 };
        int rc = km__chunked_decode(&d, b, cut, 1 << 20);
        ck_assert_msg(rc == (cut == n), "cut %zu: first part gave %d", cut, rc);
        memcpy(b + cut, split_body + cut, n - cut);
        rc = km__chunked_decode(&d, b, n, 1 << 20);
        ck_assert_msg(rc == 1, "cut %zu: whole gave %d", cut, rc);
        ck_assert_msg(d.wpos == wn && memcmp(b, split_want, wn) == 0 && d.rpos == n,
                      "cut %zu: decoded %zu bytes, rpos %zu", cut, d.wpos, d.rpos);
        free(b);
    }
}
END_TEST

START_TEST(chunked_bytewise)
{
    size_t n = sizeof split_body - 1, wn = sizeof split_want - 1;
    char *b = malloc(n);
    memset(b, '#', n);
    km__chunked d = { 0 };
    for (size_t len = 1; len <= n; len++) {
        b[len - 1] = split_body[len - 1];
        int rc = km__chunked_decode(&d, b, len, 1 << 20);
        ck_assert_msg(rc == (len == n), "byte %zu of %zu: %d", len, n, rc);
    }
    ck_assert_uint_eq(d.wpos, wn);
    ck_assert(memcmp(b, split_want, wn) == 0);
    free(b);
}
END_TEST

typedef struct { const char *name, *body; size_t n; int want; } badchunk_t;
#define BADC(name, lit, want) { name, lit, sizeof(lit) - 1, want }

static const badchunk_t badchunks[] = {
    BADC("empty size", "\r\nabc\r\n0\r\n\r\n", -400),
    BADC("non-hex size", "g\r\nabc\r\n0\r\n\r\n", -400),
    BADC("0x prefix", "0x3\r\nabc\r\n0\r\n\r\n", -400),
    BADC("space before size", " 3\r\nabc\r\n0\r\n\r\n", -400),
    BADC("space after size", "3 \r\nabc\r\n0\r\n\r\n", -400),
    BADC("negative size", "-3\r\nabc\r\n0\r\n\r\n", -400),
    BADC("plus size", "+3\r\nabc\r\n0\r\n\r\n", -400),
    BADC("16 hex digits", "ffffffffffffffff\r\n", -400),
    BADC("2^64+3 (wraps to 3)", "10000000000000003\r\nabc\r\n0\r\n\r\n", -400),
    BADC("missing CRLF after data", "3\r\nabcX\r\n0\r\n\r\n", -400),
    BADC("data runs into size", "3\r\nabc0\r\n\r\n", -400),
    BADC("LF only after data", "3\r\nabc\n0\r\n\r\n", -400),
    BADC("CR only after data", "3\r\nabc\r0\r\n\r\n", -400),
    BADC("bare LF after size", "3\nabc\r\n0\r\n\r\n", -400),
    BADC("bare CR after size", "3\rabc\r\n0\r\n\r\n", -400),
    BADC("bare LF in extension", "3;a\nb\r\nabc\r\n0\r\n\r\n", -400),
    BADC("bare CR in extension", "3;a\rb\r\nabc\r\n0\r\n\r\n", -400),
    BADC("NUL in extension", "3;a\0b\r\nabc\r\n0\r\n\r\n", -400),
    BADC("bare LF at the end", "0\r\n\n", -400),
    BADC("bare LF after last size", "0\n\r\n", -400),
    BADC("bare LF in trailer", "0\r\nX: a\n\r\n", -400),
    BADC("NUL in trailer", "0\r\nX: a\0\r\n\r\n", -400),
    BADC("folded trailer", "0\r\nX: a\r\n b\r\n\r\n", -400),
    BADC("trailer starting with colon", "0\r\n: a\r\n\r\n", -400),
};

START_TEST(chunked_malformed)
{
    const badchunk_t *b = &badchunks[_i];
    char out[256];
    size_t on, end;
    int rc = dechunk(b->body, b->n, 0, 1 << 20, out, &on, &end);
    ck_assert_msg(rc == b->want, "%s: got %d, want %d", b->name, rc, b->want);
}
END_TEST

START_TEST(chunked_size_overflow)
{
    char out[256];
    size_t on, end;
    /* 15 hex digits: not a number that wraps, and far beyond any limit */
    int rc = DECHUNK("fffffffffffffff\r\nabc\r\n0\r\n\r\n", out, &on, &end);
    ck_assert_msg(rc == -400 || rc == -413, "15 digits: %d", rc);
    /* many leading zeros are still a small number */
    ck_assert_int_eq(DECHUNK("00000000000000000000003\r\nabc\r\n0\r\n\r\n", out, &on, &end), 1);
    ck_assert_uint_eq(on, 3);
}
END_TEST

START_TEST(chunked_too_large)
{
    char out[256];
    size_t on, end;
    static const char one[] = "b\r\nhello world\r\n0\r\n\r\n";
    ck_assert_int_eq(dechunk(one, sizeof one - 1, 0, 10, out, &on, &end), -413);
    ck_assert_int_eq(dechunk(one, sizeof one - 1, 0, 11, out, &on, &end), 1);
    static const char two[] = "6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n";
    ck_assert_int_eq(dechunk(two, sizeof two - 1, 0, 11, out, &on, &end), -413);
    ck_assert_int_eq(dechunk(two, sizeof two - 1, 0, 12, out, &on, &end), 1);
    /* refused as soon as the size is known, before the data arrives */
    ck_assert_int_eq(dechunk("100000\r\n", 8, 0, 1 << 16, out, &on, &end), -413);
    /* and the limit counts from the body's start, not the buffer's */
    static const char off[] = "HEAD5\r\nhello\r\n0\r\n\r\n";
    ck_assert_int_eq(dechunk(off, sizeof off - 1, 4, 5, out, &on, &end), 1);
    ck_assert_int_eq(dechunk(off, sizeof off - 1, 4, 4, out, &on, &end), -413);
}
END_TEST

START_TEST(chunked_trailer_limit)
{
    size_t big = 9000;
    char *b = malloc(big + 32);
    size_t n = (size_t)sprintf(b, "0\r\nX: ");
    memset(b + n, 'v', big);
    n += big;
    memcpy(b + n, "\r\n\r\n", 4);
    n += 4;
    km__chunked d = { 0 };
    ck_assert_int_eq(km__chunked_decode(&d, b, n, 1 << 20), -400);
    free(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/parse");
    TCase *tc = tcase_create("head");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, origin_form_with_query);
    tcase_add_test(tc, body_follows_head);
    tcase_add_test(tc, binary_body_after_head);
    tcase_add_test(tc, absolute_form);
    tcase_add_test(tc, options_asterisk);
    tcase_add_test(tc, connection_semantics);
    tcase_add_test(tc, header_ows_trimmed);
    tcase_add_test(tc, obs_text_in_values);
    tcase_add_test(tc, leading_empty_lines);
    tcase_add_loop_test(tc, bytewise_valid, 0, (int)(sizeof valid / sizeof *valid));
    tcase_add_test(tc, bytewise_scanned_resumes);
    tcase_add_loop_test(tc, malformed, 0, (int)(sizeof bad / sizeof *bad));
    tcase_add_test(tc, head_too_large);
    tcase_add_test(tc, too_many_headers);
    suite_add_tcase(s, tc);
    tc = tcase_create("chunked");
    tcase_add_test(tc, chunked_valid);
    tcase_add_test(tc, chunked_split_everywhere);
    tcase_add_test(tc, chunked_bytewise);
    tcase_add_loop_test(tc, chunked_malformed, 0, (int)(sizeof badchunks / sizeof *badchunks));
    tcase_add_test(tc, chunked_size_overflow);
    tcase_add_test(tc, chunked_too_large);
    tcase_add_test(tc, chunked_trailer_limit);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
