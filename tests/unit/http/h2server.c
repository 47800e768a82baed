/* SPDX-License-Identifier: MIT */
/* The HTTP/2 server (h2c with prior knowledge, on the HTTP/1.1 listener):
 * the same handlers and middleware over streams, bodies both ways and
 * streamed, trailers, a reset or a hang-up cancelling its handler, many
 * streams at once, graceful shutdown; driven by kumo's HTTP/2 client. */
#include "rawcli.h"
#include <kumo/http2.h>
#include <nghttp2/nghttp2.h>
#include <fcntl.h>
#include <unistd.h>

#define MS 1000000LL

/* ---- the server under test ---- */

typedef struct {
    km_chan *gate;              /* test -> handler */
    km_chan *ended;             /* handler -> test: the result of its wait */
} ctx;

static bool is(km_str s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    ctx *x = ud;
    km_str path = km_http_path(r);
    char buf[256];
    if (is(path, "/ping")) {
        km_http_send(w, 200, "text/plain", "pong", 4);
    } else if (is(path, "/info")) {
        /* What the handler sees of the request. */
        km_str host = km_http_header(r, "host"), ua = km_http_header(r, "X-Test");
        int n = snprintf(buf, sizeof buf, "%.*s %.*s?%.*s v%d host=%.*s x=%.*s cl=%lld",
                         (int)km_http_method(r).n, km_http_method(r).p,
                         (int)path.n, path.p, (int)km_http_query(r).n, km_http_query(r).p,
                         km_http_version(r), (int)host.n, host.p, (int)ua.n, ua.p,
                         (long long)km_http_content_length(r));
        km_http_set_header(w, "X-Reply", "yes");
        km_http_set_header(w, "Connection", "keep-alive");   /* not for HTTP/2: dropped */
        km_http_send(w, 200, "text/plain", buf, (size_t)n);
    } else if (is(path, "/echo")) {
        km_str b;
        int rc = km_http_body(r, &b);
        if (rc == 0)
            km_http_send(w, 200, "application/octet-stream", b.p, b.n);
    } else if (is(path, "/duplex")) {
        /* Each piece back as it comes, then a trailer with the count. */
        km_http_status(w, 200);
        km_http_flush(w);
        char piece[4096];
        ssize_t got;
        long total = 0;
        while ((got = km_http_body_read(r, piece, sizeof piece, km_now() + 10 * SEC)) > 0) {
            total += got;
            km_http_write(w, piece, (size_t)got);
            km_http_flush(w);
        }
        snprintf(buf, sizeof buf, "%ld", got < 0 ? got : total);
        km_http_set_trailer(w, "x-total", buf);
    } else if (is(path, "/wait")) {
        /* Idles until released, or until its group is cancelled. */
        km_http_write(w, "started", 7);
        km_http_flush(w);
        int v, rc = km_chan_recv_dl(x->gate, &v, km_now() + 60 * SEC);
        km_chan_send(x->ended, &rc);
        if (rc == 0)
            km_http_write(w, "done", 4);
    } else {
        km_http_send(w, 404, "text/plain", "nf", 2);
    }
}

typedef struct {
    ctx x;
    km_http_server *srv;
    km_http2_client *cl;
    char addr[32];
} fixture;


static void setup_cfg(fixture *f, km_http_config *cfg)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(km_chan_new(&f->x.gate, sizeof(int), 1), 0);
    ck_assert_int_eq(km_chan_new(&f->x.ended, sizeof(int), 4), 0);
    cfg->addr = "127.0.0.1:0";
    cfg->handler = handler;
    cfg->ud = &f->x;
    ck_assert_int_eq(km_http_serve(&f->srv, cfg), 0);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", km_http_server_port(f->srv));
    km_http2_client_config cc = { .addr = f->addr };
    ck_assert_int_eq(km_http2_client_new(&f->cl, &cc), 0);
}

static void teardown(fixture *f)
{
    km_http2_client_free(f->cl);
    ck_assert_int_eq(km_http_shutdown(f->srv, soon()), 0);
    km_chan_free(f->x.gate);
    km_chan_free(f->x.ended);
}

#define TEST(name)                                                  \
    static void name##_body(fixture *f);                            \
    static void name##_run(void *arg) { (void)arg; fixture f; km_http_config cfg = { 0 }; \
        setup_cfg(&f, &cfg); name##_body(&f); teardown(&f); }      \
    START_TEST(name) { t_run(name##_run, NULL); } END_TEST          \
    static void name##_body(fixture *f)

/* One request: status, and the body into out (up to cap; its length in *n). */
static int request(fixture *f, const char *method, const char *path, const km_http_kv *extra,
                   size_t nextra, const void *body, size_t bn, char *out, size_t cap, size_t *n,
                   km_http2_stream **keep)
{
    km_http_kv h[8] = { { ":method", method }, { ":path", path } };
    size_t nh = 2;
    for (size_t i = 0; i < nextra; i++)
        h[nh++] = extra[i];
    km_http2_stream *st;
    int rc = km_http2_stream_open(f->cl, h, nh, bn == 0, soon(), &st);
    ck_assert_msg(rc == 0, "open: %s", km_strerror(rc));
    if (bn) {
        /* A server that answers early (413) stops the upload: -EPIPE. */
        rc = km_http2_stream_write(st, body, bn, true, soon());
        ck_assert_msg(rc == 0 || rc == -EPIPE, "write: %s", km_strerror(rc));
    }
    int status;
    rc = km_http2_stream_response(st, soon(), &status);
    ck_assert_msg(rc == 0, "response: %s", km_strerror(rc));
    size_t got = 0;
    ssize_t r;
    while ((r = km_http2_stream_read(st, out + got, cap - got, soon())) > 0)
        got += (size_t)r;
    ck_assert_msg(r == 0, "read: %s", km_strerror((int)r));
    if (n)
        *n = got;
    if (keep)
        *keep = st;
    else
        km_http2_stream_free(st);
    return status;
}

static bool str_is(km_str s, const char *lit) { return s.p && is(s, lit); }

/* ---- tests ---- */

TEST(get)
{
    char out[512];
    size_t n;
    km_http2_stream *st;
    km_http_kv x[] = { { "x-test", "a b" } };
    ck_assert_int_eq(request(f, "GET", "/info?q=1", x, 1, NULL, 0, out, sizeof out, &n, &st), 200);
    out[n] = 0;
    char want[128];
    snprintf(want, sizeof want, "GET /info?q=1 v20 host=%s x=a b cl=0", f->addr);
    ck_assert_str_eq(out, want);
    ck_assert(str_is(km_http2_stream_header(st, "content-type"), "text/plain"));
    ck_assert(str_is(km_http2_stream_header(st, "x-reply"), "yes"));
    ck_assert(str_is(km_http2_stream_header(st, "server"), "kumo"));
    ck_assert_ptr_null(km_http2_stream_header(st, "connection").p);
    km_http2_stream_free(st);
    ck_assert_int_eq(request(f, "GET", "/nope", NULL, 0, NULL, 0, out, sizeof out, &n, NULL), 404);
    ck_assert_int_eq(request(f, "HEAD", "/ping", NULL, 0, NULL, 0, out, sizeof out, &n, &st), 200);
    ck_assert_uint_eq(n, 0);
    ck_assert(str_is(km_http2_stream_header(st, "content-length"), "4"));
    km_http2_stream_free(st);
}

/* Request bodies: fixed and unannounced lengths, up to the limit; beyond
 * it 413, and the connection lives on. */
TEST(bodies)
{
    size_t big = 700 * 1024, n;
    char *body = malloc(big), *out = malloc(2 << 20);
    for (size_t i = 0; i < big; i++)
        body[i] = (char)('a' + i % 23);
    ck_assert_int_eq(request(f, "POST", "/echo", NULL, 0, body, big, out, 2 << 20, &n, NULL), 200);
    ck_assert_uint_eq(n, big);
    ck_assert(!memcmp(out, body, big));
    char cl[24];
    snprintf(cl, sizeof cl, "%zu", big);
    km_http_kv len[] = { { "content-length", cl } };
    ck_assert_int_eq(request(f, "POST", "/echo", len, 1, body, big, out, 2 << 20, &n, NULL), 200);
    ck_assert_uint_eq(n, big);
    size_t huge = (1 << 20) + 1;
    char *hb = calloc(1, huge);
    ck_assert_int_eq(request(f, "POST", "/echo", NULL, 0, hb, huge, out, 2 << 20, &n, NULL), 413);
    snprintf(cl, sizeof cl, "%zu", huge);
    ck_assert_int_eq(request(f, "POST", "/echo", len, 1, hb, huge, out, 2 << 20, &n, NULL), 413);
    ck_assert_int_eq(request(f, "GET", "/ping", NULL, 0, NULL, 0, out, 64, &n, NULL), 200);
    free(hb);
    free(body);
    free(out);
}

/* Both ways at once on one stream: every piece comes back before the
 * next is sent; the trailer counts them. */
TEST(duplex)
{
    km_http_kv h[] = { { ":method", "POST" }, { ":path", "/duplex" } };
    km_http2_stream *st;
    ck_assert_int_eq(km_http2_stream_open(f->cl, h, 2, false, soon(), &st), 0);
    int status;
    ck_assert_int_eq(km_http2_stream_response(st, soon(), &status), 0);
    ck_assert_int_eq(status, 200);
    long total = 0;
    for (int i = 1; i <= 20; i++) {
        char piece[64], back[64];
        int n = snprintf(piece, sizeof piece, "piece %d", i);
        ck_assert_int_eq(km_http2_stream_write(st, piece, (size_t)n, false, soon()), 0);
        size_t got = 0;
        while (got < (size_t)n) {
            ssize_t r = km_http2_stream_read(st, back + got, sizeof back - got, soon());
            ck_assert_int_gt(r, 0);
            got += (size_t)r;
        }
        ck_assert(got == (size_t)n && !memcmp(back, piece, got));
        total += n;
    }
    ck_assert_int_eq(km_http2_stream_write(st, NULL, 0, true, soon()), 0);
    char rest[16];
    ck_assert_int_eq(km_http2_stream_read(st, rest, sizeof rest, soon()), 0);
    char want[24];
    snprintf(want, sizeof want, "%ld", total);
    ck_assert(str_is(km_http2_stream_trailer(st, "x-total"), want));
    km_http2_stream_free(st);
}

/* A client that resets its stream cancels the handler's group at once. */
TEST(reset_cancels)
{
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/wait" } };
    km_http2_stream *st;
    ck_assert_int_eq(km_http2_stream_open(f->cl, h, 2, true, soon(), &st), 0);
    int status;
    ck_assert_int_eq(km_http2_stream_response(st, soon(), &status), 0);
    char b[16];
    ck_assert_int_eq(km_http2_stream_read(st, b, sizeof b, soon()), 7);
    int rc;
    ck_assert_int_eq(km_chan_recv_dl(f->x.ended, &rc, km_now() + 50 * MS), -ETIMEDOUT);
    int64_t t0 = km_now();
    km_http2_stream_cancel(st);
    ck_assert_int_eq(km_chan_recv_dl(f->x.ended, &rc, soon()), 0);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_lt(km_now() - t0, SEC);
    km_http2_stream_free(st);
    /* The connection serves on. */
    size_t n;
    ck_assert_int_eq(request(f, "GET", "/ping", NULL, 0, NULL, 0, b, sizeof b, &n, NULL), 200);
}

/* Streams waiting on one connection all run at once: 200 handlers are
 * parked together, then released together. */
TEST(concurrent)
{
    enum { N = 200 };
    static km_http2_stream *st[N];
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/wait" } };
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(km_http2_stream_open(f->cl, h, 2, true, soon(), &st[i]), 0);
    for (int i = 0; i < N; i++) {
        int status;
        char b[16];
        ck_assert_int_eq(km_http2_stream_response(st[i], soon(), &status), 0);
        ck_assert_int_eq(km_http2_stream_read(st[i], b, sizeof b, soon()), 7);
    }
    km_http2_client_stat cs;
    km_http2_client_stat_read(f->cl, &cs);
    ck_assert_int_eq(cs.dials, 1);
    for (int i = 0; i < N; i++) {
        int one = 1, rc;
        ck_assert_int_eq(km_chan_send_dl(f->x.gate, &one, soon()), 0);
        ck_assert_int_eq(km_chan_recv_dl(f->x.ended, &rc, soon()), 0);
        ck_assert_int_eq(rc, 0);
    }
    for (int i = 0; i < N; i++) {
        char b[16];
        ck_assert_int_eq(km_http2_stream_read(st[i], b, sizeof b, soon()), 4);
        ck_assert_int_eq(km_http2_stream_read(st[i], b, sizeof b, soon()), 0);
        km_http2_stream_free(st[i]);
    }
}

/* HTTP/1.1 and HTTP/2 on one listener; a server told to speak HTTP/1.1
 * only answers the preface as a bad request. */
TEST(same_port)
{
    cli c;
    cli_open(&c, km_http_server_port(f->srv));
    roundtrip(&c, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n", 200, "pong");
    cli_close(&c);
    char b[16];
    size_t n;
    ck_assert_int_eq(request(f, "GET", "/ping", NULL, 0, NULL, 0, b, sizeof b, &n, NULL), 200);
}

static void h1_only_run(void *arg)
{
    (void)arg;
    fixture f;
    km_http_config cfg = { .h1_only = true };
    setup_cfg(&f, &cfg);
    cli c;
    cli_open(&c, km_http_server_port(f.srv));
    cli_send(&c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    resp r;
    ck_assert_int_eq(read_resp(&c, &r, false), 505);
    free(r.body);
    cli_close(&c);
    teardown(&f);
}

START_TEST(h1_only)
{
    t_run(h1_only_run, NULL);
}
END_TEST

/* The middleware chain runs on HTTP/2 streams as on HTTP/1.1 ones. */
static void middleware_run(void *arg)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
    km_http_request_id_config echo = { .echo = true };
    km_http_mw mw[] = { { km_http_mw_request_id, &echo }, { km_http_mw_trace, NULL } };
    fixture f;
    km_http_config cfg = { .middleware = mw, .nmiddleware = 2, .access_log_fd = p[1] };
    setup_cfg(&f, &cfg);
    char out[64];
    size_t n;
    km_http2_stream *st;
    km_http_kv id[] = { { "x-request-id", "abc-123" } };
    ck_assert_int_eq(request(&f, "GET", "/ping", id, 1, NULL, 0, out, sizeof out, &n, &st), 200);
    ck_assert(str_is(km_http2_stream_header(st, "x-request-id"), "abc-123"));
    km_http2_stream_free(st);
    /* Streams finish on their own goroutines: the line may come a moment
     * after the response. */
    char log[2048];
    ssize_t ln = -1;
    for (int i = 0; i < 2000 && ln <= 0; i++)
        if ((ln = read(p[0], log, sizeof log - 1)) <= 0)
            km_sleep(MS);
    ck_assert_int_gt(ln, 0);
    log[ln] = 0;
    static const char want[] = "{\"method\":\"GET\",\"path\":\"/ping\",\"status\":200,\"dur_us\":";
    ck_assert_msg(!strncmp(log, want, sizeof want - 1), "log: %s", log);
    ck_assert_msg(strstr(log, "\"request_id\":\"abc-123\"") && strstr(log, "\"trace_id\":\""), "log: %s", log);
    teardown(&f);
    close(p[0]);
    close(p[1]);
}

START_TEST(middleware)
{
    t_run(middleware_run, NULL);
}
END_TEST

/* Graceful shutdown: a stream in progress finishes; the server waits for
 * it, then closes the connection. */
typedef struct { km_http_server *srv; int rc; km_chan *done; } stopper;

static void stop(void *arg)
{
    stopper *s = arg;
    s->rc = km_http_shutdown(s->srv, km_now() + 10 * SEC);
    int one = 1;
    km_chan_send(s->done, &one);
}

static void graceful_run(void *arg)
{
    (void)arg;
    fixture f;
    km_http_config cfg = { 0 };
    setup_cfg(&f, &cfg);
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/wait" } };
    km_http2_stream *st;
    ck_assert_int_eq(km_http2_stream_open(f.cl, h, 2, true, soon(), &st), 0);
    int status;
    char b[16];
    ck_assert_int_eq(km_http2_stream_response(st, soon(), &status), 0);
    ck_assert_int_eq(km_http2_stream_read(st, b, sizeof b, soon()), 7);
    stopper s = { f.srv, 1, NULL };
    ck_assert_int_eq(km_chan_new(&s.done, sizeof(int), 1), 0);
    ck_assert_int_eq(km_go(stop, &s), 0);
    int one = 1, rc;
    ck_assert_int_eq(km_chan_recv_dl(s.done, &one, km_now() + 200 * MS), -ETIMEDOUT);
    ck_assert_int_eq(km_chan_send(f.x.gate, &one), 0);
    ck_assert_int_eq(km_chan_recv_dl(f.x.ended, &rc, soon()), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(km_http2_stream_read(st, b, sizeof b, soon()), 4);
    ck_assert_int_eq(km_http2_stream_read(st, b, sizeof b, soon()), 0);
    km_http2_stream_free(st);
    ck_assert_int_eq(km_chan_recv_dl(s.done, &one, soon()), 0);
    ck_assert_int_eq(s.rc, 0);
    km_chan_free(s.done);
    km_http2_client_free(f.cl);
    km_chan_free(f.x.gate);
    km_chan_free(f.x.ended);
}

START_TEST(graceful)
{
    t_run(graceful_run, NULL);
}
END_TEST

#if !T_SANITIZED
/* Out of memory for a stream's goroutine: the stream is refused with
 * REFUSED_STREAM (the client may retry it, here or elsewhere), the
 * connection and its other streams live on, and once memory is back the
 * same connection serves again. The address space is filled with parked
 * goroutines' stacks under a lowered limit, as a loaded server's would be.
 * (When even the connection's small allocations fail, nghttp2 gives up on
 * the session and the connection is dropped instead.) */
typedef struct {
    km_chan *gate;
    km_wg   *wg;
} holders;

static void hold(void *arg)
{
    holders *h = arg;
    char c;
    km_chan_recv(h->gate, &c);
    km_wg_done(h->wg);
}

TEST(refused_out_of_memory)
{
    char out[64];
    REQUIRE_EQ(request(f, "GET", "/ping", NULL, 0, NULL, 0, out, sizeof out, NULL, NULL), 200);
    holders h;
    REQUIRE_EQ(km_chan_new(&h.gate, 1, 0), 0);
    REQUIRE_EQ(km_wg_new(&h.wg), 0);
    km_http_kv hdr[] = { { ":method", "GET" }, { ":path", "/ping" } };
    km_http2_stream *st = NULL;
    int lim = t_as_limit(40u * 1024 * 1024), rc = 0, n = 0, open_rc = -1, resp_rc = -1;
    uint32_t code = 0;
    while (!lim && n < 50000) {
        km_wg_add(h.wg, 1);
        if ((rc = km_go(hold, &h))) {
            km_wg_done(h.wg);
            break;
        }
        n++;
    }
    if (rc == -ENOMEM) {
        /* Every stack slot mapped is held; a new slab of them (64 slots,
         * over 8 MiB) cannot fit under a limit 4 MiB above what is mapped
         * now, while the heap can still grow a little: the connection's
         * own bookkeeping gets its memory, the stream's goroutine not. */
        lim = t_as_limit(4u << 20);
        int status;
        open_rc = km_http2_stream_open(f->cl, hdr, 2, true, soon(), &st);
        if (!open_rc) {
            resp_rc = km_http2_stream_response(st, soon(), &status);
            code = km_http2_stream_reset_code(st);
            km_http2_stream_free(st);
        }
    }
    km_chan_close(h.gate);
    km_wg_wait(h.wg);
    t_as_limit(0);
    REQUIRE_EQ(lim, 0);
    ck_assert_msg(rc == -ENOMEM, "km_go under the limit: %s after %d", km_strerror(rc), n);
    REQUIRE_EQ(open_rc, 0);
    ck_assert_msg(resp_rc == -EAGAIN && code == NGHTTP2_REFUSED_STREAM,
                  "response: %s, reset code %u", km_strerror(resp_rc), code);
    REQUIRE_EQ(request(f, "GET", "/ping", NULL, 0, NULL, 0, out, sizeof out, NULL, NULL), 200);
    km_http2_client_stat cs;
    km_http2_client_stat_read(f->cl, &cs);
    REQUIRE_EQ(cs.dials, 1);
    km_chan_free(h.gate);
    km_wg_free(h.wg);
}
#endif

static Suite *suite(void)
{
    Suite *s = suite_create("http/h2server");
    TCase *tc = tcase_create("h2server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, get);
    tcase_add_test(tc, bodies);
    tcase_add_test(tc, duplex);
    tcase_add_test(tc, reset_cancels);
    tcase_add_test(tc, concurrent);
    tcase_add_test(tc, same_port);
    tcase_add_test(tc, h1_only);
    tcase_add_test(tc, middleware);
    tcase_add_test(tc, graceful);
#if !T_SANITIZED
    tcase_add_test(tc, refused_out_of_memory);
#endif
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
