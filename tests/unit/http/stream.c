/* SPDX-License-Identifier: MIT */
/* How response bodies reach the client: streamed with km_http_write and flushed early, sent from a file with sendfile, and logged. */
#include "rawcli.h"
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MS  1000000LL
#define SEC 1000000000LL


/* Takes exactly the bytes want from the stream. */
static void cli_expect(cli *c, const char *want)
{
    size_t n = strlen(want);
    ssize_t r = cli_need(c, n);
    ck_assert_msg(r == 0, "waiting for '%s': %s", want, km_strerror((int)r));
    ck_assert_msg(!memcmp(c->buf, want, n), "got '%.*s', want '%s'", (int)n, c->buf, want);
    cli_consume(c, n);
}

/* ---- the server under test ---- */

typedef struct {
    km_chan *gate;              /* test -> handler */
    km_chan *ended;             /* handler -> test: its idle wait's result */
    int      file_fd;
    off_t    file_off;
    size_t   file_n;
} ctx;

static void signal_(km_chan *ch) { int one = 1; km_chan_send(ch, &one); }
static void wait_(km_chan *ch) { int x; ck_assert_int_eq(km_chan_recv_dl(ch, &x, soon()), 0); }

static bool is(km_str s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    ctx *x = ud;
    km_str path = km_http_path(r);
    if (is(path, "/stream")) {
        km_http_set_header(w, "Content-Type", "text/event-stream");
        km_http_write(w, "hello", 5);
        km_http_flush(w);
        wait_(x->gate);
        km_http_write(w, "world", 5);
    } else if (is(path, "/idle-stream")) {
        /* A stream that idles: only the client hanging up can end it. */
        km_http_write(w, "hello", 5);
        km_http_flush(w);
        int v, rc = km_chan_recv_dl(x->gate, &v, km_now() + 60 * SEC);
        km_chan_send(x->ended, &rc);
    } else if (is(path, "/trailers")) {
        km_http_set_header(w, "Trailer", "X-Sum");
        km_http_write(w, "abc", 3);
        km_http_set_trailer(w, "X-Sum", "294");
        ck_assert_int_eq(km_http_set_trailer(w, "Bad", "a\r\nb"), -EINVAL);
    } else if (is(path, "/upload")) {
        /* The body piece by piece, echoed with its length. */
        char piece[7], all[4096];
        size_t n = 0;
        ssize_t got;
        while ((got = km_http_body_read(r, piece, sizeof piece, km_now() + 5 * SEC)) > 0) {
            ck_assert_uint_le(n + (size_t)got, sizeof all);
            memcpy(all + n, piece, (size_t)got);
            n += (size_t)got;
        }
        ck_assert_int_eq(got, 0);
        km_http_send(w, 200, "text/plain", all, n);
    } else if (is(path, "/big-stream")) {
        /* more than the output buffer holds, in uneven pieces */
        char piece[3000];
        for (int i = 0; i < 100; i++) {
            memset(piece, 'a' + i % 26, sizeof piece);
            km_http_write(w, piece, 1000 + (size_t)(i % 3) * 1000);
        }
    } else if (is(path, "/file")) {
        km_http_sendfile(w, 200, "application/octet-stream", x->file_fd, x->file_off, x->file_n);
    } else if (is(path, "/ping")) {
        km_http_send(w, 200, "text/plain", "pong", 4);
    } else {
        km_http_send(w, 404, "text/plain", "nf", 2);
    }
}

typedef struct { ctx x; km_http_server *srv; int port; cli c; } fixture;

static void setup_cfg(fixture *f, km_http_config *cfg)
{
    memset(&f->x, 0, sizeof f->x);
    ck_assert_int_eq(km_chan_new(&f->x.gate, sizeof(int), 1), 0);
    ck_assert_int_eq(km_chan_new(&f->x.ended, sizeof(int), 1), 0);
    cfg->addr = "127.0.0.1:0";
    cfg->handler = handler;
    cfg->ud = &f->x;
    ck_assert_int_eq(km_http_serve(&f->srv, cfg), 0);
    f->port = km_http_server_port(f->srv);
    ck_assert_int_gt(f->port, 0);
    cli_open(&f->c, f->port);
}

static void setup(fixture *f) { km_http_config cfg = { 0 }; setup_cfg(f, &cfg); }

static void teardown(fixture *f)
{
    cli_close(&f->c);
    ck_assert_int_eq(km_http_shutdown(f->srv, soon()), 0);
    km_chan_free(f->x.gate);
    km_chan_free(f->x.ended);
}

#define TEST(name)                                                  \
    static void name##_body(fixture *f);                            \
    static void name##_run(void *arg) { (void)arg; fixture f; setup(&f); name##_body(&f); teardown(&f); } \
    START_TEST(name) { t_run(name##_run, NULL); } END_TEST          \
    static void name##_body(fixture *f)

static char *pattern(size_t n)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 251) % 26);
    return p;
}

/* ---- tests ---- */

TEST(streaming)
{
    cli_send(&f->c, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    resp r;
    ck_assert_int_eq(read_head(&f->c, &r), 200);
    ck_assert(hdr_is(&r, "transfer-encoding", "chunked"));
    ck_assert(hdr_is(&r, "content-type", "text/event-stream"));
    free(r.body);
    /* flushed while the handler is still blocked on the gate */
    cli_expect(&f->c, "5\r\nhello\r\n");
    signal_(f->x.gate);
    cli_expect(&f->c, "5\r\nworld\r\n0\r\n\r\n");
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
}

/* A client that hangs up on an idle stream cancels the handler's group: its
 * wait returns -ECANCELED at once, not when it next writes. */
TEST(hangup_cancels)
{
    cli_send(&f->c, "GET /idle-stream HTTP/1.1\r\nHost: t\r\n\r\n");
    resp r;
    ck_assert_int_eq(read_head(&f->c, &r), 200);
    free(r.body);
    cli_expect(&f->c, "5\r\nhello\r\n");
    int rc;
    ck_assert_int_eq(km_chan_recv_dl(f->x.ended, &rc, km_now() + 50 * MS), -ETIMEDOUT);
    int64_t t0 = km_now();
    km_close(f->c.fd);
    ck_assert_int_eq(km_chan_recv_dl(f->x.ended, &rc, soon()), 0);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_lt(km_now() - t0, SEC);
    /* The server goes on serving others. */
    f->c.fd = -1;
    cli_close(&f->c);
    cli_open(&f->c, f->port);
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
}

/* Trailer fields follow the last chunk. */
TEST(trailers)
{
    cli_send(&f->c, "GET /trailers HTTP/1.1\r\nHost: t\r\n\r\n");
    resp r;
    ck_assert_int_eq(read_head(&f->c, &r), 200);
    ck_assert(hdr_is(&r, "trailer", "X-Sum"));
    free(r.body);
    cli_expect(&f->c, "3\r\nabc\r\n0\r\nX-Sum: 294\r\n\r\n");
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
}

/* A body read in pieces, fixed-length and chunked, keeps the connection. */
TEST(body_read)
{
    roundtrip(&f->c, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\n"
                     "abcdefghijklmnopqrstuvwxyz", 200, "abcdefghijklmnopqrstuvwxyz");
    roundtrip(&f->c, "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 200, "hello world");
    roundtrip(&f->c, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 200, "");
}

TEST(big_stream)
{
    resp r;
    cli_send(&f->c, "GET /big-stream HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert(hdr_is(&r, "transfer-encoding", "chunked"));
    size_t off = 0;
    for (int i = 0; i < 100; i++) {
        size_t n = 1000 + (size_t)(i % 3) * 1000;
        for (size_t k = 0; k < n; k++)
            ck_assert_msg(r.body[off + k] == 'a' + i % 26, "piece %d byte %zu", i, k);
        off += n;
    }
    ck_assert_uint_eq(r.body_n, off);
    free(r.body);
    /* HTTP/1.0: the same bytes, delimited by the close */
    cli_send(&f->c, "GET /big-stream HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_uint_eq(r.body_n, off);
    free(r.body);
    expect_closed(&f->c);
}

TEST(sendfile)
{
    char path[] = "/tmp/kumo-http-sendfile-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    size_t n = 300 * 1024;
    char *data = pattern(n);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    f->x.file_fd = fd;
    f->x.file_n = n;
    resp r;
    cli_send(&f->c, "GET /file HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert(hdr_is(&r, "content-type", "application/octet-stream"));
    ck_assert_uint_eq(r.body_n, n);
    ck_assert(memcmp(r.body, data, n) == 0);
    free(r.body);
    f->x.file_off = 1000;
    f->x.file_n = 5000;
    cli_send(&f->c, "GET /file HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_uint_eq(r.body_n, 5000);
    ck_assert(memcmp(r.body, data + 1000, 5000) == 0);
    free(r.body);
    cli_send(&f->c, "HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, true), 200);
    ck_assert(hdr_is(&r, "content-length", "5000"));
    free(r.body);
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    close(fd);
    free(data);
}

static void access_log_run(void *arg)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    fixture f;
    km_http_config cfg = { .access_log_fd = p[1] };
    setup_cfg(&f, &cfg);
    roundtrip(&f.c, "GET /ping?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    roundtrip(&f.c, "DELETE /a\"b\\c HTTP/1.1\r\nHost: t\r\n\r\n", 404, "nf");
    char log[4096];
    ssize_t n = read(p[0], log, sizeof log - 1);
    ck_assert_int_gt(n, 0);
    log[n] = 0;
    static const char l1[] = "{\"method\":\"GET\",\"path\":\"/ping\",\"status\":200,\"dur_us\":";
    static const char l2[] = "{\"method\":\"DELETE\",\"path\":\"/a\\\"b\\\\c\",\"status\":404,\"dur_us\":";
    char *second = strchr(log, '\n');
    ck_assert_msg(second && !strncmp(log, l1, sizeof l1 - 1), "log: %s", log);
    ck_assert_msg(!strncmp(second + 1, l2, sizeof l2 - 1), "log: %s", log);
    ck_assert_msg(strchr(second + 1, '\n') && !strchr(second + 1, '\n')[1], "log: %s", log);
    teardown(&f);
    close(p[0]);
    close(p[1]);
}

START_TEST(access_log)
{
    t_run(access_log_run, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/stream");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, streaming);
    tcase_add_test(tc, hangup_cancels);
    tcase_add_test(tc, trailers);
    tcase_add_test(tc, body_read);
    tcase_add_test(tc, big_stream);
    tcase_add_test(tc, sendfile);
    tcase_add_test(tc, access_log);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
