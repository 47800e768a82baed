/* SPDX-License-Identifier: MIT */
/* Channels: buffered rings and direct hand-off between goroutines. */
#include "chan-int.h"

int km_chan_new(km_chan **out, size_t elem_size, size_t cap)
{
    if (!out)
        return -EINVAL;
    size_t bytes;
    if (__builtin_mul_overflow(elem_size, cap, &bytes) ||
        bytes > ((size_t)1 << 40))
        return -EINVAL;
    km_chan *c = km__malloc(sizeof *c + bytes);
    if (!c)
        return -ENOMEM;
    memset(c, 0, sizeof *c);
    c->esz = elem_size;
    c->cap = cap;
    *out = c;
    return 0;
}

void km_chan_free(km_chan *c)
{
    km__free(c);
}

bool km__chan_try_send(km_chan *c, const void *elem, int *rc, km__g **wake)
{
    *wake = NULL;
    if (c->closed) {
        *rc = -EPIPE;
        return true;
    }
    km__waiter *w = km__wq_claim(&c->recvq);
    if (w) {
        /* Straight into the parked receiver's variable: no buffer trip. */
        km__copy(c, w->elem, elem);
        w->rc = 0;
        *wake = w->g;
        *rc = 0;
        return true;
    }
    if (c->len < c->cap) {
        km__copy(c, km__slot(c, c->sendx), elem);
        if (++c->sendx == c->cap) c->sendx = 0;
        c->len++;
        *rc = 0;
        return true;
    }
    return false;
}

bool km__chan_try_recv(km_chan *c, void *elem, int *rc, km__g **wake)
{
    *wake = NULL;
    km__waiter *w = km__wq_claim(&c->sendq);
    if (w) {
        if (c->cap == 0) {
            km__copy(c, elem, w->elem);
        } else {
            /* Full buffer: take the oldest, the sender's value joins the tail
             * (which is the slot just freed). */
            km__copy(c, elem, km__slot(c, c->recvx));
            km__copy(c, km__slot(c, c->recvx), w->elem);
            if (++c->recvx == c->cap) c->recvx = 0;
            c->sendx = c->recvx;
        }
        w->rc = 0;
        *wake = w->g;
        *rc = 0;
        return true;
    }
    if (c->len > 0) {
        km__copy(c, elem, km__slot(c, c->recvx));
        if (++c->recvx == c->cap) c->recvx = 0;
        c->len--;
        *rc = 0;
        return true;
    }
    if (c->closed) {
        if (c->esz) memset(elem, 0, c->esz);
        *rc = -EPIPE;
        return true;
    }
    return false;
}

/* Parks the current goroutine on q until a peer completes its operation. */
static int chan_wait(km_chan *c, km__waitq *q, void *elem, int64_t deadline,
                     const char *reason)
{
    km__g *g = km__curg();
    if (km__expired(deadline)) {
        km__lock_release(&c->lock);
        return -ETIMEDOUT;
    }
    if (!g) {
        km__lock_release(&c->lock);
        return -EPERM;
    }
    km__waiter me = { .g = g, .elem = elem, .tok = 1 };
    km__park_arm(g, reason, c, true);
    int tok = km__wq_wait(q, &c->lock, &me, deadline, true);
    return tok == me.tok ? me.rc : km__wake_err(tok);
}

int km_chan_send_dl(km_chan *c, const void *elem, int64_t deadline)
{
    if (!c || (c->esz && !elem))
        return -EINVAL;
    int rc;
    km__g *wake;
    km__lock_acquire(&c->lock);
    if (km__chan_try_send(c, elem, &rc, &wake)) {
        km__lock_release(&c->lock);
        if (wake)
            km__ready(wake);
        return rc;
    }
    return chan_wait(c, &c->sendq, (void *)elem, deadline, "chan send");
}

int km_chan_recv_dl(km_chan *c, void *elem, int64_t deadline)
{
    if (!c || (c->esz && !elem))
        return -EINVAL;
    int rc;
    km__g *wake;
    km__lock_acquire(&c->lock);
    if (km__chan_try_recv(c, elem, &rc, &wake)) {
        km__lock_release(&c->lock);
        if (wake)
            km__ready(wake);
        return rc;
    }
    return chan_wait(c, &c->recvq, elem, deadline, "chan receive");
}

int km_chan_send(km_chan *c, const void *elem)
{
    return km_chan_send_dl(c, elem, KM_FOREVER);
}

int km_chan_recv(km_chan *c, void *elem)
{
    return km_chan_recv_dl(c, elem, KM_FOREVER);
}

int km_chan_close(km_chan *c)
{
    if (!c)
        return -EINVAL;
    km__waiter *woken = NULL, *w;
    km__lock_acquire(&c->lock);
    if (c->closed) {
        km__lock_release(&c->lock);
        return -EPIPE;
    }
    c->closed = true;
    while ((w = km__wq_claim(&c->recvq))) {
        if (c->esz) memset(w->elem, 0, c->esz);
        w->rc = -EPIPE;
        w->next = woken;
        woken = w;
    }
    while ((w = km__wq_claim(&c->sendq))) {
        w->rc = -EPIPE;
        w->next = woken;
        woken = w;
    }
    km__lock_release(&c->lock);
    /* Wake only after unlocking: the woken may free the channel at once. */
    while (woken) {
        w = woken;
        woken = w->next;
        km__ready(w->g);
    }
    return 0;
}

size_t km_chan_len(km_chan *c)
{
    if (!c) return 0;
    km__lock_acquire(&c->lock);
    size_t n = c->len;
    km__lock_release(&c->lock);
    return n;
}

size_t km_chan_cap(km_chan *c)
{
    return c ? c->cap : 0;
}
