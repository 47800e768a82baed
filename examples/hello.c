/* SPDX-License-Identifier: MIT */
/* The smallest kumo HTTP service: GET /ping answers "pong"; the benchmarks use it.
 * With --obs, requests also pass the whole observability set (Prometheus
 * metrics, served on GET /metrics; request ids; W3C trace context; one
 * structured log record per request, to stderr); --mw adds a per-request
 * timeout to that, --echo the request id in each response. They are there
 * to measure what they cost. --tls CERT KEY serves HTTPS (HTTP/2 by ALPN). */
#include <kumo.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *addr = "127.0.0.1:8080";
static int with_obs, with_timeout;
static km_http_request_id_config ids;
static int64_t timeout_ns = 5000000000LL;
static km_http_mw chain[5];
static km_tls_config tls_cfg;

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
    (void)arg;
    km_http_router *rt;
    km_http_server *srv;
    if (km_http_router_new(&rt) ||
        km_http_route(rt, "GET", "/ping", ping, NULL) ||
        km_http_route(rt, "POST", "/echo", echo_body, NULL)) {
        fprintf(stderr, "hello: out of memory\n");
        return;
    }
    km_http_config cfg = { .addr = addr, .handler = km_http_router_serve, .ud = rt };
    if (with_obs) {
        km_metrics *reg;
        km_metrics_http *mh;
        km_logger *log;
        /* buffered, written out every 50 ms, as kumo serve's access log */
        km_log_config lc = { .fd = STDERR_FILENO, .flush_interval = 50 * 1000000LL };
        if (km_metrics_new(&reg) || km_metrics_runtime(reg) || km_metrics_http_new(&mh, reg, NULL) ||
            km_log_new(&log, &lc) ||
            km_http_route(rt, "GET", "/metrics", km_metrics_handler, reg)) {
            fprintf(stderr, "hello: out of memory\n");
            return;
        }
        chain[0] = (km_http_mw){ km_metrics_mw, mh };
        chain[1] = (km_http_mw){ km_http_mw_request_id, &ids };
        chain[2] = (km_http_mw){ km_http_mw_trace, NULL };
        chain[3] = (km_http_mw){ km_log_mw_request, log };
        chain[4] = (km_http_mw){ km_http_mw_timeout, &timeout_ns };
        cfg.middleware = chain;
        cfg.nmiddleware = with_timeout ? 5 : 4;
    }
    char err[512];
    if (tls_cfg.cert_file && km_tls_server_new(&cfg.tls, &tls_cfg, err, sizeof err)) {
        fprintf(stderr, "hello: TLS: %s\n", err);
        km_http_router_free(rt);
        return;
    }
    int rc = km_http_serve(&srv, &cfg);
    if (rc) {
        fprintf(stderr, "hello: %s: %s\n", addr, km_strerror(rc));
        km_http_router_free(rt);
        return;
    }
    printf("hello: serving on port %d\n", km_http_server_port(srv));
    fflush(stdout);
    km_sleep_until(KM_FOREVER);     /* until the process is stopped */
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mw"))
            with_obs = with_timeout = 1;
        else if (!strcmp(argv[i], "--obs"))
            with_obs = 1;
        else if (!strcmp(argv[i], "--echo"))
            with_obs = ids.echo = 1;
        else if (!strcmp(argv[i], "--tls") && i + 2 < argc)
            tls_cfg.cert_file = argv[++i], tls_cfg.key_file = argv[++i];
        else
            addr = argv[i];
    }
    return km_main(serve, NULL) ? 1 : 0;
}
