/* SPDX-License-Identifier: MIT */
/* A service with Prometheus metrics: GET /ping answers "pong", GET /metrics
 * exposes request counts and latencies, runtime and process metrics. */
#include <kumo.h>
#include <kumo/metrics.h>
#include <stdio.h>

static const char *addr = "127.0.0.1:8080";

static void ping(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)r; (void)ud;
    km_http_send(w, 200, "text/plain", "pong", 4);
}

static void serve(void *arg)
{
    (void)arg;
    km_metrics *reg;
    km_metrics_http *mh;
    km_http_router *rt;
    /* Routes label the requests by pattern, which bounds the series. */
    static const char *const routes[] = { "/ping", "/metrics" };
    km_metrics_http_config mc = { .routes = routes, .nroutes = 2 };
    int rc;
    if ((rc = km_metrics_new(&reg)) || (rc = km_metrics_runtime(reg)) ||
        (rc = km_metrics_http_new(&mh, reg, &mc)) || (rc = km_http_router_new(&rt)) ||
        (rc = km_http_route(rt, "GET", "/ping", ping, NULL)) ||
        (rc = km_http_route(rt, "GET", "/metrics", km_metrics_handler, reg))) {
        fprintf(stderr, "metrics: %s\n", km_strerror(rc));
        return;
    }
    km_http_mw chain[] = { { km_metrics_mw, mh } };
    km_http_config cfg = {
        .addr = addr, .handler = km_http_router_serve, .ud = rt,
        .middleware = chain, .nmiddleware = 1,
    };
    km_http_server *srv;
    if ((rc = km_http_serve(&srv, &cfg))) {
        fprintf(stderr, "metrics: %s: %s\n", addr, km_strerror(rc));
        return;
    }
    printf("metrics: serving on port %d\n", km_http_server_port(srv));
    fflush(stdout);
    km_sleep_until(KM_FOREVER);     /* until the process is stopped */
}

int main(int argc, char **argv)
{
    if (argc > 1)
        addr = argv[1];
    return km_main(serve, NULL) ? 1 : 0;
}
