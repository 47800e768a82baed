/* SPDX-License-Identifier: MIT */
/* One HTTP/1.1 connection: read, parse, dispatch, keep-alive, pipelining. */
#include "h2s-int.h"
#include "rt/rt-int.h"
#include <string.h>
#include <unistd.h>

int km__conn_reserve(km__conn *c, size_t need)
{
    const km_http_config *cfg = &c->st.s->cfg;
    size_t limit = cfg->max_header_bytes + cfg->max_body_bytes + 65536;
    if (need <= c->rcap)
        return 0;
    if (need > limit)
        return -EMSGSIZE;
    size_t ncap = c->rcap * 2;
    while (ncap < need) ncap *= 2;
    if (ncap > limit) ncap = limit;
    char *nb = km__malloc(ncap);
    if (!nb)
        return -ENOMEM;
    memcpy(nb, c->rbuf, c->rlen);
    /* The old buffer lives until the request is done: strings the handler
     * already took from the request keep pointing into it. */
    if (c->nretired == KM__MAX_RETIRED) {
        km__free(nb);
        return -ENOMEM;     /* cannot happen: the buffer doubles each time */
    }
    c->retired[c->nretired++] = c->rbuf;
    c->rbuf = nb;
    c->rcap = ncap;
    return 0;
}

/* Frees the buffers the current request outgrew. */
static void free_retired(km__conn *c)
{
    while (c->nretired)
        km__free(c->retired[--c->nretired]);
}

ssize_t km__conn_fill(km__conn *c, int64_t deadline)
{
    if (c->rlen == c->rcap)
        return -ENOBUFS;
    size_t room = c->rcap - c->rlen;
    ssize_t n = km__io_read(c->fd, c->tls, c->rbuf + c->rlen, room, deadline);
    if (n > 0) {
        km__count_bytes(&c->nread, n);
        c->rlen += (size_t)n;
        c->read_at = km_now();
    }
    /* A stream socket's read stops short only when its queue is empty. */
    c->drained = n > 0 && (size_t)n < room;
    return n;
}

/* Moves the unread bytes (the next request) to the front of the buffer. */
static void compact(km__conn *c)
{
    if (c->rpos == 0)
        return;
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
}

/* The access log line, buffered per connection and written with the
 * responses it describes, so a pipelined batch costs one write, not one
 * per line. */
static void access_log(km__conn *c)
{
    if (c->st.s->cfg.access_log_fd <= 0)
        return;
    char line[KM__LOGLINE];
    size_t n = km__access_line(&c->st, line, sizeof line);
    if (n == 0)
        return;
    if (!c->logbuf && !(c->logbuf = km__malloc(KM__LOGBUF)))
        return;     /* no memory for the log: the request still succeeded */
    if (c->loglen + n > KM__LOGBUF)
        km__conn_log_flush(c);
    memcpy(c->logbuf + c->loglen, line, n);
    c->loglen += n;
}

void km__conn_log_flush(km__conn *c)
{
    if (c->loglen) {
        ssize_t w = write(c->st.s->cfg.access_log_fd, c->logbuf, c->loglen);
        (void)w;    /* a log that cannot be written must not fail requests */
        c->loglen = 0;
    }
}

const km__stream_ops km__h1_ops = {
    .send = km__h1_send,
    .write = km__h1_write,
    .flush = km__h1_flush_resp,
    .sendfile = km__h1_sendfile,
    .body = km__h1_body,
    .body_read = km__h1_body_read,
    .lean = km__h1_lean,
};

/* Answers a request that cannot be served (bad head, too large, too slow,
 * HTTP version), after running the middleware on it so that metrics and
 * logs count it, and logs it; the connection then closes. What parsed of
 * the head stays (method, path); its headers may be half parsed: none are
 * kept unless whole. */
static void refuse(km__conn *c, int status, bool head_whole)
{
    km_http_req *r = &c->st.req;
    if (!head_whole) {
        r->h.nhdrs = 0;
        r->h.chunked = r->h.expect_continue = false;
        r->h.content_length = -1;
    }
    if (!r->h.method.p)
        r->h.method = (km_str){ "", 0 };
    if (!r->h.path.p)
        r->h.target = r->h.path = r->h.query = (km_str){ "", 0 };
    if (!r->h.version)
        r->h.version = 11;
    if (!r->start)
        r->start = c->read_at ? c->read_at : km_now();
    c->body_state = BODY_FAILED;
    c->keep_alive = false;
    bool head = r->h.method.n == 4 && !memcmp(r->h.method.p, "HEAD", 4);
    km__resp_reset(&c->st.resp, &c->st, head);
    km__stream_refuse(&c->st, status);
    km__h1_error(c, status);
    access_log(c);
}

/* HTTP/2's connection preface (RFC 9113 §3.4): a client that knows the
 * server speaks HTTP/2 opens with it. */
static const char preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Does the connection open with HTTP/2's preface? 1 yes, 0 no, -1 it may:
 * what came so far is a prefix of it. */
static int h2_preface(const km__conn *c)
{
    if (!c->fresh || c->st.s->cfg.h1_only || c->rlen == 0)
        return 0;
    size_t k = c->rlen < sizeof preface ? c->rlen : sizeof preface;
    if (memcmp(c->rbuf, preface, k))
        return 0;
    return k == sizeof preface ? 1 : -1;
}

/* Waits for, parses and returns the next request head: its length, 0
 * when the connection should close (EOF, timeout, bad request answered),
 * -1 when it opened with HTTP/2's preface. */
static int next_head(km__conn *c)
{
    const km_http_config *cfg = &c->st.s->cfg;
    km_http_req *r = &c->st.req;
    size_t scanned = 0;
    int64_t dl;
    compact(c);
    r->start = 0;
    for (;;) {
        int h2 = h2_preface(c);
        if (h2 > 0)
            return -1;
        memset(&r->h, 0, sizeof r->h);
        int n = h2 ? 0 : km__http_parse_head(c->rbuf, c->rlen, &scanned, &r->h, c->hdrs,
                                             cfg->max_headers, cfg->max_header_bytes);
        if (n > 0) {
            if (!r->start) {    /* buffered whole: read with the one before */
                atomic_store(&c->busy, true);
                r->start = c->started = c->read_at;
            }
            return n;
        }
        if (n < 0) {
            refuse(c, -n, false);
            return 0;
        }
        /* About to block: pipelined responses go out first. */
        if (km__h1_flush(c) || atomic_load(&c->st.s->stopping))
            return 0;
        /* Idle between requests; once a byte of the next one arrived, the
         * whole head must come within read_header_timeout of it. */
        if (c->rlen == 0) {
            dl = km__deadline_after(cfg->idle_timeout);
            atomic_store(&c->busy, false);
            /* The last read emptied the socket, and any byte that arrived
             * since then raised a readiness edge: wait for it rather than
             * spend a read on EAGAIN. A readiness left over from earlier
             * only costs that read back. */
            if (c->drained) {
                c->drained = false;
                int rc = km__io_wait_read(c->fd, c->tls, dl);
                if (rc)
                    return 0;
            }
        } else {
            if (!atomic_load(&c->busy)) {
                atomic_store(&c->busy, true);
                r->start = c->started = c->read_at;
            }
            dl = c->started + cfg->read_header_timeout;
        }
        if (c->rlen == c->rcap && km__conn_reserve(c, c->rcap * 2)) {
            refuse(c, 431, false);
            return 0;
        }
        ssize_t got = km__conn_fill(c, dl);
        if (got <= 0) {
            if (got == -ETIMEDOUT && c->rlen)
                refuse(c, 408, false);
            return 0;
        }
        if (!atomic_load(&c->busy)) {
            atomic_store(&c->busy, true);
            r->start = c->started = c->read_at;
        }
    }
}

/* The TLS handshake of a connection to a TLS listener: 1 when ALPN chose
 * HTTP/2, 0 for HTTP/1.1, -1 when it failed (the connection closes). */
static int start_tls(km__conn *c)
{
    const km_http_config *cfg = &c->st.s->cfg;
    int rc = km__tls_accept(cfg->tls, c->fd, km__deadline_after(cfg->read_header_timeout),
                            &c->tls);
    if (rc)
        return -1;
    c->peer.tls = c->tls;
    size_t n;
    const char *p = km__tls_alpn(c->tls, &n);
    return n == 2 && !memcmp(p, "h2", 2) && !cfg->h1_only;
}

/* Serves requests on one connection until it closes; runs in the
 * connection's group, which a client hanging up on a stream cancels. */
static void serve(void *arg)
{
    km__conn *c = arg;
    const km_http_config *cfg = &c->st.s->cfg;
    km_http_req *r = &c->st.req;
    km_http_resp *w = &c->st.resp;
    if (cfg->tls) {
        int h2 = start_tls(c);
        if (h2 < 0)
            return;
        if (h2) {
            km__h2s_serve(c);
            return;
        }
    }
    for (;;) {
        int hl = next_head(c);
        if (hl < 0) {
            km__h2s_serve(c);
            break;
        }
        if (hl == 0)
            break;
        c->fresh = false;
        c->body_start = c->end = (size_t)hl;
        c->body_off = 0;
        c->body_state = (r->h.chunked || r->h.content_length > 0) ? BODY_UNREAD : BODY_NONE;
        c->keep_alive = r->h.keep_alive;
        c->sent_continue = c->chunked = false;
        bool head = r->h.method.n == 4 && !memcmp(r->h.method.p, "HEAD", 4);
        km__resp_reset(w, &c->st, head);
        if (r->h.content_length > 0 && (size_t)r->h.content_length > cfg->max_body_bytes) {
            refuse(c, 413, true);       /* before reading it */
            break;
        }
        km__stream_run(&c->st);
        if (!w->head_sent && r->body_fail && r->body_fail != 499)
            km__h1_error(c, r->body_fail);
        km__h1_finish(c);
        if (c->hup_watched) {
            km__hangup_unwatch(c->st.s, c->fd);
            c->hup_watched = false;
        }
        access_log(c);
        /* A connection that closes now does not read the body first (the
         * close lingers over what the client still sends). */
        int drained = c->broken || !c->keep_alive ? -1 : km__h1_drain(c);
        free_retired(c);
        if (drained)
            break;
        c->rpos = c->end;
        if (!c->keep_alive)
            break;
        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
            if (km__h1_flush(c))
                break;
        } else if (c->wlen > c->wcap / 2 && km__h1_flush(c)) {
            break;
        }
        if (c->lean && km__conn_unlean(c))
            break;
        atomic_store(&c->busy, false);
    }
    km__h1_flush(c);
    km__conn_log_flush(c);
    free_retired(c);
}

void km__http_conn_main(void *arg)
{
    km__conn *c = arg;
    km__group_run(c->group, serve, c);
    km__http_conn_close(c);
}
