/* SPDX-License-Identifier: MIT */
/* HTTP server life cycle: km_http_serve's errors, and graceful shutdown (in-flight requests finish, idle connections go, a deadline cuts off stuck handlers). */
#include "util.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
    km_chan   *started, *gate, *done;   /* handler -> test, test -> handler, shutdown -> test */
    atomic_int cut_rc;                  /* what the stuck handler's wait returned */
    km_http_server *srv;
    int        shutdown_rc;
    int64_t    deadline;
} ctx;

static void signal_(km_chan *ch) { int one = 1; km_chan_send(ch, &one); }

static bool is(km_str s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    ctx *x = ud;
    km_str path = km_http_path(r);
    int v;
    if (is(path, "/block")) {
        signal_(x->started);
        km_chan_recv(x->gate, &v);
        km_http_send(w, 200, "text/plain", "done", 4);
    } else if (is(path, "/sleep")) {
        signal_(x->started);
        atomic_store(&x->cut_rc, km_sleep_until(KM_FOREVER));
        km_http_send(w, 200, "text/plain", "woke", 4);
    } else if (is(path, "/recv")) {
        signal_(x->started);
        atomic_store(&x->cut_rc, km_chan_recv(x->gate, &v));    /* nobody sends */
    } else {
        km_http_send(w, 200, "text/plain", "pong", 4);
    }
}

static void setup(ctx *x)
{
    memset(x, 0, sizeof *x);
    atomic_store(&x->cut_rc, 1);
    ck_assert_int_eq(km_chan_new(&x->started, sizeof(int), 4), 0);
    ck_assert_int_eq(km_chan_new(&x->gate, sizeof(int), 4), 0);
    ck_assert_int_eq(km_chan_new(&x->done, sizeof(int), 1), 0);
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler, .ud = x };
    ck_assert_int_eq(km_http_serve(&x->srv, &cfg), 0);
}

static void teardown(ctx *x)
{
    km_chan_free(x->started);
    km_chan_free(x->gate);
    km_chan_free(x->done);
}

static void wait_(km_chan *ch)
{
    int v;
    ck_assert_int_eq(km_chan_recv_dl(ch, &v, soon()), 0);
}

static void shutdown_g(void *arg)
{
    ctx *x = arg;
    x->shutdown_rc = km_http_shutdown(x->srv, x->deadline);
    signal_(x->done);
}

static void dial_refused(int port)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = km_dial(addr, soon());
    if (fd >= 0)
        km_close(fd);
    ck_assert_msg(fd == -ECONNREFUSED, "dial after shutdown: %s", fd >= 0 ? "connected" : km_strerror(fd));
}

static void graceful_run(void *arg)
{
    (void)arg;
    ctx x;
    setup(&x);
    int port = km_http_server_port(x.srv);
    cli idle, busy, fresh;
    cli_open(&idle, port);
    roundtrip(&idle, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    cli_open(&fresh, port);                 /* connected, never sent anything */
    cli_open(&busy, port);
    cli_send(&busy, "GET /block HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_(x.started);
    x.deadline = KM_FOREVER;
    ck_assert_int_eq(km_go(shutdown_g, &x), 0);
    /* idle connections are closed at once, while the request runs on */
    expect_closed(&idle);
    expect_closed(&fresh);
    int v;
    ck_assert_int_eq(km_chan_recv_dl(x.done, &v, 0), -ETIMEDOUT);
    dial_refused(port);
    /* the request in flight completes, told that the connection closes */
    signal_(x.gate);
    resp r;
    ck_assert_int_eq(read_resp(&busy, &r, false), 200);
    ck_assert_str_eq(r.body, "done");
    ck_assert(hdr_is(&r, "connection", "close"));
    free(r.body);
    expect_closed(&busy);
    wait_(x.done);
    ck_assert_int_eq(x.shutdown_rc, 0);
    dial_refused(port);
    cli_close(&idle);
    cli_close(&fresh);
    cli_close(&busy);
    teardown(&x);
}

START_TEST(graceful)
{
    t_run(graceful_run, NULL);
}
END_TEST

/* A handler that never returns on its own is cancelled at the deadline. */
static void cut_off_run(void *arg)
{
    const char *path = arg;
    ctx x;
    setup(&x);
    int port = km_http_server_port(x.srv);
    cli c;
    cli_open(&c, port);
    char req[128];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    cli_send(&c, req);
    wait_(x.started);
    int64_t t0 = km_now();
    int rc = km_http_shutdown(x.srv, km_now() + 300 * MS);
    int64_t took = km_now() - t0;
    ck_assert_msg(rc == -ETIMEDOUT, "shutdown: %s", km_strerror(rc));
    ck_assert_msg(took >= 250 * MS && took < 10 * SEC, "shutdown took %lld ms", (long long)(took / MS));
    ck_assert_msg(atomic_load(&x.cut_rc) == -ECANCELED, "the handler's wait returned %d",
                  atomic_load(&x.cut_rc));
    /* the client sees the connection end, without an answer */
    ssize_t n = cli_fill(&c);
    ck_assert_msg(n == -ENODATA || n == -ECONNRESET, "after the cut: %zd (%s)", n,
                  n > 0 ? c.buf : km_strerror((int)n));
    dial_refused(port);
    cli_close(&c);
    teardown(&x);
}

START_TEST(deadline_cuts_off_sleeper)
{
    t_run(cut_off_run, "/sleep");
}
END_TEST

START_TEST(deadline_cuts_off_channel_wait)
{
    t_run(cut_off_run, "/recv");
}
END_TEST

static void idle_server_run(void *arg)
{
    (void)arg;
    ctx x;
    setup(&x);
    int port = km_http_server_port(x.srv);
    cli c;
    cli_open(&c, port);
    roundtrip(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    cli_close(&c);
    /* with nothing in flight: done well before the deadline, and nothing cut off */
    int64_t t0 = km_now();
    ck_assert_int_eq(km_http_shutdown(x.srv, km_now() + 30 * SEC), 0);
    ck_assert_int_lt(km_now() - t0, 10 * SEC);
    dial_refused(port);
    teardown(&x);
    setup(&x);
    ck_assert_int_eq(km_http_shutdown(x.srv, KM_FOREVER), 0);
    teardown(&x);
    /* a deadline already past: it may count the exiting accept loop as cut
     * off, but it neither hangs nor leaks */
    setup(&x);
    int rc = km_http_shutdown(x.srv, 0);
    ck_assert_msg(rc == 0 || rc == -ETIMEDOUT, "%s", km_strerror(rc));
    teardown(&x);
}

START_TEST(idle_server)
{
    t_run(idle_server_run, NULL);
}
END_TEST

/* Requests already pipelined behind the one in flight are still answered. */
static void pipelined_run(void *arg)
{
    (void)arg;
    ctx x;
    setup(&x);
    cli c;
    cli_open(&c, km_http_server_port(x.srv));
    cli_send(&c, "GET /block HTTP/1.1\r\nHost: t\r\n\r\nGET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_(x.started);
    x.deadline = km_now() + 10 * SEC;
    ck_assert_int_eq(km_go(shutdown_g, &x), 0);
    km_sleep(50 * MS);
    signal_(x.gate);
    resp r;
    ck_assert_int_eq(read_resp(&c, &r, false), 200);
    ck_assert_str_eq(r.body, "done");
    free(r.body);
    int st = read_resp(&c, &r, false);
    if (st > 0) {
        /* answered: then it says the connection closes */
        ck_assert_int_eq(st, 200);
        ck_assert(hdr_is(&r, "connection", "close"));
        free(r.body);
    }
    expect_closed(&c);
    wait_(x.done);
    ck_assert_int_eq(x.shutdown_rc, 0);
    cli_close(&c);
    teardown(&x);
}

START_TEST(pipelined_behind_shutdown)
{
    t_run(pipelined_run, NULL);
}
END_TEST

static void serve_errors_run(void *arg)
{
    (void)arg;
    km_http_server *s = NULL;
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler };
    ck_assert_int_eq(km_http_serve(NULL, &cfg), -EINVAL);
    ck_assert_int_eq(km_http_serve(&s, NULL), -EINVAL);
    ck_assert_int_eq(km_http_serve(&s, &(km_http_config){ .handler = handler }), -EINVAL);
    ck_assert_int_eq(km_http_serve(&s, &(km_http_config){ .addr = "127.0.0.1:0" }), -EINVAL);
    ck_assert_int_lt(km_http_serve(&s, &(km_http_config){ .addr = "not an address", .handler = handler }), 0);
    ck_assert_int_eq(km_http_server_port(NULL), -EINVAL);
    ck_assert_int_eq(km_http_shutdown(NULL, 0), -EINVAL);
    /* the port is taken */
    ck_assert_int_eq(km_http_serve(&s, &cfg), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_http_server_port(s));
    km_http_server *s2;
    ck_assert_int_eq(km_http_serve(&s2, &(km_http_config){ .addr = addr, .handler = handler }), -EADDRINUSE);
    ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
    /* out of memory at each allocation in turn: an error and nothing leaked, or a server */
    for (long i = 1; i < 64; i++) {
        t_fail_alloc_after(i);
        int rc = km_http_serve(&s, &cfg);
        t_fail_alloc_after(0);
        if (rc == 0) {
            ck_assert_int_eq(km_http_shutdown(s, soon()), 0);
            return;
        }
        ck_assert_msg(rc == -ENOMEM, "allocation %ld failing: %s", i, km_strerror(rc));
    }
    ck_abort_msg("km_http_serve never succeeded");
}

START_TEST(serve_errors)
{
    t_run(serve_errors_run, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/shutdown");
    TCase *tc = tcase_create("shutdown");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, graceful);
    tcase_add_test(tc, deadline_cuts_off_sleeper);
    tcase_add_test(tc, deadline_cuts_off_channel_wait);
    tcase_add_test(tc, idle_server);
    tcase_add_test(tc, pipelined_behind_shutdown);
    tcase_add_test(tc, serve_errors);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
