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
#include <stdint.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "../h2/floor-loop.h"

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
    return floor_serve(argv[1], on_frame, 1000);
}
