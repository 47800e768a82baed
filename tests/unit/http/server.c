/* SPDX-License-Identifier: MIT */
/* The HTTP/1.1 server over loopback with raw requests: keep-alive, pipelining, request bodies, 100-continue, HEAD, close semantics. */
#include "rawcli.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MS  1000000LL
#define SEC 1000000000LL


/* ---- the server under test ---- */

typedef struct {
    km_chan    *started, *gate;     /* handler -> test, test -> handler */
    atomic_bool reading;            /* the handler asked for the body */
} ctx;

static void signal_(km_chan *ch) { int one = 1; km_chan_send(ch, &one); }
static void wait_(km_chan *ch) { int x; ck_assert_int_eq(km_chan_recv_dl(ch, &x, soon()), 0); }

static bool is(km_str s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    ctx *x = ud;
    km_str path = km_http_path(r), b;
    char out[1024];
    if (is(path, "/ping")) {
        km_http_send(w, 200, "text/plain", "pong", 4);
    } else if (is(path, "/echo")) {
        if (km_http_body(r, &b) == 0)
            km_http_send(w, 200, "application/octet-stream", b.p, b.n);
    } else if (is(path, "/gate-echo")) {
        signal_(x->started);
        wait_(x->gate);
        atomic_store(&x->reading, true);
        if (km_http_body(r, &b) == 0)
            km_http_send(w, 200, "application/octet-stream", b.p, b.n);
    } else if (is(path, "/noread")) {
        km_http_send(w, 200, "text/plain", "ignored", 7);
    } else if (is(path, "/info")) {
        km_str m = km_http_method(r), t = km_http_target(r), q = km_http_query(r);
        km_str host = km_http_header(r, "HOST"), x1 = km_http_header(r, "x-one"), nm, vl;
        int n = snprintf(out, sizeof out, "%.*s %.*s q=%.*s v=%d n=%zu host=%.*s x=%.*s cl=%lld",
                         (int)m.n, m.p, (int)t.n, t.p, (int)q.n, q.p, km_http_version(r),
                         km_http_header_count(r), (int)host.n, host.p ? host.p : "",
                         (int)x1.n, x1.p ? x1.p : "", (long long)km_http_content_length(r));
        ck_assert(km_http_header(r, "x-absent").p == NULL);
        ck_assert_int_eq(km_http_header_at(r, km_http_header_count(r), &nm, &vl), -ERANGE);
        ck_assert_int_eq(km_http_header_at(r, 0, &nm, &vl), 0);
        n += snprintf(out + n, sizeof out - (size_t)n, " first=%.*s", (int)nm.n, nm.p);
        km_http_set_header(w, "X-Reply", "yes");
        km_http_send(w, 200, "text/plain", out, (size_t)n);
    } else if (is(path, "/chunky")) {
        km_http_write(w, "abc", 3);
        km_http_write(w, "", 0);
        km_http_write(w, "def", 3);
    } else if (is(path, "/late/some/long/path")) {
        km_str tag = km_http_header(r, "X-Tag");
        if (km_http_body(r, &b) == 0 && path.n + tag.n < 512) {
            /* memcpy, not %.*s: ASan then checks every byte read */
            size_t n = 0;
            memcpy(out, path.p, path.n), n += path.n, out[n++] = '|';
            memcpy(out + n, tag.p, tag.n), n += tag.n;
            n += (size_t)snprintf(out + n, sizeof out - n, "|%zu", b.n);
            km_http_send(w, 200, "text/plain", out, n);
        }
    } else if (is(path, "/nocontent")) {
        km_http_send(w, 204, NULL, NULL, 0);
    } else if (is(path, "/empty")) {
        /* says nothing: 200 with an empty body */
    } else {
        km_http_send(w, 404, "text/plain", "nf", 2);
    }
}

typedef struct { ctx x; km_http_server *srv; int port; cli c; } fixture;

static void setup_cfg(fixture *f, km_http_config *cfg)
{
    memset(&f->x, 0, sizeof f->x);
    ck_assert_int_eq(km_chan_new(&f->x.started, sizeof(int), 1), 0);
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
    km_chan_free(f->x.started);
    km_chan_free(f->x.gate);
}

#define TEST(name)                                                  \
    static void name##_body(fixture *f);                            \
    static void name##_run(void *arg) { (void)arg; fixture f; setup(&f); name##_body(&f); teardown(&f); } \
    START_TEST(name) { t_run(name##_run, NULL); } END_TEST          \
    static void name##_body(fixture *f)

/* ---- tests ---- */

TEST(keep_alive)
{
    for (int i = 0; i < 5; i++) {
        resp r;
        cli_send(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
        ck_assert_str_eq(r.body, "pong");
        ck_assert(hdr_is(&r, "content-length", "4"));
        ck_assert(hdr_is(&r, "content-type", "text/plain"));
        ck_assert(hdr_is(&r, "server", "kumo"));
        char v[64];
        ck_assert(hdr(&r, "date", v, sizeof v) && strstr(v, " GMT"));
        ck_assert(!hdr(&r, "connection", v, sizeof v));
        free(r.body);
    }
    resp r;
    cli_send(&f->c, "GET /info?a=b&c HTTP/1.1\r\nhost: example\r\nX-One:  1 \r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_str_eq(r.body, "GET /info?a=b&c q=a=b&c v=11 n=2 host=example x=1 cl=0 first=host");
    ck_assert(hdr_is(&r, "x-reply", "yes"));
    free(r.body);
    roundtrip(&f->c, "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n", 204, "");
    roundtrip(&f->c, "GET /empty HTTP/1.1\r\nHost: t\r\n\r\n", 200, "");
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
}

/* One /ping over c, its response read whole: the bytes it took each way. */
static void ping_counted(cli *c, uint64_t *sent, uint64_t *got)
{
    static const char req[] = "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n";
    cli_send(c, req);
    ssize_t head = cli_find(c, "\r\n\r\n");
    ck_assert_int_gt(head, 0);
    ck_assert_int_eq(cli_need(c, (size_t)head + 4), 0);
    ck_assert(!memcmp(c->buf + head, "pong", 4));
    cli_consume(c, (size_t)head + 4);
    *sent += sizeof req - 1;
    *got += (uint64_t)head + 4;
}

/* The server's stats once they say open connections and these bytes (a
 * response reaches the client before the server counts it), or after 1 s. */
static km_http_server_stat stats_at(km_http_server *srv, int64_t open, uint64_t sent, uint64_t got)
{
    km_http_server_stat st;
    for (int i = 0; i < 100; i++) {
        km_http_server_stat_read(srv, &st);
        if (st.conns_open == open && st.bytes_read == sent && st.bytes_written == got)
            break;
        km_sleep(10 * 1000000);
    }
    return st;
}

/* Connections and bytes, exactly, the closed connections' included. */
TEST(stats)
{
    uint64_t sent = 0, got = 0;
    for (int i = 0; i < 3; i++)
        ping_counted(&f->c, &sent, &got);
    cli other;
    cli_open(&other, f->port);
    ping_counted(&other, &sent, &got);
    km_http_server_stat st = stats_at(f->srv, 2, sent, got);
    ck_assert_int_eq(st.conns_open, 2);
    ck_assert_uint_eq(st.conns_total, 2);
    ck_assert_uint_eq(st.bytes_read, sent);
    ck_assert_uint_eq(st.bytes_written, got);
    cli_close(&other);
    ping_counted(&f->c, &sent, &got);
    st = stats_at(f->srv, 1, sent, got);
    ck_assert_int_eq(st.conns_open, 1);
    ck_assert_uint_eq(st.conns_total, 2);
    ck_assert_uint_eq(st.bytes_read, sent);
    ck_assert_uint_eq(st.bytes_written, got);
}

TEST(pipelining)
{
    char all[16 * 64];
    size_t n = 0;
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(all + n, sizeof all - n, "GET /info?i=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
    cli_sendn(&f->c, all, n);
    for (int i = 0; i < 16; i++) {
        resp r;
        ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
        char want[32];
        snprintf(want, sizeof want, " q=i=%d ", i);
        ck_assert_msg(strstr(r.body, want), "response %d: %s", i, r.body);
        free(r.body);
    }
    /* bodies, HEAD and an unread body in one batch */
    cli_send(&f->c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    "HEAD /ping HTTP/1.1\r\nHost: t\r\n\r\n"
                    "POST /ping HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
                    "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
    resp r;
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_str_eq(r.body, "hello");
    free(r.body);
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_str_eq(r.body, "abc");
    free(r.body);
    ck_assert_int_eq(read_resp(&f->c, &r, true), 200);
    ck_assert(hdr_is(&r, "content-length", "4"));
    free(r.body);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
        ck_assert_str_eq(r.body, "pong");
        free(r.body);
    }
}

/* Every byte value, LF, CR and NUL included, in no simple period. */
static char *pattern(size_t n)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(i * 7 + i / 251);
    return p;
}

TEST(content_length_body)
{
    size_t n = 300 * 1024;      /* the read buffer starts at 4 KiB */
    char *body = pattern(n), head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    cli_send(&f->c, head);
    cli_sendn(&f->c, body, 1000);
    km_sleep(10 * MS);
    cli_sendn(&f->c, body + 1000, n - 1000);
    resp r;
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_uint_eq(r.body_n, n);
    ck_assert(memcmp(r.body, body, n) == 0);
    free(r.body);
    free(body);
    roundtrip(&f->c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 200, "");
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
}

TEST(chunked_body)
{
    size_t sizes[] = { 1, 10, 4096, 50000, 3 }, total = 0;
    for (size_t i = 0; i < 5; i++)
        total += sizes[i];
    char *want = pattern(total);
    cli_send(&f->c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    size_t off = 0;
    for (size_t i = 0; i < 5; i++) {
        char sz[32];
        snprintf(sz, sizeof sz, i == 2 ? "%zx;name=\"v\"\r\n" : "%zX\r\n", sizes[i]);
        cli_send(&f->c, sz);
        cli_sendn(&f->c, want + off, sizes[i]);
        cli_send(&f->c, "\r\n");
        off += sizes[i];
        km_yield();
    }
    cli_send(&f->c, "0\r\nX-Checksum: 1\r\n\r\n");
    resp r;
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert(hdr_is(&r, "content-length", "54110"));
    ck_assert_uint_eq(r.body_n, total);
    ck_assert(memcmp(r.body, want, total) == 0);
    free(r.body);
    free(want);
    /* an unread chunked body is skipped, keeping the connection */
    roundtrip(&f->c, "POST /ping HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "4\r\nskip\r\n0\r\n\r\n", 200, "pong");
    roundtrip(&f->c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, "");
    /* bad framing: the server answers 400 itself and closes */
    roundtrip(&f->c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabcX\r\n0\r\n\r\n", 400, NULL);
    expect_closed(&f->c);
}

/* Head and a binary body in one write, so they arrive in one read. */
TEST(binary_body_with_head)
{
    size_t n = 3000;
    char *body = pattern(n), *wire = malloc(n + 256);
    for (int chunked = 0; chunked < 2; chunked++) {
        size_t k = (size_t)sprintf(wire, chunked ? "POST /echo HTTP/1.1\r\nHost: t\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n%zx\r\n"
                                   : "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
        memcpy(wire + k, body, n);
        k += n;
        if (chunked)
            k += (size_t)sprintf(wire + k, "\r\n0\r\n\r\n");
        cli_sendn(&f->c, wire, k);
        resp r;
        ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
        ck_assert_msg(r.body_n == n && !memcmp(r.body, body, n), "chunked %d: %zu bytes back", chunked, r.body_n);
        free(r.body);
    }
    free(wire);
    free(body);
}

TEST(expect_continue)
{
    cli_send(&f->c, "POST /gate-echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    wait_(f->x.started);
    /* the handler has not asked for the body: nothing was sent */
    char c;
    ck_assert_int_eq(km_read(f->c.fd, &c, 1, 0), -ETIMEDOUT);
    signal_(f->x.gate);
    resp r;
    ck_assert_int_eq(read_resp(&f->c, &r, false), 100);
    ck_assert(atomic_load(&f->x.reading));
    ck_assert_msg(!strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n"), "interim: %s", r.head);
    free(r.body);
    cli_send(&f->c, "hello");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_str_eq(r.body, "hello");
    free(r.body);
    /* the body sent without waiting: no 100 needed, and no stray one later */
    signal_(f->x.gate);
    cli_send(&f->c, "POST /gate-echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    wait_(f->x.started);
    roundtrip(&f->c, "", 200, "abc");
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    /* a handler that never reads the body: no 100, a final answer, then close */
    roundtrip(&f->c, "POST /noread HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
              200, "ignored");
    expect_closed(&f->c);
}

/* RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request. */
TEST(expect_ignored_in_http10)
{
    signal_(f->x.gate);
    cli_send(&f->c, "POST /gate-echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    wait_(f->x.started);
    /* the handler now waits for the body; an HTTP/1.0 client gets no interim answer */
    km_sleep(200 * MS);
    char c;
    ssize_t n = km_read(f->c.fd, &c, 1, 0);
    ck_assert_msg(n == -ETIMEDOUT, "sent to an HTTP/1.0 client before its body: %zd bytes ('%c')", n, c);
    cli_send(&f->c, "hello");
    roundtrip(&f->c, "", 200, "hello");
}

TEST(head_requests)
{
    resp r;
    cli_send(&f->c, "HEAD /ping HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, true), 200);
    ck_assert(hdr_is(&r, "content-length", "4"));
    free(r.body);
    /* a streamed answer to HEAD: no body, no chunk framing */
    cli_send(&f->c, "HEAD /chunky HTTP/1.1\r\nHost: t\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, true), 200);
    char v[64];
    ck_assert(!hdr(&r, "transfer-encoding", v, sizeof v));
    free(r.body);
    /* nothing else was sent: the next bytes are the next response */
    roundtrip(&f->c, "GET /chunky HTTP/1.1\r\nHost: t\r\n\r\n", 200, "abcdef");
    roundtrip(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
}

TEST(connection_close)
{
    resp r;
    cli_send(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_str_eq(r.body, "pong");
    ck_assert(hdr_is(&r, "connection", "close"));
    free(r.body);
    expect_closed(&f->c);
    /* pipelined requests after the closing one are not answered */
    cli_close(&f->c);
    cli_open(&f->c, f->port);
    cli_send(&f->c, "GET /ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
    roundtrip(&f->c, "", 200, "pong");
    expect_closed(&f->c);
}

TEST(http10)
{
    resp r;
    cli_send(&f->c, "GET /ping HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    ck_assert_msg(!strncmp(r.head, "HTTP/1.0 200 OK\r\n", 17), "%s", r.head);
    ck_assert(hdr_is(&r, "connection", "close"));
    free(r.body);
    expect_closed(&f->c);
    /* keep-alive on request */
    cli_close(&f->c);
    cli_open(&f->c, f->port);
    for (int i = 0; i < 3; i++) {
        cli_send(&f->c, "GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
        ck_assert(hdr_is(&r, "connection", "keep-alive"));
        free(r.body);
    }
    /* a streamed answer to HTTP/1.0 is delimited by the close */
    cli_send(&f->c, "GET /chunky HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_assert_int_eq(read_resp(&f->c, &r, false), 200);
    char v[64];
    ck_assert(!hdr(&r, "transfer-encoding", v, sizeof v) && !hdr(&r, "content-length", v, sizeof v));
    ck_assert_str_eq(r.body, "abcdef");
    free(r.body);
    expect_closed(&f->c);
}

/* http.h: "Strings from a request are valid until the handler returns",
 * also when reading a large body moved the request into a bigger buffer. */
TEST(strings_survive_body_read)
{
    size_t n = 200 * 1024;
    char *body = pattern(n), head[256];
    snprintf(head, sizeof head, "POST /late/some/long/path HTTP/1.1\r\nHost: t\r\nX-Tag: abcdefgh\r\n"
             "Content-Length: %zu\r\n\r\n", n);
    cli_send(&f->c, head);
    cli_sendn(&f->c, body, n);
    roundtrip(&f->c, "", 200, "/late/some/long/path|abcdefgh|204800");
    free(body);
}

static Suite *suite(void)
{
    Suite *s = suite_create("http/server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, keep_alive);
    tcase_add_test(tc, pipelining);
    tcase_add_test(tc, stats);
    tcase_add_test(tc, content_length_body);
    tcase_add_test(tc, chunked_body);
    tcase_add_test(tc, binary_body_with_head);
    tcase_add_test(tc, expect_continue);
    tcase_add_test(tc, expect_ignored_in_http10);
    tcase_add_test(tc, head_requests);
    tcase_add_test(tc, connection_close);
    tcase_add_test(tc, http10);
    tcase_add_test(tc, strings_survive_body_read);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
