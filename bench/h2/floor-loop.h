/* SPDX-License-Identifier: MIT */
/* The loop under the floor programs (bench/h2/floor.c, bench/scale/
 * grpc_floor.c): one thread, one epoll set, nghttp2's memory-buffer API.
 * A program supplies what it answers through its frame callback and calls
 * floor_serve; nothing else runs, so what a request costs is what nghttp2
 * and the socket calls cost. */
#ifndef KUMO_BENCH_FLOOR_LOOP_H
#define KUMO_BENCH_FLOOR_LOOP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* accept4; include this file first */
#endif

#include <arpa/inet.h>
#include <errno.h>
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
} floor_conn;

/* Sends what the session has; 0, or -1 when the connection is done. */
static int floor_flush(floor_conn *c)
{
    static uint8_t out[65536];
    size_t n = 0;
    for (;;) {
        const uint8_t *p;
        ssize_t k = nghttp2_session_mem_send(c->s, &p);
        if (k < 0)
            return -1;
        if (k == 0 || n + (size_t)k > sizeof out) {
            if (n && write(c->fd, out, n) != (ssize_t)n)
                return -1;  /* a floor measurement: the client keeps up */
            n = 0;
            if (k == 0)
                break;
        }
        memcpy(out + n, p, (size_t)k);
        n += (size_t)k;
    }
    return nghttp2_session_want_read(c->s) || nghttp2_session_want_write(c->s) ? 0 : -1;
}

/* Serves on addr ("IP:PORT") forever, on_frame answering each request,
 * max_streams streams at once per connection. Returns only on a setup
 * error (1, said on stderr). */
static int floor_serve(const char *addr, nghttp2_on_frame_recv_callback on_frame,
                       uint32_t max_streams)
{
    const char *colon = strchr(addr, ':');
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
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
            floor_conn *c = evs[i].data.ptr;
            if (!c) {
                int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                c->fd = fd;
                nghttp2_session_server_new(&c->s, cb, c);
                nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams };
                nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, &iv, 1);
                struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                if (floor_flush(c) == 0)
                    continue;
            } else {
                ssize_t r;
                int done = 0;
                while ((r = read(c->fd, in, sizeof in)) > 0)
                    if (nghttp2_session_mem_recv(c->s, in, (size_t)r) < 0) {
                        done = 1;
                        break;
                    }
                if (r != 0 && (r > 0 || errno == EAGAIN) && !done && !floor_flush(c))
                    continue;
            }
            nghttp2_session_del(c->s);
            close(c->fd);
            free(c);
        }
    }
}

#endif
