/* SPDX-License-Identifier: MIT */
/* Requests the server refuses before its handler (400, 408, 413, 431,
 * 505, on HTTP/1.1 and HTTP/2) are counted by the metrics middleware and
 * written by the log middleware and the built-in access log; a response
 * that says Connection: close closes the connection. */
#include "util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kumo/grpc.h>
#include <kumo/http2.h>
#include <kumo/log.h>
#include <kumo/metrics.h>

#define SEC 1000000000LL
#define MS  1000000LL

static void ping(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_send(w, 200, "text/plain", "pong", 4);
}

static void bye(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_set_header(w, "Connection", "close");
    km_http_send(w, 200, "text/plain", "bye", 3);
}

typedef struct {
    km_metrics      *reg;
    km_metrics_http *mh;
    km_logger       *log;
    km_http_router  *rt;
    km_http_mw       chain[2];
    km_http_server  *srv;
    int              port;
    char             logpath[64], accpath[64];
    int              logfd, accfd;
} fixture;

static int temp_file(char *path, size_t n, const char *name)
{
    snprintf(path, n, "/tmp/kumo-refused-%s-XXXXXX", name);
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    return fd;
}

static void setup(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->logfd = temp_file(f->logpath, sizeof f->logpath, "log");
    f->accfd = temp_file(f->accpath, sizeof f->accpath, "access");
    REQUIRE_EQ(km_metrics_new(&f->reg), 0);
    REQUIRE_EQ(km_metrics_http_new(&f->mh, f->reg, NULL), 0);
    km_log_config lc = { .fd = f->logfd };
    REQUIRE_EQ(km_log_new(&f->log, &lc), 0);
    REQUIRE_EQ(km_http_router_new(&f->rt), 0);
    REQUIRE_EQ(km_http_route(f->rt, "GET", "/ping", ping, NULL), 0);
    REQUIRE_EQ(km_http_route(f->rt, "GET", "/bye", bye, NULL), 0);
    REQUIRE_EQ(km_http_route(f->rt, "POST", "/up", ping, NULL), 0);
    REQUIRE_EQ(km_http_route(f->rt, "GET", "/metrics", km_metrics_handler, f->reg), 0);
    f->chain[0] = (km_http_mw){ km_metrics_mw, f->mh };
    f->chain[1] = (km_http_mw){ km_log_mw_request, f->log };
    km_http_config cfg = {
        .addr = "127.0.0.1:0", .handler = km_http_router_serve, .ud = f->rt,
        .max_header_bytes = 1024, .max_body_bytes = 1024,
        .read_header_timeout = 300 * MS, .access_log_fd = f->accfd,
        .middleware = f->chain, .nmiddleware = 2,
    };
    REQUIRE_EQ(km_http_serve(&f->srv, &cfg), 0);
    f->port = km_http_server_port(f->srv);
}

static void teardown(fixture *f)
{
    REQUIRE_EQ(km_http_shutdown(f->srv, km_now() + 5 * SEC), 0);
    km_http_router_free(f->rt);
    km_log_free(f->log);
    km_metrics_http_free(f->mh);
    km_metrics_free(f->reg);
    close(f->logfd);
    close(f->accfd);
    unlink(f->logpath);
    unlink(f->accpath);
}

/* Sends req on a new connection and reads until the server closes it
 * (a connection left open fails the test at the deadline). */
static char *raw(fixture *f, const char *req)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f->port);
    int fd = km_dial(addr, km_now() + 5 * SEC);
    REQUIRE(fd >= 0);
    REQUIRE_EQ(km_write(fd, req, strlen(req), km_now() + 5 * SEC), (long long)strlen(req));
    size_t cap = 8192, n = 0;
    char *out = malloc(cap);
    ssize_t got;
    while ((got = km_read(fd, out + n, cap - n - 1, km_now() + 5 * SEC)) > 0)
        n += (size_t)got;
    ck_assert_msg(got == 0, "the server kept the connection open: %s", km_strerror((int)got));
    out[n] = 0;
    km_close(fd);
    return out;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static char *file_text(int fd)
{
    static char buf[65536];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    REQUIRE(n >= 0);
    buf[n] = 0;
    return buf;
}

static char *scrape(fixture *f)
{
    char *resp = raw(f, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_msg(!strncmp(resp, "HTTP/1.1 200 ", 13), "%.200s", resp);
    return resp;
}

/* Each refusal: its answer, Connection: close, and the closed connection;
 * then its count in /metrics and a line in both logs. */
static void h1_run(void *arg)
{
    fixture f;
    setup(&f);
    char big[2048];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char r431[2200];
    snprintf(r431, sizeof r431, "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", big);
    static const struct { int status; const char *req; } cases[] = {
        { 400, "GET /ping HTTP/1.1\r\n\r\n" },                      /* no Host */
        { 505, "GET /ping HTTP/2.0\r\nHost: x\r\n\r\n" },
        { 413, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" },
        { 408, "GET /ping HTTP/1.1\r\nHost: x\r\n" },               /* never ends */
        { 431, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *resp = raw(&f, cases[i].req ? cases[i].req : r431);
        char want[32];
        snprintf(want, sizeof want, "HTTP/1.1 %d ", cases[i].status);
        ck_assert_msg(!strncmp(resp, want, strlen(want)), "want %d: %.200s", cases[i].status, resp);
        ck_assert_msg(count(resp, "\r\nConnection: close\r\n") == 1, "%.300s", resp);
        free(resp);
    }
    char *m = scrape(&f);
    ck_assert_msg(strstr(m, "http_requests_total{method=\"GET\",route=\"/ping\",code=\"400\"} 1\n"), "%s", m);
    ck_assert_msg(strstr(m, "http_requests_total{method=\"POST\",route=\"/up\",code=\"413\"} 1\n"), "%s", m);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[32];
        snprintf(want, sizeof want, ",code=\"%d\"} 1\n", cases[i].status);
        ck_assert_msg(count(m, want) == 1, "%s missing in %s", want, m);
    }
    free(m);
    char *log = file_text(f.logfd), *acc;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[32];
        snprintf(want, sizeof want, "\"status\":%d", cases[i].status);
        ck_assert_msg(count(log, want) == 1, "log: %s missing in %s", want, log);
        acc = file_text(f.accfd);
        ck_assert_msg(count(acc, want) == 1, "access log: %s missing in %s", want, acc);
    }
    acc = file_text(f.accfd);
    ck_assert_msg(strstr(acc, "{\"method\":\"POST\",\"path\":\"/up\",\"status\":413,"), "%s", acc);
    teardown(&f);
}

START_TEST(h1_refusals_counted_and_logged)
{
    t_run(h1_run, NULL);
}
END_TEST

/* A 413 on HTTP/2 (the only refusal with a status there: nghttp2 answers
 * malformed or oversized header blocks with RST_STREAM). */
static void h2_run(void *arg)
{
    fixture f;
    setup(&f);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    km_http2_client_config cc = { .addr = addr };
    km_http2_client *cl;
    REQUIRE_EQ(km_http2_client_new(&cl, &cc), 0);
    km_http_kv h[] = { { ":method", "POST" }, { ":path", "/up" }, { "content-length", "5000" } };
    km_http2_stream *st;
    REQUIRE_EQ(km_http2_stream_open(cl, h, 3, false, km_now() + 5 * SEC, &st), 0);
    static char body[5000];
    int rc = km_http2_stream_write(st, body, sizeof body, true, km_now() + 5 * SEC);
    ck_assert_msg(rc == 0 || rc == -EPIPE, "write: %s", km_strerror(rc));
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, km_now() + 5 * SEC, &status), 0);
    ck_assert_int_eq(status, 413);
    km_http2_stream_free(st);
    km_http2_client_free(cl);
    char *m = scrape(&f);
    ck_assert_msg(strstr(m, "http_requests_total{method=\"POST\",route=\"/up\",code=\"413\"} 1\n"), "%s", m);
    free(m);
    ck_assert_int_eq(count(file_text(f.logfd), "\"status\":413"), 1);
    ck_assert_int_eq(count(file_text(f.accfd), "\"status\":413"), 1);
    teardown(&f);
}

START_TEST(h2_refusal_counted_and_logged)
{
    t_run(h2_run, NULL);
}
END_TEST

/* A handler's Connection: close is kept: one such header, the pipelined
 * request after it unanswered, the connection closed. */
static void close_run(void *arg)
{
    fixture f;
    setup(&f);
    char *resp = raw(&f, "GET /bye HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(!strncmp(resp, "HTTP/1.1 200 ", 13), "%.300s", resp);
    ck_assert_int_eq(count(resp, "Connection: close"), 1);
    ck_assert_int_eq(count(resp, "HTTP/1.1 "), 1);
    ck_assert_msg(strstr(resp, "\r\n\r\nbye") && !strstr(resp, "pong"), "%.300s", resp);
    free(resp);
    teardown(&f);
}

START_TEST(connection_close_is_kept)
{
    t_run(close_run, NULL);
}
END_TEST

/* The gRPC server refuses an HTTP/1.1 request (505) before reading its
 * body: it says Connection: close and closes, rather than wait for a body
 * the client may never send. */
static void grpc_run(void *arg)
{
    km_grpc_server *g;
    REQUIRE_EQ(km_grpc_server_new(&g, NULL), 0);
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = km_grpc_serve_http, .ud = g };
    km_http_server *srv;
    REQUIRE_EQ(km_http_serve(&srv, &cfg), 0);
    fixture f = { .port = km_http_server_port(srv) };
    char *resp = raw(&f, "POST /t.S/Echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\n"
                         "Content-Length: 100\r\n\r\n");
    ck_assert_msg(!strncmp(resp, "HTTP/1.1 505 ", 13), "%.300s", resp);
    ck_assert_int_eq(count(resp, "\r\nConnection: close\r\n"), 1);
    free(resp);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_grpc_server_free(g);
}

START_TEST(grpc_refusal_closes)
{
    t_run(grpc_run, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/refused");
    TCase *tc = tcase_create("refused");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, h1_refusals_counted_and_logged);
    tcase_add_test(tc, h2_refusal_counted_and_logged);
    tcase_add_test(tc, connection_close_is_kept);
    tcase_add_test(tc, grpc_refusal_closes);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
