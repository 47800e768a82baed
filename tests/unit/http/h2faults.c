/* SPDX-License-Identifier: MIT */
/* The HTTP/2 client against a server that misbehaves on purpose (h2raw.h):
 * deadlines, cancellation, RST_STREAM, GOAWAY in flight, a huge header
 * block, a peer that closes, flow control both ways with bounded memory,
 * a dead peer found by keepalive, full-duplex streaming with trailers. */
#include "h2raw.h"

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t soon(void) { return km_now() + 20 * SEC; }

static km_http2_client *client_cfg(rawsrv *srv, km_http2_client_config cfg)
{
    static char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", srv->port);
    cfg.addr = addr;
    km_http2_client *c;
    REQUIRE_EQ(km_http2_client_new(&c, &cfg), 0);
    return c;
}

static km_http2_client *client(rawsrv *srv)
{
    return client_cfg(srv, (km_http2_client_config){ 0 });
}

static km_http2_stream *open_path(km_http2_client *c, const char *method, const char *path, bool end)
{
    km_http_kv h[] = { { ":method", method }, { ":path", path } };
    km_http2_stream *st;
    int rc = km_http2_stream_open(c, h, 2, end, soon(), &st);
    ck_assert_msg(rc == 0, "open %s: %s", path, km_strerror(rc));
    return st;
}

static bool str_is(km_str s, const char *want)
{
    return s.p && s.n == strlen(want) && !memcmp(s.p, want, s.n);
}

/* A POST to /echo, the answer checked. */
static void echo_ok(km_http2_client *c)
{
    km_http2_stream *st = open_path(c, "POST", "/echo", false);
    REQUIRE_EQ(km_http2_stream_write(st, "ping", 4, true, soon()), 0);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    char buf[16];
    size_t got = 0;
    ssize_t r;
    while ((r = km_http2_stream_read(st, buf + got, sizeof buf - got, soon())) > 0)
        got += (size_t)r;
    REQUIRE_EQ(r, 0);
    REQUIRE_EQ(got, 4);
    REQUIRE(!memcmp(buf, "ping", 4));
    REQUIRE(str_is(km_http2_stream_trailer(st, "x-trailer"), "done"));
    km_http2_stream_free(st);
}

static void wait_for(atomic_int *v, int want)
{
    for (int i = 0; i < 1000 && atomic_load(v) < want; i++)
        km_sleep(5 * MS);
    REQUIRE(atomic_load(v) >= want);
}

/* ---- deadlines and cancellation ---- */

static void t_deadline(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    km_http2_stream *st = open_path(c, "GET", "/silent", true);
    int status;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_http2_stream_response(st, t0 + 150 * MS, &status), -ETIMEDOUT);
    REQUIRE(km_now() - t0 >= 150 * MS);
    REQUIRE(km_now() - t0 < 5 * SEC);
    /* The stream stays usable after a timeout. */
    REQUIRE_EQ(km_http2_stream_response(st, km_now() + 20 * MS, &status), -ETIMEDOUT);
    char buf[8];
    REQUIRE_EQ(km_http2_stream_read(st, buf, sizeof buf, 0), -ETIMEDOUT);  /* past: no wait */
    km_http2_stream_cancel(st);
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -ECANCELED);
    REQUIRE_EQ(km_http2_stream_read(st, buf, sizeof buf, soon()), -ECANCELED);
    REQUIRE_EQ(km_http2_stream_write(st, "x", 1, true, soon()), -ECANCELED);
    km_http2_stream_cancel(st);                 /* idempotent */
    wait_for(&srv.rst_recv, 1);
    REQUIRE_EQ(atomic_load(&srv.last_rst_code), NGHTTP2_CANCEL);
    REQUIRE_EQ(km_http2_stream_reset_code(st), NGHTTP2_CANCEL);
    km_http2_stream_free(st);
    echo_ok(c);                                 /* the connection is fine */
    km_http2_client_free(c);
    raw_stop(&srv);
}

typedef struct { km_http2_stream *st; int64_t delay; } canceller;

static void cancel_later(void *arg)
{
    canceller *k = arg;
    km_sleep(k->delay);
    km_http2_stream_cancel(k->st);
}

typedef struct { km_http2_client *c; int rc; } grp_call;

static void silent_call(void *arg)
{
    grp_call *g = arg;
    km_http2_stream *st = open_path(g->c, "GET", "/silent", true);
    int status;
    g->rc = km_http2_stream_response(st, KM_FOREVER, &status);
    km_http2_stream_free(st);
}

static void t_cancel(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    /* From another goroutine, while a read blocks. */
    km_http2_stream *st = open_path(c, "GET", "/silent", true);
    canceller k = { st, 50 * MS };
    REQUIRE_EQ(km_go(cancel_later, &k), 0);
    char buf[8];
    REQUIRE_EQ(km_http2_stream_read(st, buf, sizeof buf, soon()), -ECANCELED);
    wait_for(&srv.rst_recv, 1);
    km_http2_stream_free(st);
    /* By the calling goroutine's group: its deadline passes. */
    km_group *g;
    REQUIRE_EQ(km_group_new(&g, NULL, km_now() + 100 * MS), 0);
    grp_call call = { c, 0 };
    REQUIRE_EQ(km_group_run(g, silent_call, &call), -ECANCELED);
    REQUIRE_EQ(call.rc, -ECANCELED);
    REQUIRE_EQ(km_group_free(g), 0);
    wait_for(&srv.rst_recv, 2);
    REQUIRE_EQ(atomic_load(&srv.last_rst_code), NGHTTP2_CANCEL);
    /* Freeing an unfinished stream cancels it too. */
    st = open_path(c, "GET", "/silent", true);
    km_sleep(50 * MS);          /* its HEADERS are out (else they never go) */
    km_http2_stream_free(st);
    wait_for(&srv.rst_recv, 3);
    echo_ok(c);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    REQUIRE_EQ(s.streams, 0);
    km_http2_client_free(c);
    raw_stop(&srv);
}

/* ---- RST_STREAM, GOAWAY, huge headers, a peer that closes ---- */

static void t_rst(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    km_http2_stream *st = open_path(c, "GET", "/rst", true);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -ECONNRESET);
    REQUIRE_EQ(km_http2_stream_reset_code(st), NGHTTP2_INTERNAL_ERROR);
    km_http2_stream_free(st);
    st = open_path(c, "POST", "/refuse", false);
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -EAGAIN);   /* retryable */
    REQUIRE_EQ(km_http2_stream_reset_code(st), NGHTTP2_REFUSED_STREAM);
    REQUIRE_EQ(km_http2_stream_write(st, "x", 1, true, soon()), -EAGAIN);
    km_http2_stream_free(st);
    echo_ok(c);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    REQUIRE_EQ(atomic_load(&srv.rst_recv), 0);   /* nothing to reset back */
    km_http2_client_free(c);
    raw_stop(&srv);
}

static void t_goaway(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    km_http2_stream *a = open_path(c, "GET", "/hold", true);
    km_http2_stream *b = open_path(c, "GET", "/hold", true);
    km_http2_stream *x = open_path(c, "GET", "/goaway", true);
    int status;
    /* Above the GOAWAY's last stream id: not processed, retry elsewhere. */
    REQUIRE_EQ(km_http2_stream_response(x, soon(), &status), -EAGAIN);
    /* At or below it: they finish. */
    REQUIRE_EQ(km_http2_stream_response(a, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    REQUIRE_EQ(km_http2_stream_response(b, soon(), &status), 0);
    char buf[8];
    REQUIRE_EQ(km_http2_stream_read(a, buf, sizeof buf, soon()), 0);
    km_http2_stream_free(x);
    /* No new streams on that connection: the next goes to a new one. */
    echo_ok(c);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 2);
    REQUIRE_EQ(s.conns, 1);
    REQUIRE_EQ(s.conns_lost, 1);
    REQUIRE_EQ(atomic_load(&srv.conns), 2);
    REQUIRE_EQ(km_http2_stream_read(b, buf, sizeof buf, soon()), 0);
    km_http2_stream_free(a);
    km_http2_stream_free(b);
    km_http2_client_free(c);
    raw_stop(&srv);
}

static void t_huge_headers(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    km_http2_stream *st = open_path(c, "GET", "/huge", true);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -EMSGSIZE);
    km_http2_stream_free(st);
    echo_ok(c);                     /* the same connection carries on */
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    km_http2_client_free(c);

    /* A limit above the block: it is kept. */
    c = client_cfg(&srv, (km_http2_client_config){ .max_header_bytes = 1 << 20 });
    st = open_path(c, "GET", "/huge", true);
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(km_http2_stream_header_count(st), 101);
    REQUIRE_EQ(km_http2_stream_header(st, "x-huge-99").n, 1000);
    km_http2_stream_free(st);
    km_http2_client_free(c);
    raw_stop(&srv);
}

static void t_peer_close(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    km_http2_stream *held = open_path(c, "GET", "/silent", true);
    km_http2_stream *st = open_path(c, "GET", "/close", true);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -ECONNRESET);
    REQUIRE_EQ(km_http2_stream_response(held, soon(), &status), -ECONNRESET);
    km_http2_stream_free(st);
    km_http2_stream_free(held);
    echo_ok(c);                     /* on a new connection */
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 2);
    REQUIRE_EQ(s.conns_lost, 1);
    km_http2_client_free(c);
    raw_stop(&srv);
}

/* ---- flow control: an unread stream stops its sender ---- */

static void t_flow_download(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    enum { WIN = 256 << 10 };
    km_http2_client *c = client_cfg(&srv, (km_http2_client_config){ .stream_window = WIN });
    km_http2_stream *st = open_path(c, "GET", "/big", true);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    km_sleep(300 * MS);
    /* Nothing read: the server could send one window and no more. */
    long sent = atomic_load(&srv.big_sent);
    REQUIRE(sent <= WIN);
    REQUIRE(sent >= WIN / 2);
    /* Meanwhile other streams on the connection are not held up. */
    echo_ok(c);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    /* Reading gives the window back: all 8 MiB come, intact. */
    static char buf[100000];
    size_t total = 0;
    ssize_t r;
    while ((r = km_http2_stream_read(st, buf, sizeof buf, soon())) > 0) {
        for (ssize_t i = 0; i < r; i++)
            if (buf[i] != raw_pattern(total + (size_t)i))
                ck_abort_msg("byte %zu differs", total + (size_t)i);
        total += (size_t)r;
    }
    REQUIRE_EQ(r, 0);
    REQUIRE_EQ(total, srv.big);
    km_http2_stream_free(st);
    km_http2_client_free(c);
    raw_stop(&srv);
}

static void t_flow_upload(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client_cfg(&srv, (km_http2_client_config){ .send_buffer = 64 << 10 });
    /* The server never gives /sink's window back. */
    km_http2_stream *st = open_path(c, "POST", "/sink", false);
    static char body[4 << 20];
    int64_t t0 = km_now();
    REQUIRE_EQ(km_http2_stream_write(st, body, sizeof body, true, t0 + 300 * MS), -ETIMEDOUT);
    REQUIRE(km_now() - t0 >= 300 * MS);
    /* It got the initial window's worth; the rest waited, in a bounded buffer. */
    REQUIRE_EQ(atomic_load(&srv.sink_recv), 65535);
    /* The timed-out write reset the stream; the connection carries on. */
    REQUIRE_EQ(km_http2_stream_write(st, "x", 1, true, soon()), -ETIMEDOUT);
    km_http2_stream_free(st);
    wait_for(&srv.rst_recv, 1);
    echo_ok(c);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    km_http2_client_free(c);
    raw_stop(&srv);
}

/* ---- a peer that stops answering ---- */

static void t_keepalive(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client_cfg(&srv, (km_http2_client_config){
        .keepalive_interval = 100 * MS, .keepalive_timeout = 200 * MS, .keepalive_idle = true });
    echo_ok(c);
    /* Idle with keepalive on: PINGs come back, the connection stays. */
    km_sleep(500 * MS);
    REQUIRE(atomic_load(&srv.pings) >= 2);
    echo_ok(c);
    km_http2_client_stat s;
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    km_http2_stream *st = open_path(c, "GET", "/freeze", true);
    int status;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -ETIMEDOUT);
    REQUIRE(km_now() - t0 < 3 * SEC);
    km_http2_stream_free(st);
    km_http2_client_stat_read(c, &s);
    REQUIRE_EQ(s.dials, 1);
    REQUIRE_EQ(s.conns, 0);
    km_http2_client_free(c);
    /* Without keepalive_idle, a stream that waits is what sends PINGs. */
    c = client_cfg(&srv, (km_http2_client_config){
        .keepalive_interval = 100 * MS, .keepalive_timeout = 200 * MS });
    echo_ok(c);
    int pings = atomic_load(&srv.pings);
    km_sleep(400 * MS);
    REQUIRE_EQ(atomic_load(&srv.pings), pings);     /* idle: none */
    st = open_path(c, "GET", "/freeze", true);
    t0 = km_now();
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), -ETIMEDOUT);
    REQUIRE(km_now() - t0 < 3 * SEC);
    km_http2_stream_free(st);
    km_http2_client_free(c);
    raw_stop(&srv);
}

static void t_dead_server(void *arg)
{
    rawsrv srv = { .mode = RAW_DEAD };
    raw_start(&srv);
    km_http2_client *c = client_cfg(&srv, (km_http2_client_config){ .connect_timeout = 200 * MS });
    /* Connected, but its SETTINGS never come: the dial times out. */
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/" } };
    km_http2_stream *st;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_http2_stream_open(c, h, 2, true, soon(), &st), -ETIMEDOUT);
    REQUIRE(km_now() - t0 >= 200 * MS);
    /* The caller's own deadline applies too. */
    km_http2_client_free(c);
    c = client(&srv);
    t0 = km_now();
    REQUIRE_EQ(km_http2_stream_open(c, h, 2, true, t0 + 100 * MS, &st), -ETIMEDOUT);
    REQUIRE(km_now() - t0 < 3 * SEC);
    km_http2_client_free(c);
    raw_stop(&srv);
}

static void t_write_stall(void *arg)
{
    /* Huge windows, then the server stops reading its socket: the
     * socket fills, the write times out, the connection fails. */
    rawsrv srv = { .window = 64 << 20 };
    raw_start(&srv);
    km_http2_client *c = client_cfg(&srv, (km_http2_client_config){ .write_timeout = 300 * MS });
    echo_ok(c);
    km_http2_stream *f = open_path(c, "GET", "/freeze", true);
    km_sleep(50 * MS);
    km_http2_stream *st = open_path(c, "POST", "/echo", false);
    static char body[32 << 20];
    int64_t t0 = km_now();
    int rc = km_http2_stream_write(st, body, sizeof body, true, soon());
    REQUIRE_EQ(rc, -ETIMEDOUT);
    REQUIRE(km_now() - t0 < 5 * SEC);
    int status;
    REQUIRE_EQ(km_http2_stream_response(f, soon(), &status), -ETIMEDOUT);
    km_http2_stream_free(st);
    km_http2_stream_free(f);
    km_http2_client_free(c);
    raw_stop(&srv);
}

/* ---- full duplex: what gRPC's bidirectional streams do ---- */

static void t_duplex(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    km_http2_client *c = client(&srv);
    km_http2_stream *st = open_path(c, "POST", "/stream", false);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    for (int i = 0; i < 200; i++) {
        char msg[32], got[32];
        int n = snprintf(msg, sizeof msg, "message %d", i);
        REQUIRE_EQ(km_http2_stream_write(st, msg, (size_t)n, false, soon()), 0);
        size_t have = 0;
        while (have < (size_t)n) {
            ssize_t r = km_http2_stream_read(st, got + have, (size_t)n - have, soon());
            REQUIRE(r > 0);
            have += (size_t)r;
        }
        REQUIRE(!memcmp(got, msg, (size_t)n));
    }
    REQUIRE_EQ(km_http2_stream_write(st, NULL, 0, true, soon()), 0);
    char buf[8];
    REQUIRE_EQ(km_http2_stream_read(st, buf, sizeof buf, soon()), 0);
    REQUIRE(str_is(km_http2_stream_trailer(st, "x-trailer"), "done"));
    REQUIRE(str_is(km_http2_stream_trailer(st, "X-Length"), "echoed"));
    REQUIRE_EQ(km_http2_stream_trailer_count(st), 2);
    km_http2_stream_free(st);
    km_http2_client_free(c);
    raw_stop(&srv);
}

/* ---- allocation failures anywhere: errors, never leaks or crashes ---- */

static void t_alloc_fail(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    /* The runtime's own lazily made tables (timers, goroutines) first:
     * their allocation failing is fatal by design. */
    km_http2_client *warm = client(&srv);
    echo_ok(warm);
    km_http2_client_free(warm);
    for (long k = 1; k < 120; k++) {
        km_http2_client *c;
        t_fail_alloc_after(k);
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", srv.port);
        km_http2_client_config cfg = { .addr = addr };
        if (km_http2_client_new(&c, &cfg)) {
            t_fail_alloc_after(0);
            continue;
        }
        km_http_kv h[] = { { ":method", "POST" }, { ":path", "/echo" } };
        km_http2_stream *st;
        if (km_http2_stream_open(c, h, 2, false, soon(), &st) == 0) {
            int status;
            char buf[8];
            if (km_http2_stream_write(st, "ping", 4, true, soon()) == 0 &&
                km_http2_stream_response(st, soon(), &status) == 0)
                while (km_http2_stream_read(st, buf, sizeof buf, soon()) > 0)
                    ;
            km_http2_stream_free(st);
        }
        t_fail_alloc_after(0);
        km_http2_client_free(c);
    }
    raw_stop(&srv);
}

#define TEST(name, fn) START_TEST(name) { t_run(fn, NULL); } END_TEST
TEST(deadline, t_deadline)
TEST(cancel, t_cancel)
TEST(rst, t_rst)
TEST(goaway, t_goaway)
TEST(huge_headers, t_huge_headers)
TEST(peer_close, t_peer_close)
TEST(flow_download, t_flow_download)
TEST(flow_upload, t_flow_upload)
TEST(keepalive, t_keepalive)
TEST(dead_server, t_dead_server)
TEST(write_stall, t_write_stall)
TEST(duplex, t_duplex)
TEST(alloc_fail, t_alloc_fail)

static Suite *suite(void)
{
    Suite *s = suite_create("http/h2faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, deadline);
    tcase_add_test(tc, cancel);
    tcase_add_test(tc, rst);
    tcase_add_test(tc, goaway);
    tcase_add_test(tc, huge_headers);
    tcase_add_test(tc, peer_close);
    tcase_add_test(tc, flow_download);
    tcase_add_test(tc, flow_upload);
    tcase_add_test(tc, keepalive);
    tcase_add_test(tc, dead_server);
    tcase_add_test(tc, write_stall);
    tcase_add_test(tc, duplex);
    tcase_add_test(tc, alloc_fail);
    suite_add_tcase(s, tc);
    return s;
}
T_MAIN(suite)
