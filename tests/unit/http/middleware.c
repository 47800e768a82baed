/* SPDX-License-Identifier: MIT */
/* Middleware: request ids, W3C trace context, per-request timeouts, order. */
#include "util.h"
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>

#define SEC 1000000000LL

typedef struct {
    km_http_server *srv;
    int port;
    char seen_id[80], seen_trace[40], seen_parent[20], outgoing[80];
    int handler_rc;
    int order[4], norder;
    int64_t start_age;          /* /start: km_now() - km_http_req_start() */
    int64_t inner_end;          /* km_http_req_end() as the inner marker read it */
    atomic_int helper_rc;       /* /spawn: the goroutine the handler started */
    atomic_int helper_done;
} world;

/* /spawn's goroutine: in the request's group, so the timeout ends it too. */
static void helper(void *arg)
{
    world *wd = arg;
    atomic_store(&wd->helper_rc, km_sleep(10 * SEC));
    atomic_store(&wd->helper_done, 1);
}

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    world *wd = ud;
    km_str id = km_http_request_id(r);
    snprintf(wd->seen_id, sizeof wd->seen_id, "%.*s", (int)id.n, id.p ? id.p : "");
    const km_http_trace_ctx *t = km_http_trace(r);
    if (t) {
        snprintf(wd->seen_trace, sizeof wd->seen_trace, "%s", t->trace_id);
        snprintf(wd->seen_parent, sizeof wd->seen_parent, "%s", t->parent_id);
        km_http_kv kv[2];
        char buf[KM_HTTP_TRACE_BUF];
        size_t n = km_http_trace_headers(r, kv, buf);
        ck_assert_uint_ge(n, 1);
        ck_assert_str_eq(kv[0].name, "traceparent");
        snprintf(wd->outgoing, sizeof wd->outgoing, "%s", kv[0].value);
        ck_assert(strstr(kv[0].value, t->span_id) != NULL);   /* we are the parent */
    }
    km_str path = km_http_path(r);
    if (path.n == 6 && !memcmp(path.p, "/start", 6)) {
        int64_t st = km_http_req_start(r);
        ck_assert_int_gt(st, 0);
        ck_assert_int_eq(km_http_req_start(r), st);     /* read once, then kept */
        wd->start_age = km_now() - st;
        /* before the handler returns, the end is the present */
        int64_t e = km_http_req_end(r);
        km_sleep(SEC / 1000);
        ck_assert_int_gt(km_http_req_end(r), e);
    }
    if (path.n == 6 && !memcmp(path.p, "/spawn", 6)) {
        ck_assert_int_eq(km_go(helper, wd), 0);
        wd->handler_rc = km_sleep(10 * SEC);
        return;
    }
    if (path.n == 5 && !memcmp(path.p, "/slow", 5)) {
        wd->handler_rc = km_sleep(10 * SEC);      /* cut short by the timeout */
        return;
    }
    km_http_send(w, 200, "text/plain", "ok", 2);
}

/* Records that it ran (its tag), to check the chain's order. */
typedef struct { world *wd; int tag; } marker;

static void mark(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    marker *m = ud;
    if (m->wd->norder < 4)
        m->wd->order[m->wd->norder++] = m->tag;
    km_http_next_call(next, r, w);
    /* after it, one reading shared by the middleware around the handler */
    int64_t e = km_http_req_end(r);
    ck_assert_int_ge(e, km_http_req_start(r));
    if (m->tag == 2)
        m->wd->inner_end = e;
    else
        ck_assert_int_eq(e, m->wd->inner_end);
}

static int64_t timeout_ns = SEC / 10;
static marker mark1 = { NULL, 1 }, mark2 = { NULL, 2 };
static km_http_request_id_config echo = { .echo = true };

static const km_http_mw chain[] = {
    { mark, &mark1 },
    { km_http_mw_request_id, &echo },
    { km_http_mw_trace, NULL },
    { km_http_mw_timeout, &timeout_ns },
    { mark, &mark2 },
};

/* Sends one raw request, returns the response (static buffer). */
static const char *roundtrip(int port, const char *req)
{
    static char resp[4096];
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = km_dial(addr, km_now() + 5 * SEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(km_write(fd, req, strlen(req), km_now() + 5 * SEC), (ssize_t)strlen(req));
    size_t n = 0;
    for (;;) {
        ssize_t r = km_read(fd, resp + n, sizeof resp - 1 - n, km_now() + 5 * SEC);
        if (r <= 0)
            break;
        n += (size_t)r;
        resp[n] = 0;
        if (strstr(resp, "\r\n\r\n") && (strstr(resp, "\r\n\r\nok") || strstr(resp, "timed out\n")))
            break;
    }
    resp[n] = 0;
    km_close(fd);
    return resp;
}

static void body(void *arg)
{
    (void)arg;
    world wd = { 0 };
    mark1.wd = mark2.wd = &wd;
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler, .ud = &wd,
                           .middleware = chain, .nmiddleware = 5 };
    ck_assert_int_eq(km_http_serve(&wd.srv, &cfg), 0);
    int port = km_http_server_port(wd.srv);

    /* an incoming id and trace are continued */
    const char *r = roundtrip(port,
        "GET /x HTTP/1.1\r\nHost: a\r\nX-Request-ID: req-42\r\n"
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
        "Connection: close\r\n\r\n");
    ck_assert_msg(strstr(r, "HTTP/1.1 200") && strstr(r, "X-Request-ID: req-42\r\n"), "%s", r);
    ck_assert_str_eq(wd.seen_id, "req-42");
    ck_assert_str_eq(wd.seen_trace, "0af7651916cd43dd8448eb211c80319c");
    ck_assert_str_eq(wd.seen_parent, "b7ad6b7169203331");
    ck_assert(!strncmp(wd.outgoing, "00-0af7651916cd43dd8448eb211c80319c-", 36));
    ck_assert_int_eq(wd.norder, 2);
    ck_assert_int_eq(wd.order[0], 1);       /* chain order */
    ck_assert_int_eq(wd.order[1], 2);

    /* bad ones are replaced: a fresh id, a fresh trace */
    const char *bad_parents[] = {
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",   /* zero trace */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   /* zero parent */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* version ff */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",   /* upper case */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", /* 00 + extra */
        "garbage",
    };
    for (size_t i = 0; i < sizeof bad_parents / sizeof bad_parents[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET /x HTTP/1.1\r\nHost: a\r\nX-Request-ID: bad id!\r\n"
                 "traceparent: %s\r\nConnection: close\r\n\r\n", bad_parents[i]);
        r = roundtrip(port, req);
        ck_assert_msg(strstr(r, "HTTP/1.1 200"), "%s", r);
        ck_assert_int_eq(strlen(wd.seen_id), 16);
        ck_assert_int_eq(strlen(wd.seen_trace), 32);
        ck_assert_uint_eq(strspn(wd.seen_id, "0123456789abcdef"), 16);
        ck_assert_uint_eq(strspn(wd.seen_trace, "0123456789abcdef"), 32);
        ck_assert_str_eq(wd.seen_parent, "");
        ck_assert(strcmp(wd.seen_trace, "0af7651916cd43dd8448eb211c80319c"));
    }

    /* a future version with extra fields is accepted (forward compatible) */
    r = roundtrip(port, "GET /x HTTP/1.1\r\nHost: a\r\n"
        "traceparent: 01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra\r\n"
        "Connection: close\r\n\r\n");
    ck_assert_str_eq(wd.seen_trace, "0af7651916cd43dd8448eb211c80319c");

    /* a request starts when its first byte is read, not when its head is
     * complete: a head sent in two parts 200 ms apart is about 200 ms old
     * (less the time the server took to read the first part) */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = km_dial(addr, km_now() + 5 * SEC);
    ck_assert_int_ge(fd, 0);
    static const char part1[] = "GET /start HTTP/1.1\r\n";
    static const char part2[] = "Host: a\r\n\r\n";
    static const char again[] = "GET /start HTTP/1.1\r\nHost: a\r\n\r\n";
    ck_assert_int_eq(km_write(fd, part1, sizeof part1 - 1, km_now() + SEC), sizeof part1 - 1);
    km_sleep(SEC / 5);
    ck_assert_int_eq(km_write(fd, part2, sizeof part2 - 1, km_now() + SEC), sizeof part2 - 1);
    char buf[1024];
    ck_assert_int_gt(km_read(fd, buf, sizeof buf, km_now() + 5 * SEC), 0);
    ck_assert_int_ge(wd.start_age, SEC / 5 - SEC / 20);
    /* the next request on the connection starts afresh */
    ck_assert_int_eq(km_write(fd, again, sizeof again - 1, km_now() + SEC), sizeof again - 1);
    ck_assert_int_gt(km_read(fd, buf, sizeof buf, km_now() + 5 * SEC), 0);
    ck_assert_int_lt(wd.start_age, SEC / 10);
    km_close(fd);

    /* the timeout cuts the handler's sleep short and answers 503 */
    int64_t t0 = km_now();
    r = roundtrip(port, "GET /slow HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ck_assert_msg(strstr(r, "HTTP/1.1 503"), "%s", r);
    ck_assert_int_eq(wd.handler_rc, -ECANCELED);
    ck_assert_int_ge(km_now() - t0, timeout_ns);
    ck_assert_int_lt(km_now() - t0, 5 * SEC);

    /* on one keep-alive connection: a timed-out request whose handler
     * started a goroutine, then more. The goroutine is cut short and
     * waited for before the next request, which gets a fresh deadline. */
    fd = km_dial(addr, km_now() + 5 * SEC);
    ck_assert_int_ge(fd, 0);
    static const char spawn[] = "GET /spawn HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char plain[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for (int i = 0; i < 3; i++) {
        atomic_store(&wd.helper_done, 0);
        t0 = km_now();
        ck_assert_int_eq(km_write(fd, spawn, sizeof spawn - 1, km_now() + SEC), sizeof spawn - 1);
        ssize_t n = km_read(fd, buf, sizeof buf - 1, km_now() + 5 * SEC);
        ck_assert_int_gt(n, 0);
        buf[n] = 0;
        ck_assert_msg(strstr(buf, "HTTP/1.1 503"), "%s", buf);
        ck_assert_int_ge(km_now() - t0, timeout_ns);
        ck_assert_int_eq(atomic_load(&wd.helper_done), 1);
        ck_assert_int_eq(atomic_load(&wd.helper_rc), -ECANCELED);
        ck_assert_int_eq(km_write(fd, plain, sizeof plain - 1, km_now() + SEC), sizeof plain - 1);
        n = km_read(fd, buf, sizeof buf - 1, km_now() + 5 * SEC);
        ck_assert_int_gt(n, 0);
        buf[n] = 0;
        ck_assert_msg(strstr(buf, "HTTP/1.1 200") && strstr(buf, "\r\n\r\nok"), "%s", buf);
    }
    km_close(fd);

    ck_assert_int_eq(km_http_shutdown(wd.srv, km_now() + 5 * SEC), 0);
}

START_TEST(middleware_chain)
{
    t_run(body, NULL);
}
END_TEST

/* Without the echo, the handler and the log still have the id, the client
 * gets no X-Request-ID. */
static void quiet_body(void *arg)
{
    (void)arg;
    world wd = { 0 };
    static const km_http_mw ids[] = { { km_http_mw_request_id, NULL } };
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler, .ud = &wd,
                           .middleware = ids, .nmiddleware = 1 };
    ck_assert_int_eq(km_http_serve(&wd.srv, &cfg), 0);
    int port = km_http_server_port(wd.srv);
    const char *r = roundtrip(port, "GET /x HTTP/1.1\r\nHost: a\r\nX-Request-ID: req-42\r\n"
                                    "Connection: close\r\n\r\n");
    ck_assert_msg(strstr(r, "HTTP/1.1 200") && !strstr(r, "X-Request-ID"), "%s", r);
    ck_assert_str_eq(wd.seen_id, "req-42");
    r = roundtrip(port, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ck_assert_msg(strstr(r, "HTTP/1.1 200") && !strstr(r, "X-Request-ID"), "%s", r);
    ck_assert_uint_eq(strlen(wd.seen_id), 16);
    ck_assert_uint_eq(strspn(wd.seen_id, "0123456789abcdef"), 16);
    ck_assert_int_eq(km_http_shutdown(wd.srv, km_now() + 5 * SEC), 0);
}

START_TEST(request_id_not_echoed)
{
    t_run(quiet_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/middleware");
    TCase *tc = tcase_create("middleware");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, middleware_chain);
    tcase_add_test(tc, request_id_not_echoed);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
