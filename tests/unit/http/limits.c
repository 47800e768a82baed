/* SPDX-License-Identifier: MIT */
/* The HTTP server's limits and timeouts over loopback (431, 413, 408, idle close, 503 beyond max_conns, counted), and every smuggling shape on the wire. */
#include "rawcli.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MS  1000000LL
#define SEC 1000000000LL


/* ---- the server under test ---- */

static bool is(km_str s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)ud;
    km_str path = km_http_path(r), b;
    if (is(path, "/echo")) {
        if (km_http_body(r, &b) == 0)
            km_http_send(w, 200, "application/octet-stream", b.p, b.n);
    } else {
        km_http_send(w, 200, "text/plain", "pong", 4);
    }
}

static km_http_server *serve(km_http_config *cfg)
{
    km_http_server *s;
    cfg->addr = "127.0.0.1:0";
    cfg->handler = handler;
    ck_assert_int_eq(km_http_serve(&s, cfg), 0);
    return s;
}

/* A request with n bytes of header X-Pad (n > 0), or an unfinished head. */
static char *padded(size_t n, bool finished)
{
    char *r = malloc(n + 128);
    int k = sprintf(r, "GET /ping HTTP/1.1\r\nHost: t\r\nX-Pad: ");
    memset(r + k, 'p', n);
    strcpy(r + k + n, finished ? "\r\n\r\n" : "\r\n");
    return r;
}

/* Sends raw on a new connection: the answer has status want, then the server closes. */
static void refused(int port, const char *raw, size_t n, int want)
{
    cli c;
    resp r;
    cli_open(&c, port);
    cli_sendn(&c, raw, n);
    int st = read_resp(&c, &r, false);
    ck_assert_msg(st == want, "%.50s...: status %d (%s), want %d", raw, st, st < 0 ? km_strerror(st) : "", want);
    ck_assert(hdr_is(&r, "connection", "close"));
    free(r.body);
    expect_closed(&c);
    cli_close(&c);
}

static void header_bytes_run(void *arg)
{
    (void)arg;
    km_http_server *s = serve(&(km_http_config){ .max_header_bytes = 1024 });
    int port = km_http_server_port(s);
    char *big = padded(2000, true), *open = padded(2000, false), *fits = padded(900, true);
    refused(port, big, strlen(big), 431);
    refused(port, open, strlen(open), 431);     /* no need to wait for the end */
    cli c;
    cli_open(&c, port);
    roundtrip(&c, fits, 200, "pong");
    cli_close(&c);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
    free(big), free(open), free(fits);
    /* the default (16 KiB): the read buffer grows for a 12 KiB head, not for 20 KiB */
    s = serve(&(km_http_config){ 0 });
    port = km_http_server_port(s);
    big = padded(20000, true);
    fits = padded(12000, true);
    cli_open(&c, port);
    roundtrip(&c, fits, 200, "pong");
    roundtrip(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    cli_close(&c);
    refused(port, big, strlen(big), 431);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
    free(big), free(fits);
}

START_TEST(header_bytes)
{
    t_run(header_bytes_run, NULL);
}
END_TEST

static void header_count_run(void *arg)
{
    (void)arg;
    km_http_server *s = serve(&(km_http_config){ .max_headers = 10 });
    int port = km_http_server_port(s);
    char req[1024];
    int n = sprintf(req, "GET /ping HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 9; i++)
        n += sprintf(req + n, "X-%d: v\r\n", i);
    strcpy(req + n, "\r\n");
    cli c;
    cli_open(&c, port);
    roundtrip(&c, req, 200, "pong");            /* exactly 10 */
    cli_close(&c);
    strcpy(req + n, "X-9: v\r\n\r\n");
    refused(port, req, strlen(req), 431);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(header_count)
{
    t_run(header_count_run, NULL);
}
END_TEST

static void body_bytes_run(void *arg)
{
    (void)arg;
    km_http_server *s = serve(&(km_http_config){ .max_body_bytes = 1000 });
    int port = km_http_server_port(s);
    /* refused on the declared length, before the body is sent */
    static const char over[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n";
    refused(port, over, sizeof over - 1, 413);
    char *body = malloc(1001), head[128];
    memset(body, 'b', 1000);
    body[1000] = 0;
    cli c;
    cli_open(&c, port);
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
    cli_send(&c, head);
    roundtrip(&c, body, 200, body);
    /* chunked: counted as it is decoded */
    cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n");
    cli_sendn(&c, body, 600);
    cli_send(&c, "\r\n190\r\n");
    cli_sendn(&c, body, 400);
    roundtrip(&c, "\r\n0\r\n\r\n", 200, body);
    cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n");
    cli_sendn(&c, body, 600);
    cli_send(&c, "\r\n259\r\n");
    resp r;
    ck_assert_int_eq(read_resp(&c, &r, false), 413);
    ck_assert(hdr_is(&r, "connection", "close"));
    free(r.body);
    expect_closed(&c);
    cli_close(&c);
    free(body);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(body_bytes)
{
    t_run(body_bytes_run, NULL);
}
END_TEST

/* max_body_bytes limits the body: chunk framing, however small the chunks,
 * does not count against it. */
static void small_chunks_run(void *arg)
{
    (void)arg;
    enum { N = 16384 };
    km_http_server *s = serve(&(km_http_config){ .max_body_bytes = N });
    char *wire = malloc(6 * N + 16), *want = malloc(N + 1);
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        want[i] = (char)('a' + i % 26);
        n += (size_t)sprintf(wire + n, "1\r\n%c\r\n", want[i]);
    }
    want[N] = 0;
    n += (size_t)sprintf(wire + n, "0\r\n\r\n");
    cli c;
    cli_open(&c, km_http_server_port(s));
    cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    cli_sendn(&c, wire, n);
    resp r;
    int st = read_resp(&c, &r, false);
    ck_assert_msg(st == 200 && r.body_n == N && !memcmp(r.body, want, N),
                  "a %d-byte body in 1-byte chunks (%zu bytes on the wire), limit %d: status %d",
                  N, n, N, st);
    free(r.body);
    cli_close(&c);
    free(wire);
    free(want);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(small_chunks_within_limit)
{
    t_run(small_chunks_run, NULL);
}
END_TEST

/* A half-sent head is answered 408 after read_header_timeout (not the much
 * longer idle_timeout), then the connection closes. */
static void header_timeout_run(void *arg)
{
    int variant = *(int *)arg;
    km_http_server *s = serve(&(km_http_config){ .read_header_timeout = 200 * MS,
                                                 .idle_timeout = 120 * SEC });
    cli c;
    cli_open(&c, km_http_server_port(s));
    if (variant == 0) {
        /* behind a complete request, in the same packet */
        cli_send(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\nGET /ping HTTP/1.1\r\nHo");
        roundtrip(&c, "", 200, "pong");
    } else if (variant == 1) {
        /* as the first bytes on a new connection */
        cli_send(&c, "GET /ping HTTP/1.1\r\nHo");
    } else {
        /* on a keep-alive connection after a complete exchange */
        roundtrip(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
        cli_send(&c, "GET /ping HTTP/1.1\r\nHo");
    }
    resp r;
    int64_t t0 = km_now();
    int st = read_resp(&c, &r, false);  /* waits up to 10 s */
    ck_assert_msg(st == 408, "variant %d: status %d (%s) after %lld ms, want 408 after ~200 ms",
                  variant, st, st < 0 ? km_strerror(st) : "", (long long)((km_now() - t0) / MS));
    free(r.body);
    expect_closed(&c);
    cli_close(&c);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(read_header_timeout)
{
    int variant = _i;
    t_run(header_timeout_run, &variant);
}
END_TEST

static void body_timeout_run(void *arg)
{
    (void)arg;
    km_http_server *s = serve(&(km_http_config){ .body_timeout = 200 * MS });
    cli c;
    cli_open(&c, km_http_server_port(s));
    cli_send(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhalf.");
    resp r;
    ck_assert_int_eq(read_resp(&c, &r, false), 408);
    free(r.body);
    expect_closed(&c);
    cli_close(&c);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(body_timeout)
{
    t_run(body_timeout_run, NULL);
}
END_TEST

static void idle_timeout_run(void *arg)
{
    (void)arg;
    km_http_server *s = serve(&(km_http_config){ .idle_timeout = 200 * MS });
    int port = km_http_server_port(s);
    cli c;
    cli_open(&c, port);
    roundtrip(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    expect_closed(&c);                  /* silently, with no 408 */
    cli_close(&c);
    cli_open(&c, port);                 /* never says anything */
    expect_closed(&c);
    cli_close(&c);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(idle_timeout)
{
    t_run(idle_timeout_run, NULL);
}
END_TEST

static void max_conns_run(void *arg)
{
    (void)arg;
    km_http_server *s = serve(&(km_http_config){ .max_conns = 2 });
    int port = km_http_server_port(s);
    cli a, b, c;
    cli_open(&a, port);
    cli_open(&b, port);
    roundtrip(&a, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    roundtrip(&b, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    /* the third is answered at once, without a request */
    cli_open(&c, port);
    resp r;
    ck_assert_int_eq(read_resp(&c, &r, false), 503);
    ck_assert(hdr_is(&r, "connection", "close"));
    free(r.body);
    expect_closed(&c);
    cli_close(&c);
    km_http_server_stat ss;
    km_http_server_stat_read(s, &ss);
    ck_assert_uint_eq(ss.conns_refused, 1);     /* counted apart */
    ck_assert_uint_eq(ss.conns_total, 2);
    /* the first two still work; once one leaves, a newcomer is served */
    roundtrip(&a, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    roundtrip(&b, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200, "pong");
    expect_closed(&b);
    cli_close(&b);
    int st = 0;
    for (int64_t end = soon(); km_now() < end && st != 200; ) {
        cli_open(&c, port);
        cli_send(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        st = read_resp(&c, &r, false);
        if (st > 0)
            free(r.body);
        cli_close(&c);
        if (st != 200)
            km_sleep(20 * MS);          /* the server has not reaped b yet */
    }
    ck_assert_int_eq(st, 200);
    cli_close(&a);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(max_conns)
{
    t_run(max_conns_run, NULL);
}
END_TEST

/* ---- smuggling and malformed shapes on the wire ---- */

typedef struct { const char *name, *req; size_t n; int want; } bad_t;
#define BAD(name, lit, want) { name, lit, sizeof(lit) - 1, want }
#define H "Host: t\r\n"
#define SMUGGLED "GET /smuggled HTTP/1.1\r\n" H "\r\n"

static const bad_t bad[] = {
    BAD("CL.TE", "POST /echo HTTP/1.1\r\n" H "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    BAD("TE.CL", "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400),
    BAD("conflicting CL", "POST /echo HTTP/1.1\r\n" H "Content-Length: 0\r\nContent-Length: 31\r\n\r\n" SMUGGLED, 400),
    BAD("CL plus", "POST /echo HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\nhello", 400),
    BAD("CL list", "POST /echo HTTP/1.1\r\n" H "Content-Length: 5, 5\r\n\r\nhello", 400),
    BAD("CL hex", "POST /echo HTTP/1.1\r\n" H "Content-Length: 0x5\r\n\r\nhello", 400),
    BAD("CL too long", "POST /echo HTTP/1.1\r\n" H "Content-Length: 0000000000000000000005\r\n\r\nhello", 400),
    BAD("TE gzip", "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\nhello", 501),
    BAD("TE chunked, gzip", "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    BAD("TE in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED, 400),
    BAD("two TE", "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400),
    BAD("obs-fold TE", "POST /echo HTTP/1.1\r\n" H "X-A: b\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    BAD("bare CR", "GET /ping HTTP/1.1\r\n" H "X-A: a\rTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("bare CR in request line", "GET /ping\r HTTP/1.1\r\n" H "\r\n", 400),
    BAD("bare LF", "GET /ping HTTP/1.1\r\n" H "X-A: a\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("NUL", "GET /ping HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n", 400),
    BAD("space before colon", "POST /echo HTTP/1.1\r\n" H "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    BAD("bad method", "G{T /ping HTTP/1.1\r\n" H "\r\n", 400),
    BAD("space in target", "GET /pi ng HTTP/1.1\r\n" H "\r\n", 400),
    BAD("control in target", "GET /pi\x01ng HTTP/1.1\r\n" H "\r\n", 400),
    BAD("8-bit target", "GET /\xff HTTP/1.1\r\n" H "\r\n", 400),
    BAD("missing Host", "GET /ping HTTP/1.1\r\n\r\n", 400),
    BAD("two Hosts", "GET /ping HTTP/1.1\r\n" H "Host: u\r\n\r\n", 400),
    BAD("HTTP/2.0", "GET /ping HTTP/2.0\r\n" H "\r\n", 505),
    BAD("HTTP/1.2", "GET /ping HTTP/1.2\r\n" H "\r\n", 505),
    /* HTTP/2's preface to a server that speaks HTTP/1.1 only (h2server.c:
     * by default it opens HTTP/2). */
    BAD("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    BAD("Expect", "POST /echo HTTP/1.1\r\n" H "Expect: 101-switch\r\nContent-Length: 5\r\n\r\nhello", 417),
    BAD("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
};

static void smuggle_run(void *arg)
{
    const bad_t *b = arg;
    km_http_server *s = serve(&(km_http_config){ .h1_only = true });
    cli c;
    cli_open(&c, km_http_server_port(s));
    cli_sendn(&c, b->req, b->n);
    resp r;
    int st = read_resp(&c, &r, false);
    ck_assert_msg(st == b->want, "%s: status %d (%s), want %d", b->name, st, st < 0 ? km_strerror(st) : "",
                  b->want);
    ck_assert_msg(hdr_is(&r, "connection", "close"), "%s: %s", b->name, r.head);
    free(r.body);
    expect_closed(&c);                  /* and nothing smuggled was answered */
    cli_close(&c);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
}

START_TEST(smuggling_on_the_wire)
{
    t_run(smuggle_run, (void *)&bad[_i]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/limits");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_bytes);
    tcase_add_test(tc, header_count);
    tcase_add_test(tc, body_bytes);
    tcase_add_test(tc, small_chunks_within_limit);
    tcase_add_loop_test(tc, read_header_timeout, 0, 3);
    tcase_add_test(tc, body_timeout);
    tcase_add_test(tc, idle_timeout);
    tcase_add_test(tc, max_conns);
    suite_add_tcase(s, tc);
    tc = tcase_create("smuggling");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, smuggling_on_the_wire, 0, (int)(sizeof bad / sizeof *bad));
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
