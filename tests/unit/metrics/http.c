/* SPDX-License-Identifier: MIT */
/* HTTP metrics: the middleware and /metrics through a real server and client round trip. */
#include "util.h"
#include <kumo/metrics.h>
#include <stdio.h>
#include <string.h>

#define SEC 1000000000LL

static void ok(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)r; (void)ud;
    km_http_send(w, 200, "text/plain", "ok", 2);
}

static void teapot(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)r; (void)ud;
    km_http_send(w, 418, "text/plain", "tea", 3);
}

typedef struct {
    km_metrics_http_config cfg;
    const char *expect[12];
} variant;

static int status_of(km_http_client *cl, const char *method, int port, const char *path,
                     km_http_response **keep)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    km_http_response *resp;
    int rc = km_http_do(cl, method, url, NULL, 0, NULL, 0, km_now() + 5 * SEC, &resp);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, km_strerror(rc));
    int st = km_http_response_status(resp);
    if (keep)
        *keep = resp;
    else
        km_http_response_free(resp);
    return st;
}

static void body(void *arg)
{
    const variant *v = arg;
    km_metrics *reg;
    ck_assert_int_eq(km_metrics_new(&reg), 0);
    km_metrics_http *mh;
    ck_assert_int_eq(km_metrics_http_new(&mh, reg, &v->cfg), 0);
    km_metrics_http *again;     /* a second server may share the registry */
    ck_assert_int_eq(km_metrics_http_new(&again, reg, NULL), 0);
    km_metrics_http_free(again);

    km_http_router *rt;
    ck_assert_int_eq(km_http_router_new(&rt), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/ping", ok, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/api/v1/kv/*key", ok, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/users/:id", teapot, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/metrics", km_metrics_handler, reg), 0);
    km_http_mw chain[] = { { km_metrics_mw, mh } };
    km_http_config cfg = {
        .addr = "127.0.0.1:0", .handler = km_http_router_serve, .ud = rt,
        .middleware = chain, .nmiddleware = 1,
    };
    km_http_server *srv;
    ck_assert_int_eq(km_http_serve(&srv, &cfg), 0);
    int port = km_http_server_port(srv);
    km_http_client *cl;
    ck_assert_int_eq(km_http_client_new(&cl, NULL), 0);

    for (int i = 0; i < 25; i++)
        ck_assert_int_eq(status_of(cl, "GET", port, "/ping", NULL), 200);
    ck_assert_int_eq(status_of(cl, "GET", port, "/api/v1/kv/a", NULL), 200);
    ck_assert_int_eq(status_of(cl, "GET", port, "/api/v1/kv/b/c?x=1", NULL), 200);
    ck_assert_int_eq(status_of(cl, "GET", port, "/nope/42", NULL), 404);
    ck_assert_int_eq(status_of(cl, "GET", port, "/users/42", NULL), 418);
    ck_assert_int_eq(status_of(cl, "GET", port, "/users/43", NULL), 418);
    ck_assert_int_eq(status_of(cl, "POST", port, "/ping", NULL), 405);
    ck_assert_int_eq(status_of(cl, "BREW", port, "/ping", NULL), 405);

    /* The head through HEAD: the client's header strings do not survive
     * a body that outgrows its first read buffer. */
    km_http_response *resp;
    ck_assert_int_eq(status_of(cl, "HEAD", port, "/metrics", &resp), 200);
    km_str ct = km_http_response_header(resp, "Content-Type");
    ck_assert_ptr_nonnull(ct.p);
    ck_assert_int_eq((int)ct.n, (int)strlen(KM_METRICS_CONTENT_TYPE));
    ck_assert(!memcmp(ct.p, KM_METRICS_CONTENT_TYPE, ct.n));
    km_http_response_free(resp);

    ck_assert_int_eq(status_of(cl, "GET", port, "/metrics", &resp), 200);
    km_str b = km_http_response_body(resp);
    char *text = strndup(b.p, b.n);
    km_http_response_free(resp);
    for (size_t i = 0; i < sizeof v->expect / sizeof v->expect[0] && v->expect[i]; i++)
        ck_assert_msg(strstr(text, v->expect[i]), "missing %s in\n%.1500s", v->expect[i], text);
    /* the scrape itself is in flight while it renders */
    ck_assert_msg(strstr(text, "\nhttp_requests_in_flight 1\n"), "%.1500s", text);
    ck_assert_msg(strstr(text, "# TYPE http_request_duration_seconds histogram\n"), "%.1500s", text);
    free(text);

    /* the scrape is counted once it returned */
    ck_assert_int_eq(status_of(cl, "GET", port, "/metrics", &resp), 200);
    b = km_http_response_body(resp);
    text = strndup(b.p, b.n);
    km_http_response_free(resp);
    ck_assert_msg(strstr(text, "http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"} 1\n"),
                  "%.1500s", text);
    free(text);

    km_http_client_free(cl);
    ck_assert_int_eq(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_http_router_free(rt);
    km_metrics_http_free(mh);
    km_metrics_free(reg);
}

static const variant default_routes = {
    .cfg = { 0 },
    .expect = {
        "\nhttp_requests_total{method=\"GET\",route=\"/ping\",code=\"200\"} 25\n",
        "\nhttp_requests_total{method=\"GET\",route=\"/api/v1/kv/*key\",code=\"200\"} 2\n",
        "\nhttp_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"} 1\n",
        "\nhttp_requests_total{method=\"GET\",route=\"/users/:id\",code=\"418\"} 2\n",
        "\nhttp_requests_total{method=\"POST\",route=\"/ping\",code=\"405\"} 1\n",
        "\nhttp_requests_total{method=\"OTHER\",route=\"/ping\",code=\"405\"} 1\n",
        "\nhttp_request_duration_seconds_count{method=\"GET\",route=\"/ping\"} 25\n",
        "\nhttp_request_duration_seconds_bucket{method=\"GET\",route=\"/ping\",le=\"+Inf\"} 25\n",
    },
};

static const char *const patterns[] = { "/ping", "/api/v1/kv/*key", "/users/:id", "/metrics" };
static const double fine[] = { 0.001, 0.01, 0.1, 1 };
static const variant given_routes = {
    .cfg = { .routes = patterns, .nroutes = 4, .buckets = fine, .nbuckets = 4 },
    .expect = {
        "\nhttp_requests_total{method=\"GET\",route=\"/ping\",code=\"200\"} 25\n",
        "\nhttp_requests_total{method=\"GET\",route=\"/api/v1/kv/*key\",code=\"200\"} 2\n",
        "\nhttp_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"} 1\n",
        "\nhttp_requests_total{method=\"GET\",route=\"/users/:id\",code=\"418\"} 2\n",
        "\nhttp_request_duration_seconds_count{method=\"GET\",route=\"/users/:id\"} 2\n",
        "\nhttp_request_duration_seconds_bucket{method=\"GET\",route=\"/ping\",le=\"0.001\"} ",
    },
};

START_TEST(middleware_default_routes)
{
    t_run(body, (void *)&default_routes);
}
END_TEST

START_TEST(middleware_given_routes)
{
    t_run(body, (void *)&given_routes);
}
END_TEST

static void labels(void *arg)
{
    (void)arg;
    char out[96];
    static const struct { const char *path; int status; const char *want; } cases[] = {
        { "/v3/kv/range", 200, "/v3/kv/range" },
        { "/v3/kv/range", 405, "/v3/kv/range" },
        { "/api/v1/kv/some/key", 404, "/api/v1/kv/*key" },
        { "/api/v1/kv/", 200, "/api/v1/kv/*key" },
        { "/random/thing", 404, "unmatched" },
        { "/weird%20path", 200, "other" },
        { "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 200, "other" },
        { "/healthz", 200, "/healthz" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        km_str p = { cases[i].path, strlen(cases[i].path) };
        size_t n = km_metrics_route_default(p, cases[i].status, out, sizeof out);
        ck_assert_str_eq(out, cases[i].want);
        ck_assert_uint_eq(n, strlen(cases[i].want));
    }
    km_str p = { "/healthz", 8 };
    km_metrics_route_default(p, 200, out, 16);
    ck_assert_str_eq(out, "/healthz");
    p = (km_str){ "/a/long/path/here", 17 };
    km_metrics_route_default(p, 200, out, 16);
    ck_assert_str_eq(out, "other");     /* does not fit: bounded, not truncated */

    km_metrics *reg;
    km_metrics_http *mh;
    ck_assert_int_eq(km_metrics_new(&reg), 0);
    static const char *const bad1[] = { "no-slash" }, *const bad2[] = { "/a/*rest/more" },
                             *const bad3[] = { "/a/:/b" };
    km_metrics_http_config c1 = { .routes = bad1, .nroutes = 1 };
    km_metrics_http_config c2 = { .routes = bad2, .nroutes = 1 };
    km_metrics_http_config c3 = { .routes = bad3, .nroutes = 1 };
    ck_assert_int_eq(km_metrics_http_new(&mh, reg, &c1), -EINVAL);
    ck_assert_int_eq(km_metrics_http_new(&mh, reg, &c2), -EINVAL);
    ck_assert_int_eq(km_metrics_http_new(&mh, reg, &c3), -EINVAL);
    km_metric *clash;
    ck_assert_int_eq(km_gauge_new(reg, &clash, "http_requests_total", "", NULL), 0);
    ck_assert_int_eq(km_metrics_http_new(&mh, reg, NULL), -EEXIST);
    km_metrics_free(reg);
}

START_TEST(route_labels)
{
    t_run(labels, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics/http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, middleware_default_routes);
    tcase_add_test(tc, middleware_given_routes);
    tcase_add_test(tc, route_labels);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
