/* SPDX-License-Identifier: MIT */
/* kumo's server of kumo.test.Echo (proto/kumo/test/echo.proto): the C side checked by the grpc-go and grpcio drivers, and benchmarked against grpc-go.
 *
 * Usage: kumo_echo_server [--listen 127.0.0.1:0] [--max-recv BYTES] [--max-send BYTES]
 * Once it serves it prints the port alone on a line of stdout. SIGTERM or
 * SIGINT stop it gracefully (calls in flight get 2 s). Nothing is logged
 * per call: the benchmark measures this program. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <pthread.h>
#include "common.h"

/* ---- the service ---- */

/* Request metadata "x-echo-*" goes back in the headers, "x-trailer-*" in
 * the trailers, each value in order. */
static void echo_metadata(km_grpc_call *c)
{
    const km_grpc_md *md;
    size_t n;
    if (km_grpc_call_metadata(c, &md, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        char key[256];
        if (md[i].key.n >= sizeof key)
            continue;
        memcpy(key, md[i].key.p, md[i].key.n);
        key[md[i].key.n] = 0;
        if (echo_has_prefix(key, md[i].key.n, "x-echo-"))
            km_grpc_set_header(c, key, md[i].value.p, md[i].value.n);
        else if (echo_has_prefix(key, md[i].key.n, "x-trailer-"))
            km_grpc_set_trailer(c, key, md[i].value.p, md[i].value.n);
    }
}

/* Waits the request's delay; a call that ends meanwhile (deadline,
 * client gone, shutdown) ends at once. 0, or -1: the call is over. */
static int delay(km_grpc_call *c, int64_t ms)
{
    if (ms <= 0)
        return 0;
    if (km_sleep(ms * MS) == 0)
        return 0;
    /* The deadline's DEADLINE_EXCEEDED overrides this when it was that. */
    km_grpc_finish(c, KM_GRPC_CANCELLED, "call cancelled");
    return -1;
}

/* Ends the call with the request's failure, if it has one: 1. */
static int failure(km_grpc_call *c, const Kumo__Test__EchoRequest *req)
{
    if (!req->fail_code)
        return 0;
    km_grpc_finish(c, req->fail_code, req->fail_message);
    return 1;
}

static int answer(km_grpc_call *c, const Kumo__Test__EchoRequest *req, int32_t index,
                  int64_t received, int64_t bytes)
{
    Kumo__Test__EchoResponse rep = KUMO__TEST__ECHO_RESPONSE__INIT;
    rep.payload = req->payload;
    rep.index = index;
    rep.received = received;
    rep.received_bytes = bytes;
    uint8_t *zeros = NULL;
    if (req->response_size > 0) {
        if (!(zeros = calloc(1, (size_t)req->response_size)))
            return km_grpc_finish(c, KM_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        rep.payload = (ProtobufCBinaryData){ (size_t)req->response_size, zeros };
    }
    int rc = km_grpc_send_pb(c, &rep.base, KM_FOREVER);
    free(zeros);
    return rc;
}

/* Reads the one request of a unary or server-streaming call. */
static Kumo__Test__EchoRequest *one_request(km_grpc_call *c)
{
    ProtobufCMessage *m;
    int rc = km_grpc_recv_pb(c, NULL, &m, KM_FOREVER);
    if (rc == 0)
        km_grpc_finish(c, KM_GRPC_INTERNAL, "no request message");
    if (rc == -ECANCELED)
        km_grpc_finish(c, KM_GRPC_CANCELLED, "call cancelled");
    return rc == 1 ? (Kumo__Test__EchoRequest *)m : NULL;
}

static void unary(km_grpc_call *c, void *ud)
{
    Kumo__Test__EchoRequest *req = one_request(c);
    if (!req)
        return;
    echo_metadata(c);
    if (!delay(c, req->delay_ms) && !failure(c, req))
        answer(c, req, 0, 0, 0);
    km_grpc_pb_free(&req->base);
}

static void server_stream(km_grpc_call *c, void *ud)
{
    Kumo__Test__EchoRequest *req = one_request(c);
    if (!req)
        return;
    echo_metadata(c);
    for (int32_t i = 0; i < req->count; i++)
        if (delay(c, req->delay_ms) || answer(c, req, i, 0, 0))
            goto out;
    failure(c, req);
out:
    km_grpc_pb_free(&req->base);
}

static void client_stream(km_grpc_call *c, void *ud)
{
    echo_metadata(c);
    Kumo__Test__EchoRequest empty = KUMO__TEST__ECHO_REQUEST__INIT;
    Kumo__Test__EchoRequest *last = NULL;
    int64_t n = 0, bytes = 0;
    for (;;) {
        ProtobufCMessage *m;
        int rc = km_grpc_recv_pb(c, NULL, &m, KM_FOREVER);
        if (rc == 0)
            break;
        if (rc < 0)
            goto out;               /* the status is set, or the call is gone */
        Kumo__Test__EchoRequest *req = (Kumo__Test__EchoRequest *)m;
        n++;
        bytes += (int64_t)req->payload.len;
        if (delay(c, req->delay_ms) || failure(c, req)) {
            km_grpc_pb_free(m);
            goto out;
        }
        km_grpc_pb_free(last ? &last->base : NULL);
        last = req;
    }
    answer(c, last ? last : &empty, 0, n, bytes);
out:
    km_grpc_pb_free(last ? &last->base : NULL);
}

static void bidi(km_grpc_call *c, void *ud)
{
    echo_metadata(c);
    for (int32_t i = 0;; i++) {
        ProtobufCMessage *m;
        int rc = km_grpc_recv_pb(c, NULL, &m, KM_FOREVER);
        if (rc <= 0)
            return;                 /* 0: half-closed, OK */
        Kumo__Test__EchoRequest *req = (Kumo__Test__EchoRequest *)m;
        int stop = delay(c, req->delay_ms) || failure(c, req) || answer(c, req, i, 0, 0);
        km_grpc_pb_free(m);
        if (stop)
            return;
    }
}

static const km_grpc_method methods[] = {
    { "Unary", KM_GRPC_UNARY, unary },
    { "ServerStream", KM_GRPC_SERVER_STREAMING, server_stream },
    { "ClientStream", KM_GRPC_CLIENT_STREAMING, client_stream },
    { "Bidi", KM_GRPC_BIDI_STREAMING, bidi },
};

/* ---- the program ---- */

typedef struct {
    const char *listen;
    size_t      max_recv, max_send;
    int         rc;
} args;

static void run(void *arg)
{
    args *a = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    km_grpc_server *gs;
    km_grpc_server_config gcfg = { .max_recv_msg = a->max_recv, .max_send_msg = a->max_send };
    int rc;
    if (sfd < 0 || (rc = km_grpc_server_new(&gs, &gcfg))) {
        fprintf(stderr, "kumo_echo_server: setup failed\n");
        a->rc = 1;
        return;
    }
    if ((rc = km_grpc_register_service(gs, &kumo__test__echo__descriptor, methods,
                                       sizeof methods / sizeof *methods, NULL))) {
        fprintf(stderr, "kumo_echo_server: register: %s\n", km_strerror(rc));
        a->rc = 1;
        return;
    }
    km_http_config hcfg = { .addr = a->listen, .handler = km_grpc_serve_http, .ud = gs,
                            /* a body read whole (HTTP/1.1) is never a gRPC one */
                            .max_body_bytes = a->max_recv + 64 };
    km_http_server *hs;
    if ((rc = km_http_serve(&hs, &hcfg))) {
        fprintf(stderr, "kumo_echo_server: listen on %s: %s\n", a->listen, km_strerror(rc));
        a->rc = 1;
        return;
    }
    printf("%d\n", km_http_server_port(hs));
    fflush(stdout);
    struct signalfd_siginfo si;
    km_read(sfd, &si, sizeof si, KM_FOREVER);
    km_close(sfd);
    km_http_shutdown(hs, km_now() + 2 * SEC);
    km_grpc_server_free(gs);
    a->rc = 0;
}

static size_t size_arg(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || !v) {
        fprintf(stderr, "kumo_echo_server: bad size \"%s\"\n", s);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, 0, 'l' },
        { "max-recv", required_argument, 0, 'r' },
        { "max-send", required_argument, 0, 's' },
        { 0, 0, 0, 0 },
    };
    /* The same defaults as the grpc-go peer: a 4 MiB payload is a few
     * bytes over gRPC's usual 4 MiB. */
    args a = { "127.0.0.1:0", 16 << 20, 16 << 20, 0 };
    int o;
    while ((o = getopt_long_only(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'l': a.listen = optarg; break;
        case 'r': a.max_recv = size_arg(optarg); break;
        case 's': a.max_send = size_arg(optarg); break;
        default:
            fprintf(stderr, "usage: kumo_echo_server [--listen HOST:PORT] [--max-recv N] [--max-send N]\n");
            return 2;
        }
    }
    /* Blocked before the workers start, so only the signalfd sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int rc = km_main(run, &a);
    if (rc < 0) {
        fprintf(stderr, "kumo_echo_server: %s\n", km_strerror(rc));
        return 1;
    }
    return a.rc;
}
