/* SPDX-License-Identifier: MIT */
/* How response bodies reach the client: streamed with km_http_write and flushed early, sent from a file with sendfile, and logged. */
#include "util.h"
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MS  1000000LL
#define SEC 1000000000LL

static int64_t soon(void) { return km_now() + 10 * SEC; }

/* ---- a raw HTTP/1.1 client over km_dial ---- */

typedef struct { int fd; char *buf; size_t len, cap; } cli;
typedef struct { int status; char head[4096]; char *body; size_t body_n; } resp;

static void cli_open(cli *c, int port)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c->fd = km_dial(addr, soon());
    ck_assert_msg(c->fd >= 0, "dial %s: %s", addr, km_strerror(c->fd));
    c->cap = 1 << 20;
    c->buf = malloc(c->cap);
    c->len = 0;
}

static void cli_close(cli *c)
{
    km_close(c->fd);
    free(c->buf);
}

static void cli_sendn(cli *c, const void *p, size_t n)
{
    ssize_t w = km_write(c->fd, p, n, soon());
    ck_assert_msg(w == (ssize_t)n, "write: %s", km_strerror((int)w));
}

static void cli_send(cli *c, const char *s) { cli_sendn(c, s, strlen(s)); }

/* Reads more: > 0, or -errno (-ENODATA at EOF). */
static ssize_t cli_fill(cli *c)
{
    ck_assert_msg(c->len < c->cap, "client buffer full");
    ssize_t n = km_read(c->fd, c->buf + c->len, c->cap - c->len, soon());
    if (n > 0)
        c->len += (size_t)n;
    return n == 0 ? -ENODATA : n;
}

static ssize_t cli_need(cli *c, size_t n)
{
    while (c->len < n) {
        ssize_t r = cli_fill(c);
        if (r < 0)
            return r;
    }
    return 0;
}

static void cli_consume(cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Offset just past delim, reading as needed; -errno. */
static ssize_t cli_find(cli *c, const char *delim)
{
    size_t dn = strlen(delim);
    for (;;) {
        char *p = memmem(c->buf, c->len, delim, dn);
        if (p)
            return p - c->buf + (ssize_t)dn;
        ssize_t r = cli_fill(c);
        if (r < 0)
            return r;
    }
}

/* Takes exactly the bytes want from the stream. */
static void cli_expect(cli *c, const char *want)
{
    size_t n = strlen(want);
    ssize_t r = cli_need(c, n);
    ck_assert_msg(r == 0, "waiting for '%s': %s", want, km_strerror((int)r));
    ck_assert_msg(!memcmp(c->buf, want, n), "got '%.*s', want '%s'", (int)n, c->buf, want);
    cli_consume(c, n);
}

static bool hdr(const resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':') {
            const char *v = l + 3 + nl, *e = strstr(v, "\r\n");
            while (*v == ' ') v++;
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return true;
        }
    }
    return false;
}

static bool hdr_is(const resp *r, const char *name, const char *want)
{
    char v[256];
    return hdr(r, name, v, sizeof v) && !strcasecmp(v, want);
}

static void body_add(resp *r, const char *p, size_t n)
{
    r->body = realloc(r->body, r->body_n + n + 1);
    memcpy(r->body + r->body_n, p, n);
    r->body_n += n;
    r->body[r->body_n] = 0;
}

static int read_head(cli *c, resp *r)
{
    memset(r, 0, sizeof *r);
    ssize_t e = cli_find(c, "\r\n\r\n");
    if (e < 0)
        return (int)e;
    ck_assert((size_t)e < sizeof r->head);
    memcpy(r->head, c->buf, (size_t)e);
    ck_assert_msg(sscanf(r->head, "HTTP/1.%*1d %3d ", &r->status) == 1, "status line: %s", r->head);
    cli_consume(c, (size_t)e);
    body_add(r, "", 0);
    return r->status;
}

/* Reads one response: fixed, chunked or close-delimited body (none for
 * HEAD, 1xx, 204, 304). Its status, or -errno (-ENODATA: EOF). */
static int read_resp(cli *c, resp *r, bool head_req)
{
    int st = read_head(c, r);
    if (st < 0 || head_req || st < 200 || st == 204 || st == 304)
        return st;
    char v[64];
    ssize_t e;
    if (hdr(r, "transfer-encoding", v, sizeof v)) {
        ck_assert_str_eq(v, "chunked");
        ck_assert(!hdr(r, "content-length", v, sizeof v));
        for (;;) {
            if ((e = cli_find(c, "\r\n")) < 0)
                return (int)e;
            size_t n = strtoul(c->buf, NULL, 16);
            cli_consume(c, (size_t)e);
            if (n == 0)
                break;
            if ((e = cli_need(c, n + 2)) < 0)
                return (int)e;
            ck_assert(c->buf[n] == '\r' && c->buf[n + 1] == '\n');
            body_add(r, c->buf, n);
            cli_consume(c, n + 2);
        }
        if ((e = cli_find(c, "\r\n")) < 0)   /* no trailers from kumo */
            return (int)e;
        ck_assert_int_eq(e, 2);
        cli_consume(c, 2);
    } else if (hdr(r, "content-length", v, sizeof v)) {
        size_t n = strtoul(v, NULL, 10);
        if ((e = cli_need(c, n)) < 0)
            return (int)e;
        body_add(r, c->buf, n);
        cli_consume(c, n);
    } else {
        while ((e = cli_fill(c)) > 0)
            ;
        if (e != -ENODATA)
            return (int)e;
        body_add(r, c->buf, c->len);
        cli_consume(c, c->len);
    }
    return st;
}

/* Sends raw (if any) and reads one response, which must have the status
 * and body given. */
static void roundtrip(cli *c, const char *raw, int status, const char *body)
{
    resp r;
    if (*raw)
        cli_send(c, raw);
    int st = read_resp(c, &r, !strncmp(raw, "HEAD ", 5));
    ck_assert_msg(st == status, "%.40s...: status %d (%s), want %d", raw, st,
                  st < 0 ? km_strerror(st) : "", status);
    if (body)
        ck_assert_msg(r.body_n == strlen(body) && !memcmp(r.body, body, r.body_n),
                      "%.40s...: body '%s', want '%s'", raw, r.body, body);
    free(r.body);
}

/* The server closed the connection: EOF (or a reset), no more bytes. */
static void expect_closed(cli *c)
{
    ck_assert_msg(c->len == 0, "%zu unexpected bytes: %.*s", c->len, (int)c->len, c->buf);
    ssize_t n = cli_fill(c);
    ck_assert_msg(n == -ENODATA || n == -ECONNRESET, "after the last response: %zd (%s)", n,
                  n > 0 ? c->buf : km_strerror((int)n));
}

/* ---- the server under test ---- */

typedef struct {
    km_chan *gate;              /* test -> handler */
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
    tcase_add_test(tc, big_stream);
    tcase_add_test(tc, sendfile);
    tcase_add_test(tc, access_log);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
