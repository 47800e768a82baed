/* SPDX-License-Identifier: MIT */
/* Redis connection goroutines: the writer batches queued commands into one write, the reader hands replies out in order. */
#include "redis/conn-int.h"
#include "rt/alloc.h"
#include <kumo/net.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

void km__redis_break_locked(km_redis *c, int err)
{
    if (!atomic_load(&c->broken)) {
        c->err = err;
        atomic_store(&c->broken, true);
    }
    km__redis_req *lists[2] = { c->sendq, c->replyq };
    c->sendq = c->replyq = NULL;
    c->sendq_tail = &c->sendq;
    c->replyq_tail = &c->replyq;
    for (int i = 0; i < 2; i++)
        for (km__redis_req *r = lists[i], *next; r; r = next) {
            next = r->next;
            r->rc = err;
            r->done = true;
            km_cond_signal(r->cond);    /* the owner relocks mu before reading r */
        }
    km_cond_signal(c->wcond);
    /* wakes the reader from its read and the writer from its write; the fd
     * itself stays open until km_redis_close has waited for both */
    km_shutdown(c->fd, SHUT_RDWR);
}

static void writer(void *arg)
{
    km_redis *c = arg;
    char *wbuf = NULL;
    size_t cap = 0;
    for (;;) {
        km_mutex_lock(c->mu);
        while (!c->sendq && !atomic_load(&c->broken))
            km_cond_wait(c->wcond, c->mu);
        if (atomic_load(&c->broken)) {
            km_mutex_unlock(c->mu);
            break;
        }
        /* everything queued meanwhile goes out in one write: automatic
         * pipelining. The bytes are copied so that a caller may leave
         * (time out) while they are being written. */
        size_t n = 0;
        for (km__redis_req *r = c->sendq; r; r = r->next)
            n += r->len;
        if (n > cap) {
            char *nb = km__malloc(n);
            if (!nb) {
                km__redis_break_locked(c, -ENOMEM);
                km_mutex_unlock(c->mu);
                break;
            }
            km__free(wbuf);
            wbuf = nb;
            cap = n;
        }
        size_t off = 0;
        for (km__redis_req *r = c->sendq; r; r = r->next) {
            memcpy(wbuf + off, r->buf, r->len);
            off += r->len;
        }
        *c->replyq_tail = c->sendq;
        c->replyq_tail = c->sendq_tail;
        c->sendq = NULL;
        c->sendq_tail = &c->sendq;
        km_mutex_unlock(c->mu);
        ssize_t w = km_write(c->fd, wbuf, n, KM_FOREVER);
        if (w < 0) {
            km_mutex_lock(c->mu);
            km__redis_break_locked(c, (int)w == -EBADF ? -ECONNABORTED : (int)w);
            km_mutex_unlock(c->mu);
            break;
        }
        /* a big buffer is not kept for ever */
        if (cap > (1u << 20)) {
            km__free(wbuf);
            wbuf = NULL;
            cap = 0;
        }
    }
    km__free(wbuf);
    km_wg_done(c->wg);
}

/* Gives reply r to the request at the head of replyq. 0, or -EPROTO when
 * nobody waits for it. */
static int deliver(km_redis *c, km_redis_reply *r)
{
    km_mutex_lock(c->mu);
    km__redis_req *q = c->replyq;
    if (atomic_load(&c->broken)) {
        km_mutex_unlock(c->mu);
        km_redis_reply_free(r);
        return -ECONNABORTED;
    }
    if (!q) {
        km_mutex_unlock(c->mu);
        km_redis_reply_free(r);
        return -EPROTO;
    }
    q->replies[q->got++] = r;
    if (q->got == q->want) {
        c->replyq = q->next;
        if (!c->replyq)
            c->replyq_tail = &c->replyq;
        q->rc = 0;
        q->done = true;
        km_cond_signal(q->cond);
    }
    km_mutex_unlock(c->mu);
    return 0;
}

static void reader(void *arg)
{
    km_redis *c = arg;
    size_t cap = 16384, len = 0, off = 0;
    char *rbuf = km__malloc(cap);
    int err = rbuf ? 0 : -ENOMEM;
    while (!err) {
        km_redis_reply *r;
        size_t used;
        int rc = km__resp_feed(&c->parser, rbuf + off, len - off, &r, &used);
        if (rc < 0) {
            err = rc;
            break;
        }
        if (rc == 1) {
            off += used;
            if (r->type == KM_REDIS_PUSH) {
                km_redis_reply_free(r);     /* out of band: no caller asked */
                continue;
            }
            err = deliver(c, r);
            continue;
        }
        /* need more: keep the partial reply at the front, grow if full */
        if (off > 0) {
            memmove(rbuf, rbuf + off, len - off);
            len -= off;
            off = 0;
        }
        if (len == cap) {
            char *nb = km__malloc(cap * 2);
            if (!nb) {
                err = -ENOMEM;
                break;
            }
            memcpy(nb, rbuf, len);
            km__free(rbuf);
            rbuf = nb;
            cap *= 2;
        }
        ssize_t n = km_read(c->fd, rbuf + len, cap - len, KM_FOREVER);
        if (n == 0)
            err = -ECONNRESET;      /* the server hung up */
        else if (n < 0)
            err = n == -EBADF ? -ECONNABORTED : (int)n;
        else
            len += (size_t)n;
    }
    km__free(rbuf);
    km_mutex_lock(c->mu);
    km__redis_break_locked(c, err);
    km_mutex_unlock(c->mu);
    km_wg_done(c->wg);
}

int km__redis_start(km_redis *c)
{
    km_wg_add(c->wg, 2);
    int rc = km_go(writer, c);
    if (rc) {
        km_wg_add(c->wg, -2);
        return rc;
    }
    rc = km_go(reader, c);
    if (rc) {
        km_wg_done(c->wg);
        km_mutex_lock(c->mu);
        km__redis_break_locked(c, rc);
        km_mutex_unlock(c->mu);
        return rc;
    }
    return 0;
}
