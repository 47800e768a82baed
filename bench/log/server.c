/* SPDX-License-Identifier: MIT */
/* A trivial HTTP handler behind optional logging middleware, for wrk: server PORT off|ids|log|span|both [LOGFILE]. */
#include <kumo.h>
#include <kumo/log.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int port;
static const char *mode = "off", *logpath = "/dev/null";

static void hello(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_send(w, 200, "text/plain", "hello\n", 6);
}

static void run(void *arg)
{
    (void)arg;
    km_logger *l;
    if (km_log_new(&l, &(km_log_config){ .path = logpath }))
        exit(1);
    km_http_mw mw[4];
    size_t n = 0;
    bool log = !strcmp(mode, "log") || !strcmp(mode, "both");
    bool span = !strcmp(mode, "span") || !strcmp(mode, "both");
    if (log || span || !strcmp(mode, "ids")) {
        mw[n++] = (km_http_mw){ km_http_mw_request_id, NULL };
        mw[n++] = (km_http_mw){ km_http_mw_trace, NULL };
    }
    if (log)
        mw[n++] = (km_http_mw){ km_log_mw_request, l };
    if (span)
        mw[n++] = (km_http_mw){ km_log_mw_span, l };
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    km_http_server *s;
    km_http_config cfg = { .addr = addr, .handler = hello, .middleware = mw, .nmiddleware = n };
    if (km_http_serve(&s, &cfg))
        exit(1);
    km_sleep(3600LL * 1000000000);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    port = atoi(argv[1]);
    mode = argv[2];
    if (argc > 3)
        logpath = argv[3];
    signal(SIGPIPE, SIG_IGN);
    return km_main(run, NULL) ? 1 : 0;
}
