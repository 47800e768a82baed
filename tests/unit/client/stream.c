/* SPDX-License-Identifier: MIT */
/* The client's HTTP/1.1 response readers (the watch stream reader and the
 * pooled client) against a peer answering crafted responses over TCP: the
 * server parser's limits apply, bad framing is an error, never a hang or
 * a silently shortened body. */
#include "util.h"
#include <stdio.h>
#include <string.h>
#include <kumo/http.h>
#include <kumo/net.h>
#include "client/json-int.h"

#define SEC 1000000000LL

/* A peer that reads one request head and answers resp (len bytes); then
 * it closes, or with hold keeps the connection open until the client
 * closes it, so that a reader waiting for more would hang. */
typedef struct {
    int         lfd;
    const char *resp;
    size_t      len;
    bool        hold;
    km_wg      *wg;
} peer;

static void peer_run(void *arg)
{
    peer *p = arg;
    int fd = km_accept(p->lfd, km_now() + 5 * SEC);
    REQUIRE(fd >= 0);
    char buf[4096];
    size_t got = 0;
    while (!memmem(buf, got, "\r\n\r\n", 4)) {
        ssize_t n = km_read(fd, buf + got, sizeof buf - got, km_now() + 5 * SEC);
        REQUIRE(n > 0);
        got += (size_t)n;
    }
    REQUIRE_EQ(km_write(fd, p->resp, p->len, km_now() + 5 * SEC), (long long)p->len);
    if (p->hold)
        while (km_read(fd, buf, sizeof buf, km_now() + 10 * SEC) > 0)
            ;
    km_close(fd);
    km_wg_done(p->wg);
}

/* Starts a peer answering resp; *ep gets its address. */
static void peer_start(peer *p, const char *resp, size_t len, bool hold, char *ep, size_t epn)
{
    *p = (peer){ .resp = resp, .len = len, .hold = hold };
    p->lfd = km_listen("127.0.0.1:0", 16);
    REQUIRE(p->lfd >= 0);
    snprintf(ep, epn, "127.0.0.1:%d", km_local_port(p->lfd));
    REQUIRE_EQ(km_wg_new(&p->wg), 0);
    km_wg_add(p->wg, 1);
    REQUIRE_EQ(km_go(peer_run, p), 0);
}

static void peer_stop(peer *p)
{
    REQUIRE_EQ(km_wg_wait(p->wg), 0);
    km_wg_free(p->wg);
    km_close(p->lfd);
}

/* One watch-stream read of resp: km__stream_open's result, then each
 * line's (joined into lines, '|' after each) until the first error. */
typedef struct {
    const char *resp;
    size_t      len, max_body;
    bool        hold;
    int         open_rc, line_rc;
    char        lines[256];
} stream_case;

static void stream_run(void *arg)
{
    stream_case *k = arg;
    peer p;
    char ep[64];
    peer_start(&p, k->resp, k->len, k->hold, ep, sizeof ep);
    km__stream s = { .max_body = k->max_body };
    int64_t dl = km_now() + 3 * SEC;   /* a hang shows as -ETIMEDOUT */
    k->open_rc = km__stream_open(&s, ep, "/v3/watch", "{}", dl);
    k->line_rc = 1;
    if (k->open_rc == 0) {
        char *l;
        size_t n;
        while ((k->line_rc = km__stream_line(&s, dl, &l, &n)) == 0) {
            REQUIRE(strlen(k->lines) + n + 2 < sizeof k->lines);
            strncat(k->lines, l, n);
            strcat(k->lines, "|");
        }
    }
    km__stream_close(&s);
    peer_stop(&p);
}

static stream_case run_stream(const char *resp, size_t max_body, bool hold)
{
    stream_case k = { .resp = resp, .len = strlen(resp), .max_body = max_body, .hold = hold };
    t_run(stream_run, &k);
    return k;
}

#define CHUNKED "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

START_TEST(stream_lines_across_chunks)
{
    stream_case k = run_stream(CHUNKED "4\r\n{\"a\"\r\n3\r\n:1}\r\n1\r\n\n\r\n"
                               "8\r\n{\"b\":2}\n\r\n0\r\n\r\n", 0, true);
    ck_assert_int_eq(k.open_rc, 0);
    ck_assert_str_eq(k.lines, "{\"a\":1}|{\"b\":2}|");
    ck_assert_int_eq(k.line_rc, -ECONNRESET);      /* the body's end */
}
END_TEST

START_TEST(stream_sized_and_interim)
{
    stream_case k = run_stream("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                               "Content-Length: 6\r\n\r\nab\ncd\nEXTRA", 0, true);
    ck_assert_int_eq(k.open_rc, 0);
    ck_assert_str_eq(k.lines, "ab|cd|");
    ck_assert_int_eq(k.line_rc, -ECONNRESET);      /* at the length, not at EXTRA */
}
END_TEST

START_TEST(stream_oversized_chunk)
{
    /* A 100-byte chunk over a 64-byte limit: refused at its size line. */
    stream_case k = run_stream(CHUNKED "64\r\n", 64, true);
    ck_assert_int_eq(k.open_rc, 0);
    ck_assert_int_eq(k.line_rc, -EMSGSIZE);
    /* Small chunks making a line longer than the limit. */
    k = run_stream(CHUNKED "20\r\n0123456789abcdef0123456789abcdef\r\n"
                   "20\r\n0123456789abcdef0123456789abcdef\r\n"
                   "20\r\n0123456789abcdef0123456789abcdef\r\n", 64, true);
    ck_assert_int_eq(k.line_rc, -EMSGSIZE);
    /* A close-delimited body the same. */
    char big[256];
    snprintf(big, sizeof big, "HTTP/1.0 200 OK\r\n\r\n%0100d\n", 0);
    k = run_stream(big, 64, false);
    ck_assert_int_eq(k.line_rc, -EMSGSIZE);
}
END_TEST

START_TEST(stream_oversized_error_body)
{
    char r[512];
    snprintf(r, sizeof r, "HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\n{\"code\":3,\"pad\":\"%082d\"}", 0);
    stream_case k = run_stream(r, 64, true);
    ck_assert_int_eq(k.open_rc, -EMSGSIZE);
}
END_TEST

START_TEST(stream_bad_chunk_size)
{
    static const char *const bad[] = {
        CHUNKED "-5\r\nabcde\r\n0\r\n\r\n",
        CHUNKED "5 \r\nabcde\r\n0\r\n\r\n",        /* space after the size */
        CHUNKED " 5\r\nabcde\r\n0\r\n\r\n",
        CHUNKED "0x5\r\nabcde\r\n0\r\n\r\n",
        CHUNKED "zz\r\nabcde\r\n0\r\n\r\n",
        CHUNKED "5\nabcde\r\n0\r\n\r\n",           /* LF without CR */
        CHUNKED "1000000000000000\r\n",            /* 16 hex digits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        stream_case k = run_stream(bad[i], 0, true);
        ck_assert_int_eq(k.open_rc, 0);
        ck_assert_msg(k.line_rc == -EBADMSG, "case %zu: %d", i, k.line_rc);
        ck_assert_str_eq(k.lines, "");
    }
}
END_TEST

START_TEST(stream_missing_crlf_after_chunk)
{
    stream_case k = run_stream(CHUNKED "3\r\nab\nXX3\r\ncd\n\r\n0\r\n\r\n", 0, true);
    ck_assert_int_eq(k.line_rc, -EBADMSG);
    ck_assert_str_eq(k.lines, "ab|");              /* what came before, no more */
    k = run_stream(CHUNKED "3\r\nab\n\n3\r\ncd\n\r\n0\r\n\r\n", 0, true);
    ck_assert_int_eq(k.line_rc, -EBADMSG);
}
END_TEST

START_TEST(stream_oversized_head)
{
    static char r[KM__STREAM_MAX_HEAD + 512];
    snprintf(r, sizeof r, "HTTP/1.1 200 OK\r\nX-Big: %0*d\r\n\r\n", KM__STREAM_MAX_HEAD, 0);
    stream_case k = run_stream(r, 0, true);
    ck_assert_int_eq(k.open_rc, -EMSGSIZE);
    /* More headers than the server's parser takes. */
    size_t o = (size_t)snprintf(r, sizeof r, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= KM__STREAM_MAX_HDRS; i++)
        o += (size_t)snprintf(r + o, sizeof r - o, "X-%d: v\r\n", i);
    snprintf(r + o, sizeof r - o, "\r\n");
    k = run_stream(r, 0, true);
    ck_assert_int_eq(k.open_rc, -EMSGSIZE);
}
END_TEST

START_TEST(stream_malformed_head)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\nX: y\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\n X: folded\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        stream_case k = run_stream(bad[i], 0, true);
        ck_assert_msg(k.open_rc == -EBADMSG, "case %zu: %d", i, k.open_rc);
    }
}
END_TEST

START_TEST(stream_truncated_error_body)
{
    /* Shorter than its Content-Length, then closed: not taken as whole. */
    stream_case k = run_stream("HTTP/1.1 404 Not Found\r\nContent-Length: 50\r\n\r\n{\"code\":5}", 0, false);
    ck_assert_int_eq(k.open_rc, -EBADMSG);
    k = run_stream("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "a\r\n{\"code\":5}\r\n", 0, false);
    ck_assert_int_eq(k.open_rc, -EBADMSG);
    /* Whole, it maps to the etcd error it carries. */
    k = run_stream("HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n{\"code\":5}", 0, false);
    ck_assert_int_eq(k.open_rc, -ENOENT);
}
END_TEST

/* The pooled client (km_http_do) over the same peer. */
typedef struct {
    const char *resp;
    size_t      max;
    int         rc;
} do_case;

static void do_run(void *arg)
{
    do_case *k = arg;
    peer p;
    char ep[64], url[96];
    peer_start(&p, k->resp, strlen(k->resp), true, ep, sizeof ep);
    snprintf(url, sizeof url, "http://%s/x", ep);
    km_http_client_config cfg = { .max_response_bytes = k->max };
    km_http_client *c;
    REQUIRE_EQ(km_http_client_new(&c, &cfg), 0);
    km_http_response *r = NULL;
    k->rc = km_http_get(c, url, km_now() + 3 * SEC, &r);
    km_http_response_free(r);
    km_http_client_free(c);     /* closes the connection: the peer ends */
    peer_stop(&p);
}

static int run_do(const char *resp, size_t max)
{
    do_case k = { .resp = resp, .max = max };
    t_run(do_run, &k);
    return k.rc;
}

START_TEST(client_limits)
{
    ck_assert_int_eq(run_do(CHUNKED "5\r\nabcde\r\n0\r\n\r\n", 0), 0);
    ck_assert_int_eq(run_do(CHUNKED "64\r\n", 64), -EMSGSIZE);
    ck_assert_int_eq(run_do("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 64), -EMSGSIZE);
    ck_assert_int_eq(run_do(CHUNKED "5 x\r\nabcde\r\n0\r\n\r\n", 0), -EBADMSG);
    ck_assert_int_eq(run_do(CHUNKED "5\r\nabcdeXX0\r\n\r\n", 0), -EBADMSG);
    static char r[80000];
    snprintf(r, sizeof r, "HTTP/1.1 200 OK\r\nX-Big: %070000d\r\n\r\n", 0);
    ck_assert_int_eq(run_do(r, 0), -EMSGSIZE);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("client/stream");
    TCase *tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stream_lines_across_chunks);
    tcase_add_test(tc, stream_sized_and_interim);
    tcase_add_test(tc, stream_oversized_chunk);
    tcase_add_test(tc, stream_oversized_error_body);
    tcase_add_test(tc, stream_bad_chunk_size);
    tcase_add_test(tc, stream_missing_crlf_after_chunk);
    tcase_add_test(tc, stream_oversized_head);
    tcase_add_test(tc, stream_malformed_head);
    tcase_add_test(tc, stream_truncated_error_body);
    tcase_add_test(tc, client_limits);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
