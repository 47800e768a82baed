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
#include "floor-loop.h"

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

int main(int argc, char **argv)
{
    if (argc != 2 || !strchr(argv[1], ':')) {
        fprintf(stderr, "usage: %s IP:PORT\n", argv[0]);
        return 2;
    }
    return floor_serve(argv[1], on_frame, 250);
}
