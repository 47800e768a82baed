/* SPDX-License-Identifier: MIT */
/* libFuzzer target: arbitrary bytes from a "server" fed to a client HTTP/2 connection with a stream open. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <kumo.h>
#include "http/h2-int.h"

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

typedef struct {
    const uint8_t *data;
    size_t         size;
    int            fd;          /* the server's end */
} input;

#define SEC 1000000000LL

/* Sends the input as the server, then reads whatever the client says
 * until it hangs up, so that its writes never block. */
static void server(void *arg)
{
    input *in = arg;
    km_write(in->fd, in->data, in->size, km_now() + 2 * SEC);
    km_shutdown(in->fd, SHUT_WR);
    char buf[4096];
    while (km_read(in->fd, buf, sizeof buf, km_now() + 2 * SEC) > 0)
        ;
    km_close(in->fd);
}

static void client(void *arg)
{
    input *in = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
        abort();
    in->fd = sv[1];
    km_group *g;
    if (km_group_new(&g, NULL, KM_FOREVER) || km_group_go(g, server, in))
        abort();
    km__h2_cfg cfg = { .role = KM__H2_CLIENT, .stream_window = 65536,
                       .max_header_bytes = 8192, .write_timeout = 2 * SEC };
    km__h2_conn *c;
    if (km__h2_conn_new(&c, sv[0], &cfg) || km__h2_conn_start(c, g))
        abort();
    nghttp2_nv nv[] = {
        { (uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0 },
        { (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
        { (uint8_t *)":authority", (uint8_t *)"fuzz", 10, 4, 0 },
        { (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 },
    };
    km__h2_stream *st;
    int64_t dl = km_now() + 2 * SEC;
    if (km__h2_open(c, nv, 4, false, dl, &st) == 0) {
        km__h2_write(st, "hello", 5, true, dl);
        if (km__h2_wait_head(st, dl) == 0) {
            /* The head must be complete and hold a status. */
            km_str s = km__h2_hblock_get(&st->head, ":status");
            if (!s.p || s.n != 3)
                abort();
        }
        char buf[1000];
        ssize_t n, total = 0;
        while ((n = km__h2_read(st, buf, sizeof buf, dl)) > 0)
            if ((total += n) > (1 << 20))
                abort();                /* more than the window allows */
        km__h2_stream_release(st);
    }
    km__h2_conn_close(c, -ECONNABORTED);
    km__h2_conn_release(c);
    if (km_group_wait(g, km_now() + 10 * SEC) || km_group_free(g))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setenv("KM_PROCS", "1", 0);
    km_allocator a = { count_malloc, NULL, count_free, NULL };
    km_set_allocator(&a);
    input in = { data, size, -1 };
    long before = atomic_load(&live);
    if (km_main(client, &in))
        abort();
    if (atomic_load(&live) != before) {
        fprintf(stderr, "h2_client_frames: %ld allocations leaked\n", atomic_load(&live) - before);
        abort();
    }
    km_set_allocator(NULL);
    return 0;
}
