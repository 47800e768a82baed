/* SPDX-License-Identifier: MIT */
/* One HTTP/1.1 connection: read, parse, dispatch, keep-alive, pipelining. */
#include "http-int.h"
#include "rt/rt-int.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int km__conn_reserve(km__conn *c, size_t need)
{
    const km_http_config *cfg = &c->s->cfg;
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
    ssize_t n = km_read(c->fd, c->rbuf + c->rlen, room, deadline);
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

/* Appends s as JSON string contents (quotes and controls escaped). */
static size_t json_str(char *out, size_t room, km_str s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < s.n && o + 6 < room; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[ch >> 4];
            out[o + 5] = hex[ch & 15];
            o += 6;
        } else {
            out[o++] = (char)ch;
        }
    }
    return o;
}

/* One JSON line per request (the access log), written straight to the fd. */
static void access_log(km__conn *c)
{
    int fd = c->s->cfg.access_log_fd;
    if (fd <= 0)
        return;
    km_http_req *r = &c->req;
    char line[1024];
    size_t n = 0;
    n += (size_t)snprintf(line + n, sizeof line - n, "{\"method\":\"");
    n += json_str(line + n, 64, r->h.method);
    n += (size_t)snprintf(line + n, sizeof line - n, "\",\"path\":\"");
    n += json_str(line + n, 600, r->h.path);
    n += (size_t)snprintf(line + n, sizeof line - n, "\",\"status\":%d,\"dur_us\":%lld",
                          c->resp.status, (long long)((km_http_req_end(r) - km_http_req_start(r)) / 1000));
    if (r->request_id[0])
        n += (size_t)snprintf(line + n, sizeof line - n, ",\"request_id\":\"%s\"", r->request_id);
    if (r->traced)
        n += (size_t)snprintf(line + n, sizeof line - n, ",\"trace_id\":\"%s\",\"span_id\":\"%s\"",
                              r->trace.trace_id, r->trace.span_id);
    n += (size_t)snprintf(line + n, sizeof line - n, "}\n");
    /* Buffered per connection and written with the responses it
     * describes, so a pipelined batch costs one write, not one per line. */
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
        ssize_t w = write(c->s->cfg.access_log_fd, c->logbuf, c->loglen);
        (void)w;    /* a log that cannot be written must not fail requests */
        c->loglen = 0;
    }
}

/* Waits for, parses and returns the next request head: its length, or 0
 * when the connection should close (EOF, timeout, bad request answered). */
static int next_head(km__conn *c)
{
    const km_http_config *cfg = &c->s->cfg;
    size_t scanned = 0;
    int64_t dl;
    compact(c);
    c->req.start = 0;
    for (;;) {
        memset(&c->req.h, 0, sizeof c->req.h);
        int n = km__http_parse_head(c->rbuf, c->rlen, &scanned, &c->req.h, c->hdrs,
                                    cfg->max_headers, cfg->max_header_bytes);
        if (n > 0) {
            if (!c->req.start) {    /* buffered whole: read with the one before */
                atomic_store(&c->busy, true);
                c->req.start = c->started = c->read_at;
            }
            return n;
        }
        if (n < 0) {
            km__resp_reset(&c->resp, c, false);
            km__resp_error(c, -n);
            return 0;
        }
        /* About to block: pipelined responses go out first. */
        if (km__resp_flush(c) || atomic_load(&c->s->stopping))
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
                int rc = km_fd_wait(c->fd, KM_FD_READ, dl);
                if (rc)
                    return 0;
            }
        } else {
            if (!atomic_load(&c->busy)) {
                atomic_store(&c->busy, true);
                c->req.start = c->started = c->read_at;
            }
            dl = c->started + cfg->read_header_timeout;
        }
        if (c->rlen == c->rcap && km__conn_reserve(c, c->rcap * 2)) {
            km__resp_reset(&c->resp, c, false);
            km__resp_error(c, 431);
            return 0;
        }
        ssize_t r = km__conn_fill(c, dl);
        if (r <= 0) {
            if (r == -ETIMEDOUT && c->rlen) {
                km__resp_reset(&c->resp, c, false);
                km__resp_error(c, 408);
            }
            return 0;
        }
        if (!atomic_load(&c->busy)) {
            atomic_store(&c->busy, true);
            c->req.start = c->started = c->read_at;
        }
    }
}

/* Serves requests on one connection until it closes. */
void km__http_conn_main(void *arg)
{
    km__conn *c = arg;
    km_http_server *s = c->s;
    const km_http_config *cfg = &s->cfg;
    for (;;) {
        int hl = next_head(c);
        if (hl == 0)
            break;
        km_http_req *r = &c->req;
        r->c = c;
        r->nparams = 0;
        r->body_start = (size_t)hl;
        r->end = (size_t)hl;
        r->body_state = (r->h.chunked || r->h.content_length > 0) ? BODY_UNREAD : BODY_NONE;
        c->keep_alive = r->h.keep_alive;
        c->sent_continue = false;
        bool head = r->h.method.n == 4 && !memcmp(r->h.method.p, "HEAD", 4);
        km__resp_reset(&c->resp, c, head);
        if (r->h.content_length > 0 && (size_t)r->h.content_length > cfg->max_body_bytes) {
            km__resp_error(c, 413);     /* refused before reading it */
            break;
        }
        r->request_id[0] = 0;
        r->traced = r->handled = false;
        r->end_at = 0;
        r->route = NULL;
        km_http_next chain = { cfg, 0 };
        km_http_next_call(&chain, r, &c->resp);
        if (!c->resp.head_sent && r->body_state == BODY_FAILED && r->body_err != -499)
            km__resp_error(c, -r->body_err);
        km__resp_finish(&c->resp);
        access_log(c);
        int drained = c->broken ? -1 : km__req_drain(r);
        free_retired(c);
        if (drained)
            break;
        c->rpos = r->end;
        if (!c->keep_alive)
            break;
        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
            if (km__resp_flush(c))
                break;
        } else if (c->wlen > c->wcap / 2 && km__resp_flush(c)) {
            break;
        }
        if (c->lean && km__conn_unlean(c))
            break;
        atomic_store(&c->busy, false);
    }
    km__resp_flush(c);
    km__conn_log_flush(c);
    free_retired(c);
    km__http_conn_close(c);
}
