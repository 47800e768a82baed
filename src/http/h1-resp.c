/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 responses: the head, fixed and chunked bodies, trailers,
 * sendfile, and the connection's output buffer. */
#include "h1-int.h"
#include "rt/rt-int.h"
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <time.h>

static int64_t write_deadline(km__conn *c)
{
    return km__deadline_after(c->st.s->cfg.write_timeout);
}

int km__h1_flush(km__conn *c)
{
    km__conn_log_flush(c);
    if (c->broken)
        return -EPIPE;
    if (c->wlen == 0)
        return 0;
    ssize_t r = KM__FAULT_SOCKWRITE(km__io_write(c->fd, c->tls, c->wbuf, c->wlen, write_deadline(c)));
    km__count_bytes(&c->nwritten, r);
    c->wlen = 0;
    if (c->lean) {
        /* An idle stream holds no write buffer; the next write takes one. */
        km__free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    if (r < 0) {
        c->broken = true;
        return (int)r;
    }
    return 0;
}

int km__out(km__conn *c, const void *p, size_t n)
{
    if (c->broken)
        return -EPIPE;
    if (!c->wbuf) {
        if (!(c->wbuf = km__malloc(KM__WBUF))) {
            c->broken = true;
            return -ENOMEM;
        }
        c->wcap = KM__WBUF;
    }
    if (n <= c->wcap - c->wlen) {
        memcpy(c->wbuf + c->wlen, p, n);
        c->wlen += n;
        return 0;
    }
    int rc = km__h1_flush(c);
    if (rc)
        return rc;
    if (n <= c->wcap / 2) {
        memcpy(c->wbuf, p, n);
        c->wlen = n;
        return 0;
    }
    ssize_t r = KM__FAULT_SOCKWRITE(km__io_write(c->fd, c->tls, p, n, write_deadline(c)));
    km__count_bytes(&c->nwritten, r);
    if (r < 0) {
        c->broken = true;
        return (int)r;
    }
    return 0;
}

/* "Date: Thu, 26 Nov 2026 19:00:00 GMT\r\n", formatted once a second per
 * thread (the handler never parks while the pointer is in use). */
static const char *date_line(size_t *n)
{
    static _Thread_local time_t last;
    static _Thread_local char line[48];
    static _Thread_local size_t len;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        len = strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        last = now;
    }
    *n = len;
    return line;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_uint(char *p, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) *p++ = tmp[--i];
    return p;
}

/* Writes the status line and headers. length < 0: streaming. */
static int send_head(km_http_resp *w, const char *ctype, int64_t length)
{
    km__conn *c = km__conn_of(w->st);
    if (w->head_sent)
        return -EALREADY;
    w->head_sent = true;
    if (w->status == 204 || w->status == 304 || w->status < 200)
        w->no_body = true;
    if (c->st.s->stopping || w->close)
        c->keep_alive = false;
    int version = c->st.req.h.version;
    char head[512];
    char *p = head;
    const char *reason = km_http_reason(w->status);
    p = put(p, version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
    p = put_uint(p, (uint64_t)(w->status % 1000));
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = put(p, "\r\nServer: kumo\r\n", 16);
    size_t dn;
    const char *d = date_line(&dn);
    p = put(p, d, dn);
    if (ctype && *ctype) {
        size_t cl = strlen(ctype);
        if (cl > 200 || strpbrk(ctype, "\r\n"))
            return -EINVAL;
        p = put(p, "Content-Type: ", 14);
        p = put(p, ctype, cl);
        p = put(p, "\r\n", 2);
    }
    if (length >= 0) {
        if (w->status >= 200 && w->status != 204 && w->status != 304) {
            p = put(p, "Content-Length: ", 16);
            p = put_uint(p, (uint64_t)length);
            p = put(p, "\r\n", 2);
        }
    } else if (!w->no_body) {
        if (version == 11) {
            c->chunked = true;
            p = put(p, "Transfer-Encoding: chunked\r\n", 28);
        } else {
            c->keep_alive = false;      /* HTTP/1.0: the close ends the body */
        }
    }
    if (!c->keep_alive)
        p = put(p, "Connection: close\r\n", 19);
    else if (version == 10)
        p = put(p, "Connection: keep-alive\r\n", 24);
    int rc = km__out(c, head, (size_t)(p - head));
    if (!rc && w->hlen)
        rc = km__out(c, w->hdrs, w->hlen);
    if (!rc)
        rc = km__out(c, "\r\n", 2);
    return rc;
}

int km__h1_send(km_http_resp *w, const char *ctype, const void *body, size_t n)
{
    int rc = send_head(w, ctype, (int64_t)n);
    if (!rc && n && !w->no_body)
        rc = km__out(km__conn_of(w->st), body, n);
    return rc;
}

int km__h1_write(km_http_resp *w, const void *p, size_t n)
{
    km__conn *c = km__conn_of(w->st);
    int rc = 0;
    if (!w->head_sent && (rc = send_head(w, NULL, -1)))
        return rc;
    if (n == 0 || w->no_body)
        return 0;
    if (!c->chunked)
        return km__out(c, p, n);
    /* The chunk-size line, in hex; streams write one per message. */
    char hdr[24], *h = hdr + sizeof hdr;
    *--h = '\n';
    *--h = '\r';
    for (size_t v = n; v; v >>= 4)
        *--h = "0123456789abcdef"[v & 15];
    size_t hl = (size_t)(hdr + sizeof hdr - h);
    if ((rc = km__out(c, h, hl)) || (rc = km__out(c, p, n)))
        return rc;
    return km__out(c, "\r\n", 2);
}

int km__h1_flush_resp(km_http_resp *w)
{
    km__conn *c = km__conn_of(w->st);
    int rc = 0;
    if (!w->head_sent && (rc = send_head(w, NULL, -1)))
        return rc;
    /* A response that stays open is where a client hanging up would go
     * unnoticed (nothing reads the socket meanwhile): from its first
     * flush, the hang-up cancels the connection's group. */
    if (!w->done && !c->hup_watched && km__hangup_watch(c->st.s, c->fd, c->group) == 0)
        c->hup_watched = true;
    return km__h1_flush(c);
}

/* Over TLS the file's bytes pass through user space to be encrypted. */
static int copy_file(km__conn *c, int fd, off_t off, size_t n, int64_t dl)
{
    enum { CHUNK = 16384 };
    char *buf = km__malloc(CHUNK);
    int rc = buf ? 0 : -ENOMEM;
    while (!rc && n) {
        ssize_t got = km_file_read(fd, buf, n < CHUNK ? n : CHUNK, off);
        if (got <= 0) {
            rc = got < 0 ? (int)got : -EIO;     /* shorter than promised */
            break;
        }
        ssize_t w = km__io_write(c->fd, c->tls, buf, (size_t)got, dl);
        km__count_bytes(&c->nwritten, w);
        rc = w < 0 ? (int)w : 0;
        off += got;
        n -= (size_t)got;
    }
    km__free(buf);
    if (rc)
        c->broken = true;
    return rc;
}

int km__h1_sendfile(km_http_resp *w, const char *ctype, int fd, off_t off, size_t n)
{
    int rc = send_head(w, ctype, (int64_t)n);
    if (rc || w->no_body || n == 0)
        return rc;
    km__conn *c = km__conn_of(w->st);
    if ((rc = km__h1_flush(c)))
        return rc;
    int64_t dl = write_deadline(c);
    if (c->tls)
        return copy_file(c, fd, off, n, dl);
    while (n) {
        ssize_t s = sendfile(c->fd, fd, &off, n);
        if (s > 0) {
            km__count_bytes(&c->nwritten, s);
            n -= (size_t)s;
            continue;
        }
        if (s == 0) {
            rc = -EIO;          /* the file is shorter than promised */
        } else if (errno == EAGAIN) {
            if (!(rc = km_fd_wait(c->fd, KM_FD_WRITE, dl)))
                continue;
        } else if (errno == EINTR) {
            continue;
        } else {
            rc = -errno;
        }
        c->broken = true;
        return rc;
    }
    return 0;
}

int km__h1_finish(km__conn *c)
{
    km_http_resp *w = &c->st.resp;
    int rc = 0;
    if (!w->head_sent) {
        w->done = true;
        return send_head(w, NULL, 0);   /* the handler said nothing: 200, empty */
    }
    if (c->chunked && !w->done) {
        /* The last chunk, then the trailer section (RFC 9112 §7.1.2). */
        rc = km__out(c, "0\r\n", 3);
        if (!rc && w->tlen)
            rc = km__out(c, w->trls, w->tlen);
        if (!rc)
            rc = km__out(c, "\r\n", 2);
    }
    w->done = true;
    return rc;
}

int km__h1_error(km__conn *c, int status)
{
    km_http_resp *w = &c->st.resp;
    if (w->head_sent)
        return -EALREADY;
    c->keep_alive = false;
    if (c->st.req.h.version == 0)
        c->st.req.h.version = 11;
    const char *reason = km_http_reason(status);
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, reason);
    return km_http_send(w, status, "text/plain; charset=utf-8", body, (size_t)n);
}
