/* SPDX-License-Identifier: MIT */
/* Middleware over real HTTP: 429 with Retry-After, deadline propagation. */
#include "util.h"
#include <kumo/resil.h>
#include <stdio.h>
#include <string.h>

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t seen_left;       /* deadline the handler saw, as time left */
static int handler_rc;

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)ud;
    km_str path = km_http_path(r);
    int64_t dl = km_deadline_current();
    seen_left = dl == KM_FOREVER ? -1 : dl - km_now();
    if (path.n == 5 && !memcmp(path.p, "/slow", 5)) {
        handler_rc = km_sleep(10 * SEC);
        return;
    }
    km_http_send(w, 200, "text/plain", "ok", 2);
}

static int get(km_http_client *c, int port, const char *path, const km_http_kv *h, size_t nh,
               char *retry_after, size_t ra_len)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    km_http_response *resp;
    int rc = km_http_do(c, "GET", url, h, nh, NULL, 0, km_now() + 5 * SEC, &resp);
    ck_assert_msg(rc == 0, "GET %s: %s", path, km_strerror(rc));
    int st = km_http_response_status(resp);
    if (retry_after) {
        km_str ra = km_http_response_header(resp, "Retry-After");
        snprintf(retry_after, ra_len, "%.*s", (int)ra.n, ra.p ? ra.p : "");
    }
    km_http_response_free(resp);
    return st;
}

static int serve(km_http_server **srv, const km_http_mw *mw, size_t n)
{
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler,
                           .middleware = mw, .nmiddleware = n };
    ck_assert_int_eq(km_http_serve(srv, &cfg), 0);
    return km_http_server_port(*srv);
}

static void limit_body(void *arg)
{
    (void)arg;
    km_http_client *c;
    REQUIRE_EQ(km_http_client_new(&c, NULL), 0);
    char ra[16];

    /* one bucket for the server: 2 now, then 1 per 2.5 s */
    km_ratelimit *g;
    km_ratelimit_config gc = { .rate = 0.4, .burst = 2 };
    REQUIRE_EQ(km_ratelimit_new(&g, &gc), 0);
    km_ratelimit_mw_config mc = { .by = KM_RATELIMIT_BY_NONE, .global = g };
    km_http_mw mw[] = { { km_ratelimit_http_mw, &mc } };
    km_http_server *srv;
    int port = serve(&srv, mw, 1);
    REQUIRE_EQ(get(c, port, "/a", NULL, 0, ra, sizeof ra), 200);
    REQUIRE_EQ(get(c, port, "/b", NULL, 0, ra, sizeof ra), 200);
    REQUIRE_EQ(get(c, port, "/a", NULL, 0, ra, sizeof ra), 429);
    ck_assert_str_eq(ra, "3");              /* 2.5 s, rounded up */
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_ratelimit_free(g);

    /* per path: /a runs out, /b is untouched */
    km_ratelimit_keyed *k;
    km_ratelimit_keyed_config kc = { .rate = 1, .burst = 1 };
    REQUIRE_EQ(km_ratelimit_keyed_new(&k, &kc), 0);
    mc = (km_ratelimit_mw_config){ .by = KM_RATELIMIT_BY_PATH, .keyed = k };
    port = serve(&srv, mw, 1);
    REQUIRE_EQ(get(c, port, "/a", NULL, 0, ra, sizeof ra), 200);
    REQUIRE_EQ(get(c, port, "/a?x=1", NULL, 0, ra, sizeof ra), 429);
    ck_assert_str_eq(ra, "1");
    REQUIRE_EQ(get(c, port, "/b", NULL, 0, ra, sizeof ra), 200);
    REQUIRE_EQ(km_ratelimit_keyed_len(k), 2);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_ratelimit_keyed_free(k);

    /* per client address: every path shares 127.0.0.1's bucket, across
     * connections */
    REQUIRE_EQ(km_ratelimit_keyed_new(&k, &kc), 0);
    mc = (km_ratelimit_mw_config){ .by = KM_RATELIMIT_BY_PEER, .keyed = k };
    port = serve(&srv, mw, 1);
    REQUIRE_EQ(get(c, port, "/a", NULL, 0, ra, sizeof ra), 200);
    km_http_kv close_hdr = { "Connection", "close" };
    REQUIRE_EQ(get(c, port, "/b", &close_hdr, 1, ra, sizeof ra), 429);
    REQUIRE_EQ(get(c, port, "/c", NULL, 0, ra, sizeof ra), 429);
    REQUIRE_EQ(km_ratelimit_keyed_len(k), 1);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_ratelimit_keyed_free(k);
    km_http_client_free(c);
}

START_TEST(too_many_requests) { t_run(limit_body, NULL); }
END_TEST

static int64_t server_cap = 2 * SEC;

static void deadline_body(void *arg)
{
    (void)arg;
    km_http_client *c;
    REQUIRE_EQ(km_http_client_new(&c, NULL), 0);
    km_http_mw mw[] = { { km_deadline_http_mw, &server_cap } };
    km_http_server *srv;
    int port = serve(&srv, mw, 1);

    /* the client's remaining time travels in the header */
    km_http_kv h;
    char buf[KM_DEADLINE_BUF];
    REQUIRE_EQ(km_deadline_header(KM_FOREVER, &h, buf), 0);
    REQUIRE_EQ(km_deadline_header(km_now() - 1, &h, buf), -ETIMEDOUT);
    REQUIRE_EQ(km_deadline_header(km_now() + 300 * MS, &h, buf), 1);
    ck_assert_str_eq(h.name, "X-Kumo-Deadline-Ms");
    REQUIRE(!strcmp(buf, "299") || !strcmp(buf, "300"));
    REQUIRE_EQ(get(c, port, "/x", &h, 1, NULL, 0), 200);
    ck_assert_msg(seen_left > 200 * MS && seen_left <= 300 * MS, "handler had %lld ns",
                  (long long)seen_left);

    /* without a header the server's own cap applies; a larger one is capped */
    REQUIRE_EQ(get(c, port, "/x", NULL, 0, NULL, 0), 200);
    REQUIRE(seen_left > SEC && seen_left <= 2 * SEC);
    km_http_kv big = { KM_DEADLINE_HEADER, "999999" };
    REQUIRE_EQ(get(c, port, "/x", &big, 1, NULL, 0), 200);
    REQUIRE(seen_left > SEC && seen_left <= 2 * SEC);
    km_http_kv junk = { KM_DEADLINE_HEADER, "12x" };
    REQUIRE_EQ(get(c, port, "/x", &junk, 1, NULL, 0), 200);
    REQUIRE(seen_left > SEC && seen_left <= 2 * SEC);

    /* a slow handler is cut off at the caller's deadline */
    REQUIRE_EQ(km_deadline_header(km_now() + 100 * MS, &h, buf), 1);
    int64_t t0 = km_now();
    REQUIRE_EQ(get(c, port, "/slow", &h, 1, NULL, 0), 503);
    REQUIRE_EQ(handler_rc, -ECANCELED);
    REQUIRE(km_now() - t0 >= 90 * MS && km_now() - t0 < SEC);

    /* already expired on arrival: 504, the handler does not run */
    seen_left = 12345;
    km_http_kv zero = { KM_DEADLINE_HEADER, "0" };
    REQUIRE_EQ(get(c, port, "/x", &zero, 1, NULL, 0), 504);
    REQUIRE_EQ(seen_left, 12345);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);

    /* no cap, no header: no deadline */
    mw[0].ud = NULL;
    port = serve(&srv, mw, 1);
    REQUIRE_EQ(get(c, port, "/x", NULL, 0, NULL, 0), 200);
    REQUIRE_EQ(seen_left, -1);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_http_client_free(c);
}

START_TEST(deadline_propagation) { t_run(deadline_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resil/http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, too_many_requests);
    tcase_add_test(tc, deadline_propagation);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
