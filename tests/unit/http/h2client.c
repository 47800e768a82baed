/* SPDX-License-Identifier: MIT */
/* The HTTP/2 client against a real server (nghttpd over h2c, started by
 * each test): GET, POST, trailers, many streams on one connection, the
 * server's concurrency limit, large bodies both ways, reconnecting. */
#include "util.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MS  1000000LL
#define BIG (6 << 20)

extern char **environ;

static char docroot[] = "/tmp/kumo-h2-XXXXXX";
static int  port;
static pid_t server = -1;
static const char *server_limit = "100";   /* nghttpd -m */

static int64_t soon(void) { return km_now() + 20 * SEC; }

static void write_file(const char *name, const void *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", docroot, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_msg(fd >= 0, "create %s", path);
    ck_assert(write(fd, p, n) == (ssize_t)n);
    close(fd);
}

static char pattern(size_t i) { return (char)('a' + (i * 7 + i / 4096) % 26); }

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(getsockname(s, (struct sockaddr *)&a, &len) == 0);
    close(s);
    return ntohs(a.sin_port);
}

/* Starts nghttpd on port and waits until it accepts. A missing or broken
 * nghttpd fails the test: the real peer is the point. */
static void server_start(void)
{
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = { "nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", docroot, "--echo-upload",
                     "--trailer", "x-trailer: done", "-m", (char *)server_limit, p, NULL };
    int rc = posix_spawnp(&server, "nghttpd", NULL, NULL, argv, environ);
    ck_assert_msg(rc == 0, "cannot start nghttpd (package nghttp2-server): %s", strerror(rc));
    for (int i = 0; i < 500; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return;
        int st;
        ck_assert_msg(waitpid(server, &st, WNOHANG) == 0, "nghttpd exited at start");
        usleep(10000);
    }
    ck_abort_msg("nghttpd did not listen on port %d", port);
}

static void server_stop(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = -1;
    }
}

static void setup(void)
{
    ck_assert(mkdtemp(docroot) != NULL);
    write_file("hello.txt", "hello, h2\n", 10);
    char *big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = pattern(i);
    write_file("big.bin", big, BIG);
    free(big);
    port = free_port();
    server_start();
}

static void teardown(void)
{
    server_stop();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", docroot);
    (void)!system(cmd);
}

static km_http2_client *client(int max_conns)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    km_http2_client_config cfg = { .addr = addr, .max_conns = max_conns,
                                   .backoff_base = 20 * MS, .backoff_max = 200 * MS };
    km_http2_client *c;
    REQUIRE_EQ(km_http2_client_new(&c, &cfg), 0);
    return c;
}

/* Reads the whole body into a new buffer (*n bytes). */
static char *read_all(km_http2_stream *st, size_t *n)
{
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (len == cap)
            b = realloc(b, cap *= 2);
        ssize_t r = km_http2_stream_read(st, b + len, cap - len, soon());
        ck_assert_msg(r >= 0, "read: %s", km_strerror((int)r));
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *n = len;
    return b;
}

static bool str_is(km_str s, const char *want)
{
    return s.p && s.n == strlen(want) && !memcmp(s.p, want, s.n);
}

static void get_one(km_http2_client *c, const char *path, int want_status, const char *want_body)
{
    km_http_kv h[] = { { ":method", "GET" }, { ":path", path }, { "User-Agent", "kumo-test" } };
    km_http2_stream *st;
    int rc = km_http2_stream_open(c, h, 3, true, soon(), &st);
    ck_assert_msg(rc == 0, "open: %s", km_strerror(rc));
    int status;
    rc = km_http2_stream_response(st, soon(), &status);
    ck_assert_msg(rc == 0, "response: %s", km_strerror(rc));
    REQUIRE_EQ(status, want_status);
    size_t n;
    char *b = read_all(st, &n);
    if (want_body) {
        REQUIRE_EQ(n, strlen(want_body));
        REQUIRE(!memcmp(b, want_body, n));
    }
    free(b);
    km_http2_stream_free(st);
}

/* ---- GET, headers, trailers ---- */

static void t_get(void *arg)
{
    km_http2_client *c = client(0);
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/hello.txt" } };
    km_http2_stream *st;
    REQUIRE_EQ(km_http2_stream_open(c, h, 2, true, soon(), &st), 0);
    int status = 0;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    REQUIRE(str_is(km_http2_stream_header(st, ":status"), "200"));
    REQUIRE(str_is(km_http2_stream_header(st, "Content-Length"), "10"));
    REQUIRE(str_is(km_http2_stream_header(st, "content-type"), "text/plain"));
    REQUIRE(km_http2_stream_header(st, "x-absent").p == NULL);
    REQUIRE(km_http2_stream_header_count(st) >= 4);
    km_str name, value;
    REQUIRE_EQ(km_http2_stream_header_at(st, 0, &name, &value), 0);
    REQUIRE(str_is(name, ":status"));
    REQUIRE_EQ(km_http2_stream_header_at(st, 1000, &name, &value), -ERANGE);
    char buf[64];
    size_t got = 0;
    ssize_t r;
    while ((r = km_http2_stream_read(st, buf + got, sizeof buf - got, soon())) > 0)
        got += (size_t)r;
    REQUIRE_EQ(r, 0);
    REQUIRE_EQ(got, 10);
    REQUIRE(!memcmp(buf, "hello, h2\n", 10));
    REQUIRE_EQ(km_http2_stream_read(st, buf, sizeof buf, soon()), 0);  /* stays at the end */
    REQUIRE(str_is(km_http2_stream_trailer(st, "x-trailer"), "done"));
    REQUIRE_EQ(km_http2_stream_trailer_count(st), 1);
    km_http2_stream_free(st);

    get_one(c, "/missing", 404, NULL);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.conns, 1);
    REQUIRE_EQ(s.dials, 1);
    km_http2_client_free(c);
}

static void t_bad_headers(void *arg)
{
    km_http2_client *c = client(0);
    km_http2_stream *st;
    km_http_kv no_path[] = { { ":method", "GET" } };
    REQUIRE_EQ(km_http2_stream_open(c, no_path, 1, true, soon(), &st), -EINVAL);
    km_http_kv conn[] = { { ":method", "GET" }, { ":path", "/" }, { "Connection", "close" } };
    REQUIRE_EQ(km_http2_stream_open(c, conn, 3, true, soon(), &st), -EINVAL);
    km_http_kv te[] = { { ":method", "GET" }, { ":path", "/" }, { "te", "gzip" } };
    REQUIRE_EQ(km_http2_stream_open(c, te, 3, true, soon(), &st), -EINVAL);
    km_http_kv crlf[] = { { ":method", "GET" }, { ":path", "/" }, { "x-a", "b\r\nc: d" } };
    REQUIRE_EQ(km_http2_stream_open(c, crlf, 3, true, soon(), &st), -EINVAL);
    km_http_kv pseudo[] = { { ":method", "GET" }, { ":path", "/" }, { ":status", "200" } };
    REQUIRE_EQ(km_http2_stream_open(c, pseudo, 3, true, soon(), &st), -EINVAL);
    km_http_kv twice[] = { { ":method", "GET" }, { ":path", "/" }, { ":path", "/x" } };
    REQUIRE_EQ(km_http2_stream_open(c, twice, 3, true, soon(), &st), -EINVAL);
    /* te: trailers (gRPC sends it) and upper-case names are fine. */
    km_http_kv ok[] = { { ":method", "GET" }, { ":path", "/hello.txt" }, { "TE", "trailers" },
                        { "X-Mixed-Case", "v" } };
    REQUIRE_EQ(km_http2_stream_open(c, ok, 4, true, soon(), &st), 0);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    km_http2_stream_free(st);
    km_http2_client_free(c);
}

/* ---- POST with a body, echoed ---- */

static void t_post(void *arg)
{
    km_http2_client *c = client(0);
    km_http_kv h[] = { { ":method", "POST" }, { ":path", "/echo" },
                       { "content-type", "application/octet-stream" } };
    km_http2_stream *st;
    REQUIRE_EQ(km_http2_stream_open(c, h, 3, false, soon(), &st), 0);
    REQUIRE_EQ(km_http2_stream_write(st, "hello ", 6, false, soon()), 0);
    REQUIRE_EQ(km_http2_stream_write(st, "world", 5, false, soon()), 0);
    REQUIRE_EQ(km_http2_stream_write(st, NULL, 0, true, soon()), 0);
    REQUIRE_EQ(km_http2_stream_write(st, "x", 1, false, soon()), -EPIPE);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    size_t n;
    char *b = read_all(st, &n);
    REQUIRE_EQ(n, 11);
    REQUIRE(!memcmp(b, "hello world", 11));
    free(b);
    km_http2_stream_free(st);
    km_http2_client_free(c);
}

/* ---- large bodies both ways ---- */

static void t_large(void *arg)
{
    km_http2_client *c = client(0);
    /* Download. */
    km_http_kv g[] = { { ":method", "GET" }, { ":path", "/big.bin" } };
    km_http2_stream *st;
    REQUIRE_EQ(km_http2_stream_open(c, g, 2, true, soon(), &st), 0);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    size_t n;
    char *b = read_all(st, &n);
    REQUIRE_EQ(n, BIG);
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(i))
            ck_abort_msg("download differs at %zu", i);
    km_http2_stream_free(st);
    /* Upload the same bytes in uneven pieces; nghttpd echoes them. */
    km_http_kv p[] = { { ":method", "PUT" }, { ":path", "/up" } };
    REQUIRE_EQ(km_http2_stream_open(c, p, 2, false, soon(), &st), 0);
    for (size_t off = 0; off < n;) {
        size_t k = n - off < 100003 ? n - off : 100003;
        REQUIRE_EQ(km_http2_stream_write(st, b + off, k, off + k == n, soon()), 0);
        off += k;
    }
    free(b);
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    b = read_all(st, &n);
    REQUIRE_EQ(n, BIG);
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(i))
            ck_abort_msg("echo differs at %zu", i);
    free(b);
    km_http2_stream_free(st);
    km_http2_client_free(c);
}

/* ---- many concurrent streams ---- */

typedef struct { km_http2_client *c; int rounds; } worker_arg;

static void worker(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        if (i % 2) {
            get_one(w->c, "/hello.txt", 200, "hello, h2\n");
            continue;
        }
        char msg[64];
        int len = snprintf(msg, sizeof msg, "message %p %d", (void *)w, i);
        km_http_kv h[] = { { ":method", "POST" }, { ":path", "/e" } };
        km_http2_stream *st;
        REQUIRE_EQ(km_http2_stream_open(w->c, h, 2, false, soon(), &st), 0);
        REQUIRE_EQ(km_http2_stream_write(st, msg, (size_t)len, true, soon()), 0);
        int status;
        REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
        size_t n;
        char *b = read_all(st, &n);
        REQUIRE_EQ(n, len);
        REQUIRE(!memcmp(b, msg, n));
        free(b);
        km_http2_stream_free(st);
    }
}

static void t_concurrent(void *arg)
{
    km_http2_client *c = client(0);
    enum { N = 100 };
    static worker_arg w[N];
    for (int i = 0; i < N; i++)
        w[i] = (worker_arg){ c, 20 };
    t_go_all(N, worker, w, sizeof *w);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    /* 100 at a time fit under nghttpd's limit of 100: one connection. */
    REQUIRE_EQ(s.dials, 1);
    REQUIRE_EQ(s.conns, 1);
    REQUIRE_EQ(s.streams, 0);
    km_http2_client_free(c);
}

/* ---- the server's SETTINGS_MAX_CONCURRENT_STREAMS ---- */

typedef struct { km_http2_client *c; km_http2_stream *st; km_wg *opened; } holder;

/* Opens a POST and leaves the request open: nghttpd answers only complete
 * requests, so the stream stays active. */
static void hold(void *arg)
{
    holder *h = arg;
    km_http_kv kv[] = { { ":method", "POST" }, { ":path", "/hold" } };
    REQUIRE_EQ(km_http2_stream_open(h->c, kv, 2, false, soon(), &h->st), 0);
    if (h->opened)
        km_wg_done(h->opened);
}

static void finish(void *arg)
{
    holder *h = arg;
    REQUIRE_EQ(km_http2_stream_write(h->st, "z", 1, true, soon()), 0);
    int status;
    REQUIRE_EQ(km_http2_stream_response(h->st, soon(), &status), 0);
    size_t n;
    free(read_all(h->st, &n));
    REQUIRE_EQ(n, 1);
    km_http2_stream_free(h->st);
}

static void t_limit(void *arg)
{
    /* One connection: the third stream waits for a slot. */
    km_http2_client *c = client(1);
    holder h[3] = { { c, NULL, NULL }, { c, NULL, NULL }, { c, NULL, NULL } };
    get_one(c, "/hello.txt", 200, NULL);     /* the server's SETTINGS are in */
    hold(&h[0]);
    hold(&h[1]);
    km_http_kv kv[] = { { ":method", "GET" }, { ":path", "/hello.txt" } };
    km_http2_stream *st;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_http2_stream_open(c, kv, 2, true, km_now() + 200 * MS, &st), -ETIMEDOUT);
    REQUIRE(km_now() - t0 >= 150 * MS);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.streams, 2);
    /* A waiting opener gets the slot the first stream leaves. */
    REQUIRE_EQ(km_wg_new(&h[2].opened), 0);
    km_wg_add(h[2].opened, 1);
    REQUIRE_EQ(km_go(hold, &h[2]), 0);
    REQUIRE_EQ(km_wg_wait_dl(h[2].opened, km_now() + 50 * MS), -ETIMEDOUT);
    finish(&h[0]);
    REQUIRE_EQ(km_wg_wait_dl(h[2].opened, soon()), 0);
    km_wg_free(h[2].opened);
    finish(&h[1]);
    finish(&h[2]);
    km_http2_client_free(c);

    /* Three connections allowed: streams spread once one is full. */
    c = client(3);
    holder g[6];
    for (int i = 0; i < 6; i++) {
        g[i] = (holder){ c, NULL, NULL };
        hold(&g[i]);
    }
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.conns, 3);
    REQUIRE_EQ(s.streams, 6);
    for (int i = 0; i < 6; i++)
        finish(&g[i]);
    km_http2_client_free(c);
}

/* ---- reconnect after the server restarts ---- */

static void t_restart(void *arg)
{
    km_http2_client *c = client(0);
    get_one(c, "/hello.txt", 200, "hello, h2\n");
    server_stop();
    /* The connection is gone and dialling is refused; the open or the
     * response fails with a connection error. */
    km_http_kv kv[] = { { ":method", "GET" }, { ":path", "/hello.txt" } };
    km_http2_stream *st;
    int rc = km_http2_stream_open(c, kv, 2, true, soon(), &st);
    if (rc == 0) {
        int status;
        rc = km_http2_stream_response(st, soon(), &status);
        km_http2_stream_free(st);
    }
    REQUIRE(rc == -ECONNRESET || rc == -ECONNREFUSED || rc == -EPIPE);
    /* Refused dials back off: fail fast without dialling. */
    rc = km_http2_stream_open(c, kv, 2, true, soon(), &st);
    REQUIRE(rc == -ECONNREFUSED);
    rc = km_http2_stream_open(c, kv, 2, true, soon(), &st);
    REQUIRE(rc == -ECONNREFUSED);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE(s.dial_failures >= 1);
    uint64_t dials = s.dials;
    REQUIRE(dials <= 3);
    server_start();
    int64_t until = km_now() + 10 * SEC;
    for (;;) {
        rc = km_http2_stream_open(c, kv, 2, true, soon(), &st);
        if (rc == 0)
            break;
        REQUIRE_EQ(rc, -ECONNREFUSED);
        REQUIRE(km_now() < until);
        km_sleep(20 * MS);
    }
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    km_http2_stream_free(st);
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.conns, 1);
    REQUIRE(s.conns_lost >= 1);
    km_http2_client_free(c);
}

START_TEST(get) { t_run(t_get, NULL); }
END_TEST
START_TEST(bad_headers) { t_run(t_bad_headers, NULL); }
END_TEST
START_TEST(post) { t_run(t_post, NULL); }
END_TEST
START_TEST(large) { t_run(t_large, NULL); }
END_TEST
START_TEST(concurrent) { t_run(t_concurrent, NULL); }
END_TEST
START_TEST(restart) { t_run(t_restart, NULL); }
END_TEST

static void setup_limit2(void)
{
    server_limit = "2";
    setup();
}

START_TEST(limit) { t_run(t_limit, NULL); }
END_TEST

/* A server that does not speak HTTP/2 (kumo's own, told to speak
 * HTTP/1.1 only: it answers the preface 505 and closes) fails the dial
 * with -EPROTO, not as a connection that merely dropped. */
static void ok_handler(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_send(w, 200, "text/plain", "ok", 2);
}

static void t_not_h2(void *arg)
{
    km_http_config hc = { .addr = "127.0.0.1:0", .h1_only = true, .handler = ok_handler };
    km_http_server *hs;
    ck_assert_int_eq(km_http_serve(&hs, &hc), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_http_server_port(hs));
    km_http2_client_config cfg = { .addr = addr };
    km_http2_client *c;
    ck_assert_int_eq(km_http2_client_new(&c, &cfg), 0);
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/" } };
    km_http2_stream *st = NULL;
    ck_assert_int_eq(km_http2_stream_open(c, h, 2, true, soon(), &st), -EPROTO);
    km_http2_client_free(c);
    km_http_shutdown(hs, soon());
}

START_TEST(not_h2) { t_run(t_not_h2, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/h2client");
    TCase *tn = tcase_create("h1-only");
    tcase_set_timeout(tn, 30);
    tcase_add_test(tn, not_h2);
    suite_add_tcase(s, tn);
    TCase *tc = tcase_create("nghttpd");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, get);
    tcase_add_test(tc, bad_headers);
    tcase_add_test(tc, post);
    tcase_add_test(tc, large);
    tcase_add_test(tc, concurrent);
    tcase_add_test(tc, restart);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("nghttpd-limit");
    tcase_set_timeout(tl, 60);
    tcase_add_checked_fixture(tl, setup_limit2, teardown);
    tcase_add_test(tl, limit);
    suite_add_tcase(s, tl);
    return s;
}
T_MAIN(suite)
