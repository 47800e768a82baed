/* SPDX-License-Identifier: MIT */
/* libFuzzer target: arbitrary bytes from a client fed to a kumo HTTP server over loopback (after a valid HTTP/2 preface and SETTINGS, or raw from the first byte), with handlers that read bodies and answer. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <kumo.h>

/* Every allocation of kumo and nghttp2 is counted: one left after an
 * input is a leak, and a leak aborts like a crash. */
static atomic_long live;

static void *count_malloc(size_t n, void *ud)
{
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void count_free(void *p, void *ud)
{
    if (p) {
        atomic_fetch_sub(&live, 1);
        free(p);
    }
}

#define SEC 1000000000LL

/* The first byte says what goes before the rest: nothing (the server
 * sniffs HTTP/1.1 or HTTP/2 itself), the client preface and an empty
 * SETTINGS, or those and an ACK of the server's SETTINGS. */
enum { RAW, PREFACE, PREFACE_ACK, MODES };
static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                 "\0\0\0\4\0\0\0\0\0";
static const uint8_t ack[] = { 0, 0, 0, 4, 1, 0, 0, 0, 0 };

typedef struct {
    const uint8_t *data;
    size_t         size;
    int            fd;
} input;

/* By the path's second byte: 's' streams the body back as it comes,
 * with a trailer; 'b' answers with more than a window; anything else
 * reads the whole body and echoes it. */
static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    km_str path = km_http_path(r);
    char c = path.n > 1 ? path.p[1] : 0;
    if (c == 's') {
        km_http_status(w, 200);
        km_http_flush(w);
        char buf[512];
        ssize_t n;
        while ((n = km_http_body_read(r, buf, sizeof buf, km_now() + SEC)) > 0)
            if (km_http_write(w, buf, (size_t)n))
                return;
        km_http_set_trailer(w, "x-end", n == 0 ? "ok" : "failed");
    } else if (c == 'b') {
        static const char big[16384];
        km_http_status(w, 200);
        for (int i = 0; i < 8; i++)
            if (km_http_write(w, big, sizeof big))
                return;
    } else {
        km_str b;
        if (km_http_body(r, &b) == 0)
            km_http_send(w, 200, "application/octet-stream", b.p, b.n);
    }
}

/* Reads what the server says until it closes, so that its writes never
 * block. */
static void drain(void *arg)
{
    input *in = arg;
    char buf[16384];
    while (km_read(in->fd, buf, sizeof buf, km_now() + 5 * SEC) > 0)
        ;
}

static void run(void *arg)
{
    input *in = arg;
    /* Small limits, so that inputs reach them; short timeouts, though
     * the close of the client's side ends every connection first. */
    km_http_config cfg = {
        .addr = "127.0.0.1:0", .handler = handler,
        .max_header_bytes = 2048, .max_body_bytes = 16384,
        .read_header_timeout = SEC, .body_timeout = SEC, .write_timeout = SEC,
        .idle_timeout = SEC, .h2_max_streams = 8, .h2_stream_window = 16384,
    };
    km_http_server *srv;
    if (km_http_serve(&srv, &cfg))
        abort();
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_http_server_port(srv));
    in->fd = km_dial(addr, km_now() + 2 * SEC);
    km_group *g;
    if (in->fd < 0 || km_group_new(&g, NULL, KM_FOREVER) || km_group_go(g, drain, in))
        abort();
    int mode = in->size ? in->data[0] % MODES : RAW;
    const uint8_t *p = in->size ? in->data + 1 : in->data;
    size_t n = in->size ? in->size - 1 : 0;
    int64_t dl = km_now() + 2 * SEC;
    if (mode != RAW)
        km_write(in->fd, preface, sizeof preface - 1, dl);
    if (mode == PREFACE_ACK)
        km_write(in->fd, ack, sizeof ack, dl);
    if (n)
        km_write(in->fd, p, n, dl);
    km_shutdown(in->fd, SHUT_WR);
    /* The server must close, whatever it was sent, and its connection
     * must be over soon after. */
    if (km_group_wait(g, km_now() + 10 * SEC) || km_group_free(g))
        abort();
    km_close(in->fd);
    km_http_server_stat st;
    int64_t end = km_now() + 5 * SEC;
    do {
        km_http_server_stat_read(srv, &st);
        if (st.conns_open && km_sleep(SEC / 1000))
            abort();
    } while (st.conns_open && km_now() < end);
    if (st.conns_open || km_http_shutdown(srv, km_now() + 5 * SEC))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setenv("KM_PROCS", "1", 0);
    km_allocator a = { count_malloc, NULL, count_free, NULL };
    km_set_allocator(&a);
    input in = { data, size, -1 };
    long before = atomic_load(&live);
    if (km_main(run, &in))
        abort();
    if (atomic_load(&live) != before) {
        fprintf(stderr, "h2_server_frames: %ld allocations leaked\n", atomic_load(&live) - before);
        abort();
    }
    km_set_allocator(NULL);
    return 0;
}
