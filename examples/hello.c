/* SPDX-License-Identifier: MIT */
/* The smallest kumo HTTP service: GET /ping answers "pong"; the benchmarks use it. */
#include <kumo.h>
#include <stdio.h>

static void ping(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)r; (void)ud;
    km_http_send(w, 200, "text/plain", "pong", 4);
}

static void echo_body(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)ud;
    km_str body;
    int rc = km_http_body(r, &body);
    if (rc == 0)
        km_http_send(w, 200, "application/octet-stream", body.p, body.n);
    /* on errors the server answers 413, 400 or 408 itself */
}

static void serve(void *arg)
{
    km_http_router *rt;
    km_http_server *srv;
    if (km_http_router_new(&rt) ||
        km_http_route(rt, "GET", "/ping", ping, NULL) ||
        km_http_route(rt, "POST", "/echo", echo_body, NULL)) {
        fprintf(stderr, "hello: out of memory\n");
        return;
    }
    km_http_config cfg = { .addr = arg, .handler = km_http_router_serve, .ud = rt };
    int rc = km_http_serve(&srv, &cfg);
    if (rc) {
        fprintf(stderr, "hello: %s: %s\n", (const char *)arg, km_strerror(rc));
        km_http_router_free(rt);
        return;
    }
    printf("hello: serving on port %d\n", km_http_server_port(srv));
    fflush(stdout);
    km_sleep_until(KM_FOREVER);     /* until the process is stopped */
}

int main(int argc, char **argv)
{
    return km_main(serve, argc > 1 ? argv[1] : "127.0.0.1:8080") ? 1 : 0;
}
