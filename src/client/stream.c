/* SPDX-License-Identifier: MIT */
/* A streamed HTTP response read incrementally: head, then the chunked (or
 * close-delimited) body handed out line by line, resumable after a timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <kumo/net.h>
#include "client/json-int.h"
#include "rt/rt-int.h"

#define RBUF 16384

enum { C_SIZE, C_DATA, C_CRLF, C_DONE };

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
        return -EBADMSG;            /* a head or size line that long */
    ssize_t n = km_read(s->fd, s->rbuf + s->rw, RBUF - s->rw, deadline);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return -ECONNRESET;
    s->rw += (size_t)n;
    return 0;
}

/* A CRLF line from rbuf, NUL-terminated in place; 1 if none complete yet. */
static int take_line(km__stream *s, char **out)
{
    char *nl = memchr(s->rbuf + s->rr, '\n', s->rw - s->rr);
    if (!nl)
        return 1;
    char *l = s->rbuf + s->rr;
    size_t n = (size_t)(nl - l);
    s->rr += n + 1;
    if (n && l[n - 1] == '\r')
        n--;
    l[n] = 0;
    *out = l;
    return 0;
}

static int head_line(km__stream *s, char **out, int64_t deadline)
{
    int rc;
    while ((rc = take_line(s, out)) == 1)
        if ((rc = fill(s, deadline)))
            return rc;
    return rc;
}

static int body_add(km__stream *s, const char *p, size_t n)
{
    if (s->boff && s->boff == s->bn)
        s->boff = s->bn = 0;
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

/* Decodes what rbuf holds into body. 0, 1 (needs more input), -errno. */
static int decode(km__stream *s)
{
    if (!s->chunked) {
        int rc = body_add(s, s->rbuf + s->rr, s->rw - s->rr);
        s->rr = s->rw;
        return rc ? rc : 1;
    }
    for (;;) {
        char *l;
        switch (s->cstate) {
        case C_SIZE: {
            if (take_line(s, &l))
                return 1;
            char *end;
            long long n = strtoll(l, &end, 16);
            if (end == l || n < 0)
                return -EBADMSG;
            if (n == 0) {
                s->cstate = C_DONE;
                return -ECONNRESET;     /* the server ended the stream */
            }
            s->cleft = n;
            s->cstate = C_DATA;
            break;
        }
        case C_DATA: {
            size_t take = s->rw - s->rr;
            if (take == 0)
                return 1;
            if ((int64_t)take > s->cleft)
                take = (size_t)s->cleft;
            int rc = body_add(s, s->rbuf + s->rr, take);
            if (rc)
                return rc;
            s->rr += take;
            s->cleft -= (int64_t)take;
            if (s->cleft == 0)
                s->cstate = C_CRLF;
            break;
        }
        case C_CRLF:
            if (take_line(s, &l))
                return 1;
            s->cstate = C_SIZE;
            /* A line of body text may be complete now. */
            if (memchr(s->body + s->boff, '\n', s->bn - s->boff))
                return 0;
            break;
        default:
            return -ECONNRESET;
        }
    }
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
        if (s->eof)
            return -ECONNRESET;
        int rc = decode(s);
        if (rc < 0) {
            if (rc == -ECONNRESET)
                s->eof = true;
            return rc;
        }
        if (rc == 1 && (rc = fill(s, deadline))) {
            if (rc == -ECONNRESET)
                s->eof = true;
            return rc;
        }
    }
}

int km__stream_open(km__stream *s, const char *ep, const char *path, const char *json,
                    int64_t deadline)
{
    s->fd = -1;
    s->rbuf = km__malloc(RBUF);
    if (!s->rbuf)
        return -ENOMEM;
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
    char *l;
    int rc = head_line(s, &l, deadline);
    if (rc)
        return rc;
    if (sscanf(l, "HTTP/1.%*d %d", &s->status) != 1)
        return -EBADMSG;
    int64_t clen = -1;
    while (!(rc = head_line(s, &l, deadline)) && *l) {
        if (!strncasecmp(l, "transfer-encoding:", 18) && strcasestr(l + 18, "chunked"))
            s->chunked = true;
        else if (!strncasecmp(l, "content-length:", 15))
            clen = strtoll(l + 15, NULL, 10);
    }
    if (rc)
        return rc;
    if (s->status == 200)
        return 0;
    /* An error answer is small and complete: read it whole, map it. */
    if (!s->chunked && clen >= 0) {
        while ((int64_t)(s->rw - s->rr) < clen && !fill(s, deadline))
            ;
        if (s->rw - s->rr > (size_t)clen)
            s->rw = s->rr + (size_t)clen;
        decode(s);
    } else {
        /* Chunked or close-delimited: until its end (or an error). */
        do {
            rc = decode(s);
            if (rc == 1)
                rc = fill(s, deadline);
        } while (rc >= 0);
    }
    json_error_t je;
    json_t *j = s->bn ? json_loadb(s->body, s->bn, 0, &je) : NULL;
    rc = km__client_err(s->status, j);
    json_decref(j);
    return rc;
}

void km__stream_close(km__stream *s)
{
    if (s->fd >= 0)
        km_close(s->fd);
    km__free(s->rbuf);
    km__free(s->body);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}
