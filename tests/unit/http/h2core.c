/* SPDX-License-Identifier: MIT */
/* The HTTP/2 connection core in the server role (what kumo's HTTP/2
 * server builds on): peers' streams handed over by the stream_new hook,
 * answered with headers, body and trailers; the client talks to it. */
#include "util.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "http/h2-int.h"

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t soon(void) { return km_now() + 20 * SEC; }

typedef struct {
    int       lfd, port, ulfd;
    km_group *grp;
    atomic_int streams;
    km__h2_conn *conns[16];     /* for the graceful shutdown */
    int       nconns;
} csrv;

/* Reads the request body, answers with it, the path in a header and a
 * trailer saying how long it was. */
static void handle(void *arg)
{
    km__h2_stream *st = arg;
    size_t cap = 1 << 16, len = 0;
    char *body = malloc(cap);
    ssize_t r;
    for (;;) {
        if (len == cap)
            body = realloc(body, cap *= 2);
        if ((r = km__h2_read(st, body + len, cap - len, soon())) <= 0)
            break;
        len += (size_t)r;
    }
    if (r == 0) {
        km_str path = km__h2_hblock_get(&st->head, ":path");
        char p[64], n[32];
        snprintf(p, sizeof p, "%.*s", (int)path.n, path.p);
        snprintf(n, sizeof n, "%zu", len);
        nghttp2_nv h[] = { { (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 },
                           { (uint8_t *)"x-path", (uint8_t *)p, 6, strlen(p), 0 } };
        nghttp2_nv t[] = { { (uint8_t *)"x-length", (uint8_t *)n, 8, strlen(n), 0 } };
        REQUIRE_EQ(km__h2_respond(st, h, 2, false), 0);
        for (size_t off = 0; off < len;) {
            size_t k = len - off < 50000 ? len - off : 50000;
            REQUIRE_EQ(km__h2_write(st, body + off, k, false, soon()), 0);
            off += k;
        }
        REQUIRE_EQ(km__h2_write_trailers(st, t, 1), 0);
        REQUIRE_EQ(km__h2_respond(st, h, 2, true), -EALREADY);
    }
    free(body);
    km__h2_stream_release(st);
}

static void stream_new(km__h2_conn *c, km__h2_stream *st, void *ud)
{
    csrv *s = ud;
    atomic_fetch_add(&s->streams, 1);
    if (km_go(handle, st))
        km__h2_stream_release(st);
}

static void accept_on(csrv *s, int lfd)
{
    for (;;) {
        int fd = km_accept(lfd, KM_FOREVER);
        if (fd < 0)
            return;                             /* cancelled */
        km__h2_cfg cfg = { .role = KM__H2_SERVER, .max_concurrent = 64,
                           .hooks = { .stream_new = stream_new, .ud = s } };
        km__h2_conn *c;
        if (km__h2_conn_new(&c, fd, &cfg))
            continue;
        km__h2_conn_start(c, NULL);             /* its goroutines hold it */
        if (s->nconns < 16)
            s->conns[s->nconns++] = c;          /* keeps the owner's reference */
        else
            km__h2_conn_release(c);
    }
}

static void accept_loop(void *arg) { csrv *s = arg; accept_on(s, s->lfd); }
static void accept_unix(void *arg) { csrv *s = arg; accept_on(s, s->ulfd); }

typedef struct { km_http2_client *c; int i; } call;

static void one_call(void *arg)
{
    call *k = arg;
    char path[32], body[64];
    snprintf(path, sizeof path, "/call/%d", k->i);
    int n = snprintf(body, sizeof body, "body of call %d", k->i);
    km_http_kv h[] = { { ":method", "POST" }, { ":path", path } };
    km_http2_stream *st;
    REQUIRE_EQ(km_http2_stream_open(k->c, h, 2, false, soon(), &st), 0);
    REQUIRE_EQ(km_http2_stream_write(st, body, (size_t)n, true, soon()), 0);
    int status;
    REQUIRE_EQ(km_http2_stream_response(st, soon(), &status), 0);
    REQUIRE_EQ(status, 200);
    km_str xp = km_http2_stream_header(st, "x-path");
    REQUIRE(xp.n == strlen(path) && !memcmp(xp.p, path, xp.n));
    char got[64];
    size_t have = 0;
    ssize_t r;
    while ((r = km_http2_stream_read(st, got + have, sizeof got - have, soon())) > 0)
        have += (size_t)r;
    REQUIRE_EQ(r, 0);
    REQUIRE_EQ(have, n);
    REQUIRE(!memcmp(got, body, have));
    km_str len = km_http2_stream_trailer(st, "x-length");
    char want[16];
    snprintf(want, sizeof want, "%d", n);
    REQUIRE(len.n == strlen(want) && !memcmp(len.p, want, len.n));
    km_http2_stream_free(st);
}

static void body(void *arg)
{
    csrv s = { 0 };
    s.lfd = km_listen("127.0.0.1:0", 64);
    REQUIRE(s.lfd >= 0);
    s.port = km_local_port(s.lfd);
    REQUIRE_EQ(km_group_new(&s.grp, NULL, KM_FOREVER), 0);
    REQUIRE_EQ(km_group_go(s.grp, accept_loop, &s), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    km_http2_client_config cfg = { .addr = addr };
    km_http2_client *c;
    REQUIRE_EQ(km_http2_client_new(&c, &cfg), 0);

    /* Many calls at once: the server's limit of 64 spreads them over two
     * connections. */
    enum { N = 100 };
    static call calls[N];
    for (int i = 0; i < N; i++)
        calls[i] = (call){ c, i };
    t_go_all(N, one_call, calls, sizeof *calls);
    REQUIRE_EQ(atomic_load(&s.streams), N);

    /* A large body both ways, in one stream. */
    enum { BIG = 3 << 20 };
    char *big = malloc(BIG), *back = malloc(BIG + 1);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)(i * 31 + i / 977);
    km_http_kv h[] = { { ":method", "PUT" }, { ":path", "/big" } };
    km_http2_stream *st;
    REQUIRE_EQ(km_http2_stream_open(c, h, 2, false, soon(), &st), 0);
    REQUIRE_EQ(km_http2_stream_write(st, big, BIG, true, soon()), 0);
    size_t have = 0;
    ssize_t r;
    while ((r = km_http2_stream_read(st, back + have, BIG + 1 - have, soon())) > 0)
        have += (size_t)r;
    REQUIRE_EQ(r, 0);
    REQUIRE_EQ(have, BIG);
    REQUIRE(!memcmp(big, back, BIG));
    km_http2_stream_free(st);
    free(big);
    free(back);

    /* Graceful shutdown by the server while a request is half sent: it
     * completes; the next stream goes to a new connection. */
    km_http2_client_stat before, after;
    km_http2_client_stat_read(c, &before);
    km_http_kv hs[] = { { ":method", "POST" }, { ":path", "/late" } };
    REQUIRE_EQ(km_http2_stream_open(c, hs, 2, false, soon(), &st), 0);
    REQUIRE_EQ(km_http2_stream_write(st, "part one, ", 10, false, soon()), 0);
    km_sleep(50 * MS);                          /* the server has the stream */
    for (int i = 0; i < s.nconns; i++)
        km__h2_conn_shutdown(s.conns[i]);
    km_sleep(50 * MS);                          /* the client has the GOAWAY */
    REQUIRE_EQ(km_http2_stream_write(st, "part two", 8, true, soon()), 0);
    char late[32];
    have = 0;
    while ((r = km_http2_stream_read(st, late + have, sizeof late - have, soon())) > 0)
        have += (size_t)r;
    REQUIRE_EQ(r, 0);
    REQUIRE(have == 18 && !memcmp(late, "part one, part two", 18));
    km_http2_stream_free(st);
    call after_call = { c, 1000 };
    one_call(&after_call);
    km_http2_client_stat_read(c, &after);
    REQUIRE_EQ(after.dials, before.dials + 1);
    REQUIRE(after.conns_lost >= 1);
    km_http2_client_free(c);

    /* Over a unix socket (the default :authority is then "localhost"). */
    char upath[64];
    snprintf(upath, sizeof upath, "unix:/tmp/kumo-h2core-%d.sock", (int)getpid());
    unlink(upath + 5);
    s.ulfd = km_listen(upath, 16);
    REQUIRE(s.ulfd >= 0);
    REQUIRE_EQ(km_group_go(s.grp, accept_unix, &s), 0);
    cfg.addr = upath;
    REQUIRE_EQ(km_http2_client_new(&c, &cfg), 0);
    call uc = { c, 7 };
    one_call(&uc);
    km_http2_client_free(c);
    unlink(upath + 5);

    km_group_cancel(s.grp);
    REQUIRE_EQ(km_group_wait(s.grp, soon()), 0);
    REQUIRE_EQ(km_group_free(s.grp), 0);
    for (int i = 0; i < s.nconns; i++)
        km__h2_conn_release(s.conns[i]);
    km_close(s.lfd);
    km_close(s.ulfd);
}

START_TEST(server_role) { t_run(body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/h2core");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, server_role);
    suite_add_tcase(s, tc);
    return s;
}
T_MAIN(suite)
