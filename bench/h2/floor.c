/* SPDX-License-Identifier: MIT */
/* The floor under an HTTP/2 server built on nghttp2: one thread, one epoll
 * loop, nghttp2's memory-buffer API, every stream answered "pong" with the
 * fewest fields nghttp2 allows (":status", "content-length"), and nothing
 * else: no goroutines, no locks, no handler chain. What this costs per
 * request is what nghttp2 itself costs; kumo's HTTP/2 server is measured
 * against it (bench/h2/run.sh, docs/BENCHMARKS.md).
 *
 *     cc -O2 bench/h2/floor.c -o build/bench/h2-floor -lnghttp2
 *     build/bench/h2-floor 127.0.0.1:PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int fd;
    nghttp2_session *s;
    int out_blocked;            /* the socket took only part of a write */
} conn;

static ssize_t pong(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                    nghttp2_data_source *src, void *ud)
{
    (void)s; (void)id; (void)len; (void)src; (void)ud;
    memcpy(buf, "pong", 4);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 4;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        static const nghttp2_nv nv[] = {
            { (uint8_t *)":status", (uint8_t *)"200", 7, 3,
              NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE },
            { (uint8_t *)"content-length", (uint8_t *)"4", 14, 1,
              NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE },
        };
        nghttp2_data_provider d = { .read_callback = pong };
        nghttp2_submit_response(s, f->hd.stream_id, nv, 2, &d);
    }
    return 0;
}

/* Sends what the session has; 0, or -1 when the connection is done. */
static int flush(conn *c)
{
    static uint8_t out[65536];
    size_t n = 0;
    for (;;) {
        const uint8_t *p;
        ssize_t k = nghttp2_session_mem_send(c->s, &p);
        if (k < 0)
            return -1;
        if (k == 0 || n + (size_t)k > sizeof out) {
            if (n) {
                ssize_t w = write(c->fd, out, n);
                if (w != (ssize_t)n)
                    return -1;  /* a floor measurement: the client keeps up */
                n = 0;
            }
            if (k == 0)
                break;
        }
        memcpy(out + n, p, (size_t)k);
        n += (size_t)k;
    }
    return nghttp2_session_want_read(c->s) || nghttp2_session_want_write(c->s) ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2 || !strchr(argv[1], ':')) {
        fprintf(stderr, "usage: %s IP:PORT\n", argv[0]);
        return 2;
    }
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(strchr(argv[1], ':') - argv[1]), argv[1]);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(strchr(argv[1], ':') + 1)) };
    inet_pton(AF_INET, host, &a.sin_addr);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096)) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    static uint8_t in[65536];
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                c->fd = fd;
                nghttp2_session_server_new(&c->s, cb, c);
                nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 250 };
                nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, &iv, 1);
                struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                continue;
            }
            ssize_t r;
            int done = 0;
            while ((r = read(c->fd, in, sizeof in)) > 0)
                if (nghttp2_session_mem_recv(c->s, in, (size_t)r) < 0) {
                    done = 1;
                    break;
                }
            if (r == 0 || (r < 0 && errno != EAGAIN) || done || flush(c)) {
                nghttp2_session_del(c->s);
                close(c->fd);
                free(c);
            }
        }
    }
}
