/* SPDX-License-Identifier: MIT */
/* The pooled client against kumo's own server: large bodies (the read
 * buffer grows under parsed headers), chunked bodies, and lean streams on
 * the server side keeping the request intact and the connection reusable. */
#include "util.h"
#include <stdio.h>
#include <string.h>

#define SEC 1000000000LL
#define BIG (300 * 1024)

static char big[BIG];

static void large(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_set_header(w, "X-Marker", "still-here");
    km_http_send(w, 200, "application/octet-stream", big, BIG);
}

/* A chunked response that outgrows the client's first buffer, from a
 * handler that gives its buffers back first and then checks that what it
 * read of the request is intact. */
static void lean_stream(km_http_req *r, km_http_resp *w, void *ud)
{
    km_str body;
    REQUIRE_EQ(km_http_body(r, &body), 0);
    km_http_set_header(w, "X-Marker", "chunked");
    km_http_status(w, 200);
    REQUIRE_EQ(km_http_write(w, "start\n", 6), 0);
    REQUIRE_EQ(km_http_flush(w), 0);
    REQUIRE_EQ(km_http_stream_lean(r, w), 0);
    km_str m = km_http_method(r), p = km_http_path(r), h = km_http_header(r, "X-Test");
    km_str id = km_http_param(r, "id");
    REQUIRE(m.n == 4 && !memcmp(m.p, "POST", 4));
    REQUIRE(p.n == 11 && !memcmp(p.p, "/stream/abc", 11));
    REQUIRE(h.n == 5 && !memcmp(h.p, "hello", 5));
    REQUIRE(id.n == 3 && !memcmp(id.p, "abc", 3));
    for (int i = 0; i < 64; i++) {
        REQUIRE_EQ(km_http_write(w, big, 4096), 0);
        REQUIRE_EQ(km_http_flush(w), 0);        /* each flush drops the write buffer */
    }
}

static void body(void *arg)
{
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('a' + i % 26);
    km_http_router *rt;
    REQUIRE_EQ(km_http_router_new(&rt), 0);
    REQUIRE_EQ(km_http_route(rt, "GET", "/large", large, NULL), 0);
    REQUIRE_EQ(km_http_route(rt, "POST", "/stream/:id", lean_stream, NULL), 0);
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = km_http_router_serve, .ud = rt };
    km_http_server *s;
    REQUIRE_EQ(km_http_serve(&s, &cfg), 0);
    char url[128];
    km_http_client *cl;
    REQUIRE_EQ(km_http_client_new(&cl, NULL), 0);
    for (int round = 0; round < 3; round++) {    /* the same pooled connection */
        km_http_response *resp;
        snprintf(url, sizeof url, "http://127.0.0.1:%d/large", km_http_server_port(s));
        REQUIRE_EQ(km_http_get(cl, url, km_now() + 5 * SEC, &resp), 0);
        km_str b = km_http_response_body(resp), mk = km_http_response_header(resp, "X-Marker");
        REQUIRE(b.n == BIG && !memcmp(b.p, big, BIG));
        REQUIRE(mk.n == 10 && !memcmp(mk.p, "still-here", 10));
        km_http_response_free(resp);

        snprintf(url, sizeof url, "http://127.0.0.1:%d/stream/abc", km_http_server_port(s));
        km_http_kv hdr = { "X-Test", "hello" };
        REQUIRE_EQ(km_http_do(cl, "POST", url, &hdr, 1, "payload", 7, km_now() + 5 * SEC, &resp), 0);
        b = km_http_response_body(resp);
        mk = km_http_response_header(resp, "X-Marker");
        REQUIRE_EQ(km_http_response_status(resp), 200);
        REQUIRE_EQ(b.n, 6 + 64 * 4096);
        REQUIRE(!memcmp(b.p, "start\n", 6) && !memcmp(b.p + 6, big, 4096));
        REQUIRE(mk.n == 7 && !memcmp(mk.p, "chunked", 7));
        km_http_response_free(resp);
    }
    km_http_client_free(cl);
    REQUIRE_EQ(km_http_shutdown(s, km_now() + SEC), 0);
    km_http_router_free(rt);
}

START_TEST(large_and_lean) { t_run(body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, large_and_lean);
    suite_add_tcase(s, tc);
    return s;
}
T_MAIN(suite)
