/* SPDX-License-Identifier: MIT */
/* Reading gRPC's length-prefixed messages out of a byte stream that arrives in pieces of any size. */
#include <string.h>
#include "grpc/wire-int.h"
#include "rt/alloc.h"

/* A read brings at least this much room, so that small messages that
 * arrive together are taken in one read. */
#define MIN_ROOM 4096
/* A heap buffer this large is given back once the reader is empty: one
 * 4 MiB message must not pin 4 MiB for the rest of a long stream. */
#define KEEP_HEAP (256u << 10)

void km__grpc_rd_init(km__grpc_rd *rd, char *lent, size_t lent_cap, size_t max)
{
    *rd = (km__grpc_rd){ .buf = lent, .cap = lent ? lent_cap : 0, .max = max,
                         .lent = lent, .lent_cap = lent ? lent_cap : 0 };
    if (rd->max > UINT32_MAX)
        rd->max = UINT32_MAX;
}

static bool on_heap(const km__grpc_rd *rd)
{
    return rd->buf && rd->buf != rd->lent;
}

void km__grpc_rd_free(km__grpc_rd *rd)
{
    if (on_heap(rd))
        km__free(rd->buf);
    rd->buf = rd->lent;
    rd->cap = rd->lent_cap;
    rd->off = rd->len = 0;
}

static uint32_t length_of(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return (uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 8 | u[4];
}

int km__grpc_rd_next(km__grpc_rd *rd, km_str *msg, bool *compressed)
{
    if (rd->len < KM__GRPC_PREFIX)
        return 0;
    const char *p = rd->buf + rd->off;
    uint8_t flag = (uint8_t)p[0];
    if (flag > 1)
        return -EBADMSG;
    uint32_t len = length_of(p);
    if (len > rd->max)
        return -EMSGSIZE;
    if (rd->len - KM__GRPC_PREFIX < len)
        return 0;
    msg->p = p + KM__GRPC_PREFIX;
    msg->n = len;
    *compressed = flag == 1;
    rd->off += KM__GRPC_PREFIX + (size_t)len;
    rd->len -= KM__GRPC_PREFIX + (size_t)len;
    if (!rd->len)
        rd->off = 0;
    return 1;
}

/* Bytes the message begun still needs to be whole (0 if its prefix has
 * not come yet; a length over max is caught by _next first). */
static size_t want(const km__grpc_rd *rd)
{
    if (rd->len < KM__GRPC_PREFIX)
        return KM__GRPC_PREFIX;
    uint32_t len = length_of(rd->buf + rd->off);
    size_t whole = KM__GRPC_PREFIX + (size_t)(len > rd->max ? 0 : len);
    return whole > rd->len ? whole : rd->len;
}

int km__grpc_rd_room(km__grpc_rd *rd, char **p, size_t *room)
{
    if (!rd->len) {
        rd->off = 0;
        if (on_heap(rd) && rd->cap > KEEP_HEAP && rd->lent) {
            km__free(rd->buf);
            rd->buf = rd->lent;
            rd->cap = rd->lent_cap;
        }
    }
    /* The message begun must fit whole, after off; and a read needs room
     * for one byte at least. */
    size_t need = want(rd);
    if (need < rd->len + 1)
        need = rd->len + 1;
    size_t tail = rd->cap - rd->off - rd->len;
    if (rd->off + need > rd->cap || (rd->off && tail < MIN_ROOM / 2 && tail < rd->cap / 2)) {
        if (need <= rd->cap) {
            /* It fits once the consumed bytes in front are dropped. */
            memmove(rd->buf, rd->buf + rd->off, rd->len);
            rd->off = 0;
        } else {
            /* The prefix told the size: no doubling, and room behind
             * it for the next message's first bytes. */
            size_t cap = need < MIN_ROOM ? MIN_ROOM : need + MIN_ROOM;
            char *nb = km__malloc(cap);
            if (!nb)
                return -ENOMEM;
            if (rd->len)
                memcpy(nb, rd->buf + rd->off, rd->len);
            if (on_heap(rd))
                km__free(rd->buf);
            rd->buf = nb;
            rd->cap = cap;
            rd->off = 0;
        }
    }
    *p = rd->buf + rd->off + rd->len;
    *room = rd->cap - rd->off - rd->len;
    return 0;
}

void km__grpc_rd_fill(km__grpc_rd *rd, size_t n)
{
    rd->len += n;
}
