/* SPDX-License-Identifier: MIT */
/* Channel internals shared by the channel operations and select. */
#ifndef KM_CHAN_INT_H
#define KM_CHAN_INT_H

#include <kumo/chan.h>
#include <string.h>
#include "rt/wait.h"

struct km_chan {
    km__lock   lock;
    bool       closed;
    size_t     esz, cap;
    size_t     len, recvx, sendx;   /* ring: len elements from recvx */
    km__waitq  recvq, sendq;
    char       buf[];
};

static inline void *km__slot(km_chan *c, size_t i) { return c->buf + i * c->esz; }

static inline void km__copy(km_chan *c, void *dst, const void *src)
{
    if (c->esz)
        memcpy(dst, src, c->esz);
}

/* Steps that complete an operation on a locked channel if it can without
 * blocking. They return true when done; *wake is a G to ready once every
 * lock is released, or NULL. */
bool km__chan_try_send(km_chan *c, const void *elem, int *rc, km__g **wake);
bool km__chan_try_recv(km_chan *c, void *elem, int *rc, km__g **wake);

#endif
