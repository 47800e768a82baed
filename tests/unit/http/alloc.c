/* SPDX-License-Identifier: MIT */
/* Steady-state HTTP requests on a warm keep-alive connection make no allocation through kumo's allocator hook, with and without the observability middleware. */
#include "util.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define SEC    1000000000LL
#define WARMUP 100
#define COUNT  10000

/* Every allocation kumo makes, server and client side alike (the client
 * below runs in the same runtime); no realloc hook, so none is missed. */
static atomic_long nallocs, live;

static void *count_malloc(size_t n, void *ud)
{
    (void)ud;
    atomic_fetch_add(&nallocs, 1);
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void count_free(void *p, void *ud)
{
    (void)ud;
    if (p) {
        atomic_fetch_sub(&live, 1);
        free(p);
    }
}

static int64_t soon(void) { return km_now() + 10 * SEC; }

static void ping(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)r; (void)ud;
    km_http_send(w, 200, "text/plain", "pong", 4);
}

static void echo(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)ud;
    km_str b;
    if (km_http_body(r, &b) == 0)
        km_http_send(w, 200, "application/octet-stream", b.p, b.n);
}

/* A client that reads into a fixed buffer and allocates nothing itself. */
typedef struct { int fd; char buf[8192]; size_t len; } cli;

/* Reads one response with a Content-Length body; it must end in want. */
static void read_one(cli *c, const char *want)
{
    size_t wn = strlen(want);
    for (;;) {
        char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (e) {
            size_t hl = (size_t)(e + 4 - c->buf);
            char *cl = memmem(c->buf, hl, "Content-Length: ", 16);
            ck_assert_msg(!strncmp(c->buf, "HTTP/1.1 200 ", 13) && cl, "%.*s", (int)hl, c->buf);
            size_t n = strtoul(cl + 16, NULL, 10);
            if (c->len >= hl + n) {
                ck_assert(n == wn && !memcmp(c->buf + hl, want, n));
                memmove(c->buf, c->buf + hl + n, c->len - hl - n);
                c->len -= hl + n;
                return;
            }
        }
        ssize_t r = km_read(c->fd, c->buf + c->len, sizeof c->buf - c->len, soon());
        ck_assert_msg(r > 0, "read: %s", r ? km_strerror((int)r) : "EOF");
        c->len += (size_t)r;
    }
}

enum { PING, POST, PIPELINED, MIDDLEWARE };

typedef struct { int mode; long during; long leaked_at_end; } run_t;

static void body(void *arg)
{
    run_t *run = arg;
    km_http_router *rt;
    km_http_server *srv;
    ck_assert_int_eq(km_http_router_new(&rt), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/ping", ping, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "POST", "/echo", echo, NULL), 0);
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = km_http_router_serve, .ud = rt };
    /* The whole observability set, as kumo serve runs it: metrics, request
     * id, trace context, a buffered access log, a timeout. */
    km_metrics *reg = NULL;
    km_metrics_http *mh = NULL;
    km_logger *log = NULL;
    int logfd = -1;
    static const int64_t timeout = 5 * SEC;
    km_http_mw chain[5];
    if (run->mode == MIDDLEWARE) {
        logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        km_log_config lc = { .fd = logfd, .flush_interval = 50 * 1000000LL };
        ck_assert_int_eq(km_metrics_new(&reg), 0);
        ck_assert_int_eq(km_metrics_http_new(&mh, reg, NULL), 0);
        ck_assert_int_eq(km_log_new(&log, &lc), 0);
        chain[0] = (km_http_mw){ km_metrics_mw, mh };
        chain[1] = (km_http_mw){ km_http_mw_request_id, NULL };
        chain[2] = (km_http_mw){ km_http_mw_trace, NULL };
        chain[3] = (km_http_mw){ km_log_mw_request, log };
        chain[4] = (km_http_mw){ km_http_mw_timeout, (void *)&timeout };
        cfg.middleware = chain;
        cfg.nmiddleware = 5;
    }
    ck_assert_int_eq(km_http_serve(&srv, &cfg), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_http_server_port(srv));
    cli *c = calloc(1, sizeof *c);
    c->fd = km_dial(addr, soon());
    ck_assert_int_ge(c->fd, 0);

    static const char get[] = "GET /ping HTTP/1.1\r\nHost: t\r\nUser-Agent: alloc-test\r\n\r\n";
    static const char post[] = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 32\r\n\r\n0123456789abcdef0123456789ABCDEF";
    char batch[16 * sizeof get];
    for (int i = 0; i < 16; i++)
        memcpy(batch + i * (sizeof get - 1), get, sizeof get - 1);
    long at = -1;
    int step = run->mode == PIPELINED ? 16 : 1, start = 0;
    for (int i = 0; ; i += step) {
        if (i >= WARMUP && at < 0) {
            at = atomic_load(&nallocs);
            ck_assert_int_gt(at, 0);    /* the hook is in place: setting up allocated */
            start = i;
        }
        if (at >= 0 && i - start >= COUNT)
            break;
        if (run->mode == PING || run->mode == MIDDLEWARE) {
            ck_assert_int_eq(km_write(c->fd, get, sizeof get - 1, soon()), sizeof get - 1);
            read_one(c, "pong");
        } else if (run->mode == POST) {
            ck_assert_int_eq(km_write(c->fd, post, sizeof post - 1, soon()), sizeof post - 1);
            read_one(c, "0123456789abcdef0123456789ABCDEF");
        } else {
            ck_assert_int_eq(km_write(c->fd, batch, 16 * (sizeof get - 1), soon()), 16 * (sizeof get - 1));
            for (int k = 0; k < 16; k++)
                read_one(c, "pong");
        }
    }
    run->during = atomic_load(&nallocs) - at;
    km_close(c->fd);
    free(c);
    ck_assert_int_eq(km_http_shutdown(srv, soon()), 0);
    km_http_router_free(rt);
    if (run->mode == MIDDLEWARE) {
        km_log_free(log);
        km_metrics_http_free(mh);
        km_metrics_free(reg);
        close(logfd);
    }
}

static void run_mode(int mode)
{
    km_allocator a = { count_malloc, NULL, count_free, NULL };
    km_set_allocator(&a);
    long before = atomic_load(&live);
    run_t run = { .mode = mode };
    int rc = km_main(body, &run);
    km_set_allocator(NULL);
    ck_assert_msg(rc == 0, "km_main: %s", km_strerror(rc));
    ck_assert_msg(run.during == 0, "%ld allocations during %d requests (mode %d)", run.during, COUNT, mode);
    ck_assert_msg(atomic_load(&live) == before, "leaked %ld allocations", atomic_load(&live) - before);
}

START_TEST(get_ping)
{
    run_mode(PING);
}
END_TEST

START_TEST(post_small_body)
{
    run_mode(POST);
}
END_TEST

START_TEST(pipelined_gets)
{
    run_mode(PIPELINED);
}
END_TEST

START_TEST(gets_through_middleware)
{
    run_mode(MIDDLEWARE);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/alloc");
    TCase *tc = tcase_create("alloc");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, get_ping);
    tcase_add_test(tc, post_small_body);
    tcase_add_test(tc, pipelined_gets);
    tcase_add_test(tc, gets_through_middleware);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
