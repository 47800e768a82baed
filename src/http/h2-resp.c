/* SPDX-License-Identifier: MIT */
/* HTTP/2 responses and request bodies: the stream interface's operations
 * on a server stream of the connection core. */
#include "h2s-int.h"
#include <string.h>
#include <time.h>

/* Fields of one header block: the fixed ones and the handler's lines,
 * names lower-cased (HTTP/2 wants them so) into buf. */
#define MAX_FIELDS 64
#define FIELD_BUF (KM__RESP_HDRS + 256)

typedef struct {
    nghttp2_nv nv[MAX_FIELDS];
    size_t     n;
    char       buf[FIELD_BUF];
    size_t     used;
    char       status[4], length[24];
} fields;

static void add(fields *f, const char *name, size_t nl, const char *value, size_t vl)
{
    if (f->n < MAX_FIELDS)
        f->nv[f->n++] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, nl, vl,
                                      NGHTTP2_NV_FLAG_NONE };
}

/* A field whose name and value live as long as the program: nghttp2
 * keeps pointers instead of copies. */
static void add_static(fields *f, const char *name, size_t nl, const char *value, size_t vl)
{
    if (f->n < MAX_FIELDS)
        f->nv[f->n++] = (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, nl, vl,
                                      NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE };
}

/* Connection-specific fields mean nothing in HTTP/2 and make a response
 * malformed (RFC 9113 §8.2.2): a handler written for HTTP/1.1 may set them. */
static bool hop_by_hop(const char *n, size_t l)
{
    static const char *const drop[] = { "connection", "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade" };
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        if (strlen(drop[i]) == l && !strncmp(drop[i], n, l))
            return true;
    return false;
}

/* Adds "Name: value\r\n" lines (a response's headers or trailers). */
static void add_lines(fields *f, const char *p, size_t len)
{
    const char *end = p + len;
    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *eol = colon ? memchr(colon, '\r', (size_t)(end - colon)) : NULL;
        if (!eol)
            return;             /* cannot happen: resp.c writes whole lines */
        size_t nl = (size_t)(colon - p);
        if (f->used + nl > FIELD_BUF)
            return;
        char *name = f->buf + f->used;
        for (size_t i = 0; i < nl; i++)
            name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        if (!hop_by_hop(name, nl)) {
            f->used += nl;
            const char *v = colon + 2;
            add(f, name, nl, v, (size_t)(eol - v));
        }
        p = eol + 2;
    }
}

/* "date" in HTTP's format, made once a second per thread (the value is
 * copied by nghttp2 before the thread can change goroutine). */
static const char *date_value(size_t *n)
{
    static _Thread_local time_t last;
    static _Thread_local char v[40];
    static _Thread_local size_t len;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        len = strftime(v, sizeof v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    *n = len;
    return v;
}

/* The response head; length < 0: no content-length (streamed, or none). */
static void head_fields(fields *f, km_http_resp *w, const char *ctype, int64_t length)
{
    int st = w->status % 1000;
    if (st == 200) {
        add_static(f, ":status", 7, "200", 3);
    } else {
        f->status[0] = (char)('0' + st / 100);
        f->status[1] = (char)('0' + st / 10 % 10);
        f->status[2] = (char)('0' + st % 10);
        add(f, ":status", 7, f->status, 3);
    }
    add_static(f, "server", 6, "kumo", 4);
    size_t dn;
    const char *d = date_value(&dn);
    add(f, "date", 4, d, dn);
    if (ctype && *ctype)
        add(f, "content-type", 12, ctype, strlen(ctype));
    if (length >= 0) {
        char tmp[24];
        int i = 0;
        uint64_t v = (uint64_t)length;
        do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
        size_t k = 0;
        while (i) f->length[k++] = tmp[--i];
        add(f, "content-length", 14, f->length, k);
    }
    add_lines(f, w->hdrs, w->hlen);
}

static int64_t write_deadline(km__h2s_stream *s)
{
    return km__deadline_after(s->st.s->cfg.write_timeout);
}

/* Sends the head; end: nothing follows it. */
static int send_head(km_http_resp *w, const char *ctype, int64_t length, bool end)
{
    km__h2s_stream *s = km__h2s_of(w->st);
    if (w->head_sent)
        return -EALREADY;
    w->head_sent = true;
    if (w->status == 204 || w->status == 304 || w->status < 200)
        w->no_body = true;
    if (ctype && (strlen(ctype) > 200 || strpbrk(ctype, "\r\n")))
        return -EINVAL;
    fields f;
    f.n = f.used = 0;
    head_fields(&f, w, ctype, length);
    return km__h2_respond(&s->core, f.nv, f.n, end || w->no_body);
}

/* The trailers the handler set, ending the stream. */
static int send_trailers(km__h2s_stream *s, km_http_resp *w)
{
    fields f;
    f.n = f.used = 0;
    add_lines(&f, w->trls, w->tlen);
    return km__h2_write_trailers(&s->core, f.nv, f.n);
}

/* Trailers set before the send follow the body (no content-length then):
 * a gRPC unary answer is head, message and status in one step. */
static int h2_send(km_http_resp *w, const char *ctype, const void *body, size_t n)
{
    km__h2s_stream *s = km__h2s_of(w->st);
    bool trailed = w->tlen > 0;
    /* An empty body ends with the head (one HEADERS frame with END_STREAM,
     * what gRPC calls Trailers-Only): no content-length then. */
    if (n && !w->no_body && n <= s->core.c->cfg.send_buffer && !w->head_sent) {
        /* The common answer: head, body and trailers queued under one lock. */
        if (ctype && (strlen(ctype) > 200 || strpbrk(ctype, "\r\n")))
            return -EINVAL;
        w->head_sent = true;
        fields f, t;
        f.n = f.used = t.n = t.used = 0;
        head_fields(&f, w, ctype, trailed ? -1 : (int64_t)n);
        if (trailed)
            add_lines(&t, w->trls, w->tlen);
        return km__h2_respond_body(&s->core, f.nv, f.n, body, n, t.nv, t.n);
    }
    int rc = send_head(w, ctype, n && !trailed ? (int64_t)n : -1, n == 0 && !trailed);
    if (!rc && n && !w->no_body)
        rc = km__h2_write(&s->core, body, n, !trailed, write_deadline(s));
    if (!rc && trailed && !w->no_body)
        rc = send_trailers(s, w);
    return rc;
}

static int h2_write(km_http_resp *w, const void *p, size_t n)
{
    km__h2s_stream *s = km__h2s_of(w->st);
    int rc = 0;
    if (!w->head_sent && (rc = send_head(w, NULL, -1, false)))
        return rc;
    if (n == 0 || w->no_body)
        return 0;
    return km__h2_write(&s->core, p, n, false, write_deadline(s));
}

/* Written bytes go out as the writer goroutine gets to them; a flush only
 * has to make sure the head went. */
static int h2_flush(km_http_resp *w)
{
    if (!w->head_sent)
        return send_head(w, NULL, -1, false);
    return 0;
}

static int h2_sendfile(km_http_resp *w, const char *ctype, int fd, off_t off, size_t n)
{
    km__h2s_stream *s = km__h2s_of(w->st);
    int rc = send_head(w, ctype, (int64_t)n, n == 0);
    if (rc || n == 0 || w->no_body)
        return rc;
    char buf[16384];
    while (n) {
        ssize_t got = km_file_read(fd, buf, n < sizeof buf ? n : sizeof buf, off);
        if (got <= 0) {
            /* Shorter than promised, or unreadable: the response is cut. */
            rc = got < 0 ? (int)got : -EIO;
            km__h2_reset(&s->core, NGHTTP2_INTERNAL_ERROR, rc);
            return rc;
        }
        n -= (size_t)got;
        off += got;
        if ((rc = km__h2_write(&s->core, buf, (size_t)got, n == 0, write_deadline(s))))
            return rc;
    }
    return 0;
}

int km__h2s_finish(km__h2s_stream *s)
{
    km_http_resp *w = &s->st.resp;
    int rc = 0;
    if (!w->head_sent) {
        rc = send_head(w, NULL, -1, true);      /* the handler said nothing: 200, empty */
    } else if (!w->done && !w->no_body) {
        if (w->tlen) {
            rc = send_trailers(s, w);
        } else {
            rc = km__h2_write(&s->core, NULL, 0, true, write_deadline(s));
        }
    }
    w->done = true;
    return rc;
}

/* ---- request bodies ---- */

static int body_fail(km_http_req *r, int status)
{
    r->body_fail = status;
    return status == 413 ? -EMSGSIZE : status == 408 ? -ETIMEDOUT : -ECONNRESET;
}

static int h2_body(km_http_req *r, km_str *out)
{
    km__h2s_stream *s = km__h2s_of(r->st);
    if (r->body_fail)
        return r->body_fail == 413 ? -EMSGSIZE : r->body_fail == 408 ? -ETIMEDOUT : -ECONNRESET;
    if (s->body_reading)
        return -EINVAL;         /* km_http_body_read took part of it already */
    size_t max = s->st.s->cfg.max_body_bytes, cap = 0;
    int64_t dl = km__deadline_after(s->st.s->cfg.body_timeout);
    if (r->h.content_length >= 0)
        cap = (size_t)r->h.content_length;
    while (!s->body_whole) {
        if (s->body_len == cap) {
            if (cap >= max)
                return body_fail(r, 413);
            size_t nc = cap ? cap * 2 : 4096;
            if (nc > max) nc = max;
            char *nb = km__malloc(nc + 1);
            if (!nb)
                return body_fail(r, 499);
            if (s->body_len)
                memcpy(nb, s->body, s->body_len);
            km__free(s->body);
            s->body = nb;
            cap = nc;
        } else if (!s->body) {
            if (!(s->body = km__malloc(cap + 1)))
                return body_fail(r, 499);
        }
        ssize_t got = km__h2_read(&s->core, s->body + s->body_len, cap - s->body_len, dl);
        if (got == 0)
            s->body_whole = true;
        else if (got > 0)
            s->body_len += (size_t)got;
        else
            return body_fail(r, got == -ETIMEDOUT ? 408 : 499);
    }
    *out = (km_str){ s->body ? s->body : "", s->body_len };
    return 0;
}

static ssize_t h2_body_read(km_http_req *r, void *buf, size_t n, int64_t deadline)
{
    km__h2s_stream *s = km__h2s_of(r->st);
    if (s->body_whole || s->body_len)
        return -EINVAL;         /* km_http_body read it already */
    s->body_reading = true;
    return km__h2_read(&s->core, buf, n, deadline);
}

static void h2_drain_wake(km_http_req *r)
{
    km__h2_stream_drain_wake(&km__h2s_of(r->st)->core);
}

/* A stream's buffers come and go with what it holds: nothing to give back. */
static int h2_lean(km_http_req *r, km_http_resp *w)
{
    (void)r; (void)w;
    return 0;
}

const km__stream_ops km__h2s_ops = {
    .send = h2_send,
    .write = h2_write,
    .flush = h2_flush,
    .sendfile = h2_sendfile,
    .body = h2_body,
    .body_read = h2_body_read,
    .lean = h2_lean,
    .drain_wake = h2_drain_wake,
};
