/* SPDX-License-Identifier: MIT */
/* The floor under a gRPC unary call served with nghttp2 on this kernel:
 * one thread, one epoll loop, nghttp2's memory-buffer API, and every call
 * to /etcdserverpb.KV/Range (or Put) answered with the same packed reply,
 * built once at start: a response head, one length-prefixed message and
 * the grpc-status trailer. No request is decoded, no store is read, no
 * goroutine, lock or handler chain runs. What a call costs here is what
 * HTTP/2 framing, nghttp2 and the socket calls cost; bench/scale/run.sh
 * measures the caching tier against it (target "floor").
 *
 *     grpc_floor IP:PORT [VALUE_SIZE]   (default 100, grpc_load's default)
 *
 * The reply is what bench/config/grpc_load.c checks for: the key
 * "00000000" with a VALUE_SIZE-byte value, at revision 2. */
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
#include "etcdserverpb/rpc.pb-c.h"

typedef struct {
    int fd;
    nghttp2_session *s;
} conn;

static uint8_t *reply;          /* the gRPC message: flag, length, packed RangeResponse */
static size_t reply_len;

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, \
                   NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE }

static ssize_t body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                    nghttp2_data_source *src, void *ud)
{
    (void)src; (void)ud;
    static const nghttp2_nv trailer[] = { NV("grpc-status", "0") };
    size_t n = reply_len < len ? reply_len : len;    /* a small reply: one frame */
    memcpy(buf, reply, n);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    nghttp2_submit_trailer(s, id, trailer, 1);
    return (ssize_t)n;
}

/* A call is answered once its request has ended. */
static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        static const nghttp2_nv head[] = { NV(":status", "200"),
                                           NV("content-type", "application/grpc") };
        nghttp2_data_provider d = { .read_callback = body };
        nghttp2_submit_response(s, f->hd.stream_id, head, 2, &d);
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

static void build_reply(size_t value_size)
{
    static uint8_t key[] = "00000000";
    uint8_t *value = calloc(1, value_size + 1);
    memset(value, 'v', value_size);
    Mvccpb__KeyValue kv = MVCCPB__KEY_VALUE__INIT;
    kv.key = (ProtobufCBinaryData){ sizeof key - 1, key };
    kv.value = (ProtobufCBinaryData){ value_size, value };
    kv.create_revision = kv.mod_revision = 2;
    kv.version = 1;
    Mvccpb__KeyValue *kvs[] = { &kv };
    Etcdserverpb__ResponseHeader h = ETCDSERVERPB__RESPONSE_HEADER__INIT;
    h.cluster_id = 1;
    h.member_id = 1;
    h.revision = 2;
    h.raft_term = 1;
    Etcdserverpb__RangeResponse r = ETCDSERVERPB__RANGE_RESPONSE__INIT;
    r.header = &h;
    r.kvs = kvs;
    r.n_kvs = 1;
    r.count = 1;
    size_t n = etcdserverpb__range_response__get_packed_size(&r);
    reply = malloc(5 + n);
    reply[0] = 0;
    reply[1] = (uint8_t)(n >> 24); reply[2] = (uint8_t)(n >> 16);
    reply[3] = (uint8_t)(n >> 8);  reply[4] = (uint8_t)n;
    etcdserverpb__range_response__pack(&r, reply + 5);
    reply_len = 5 + n;
    free(value);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || !strchr(argv[1], ':')) {
        fprintf(stderr, "usage: %s IP:PORT [VALUE_SIZE]\n", argv[0]);
        return 2;
    }
    build_reply(argc > 2 ? (size_t)atol(argv[2]) : 100);
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(strchr(argv[1], ':') - argv[1]), argv[1]);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(strchr(argv[1], ':') + 1)) };
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
                nghttp2_settings_entry iv = { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000 };
                nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, &iv, 1);
                struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                if (flush(c) == 0)
                    continue;
            } else {
                ssize_t r;
                int done = 0;
                while ((r = read(c->fd, in, sizeof in)) > 0)
                    if (nghttp2_session_mem_recv(c->s, in, (size_t)r) < 0) {
                        done = 1;
                        break;
                    }
                if (r != 0 && (r > 0 || errno == EAGAIN) && !done && !flush(c))
                    continue;
            }
            nghttp2_session_del(c->s);
            close(c->fd);
            free(c);
        }
    }
}
