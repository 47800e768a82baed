/* SPDX-License-Identifier: MIT */
/* HTTP server life cycle: km_http_serve's errors, and graceful shutdown (in-flight requests finish, idle connections go, a deadline cuts off stuck handlers). */
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
    /* accept_early: the test's silent connection must be the server's to close */
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler, .ud = x, .accept_early = true };
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
