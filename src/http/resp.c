/* SPDX-License-Identifier: MIT */
/* Responses: status, headers and trailers kept for the protocol, and the
 * public calls that hand the body to it. */
#include "http-int.h"
#include "rt/rt-int.h"
#include <string.h>
#include <strings.h>

void km__resp_reset(km_http_resp *w, km__stream *st, bool head_request)
{
    w->st = st;
    w->status = 200;
    w->head_sent = w->done = w->close = false;
    w->no_body = head_request;
    w->hlen = w->tlen = 0;
}

static bool valid_field(const char *name, size_t nl, const char *value, size_t vl)
{
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)name[i] <= ' ' || name[i] == ':' || name[i] == 0x7f)
            return false;
    for (size_t i = 0; i < vl; i++)
        if (value[i] == '\r' || value[i] == '\n')
            return false;
    return true;
}

/* Appends "name: value\r\n" to a field buffer: KM__RESP_HDRS bytes at
 * first, doubled up to KM__RESP_HDRS_MAX (the buffer stays with the
 * connection, so most responses never allocate one). */
static int add_line(char **buf, size_t *len, size_t *cap, const char *name, size_t nl,
                    const char *value, size_t vl)
{
    size_t need = *len + nl + vl + 4;
    if (need > KM__RESP_HDRS_MAX)
        return -ENOSPC;
    if (!*buf || need > *cap) {
        size_t nc = *buf && *cap ? *cap : KM__RESP_HDRS;
        while (nc < need)
            nc *= 2;
        char *nb = km__malloc(nc);
        if (!nb)
            return -ENOMEM;
        if (*buf) {
            memcpy(nb, *buf, *len);
            km__free(*buf);
        }
        *buf = nb;
        *cap = nc;
    }
    char *p = *buf + *len;
    memcpy(p, name, nl);
    p += nl;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vl);
    p += vl;
    *p++ = '\r';
    *p++ = '\n';
    *len = (size_t)(p - *buf);
    return 0;
}

/* A field the caller gave: checked, then kept. too_late: -EALREADY. */
static int set_field(char **buf, size_t *len, size_t *cap, bool too_late, const char *name,
                     const char *value)
{
    if (!name || !value || !*name)
        return -EINVAL;
    if (too_late)
        return -EALREADY;
    size_t nl = strlen(name), vl = strlen(value);
    if (!valid_field(name, nl, value, vl))
        return -EINVAL;
    return add_line(buf, len, cap, name, nl, value, vl);
}

int km_http_set_header(km_http_resp *w, const char *name, const char *value)
{
    if (!w)
        return -EINVAL;
    /* Connection: close is a promise the protocol keeps (HTTP/1.1 closes
     * after the response, saying so itself; HTTP/2 has no such field). */
    if (name && value && !strcasecmp(name, "connection") && !strcasecmp(value, "close")) {
        if (w->head_sent)
            return -EALREADY;
        w->close = true;
        return 0;
    }
    return set_field(&w->hdrs, &w->hlen, &w->hcap, w->head_sent, name, value);
}

int km__resp_add_header(km_http_resp *w, const char *name, size_t nl, const char *value, size_t vl)
{
    if (w->head_sent)
        return -EALREADY;
    return add_line(&w->hdrs, &w->hlen, &w->hcap, name, nl, value, vl);
}

int km_http_set_trailer(km_http_resp *w, const char *name, const char *value)
{
    return w ? set_field(&w->trls, &w->tlen, &w->tcap, w->done, name, value) : -EINVAL;
}

int km_http_status(km_http_resp *w, int status)
{
    if (!w || status < 100 || status > 999)
        return -EINVAL;
    if (w->head_sent)
        return -EALREADY;
    w->status = status;
    return 0;
}

int km_http_send(km_http_resp *w, int status, const char *content_type,
                 const void *body, size_t n)
{
    if (!w || status < 100 || status > 999 || (n && !body))
        return -EINVAL;
    if (w->head_sent)
        return -EALREADY;
    w->status = status;
    int rc = w->st->ops->send(w, content_type, body, n);
    w->done = true;
    return rc;
}

int km_http_write(km_http_resp *w, const void *p, size_t n)
{
    if (!w || (n && !p) || w->done)
        return -EINVAL;
    return w->st->ops->write(w, p, n);
}

int km_http_flush(km_http_resp *w)
{
    if (!w)
        return -EINVAL;
    return w->st->ops->flush(w);
}

int km_http_sendfile(km_http_resp *w, int status, const char *content_type,
                     int fd, off_t off, size_t n)
{
    if (!w || fd < 0 || off < 0 || status < 100 || status > 999)
        return -EINVAL;
    if (w->head_sent)
        return -EALREADY;
    w->status = status;
    int rc = w->st->ops->sendfile(w, content_type, fd, off, n);
    w->done = true;
    return rc;
}

int km_http_stream_lean(km_http_req *r, km_http_resp *w)
{
    if (!r || !w)
        return -EINVAL;
    return r->st->ops->lean(r, w);
}

int km_http_resp_status(const km_http_resp *w)
{
    /* A body the handler could not read is answered by the server after
     * the chain returns (413, 400, 408): that is the status sent. */
    const km_http_req *r = &w->st->req;
    if (!w->head_sent && r->body_fail && r->body_fail != 499)
        return r->body_fail;
    return w->status;
}
