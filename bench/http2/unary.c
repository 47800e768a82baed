/* SPDX-License-Identifier: MIT */
/* Unary round trips over one HTTP/2 connection: STREAMS goroutines each open a stream, send the request, read the whole response, repeat. */
#include <kumo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* usage: unary ADDR PATH [STREAMS=100] [SECONDS=5] [BODY_BYTES=0]
 * BODY_BYTES > 0 sends a POST with that many bytes; else a GET. Prints
 * "requests/s N". Run with KM_PROCS=1 under taskset for one core. */

typedef struct {
    km_http2_client *c;
    const char      *path;
    size_t           body;
    int64_t          until;
    long             done, errors;
    km_wg           *wg;
} worker;

static const char *addr, *path;
static int streams = 100, seconds = 5;
static size_t body_bytes;
static char payload[1 << 16];

static void run(void *arg)
{
    worker *w = arg;
    km_http_kv get[] = { { ":method", "GET" }, { ":path", w->path } };
    km_http_kv post[] = { { ":method", "POST" }, { ":path", w->path },
                          { "content-type", "application/octet-stream" } };
    char buf[16384];
    while (km_now() < w->until) {
        int64_t dl = km_now() + 10000000000LL;
        km_http2_stream *st;
        int rc = w->body ? km_http2_stream_open(w->c, post, 3, false, dl, &st)
                         : km_http2_stream_open(w->c, get, 2, true, dl, &st);
        if (rc) {
            w->errors++;
            continue;
        }
        int status;
        if ((w->body && (rc = km_http2_stream_write(st, payload, w->body, true, dl))) ||
            (rc = km_http2_stream_response(st, dl, &status))) {
            w->errors++;
        } else {
            ssize_t n;
            while ((n = km_http2_stream_read(st, buf, sizeof buf, dl)) > 0)
                ;
            if (n < 0 || status != 200) w->errors++; else w->done++;
        }
        km_http2_stream_free(st);
    }
    if (w->wg)
        km_wg_done(w->wg);
}

static void main_fn(void *arg)
{
    km_http2_client_config cfg = { .addr = addr, .max_conns = 1 };
    km_http2_client *c;
    if (km_http2_client_new(&c, &cfg)) {
        fprintf(stderr, "unary: client: out of memory\n");
        exit(1);
    }
    worker *w = calloc((size_t)streams, sizeof *w);
    km_wg *wg;
    if (!w || km_wg_new(&wg)) {
        fprintf(stderr, "unary: out of memory\n");
        exit(1);
    }
    /* Warm up: the connection is up before the clock starts. */
    worker warm = { c, path, body_bytes, km_now() + 200000000LL, 0, 0, NULL };
    run(&warm);
    int64_t t0 = km_now(), until = t0 + (int64_t)seconds * 1000000000LL;
    km_wg_add(wg, streams);
    for (int i = 0; i < streams; i++) {
        w[i] = (worker){ c, path, body_bytes, until, 0, 0, wg };
        km_go(run, &w[i]);
    }
    km_wg_wait(wg);
    long done = 0, errors = 0;
    for (int i = 0; i < streams; i++) {
        done += w[i].done;
        errors += w[i].errors;
    }
    double secs = (double)(km_now() - t0) / 1e9;
    printf("requests/s %.0f\nrequests %ld\nerrors %ld\n", (double)done / secs, done, errors);
    km_wg_free(wg);
    free(w);
    km_http2_client_free(c);
    if (errors)
        exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: unary ADDR PATH [STREAMS] [SECONDS] [BODY_BYTES]\n");
        return 2;
    }
    addr = argv[1];
    path = argv[2];
    if (argc > 3) streams = atoi(argv[3]);
    if (argc > 4) seconds = atoi(argv[4]);
    if (argc > 5) body_bytes = (size_t)atol(argv[5]);
    if (body_bytes > sizeof payload) body_bytes = sizeof payload;
    memset(payload, 'x', sizeof payload);
    return km_main(main_fn, NULL);
}
