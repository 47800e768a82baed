/* SPDX-License-Identifier: MIT */
/* libFuzzer target: gRPC's length-prefixed message reader fed arbitrary bytes in arbitrary cuts. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <kumo.h>
#include "grpc/wire-int.h"

/* Every allocation is counted: one left after an input is a leak. */
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

/* Input: a byte choosing the size of the pieces the rest arrives in, a
 * byte choosing the message limit (and whether a buffer is lent), then
 * the stream. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const km_allocator a = { count_malloc, NULL, count_free, NULL };
    km_set_allocator(&a);
    if (size < 2)
        return 0;
    size_t step = data[0] ? data[0] : SIZE_MAX;
    size_t max = (size_t)1 << (data[1] % 24);
    char lent[300];
    km__grpc_rd rd;
    km__grpc_rd_init(&rd, data[1] & 0x80 ? lent : NULL, data[1] & 0x80 ? sizeof lent : 0, max);
    const uint8_t *in = data + 2;
    size_t n = size - 2, off = 0, out = 0;
    int rc = 0;
    for (;;) {
        km_str m;
        bool comp;
        while ((rc = km__grpc_rd_next(&rd, &m, &comp)) == 1) {
            if (m.n > max)
                abort();
            /* The message is the bytes of the input it claims to be. */
            if (memcmp(m.p, in + out + KM__GRPC_PREFIX, m.n) || comp != (in[out] == 1))
                abort();
            out += KM__GRPC_PREFIX + m.n;
        }
        if (rc < 0 || off == n)
            break;
        char *p;
        size_t room;
        if (km__grpc_rd_room(&rd, &p, &room) || !room)
            abort();
        size_t k = n - off < step ? n - off : step;
        if (k > room)
            k = room;
        memcpy(p, in + off, k);
        km__grpc_rd_fill(&rd, k);
        off += k;
    }
    if (rc == 0 && out + rd.len != n)
        abort();
    km__grpc_rd_free(&rd);
    if (atomic_load(&live) != 0)
        abort();
    km_set_allocator(NULL);
    return 0;
}
