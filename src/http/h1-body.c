/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request bodies: fixed-length or chunked, read into the
 * connection's buffer, with 100 Continue sent when the client waits. */
#include "h1-int.h"
#include "rt/rt-int.h"
#include <string.h>

/* Sends "100 Continue" the first time a body that the client holds back is
 * needed (after flushing earlier pipelined responses, which come first). */
static int maybe_continue(km__conn *c)
{
    const km__head *h = &c->st.req.h;
    /* never to an HTTP/1.0 client, which does not know 1xx (RFC 9110 §10.1.1) */
    if (!h->expect_continue || c->sent_continue || h->version < 11)
        return 0;
    c->sent_continue = true;
    int rc = km__out(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return rc ? rc : km__h1_flush(c);
}

static int fail(km__conn *c, int status)
{
    c->body_state = BODY_FAILED;
    c->st.req.body_fail = status;
    return status == 413 ? -EMSGSIZE : status == 408 ? -ETIMEDOUT :
           status == 400 ? -EBADMSG : -ECONNRESET;
}

static int read_fixed(km__conn *c)
{
    size_t need = c->body_start + (size_t)c->st.req.h.content_length;
    int64_t dl = km__deadline_after(c->st.s->cfg.body_timeout);
    if (km__conn_reserve(c, need))
        return fail(c, 413);
    while (c->rlen < need) {
        if (maybe_continue(c))
            return fail(c, 499);
        ssize_t n = km__conn_fill(c, dl);
        if (n <= 0)
            return fail(c, n == -ETIMEDOUT ? 408 : 499);
    }
    c->body_len = (size_t)c->st.req.h.content_length;
    c->end = need;
    c->body_state = BODY_READ;
    return 0;
}

static int read_chunked(km__conn *c)
{
    km__chunked d = { .rpos = c->body_start, .wpos = c->body_start };
    size_t max = c->st.s->cfg.max_body_bytes;
    int64_t dl = km__deadline_after(c->st.s->cfg.body_timeout);
    for (;;) {
        int rc = km__chunked_decode(&d, c->rbuf, c->rlen, c->body_start + max);
        if (rc == 1)
            break;
        if (rc < 0)
            return fail(c, -rc);
        /* Full: first reclaim the framing already decoded away (the gap
         * between the decoded body and the undecoded input), then grow. */
        if (c->rlen == c->rcap && d.rpos > d.wpos) {
            memmove(c->rbuf + d.wpos, c->rbuf + d.rpos, c->rlen - d.rpos);
            c->rlen -= d.rpos - d.wpos;
            d.rpos = d.wpos;
        }
        if (c->rlen == c->rcap && km__conn_reserve(c, c->rcap * 2 < c->body_start + max + 65536
                                                      ? c->rcap * 2 : c->body_start + max + 65536))
            return fail(c, 413);
        if (c->rlen == c->rcap)
            return fail(c, 413);
        if (maybe_continue(c))
            return fail(c, 499);
        ssize_t n = km__conn_fill(c, dl);
        if (n <= 0)
            return fail(c, n == -ETIMEDOUT ? 408 : 499);
    }
    c->body_len = d.wpos - c->body_start;
    c->end = d.rpos;
    c->body_state = BODY_READ;
    return 0;
}

int km__h1_body(km_http_req *r, km_str *body)
{
    km__conn *c = km__conn_of(r->st);
    int rc = 0;
    switch (c->body_state) {
    case BODY_NONE:
        *body = (km_str){ c->rbuf + c->body_start, 0 };
        return 0;
    case BODY_UNREAD:
        rc = r->h.chunked ? read_chunked(c) : read_fixed(c);
        break;
    case BODY_FAILED:
        return r->body_fail == 413 ? -EMSGSIZE : r->body_fail == 408 ? -ETIMEDOUT :
               r->body_fail == 400 ? -EBADMSG : -ECONNRESET;
    }
    if (rc)
        return rc;
    *body = (km_str){ c->rbuf + c->body_start, c->body_len };
    return 0;
}

/* HTTP/1.1 bodies are read whole (bounded by max_body_bytes), then handed
 * out piece by piece: what streams request bodies is HTTP/2. */
ssize_t km__h1_body_read(km_http_req *r, void *buf, size_t n, int64_t deadline)
{
    (void)deadline;     /* the server's body_timeout bounds the read */
    km__conn *c = km__conn_of(r->st);
    km_str b;
    int rc = km__h1_body(r, &b);
    if (rc)
        return rc;
    size_t left = b.n - c->body_off;
    if (n > left)
        n = left;
    memcpy(buf, b.p + c->body_off, n);
    c->body_off += n;
    return (ssize_t)n;
}

int km__h1_drain(km__conn *c)
{
    if (c->body_state == BODY_NONE || c->body_state == BODY_READ)
        return 0;
    if (c->body_state == BODY_FAILED)
        return -1;
    /* Unread body. A client that waits for 100 Continue never sends it:
     * then the connection cannot be reused. Otherwise read it, up to the
     * body limit, to keep the connection. */
    if (c->st.req.h.expect_continue && !c->sent_continue)
        return -1;
    km_str b;
    return km__h1_body(&c->st.req, &b) ? -1 : 0;
}
