/* SPDX-License-Identifier: MIT */
/* A streamed HTTP response read incrementally: the head and the chunked
 * body with the server's own parser and decoder (http/parse.h), the body
 * handed out line by line, resumable after a timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kumo/net.h>
#include "client/json-int.h"
#include "rt/rt-int.h"
#include "tls/tls-int.h"

#define RBUF KM__STREAM_MAX_HEAD

static size_t max_body(const km__stream *s)
{
    return s->max_body ? s->max_body : KM__STREAM_MAX_BODY;
}

/* Reads more bytes into rbuf. 0, -ECONNRESET at end of stream, -errno. */
static int fill(km__stream *s, int64_t deadline)
{
    if (s->rr == s->rw) {
        s->rr = s->rw = 0;
    } else if (s->rw == RBUF) {
        memmove(s->rbuf, s->rbuf + s->rr, s->rw - s->rr);
        s->rw -= s->rr;
        s->rr = 0;
    }
    if (s->rw == RBUF)
        return -EMSGSIZE;           /* cannot happen: the head is bounded first */
    ssize_t n;
    if (s->fd >= 0) {
        n = km__io_read(s->fd, s->tls, s->rbuf + s->rw, RBUF - s->rw, deadline);
    } else {
        n = (ssize_t)(s->memn < RBUF - s->rw ? s->memn : RBUF - s->rw);
        memcpy(s->rbuf + s->rw, s->mem, (size_t)n);
        s->mem += n;
        s->memn -= (size_t)n;
    }
    if (n < 0)
        return (int)n;
    if (n == 0)
        return -ECONNRESET;
    s->rw += (size_t)n;
    return 0;
}

/* Appends n decoded bytes to the undelivered body, at most max_body. */
static int body_add(km__stream *s, const char *p, size_t n)
{
    if (s->boff && s->boff == s->bn)
        s->boff = s->bn = 0;
    if (s->bn - s->boff + n > max_body(s))
        return -EMSGSIZE;
    if (s->bn + n + 1 > s->bcap) {
        if (s->boff) {              /* reuse the space lines were taken from */
            memmove(s->body, s->body + s->boff, s->bn - s->boff);
            s->bn -= s->boff;
            s->boff = 0;
        }
        if (s->bn + n + 1 > s->bcap) {
            size_t nc = s->bcap ? s->bcap * 2 : 16384;
            while (nc < s->bn + n + 1)
                nc *= 2;
            char *np = km__malloc(nc);
            if (!np)
                return -ENOMEM;
            if (s->bn)
                memcpy(np, s->body, s->bn);
            km__free(s->body);
            s->body = np;
            s->bcap = nc;
        }
    }
    memcpy(s->body + s->bn, p, n);
    s->bn += n;
    return 0;
}

/* Decodes what rbuf holds into body. 0 after progress, at the body's end
 * (s->eof) or at an error in it (s->err: -EBADMSG, -EMSGSIZE, -ENOMEM,
 * the lines before it still handed out), 1 when more input is needed. */
static int decode(km__stream *s)
{
    if (s->eof || s->err)
        return 0;
    size_t start = s->rr;
    if (!s->chunked) {
        size_t take = s->rw - s->rr;
        if (s->left >= 0 && (int64_t)take > s->left)
            take = (size_t)s->left;
        if ((s->err = body_add(s, s->rbuf + s->rr, take)))
            return 0;
        s->rr += take;
        if (s->left >= 0 && (s->left -= (int64_t)take) == 0)
            s->eof = true;
        return take || s->eof ? 0 : 1;
    }
    /* The decoder moves chunk data down over the framing in rbuf; what it
     * decoded, rbuf[start, wpos), goes to the body, and all it read is
     * consumed. The room left under max_body bounds a chunk's size. */
    km__chunked *d = &s->dec;
    d->rpos = d->wpos = start;
    size_t room = max_body(s) - (s->bn - s->boff);
    int rc = km__chunked_decode(d, s->rbuf, s->rw, start + room);
    if ((s->err = body_add(s, s->rbuf + start, d->wpos - start)))
        return 0;
    s->rr = d->rpos;
    if (rc < 0)
        s->err = rc == -413 ? -EMSGSIZE : -EBADMSG;
    else if (rc == 1)
        s->eof = true;
    return d->wpos > start || s->eof || s->err ? 0 : 1;
}

int km__stream_line(km__stream *s, int64_t deadline, char **line, size_t *n)
{
    for (;;) {
        char *b = s->body + s->boff, *nl = s->bn > s->boff ? memchr(b, '\n', s->bn - s->boff) : NULL;
        if (nl) {
            *nl = 0;
            *line = b;
            *n = (size_t)(nl - b);
            s->boff += *n + 1;
            return 0;
        }
        if (s->err)
            return s->err;
        if (s->eof)
            return -ECONNRESET;
        int rc = decode(s);
        if (rc == 1 && (rc = fill(s, deadline))) {
            if (rc == -ECONNRESET)
                s->eof = true;      /* the server ended the stream */
            return rc;
        }
    }
}

/* Reads the head (skipping 1xx ones) with the server's limits. */
static int read_head(km__stream *s, int64_t deadline)
{
    km__hdr *hdrs = km__malloc(KM__STREAM_MAX_HDRS * sizeof *hdrs);
    if (!hdrs)
        return -ENOMEM;
    km__resp_head h;
    size_t scanned = 0;
    int rc;
    for (;;) {
        int hl = km__http_parse_resp_head(s->rbuf + s->rr, s->rw - s->rr, &scanned, &h, hdrs,
                                          KM__STREAM_MAX_HDRS, KM__STREAM_MAX_HEAD);
        if (hl < 0) {
            rc = hl == -431 ? -EMSGSIZE : -EBADMSG;
            break;
        }
        if (hl == 0) {
            if ((rc = fill(s, deadline)))
                break;
            continue;
        }
        s->rr += (size_t)hl;
        if (h.status < 200) {       /* interim: the real head follows */
            scanned = 0;
            continue;
        }
        s->status = h.status;
        s->chunked = h.chunked;
        s->left = h.status == 204 || h.status == 304 ? 0 : h.content_length;
        s->eof = s->left == 0 && !s->chunked;
        rc = 0;
        break;
    }
    km__free(hdrs);
    return rc;
}

int km__stream_begin(km__stream *s, int64_t deadline)
{
    if (!s->rbuf && !(s->rbuf = km__malloc(RBUF)))
        return -ENOMEM;
    int rc = read_head(s, deadline);
    if (rc)
        return rc;
    if (s->status == 200)
        return 0;
    /* An error answer is small and complete: read it whole, map it. Only a
     * close-delimited one ends with the connection. */
    do {
        rc = decode(s);
        if (rc == 1)
            rc = fill(s, deadline);
    } while (rc >= 0 && !s->eof && !s->err);
    if (s->err)
        return s->err;
    if (rc == -ECONNRESET && !s->chunked && s->left < 0)
        rc = 0;
    else if (rc == -ECONNRESET)
        return -EBADMSG;            /* cut short */
    if (rc < 0)
        return rc;
    json_error_t je;
    json_t *j = s->bn > s->boff ? json_loadb(s->body + s->boff, s->bn - s->boff, 0, &je) : NULL;
    rc = km__client_err(s->status, j);
    json_decref(j);
    return rc;
}

int km__stream_open(km__stream *s, const char *ep, const char *path, const char *json,
                    int64_t deadline)
{
    s->fd = -1;
    char head[512];
    size_t jn = strlen(json);
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n", path, ep, jn);
    if (hl < 0 || (size_t)hl >= sizeof head)
        return -EINVAL;
    int fd = km_dial(ep, deadline);
    if (fd < 0)
        return fd;
    s->fd = fd;
    ssize_t wn = KM__FAULT_SOCKWRITE(km_write(fd, head, (size_t)hl, deadline));
    if (wn >= 0)
        wn = KM__FAULT_SOCKWRITE(km_write(fd, json, jn, deadline));
    if (wn < 0)
        return (int)wn;
    return km__stream_begin(s, deadline);
}

void km__stream_close(km__stream *s)
{
    km__tls_free(s->tls);
    if (s->fd >= 0)
        km_close(s->fd);
    km__free(s->rbuf);
    km__free(s->body);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}
