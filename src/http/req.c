/* SPDX-License-Identifier: MIT */
/* HTTP requests: accessors, and reading the body (fixed or chunked). */
#include "http-int.h"
#include "rt/rt-int.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

km_str km_http_method(const km_http_req *r) { return r->h.method; }
km_str km_http_target(const km_http_req *r) { return r->h.target; }
km_str km_http_path(const km_http_req *r)   { return r->h.path; }
km_str km_http_query(const km_http_req *r)  { return r->h.query; }
int    km_http_version(const km_http_req *r) { return r->h.version; }
size_t km_http_header_count(const km_http_req *r) { return r->h.nhdrs; }

int64_t km_http_content_length(const km_http_req *r)
{
    if (r->h.chunked)
        return -1;
    return r->h.content_length < 0 ? 0 : r->h.content_length;
}

km_str km_http_header(const km_http_req *r, const char *name)
{
    return km__hdr_find(r->h.hdrs, r->h.nhdrs, name);
}

int km_http_header_at(const km_http_req *r, size_t i, km_str *name, km_str *value)
{
    if (i >= r->h.nhdrs)
        return -ERANGE;
    if (name) *name = r->h.hdrs[i].name;
    if (value) *value = r->h.hdrs[i].value;
    return 0;
}

km_str km_http_route_pattern(const km_http_req *r)
{
    return (km_str){ r->route, r->route ? r->route_len : 0 };
}

int64_t km_http_req_start(km_http_req *r)
{
    if (!r->start)
        r->start = km_now();
    return r->start;
}

int64_t km_http_req_end(km_http_req *r)
{
    if (!r->handled)
        return km_now();
    if (!r->end_at)
        r->end_at = km_now();
    return r->end_at;
}

km_str km_http_param(const km_http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->nparams; i++)
        if (r->pname[i].n == n && !memcmp(r->pname[i].p, name, n))
            return r->pval[i];
    return (km_str){ NULL, 0 };
}

/* Sends "100 Continue" the first time a body that the client holds back is
 * needed (after flushing earlier pipelined responses, which come first). */
static int maybe_continue(km__conn *c)
{
    /* never to an HTTP/1.0 client, which does not know 1xx (RFC 9110 §10.1.1) */
    if (!c->req.h.expect_continue || c->sent_continue || c->req.h.version < 11)
        return 0;
    c->sent_continue = true;
    int rc = km__out(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return rc ? rc : km__resp_flush(c);
}

static int fail(km_http_req *r, int status)
{
    r->body_state = BODY_FAILED;
    r->body_err = -status;
    return status == 413 ? -EMSGSIZE : status == 408 ? -ETIMEDOUT :
           status == 400 ? -EBADMSG : -ECONNRESET;
}

static int read_fixed(km_http_req *r)
{
    km__conn *c = r->c;
    size_t need = r->body_start + (size_t)r->h.content_length;
    int64_t dl = km__deadline_after(c->s->cfg.body_timeout);
    if (km__conn_reserve(c, need))
        return fail(r, 413);
    while (c->rlen < need) {
        if (maybe_continue(c))
            return fail(r, 499);
        ssize_t n = km__conn_fill(c, dl);
        if (n <= 0)
            return fail(r, n == -ETIMEDOUT ? 408 : 499);
    }
    r->body_len = (size_t)r->h.content_length;
    r->end = need;
    r->body_state = BODY_READ;
    return 0;
}

static int read_chunked(km_http_req *r)
{
    km__conn *c = r->c;
    km__chunked d = { .rpos = r->body_start, .wpos = r->body_start };
    size_t max = c->s->cfg.max_body_bytes;
    int64_t dl = km__deadline_after(c->s->cfg.body_timeout);
    for (;;) {
        int rc = km__chunked_decode(&d, c->rbuf, c->rlen, r->body_start + max);
        if (rc == 1)
            break;
        if (rc < 0)
            return fail(r, -rc);
        /* Full: first reclaim the framing already decoded away (the gap
         * between the decoded body and the undecoded input), then grow. */
        if (c->rlen == c->rcap && d.rpos > d.wpos) {
            memmove(c->rbuf + d.wpos, c->rbuf + d.rpos, c->rlen - d.rpos);
            c->rlen -= d.rpos - d.wpos;
            d.rpos = d.wpos;
        }
        if (c->rlen == c->rcap && km__conn_reserve(c, c->rcap * 2 < r->body_start + max + 65536
                                                      ? c->rcap * 2 : r->body_start + max + 65536))
            return fail(r, 413);
        if (c->rlen == c->rcap)
            return fail(r, 413);
        if (maybe_continue(c))
            return fail(r, 499);
        ssize_t n = km__conn_fill(c, dl);
        if (n <= 0)
            return fail(r, n == -ETIMEDOUT ? 408 : 499);
    }
    r->body_len = d.wpos - r->body_start;
    r->end = d.rpos;
    r->body_state = BODY_READ;
    return 0;
}

int km_http_body(km_http_req *r, km_str *body)
{
    if (!r || !body)
        return -EINVAL;
    int rc = 0;
    switch (r->body_state) {
    case BODY_NONE:
        *body = (km_str){ r->c->rbuf + r->body_start, 0 };
        return 0;
    case BODY_UNREAD:
        rc = r->h.chunked ? read_chunked(r) : read_fixed(r);
        break;
    case BODY_FAILED:
        return r->body_err == -413 ? -EMSGSIZE : r->body_err == -408 ? -ETIMEDOUT :
               r->body_err == -400 ? -EBADMSG : -ECONNRESET;
    }
    if (rc)
        return rc;
    *body = (km_str){ r->c->rbuf + r->body_start, r->body_len };
    return 0;
}

int km__req_drain(km_http_req *r)
{
    if (r->body_state == BODY_NONE || r->body_state == BODY_READ)
        return 0;
    if (r->body_state == BODY_FAILED)
        return -1;
    /* Unread body. A client that waits for 100 Continue never sends it:
     * then the connection cannot be reused. Otherwise read it, up to the
     * body limit, to keep the connection. */
    if (r->h.expect_continue && !r->c->sent_continue)
        return -1;
    km_str b;
    return km_http_body(r, &b) ? -1 : 0;
}

km_str km_http_remote(const km_http_req *r)
{
    km__conn *c = r->c;
    if (!c->remote_known) {
        /* Once per connection: a system call per request would cost more
         * than the logging it is for. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char ip[INET6_ADDRSTRLEN];
        int n = 0;
        if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
            if (ss.ss_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
                inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
                n = snprintf(c->remote, sizeof c->remote, "%s:%u", ip, ntohs(a->sin_port));
            } else if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
                inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
                n = snprintf(c->remote, sizeof c->remote, "[%s]:%u", ip, ntohs(a->sin6_port));
            } else if (ss.ss_family == AF_UNIX) {
                n = snprintf(c->remote, sizeof c->remote, "unix");
            }
        }
        c->remote_len = n > 0 && (size_t)n < sizeof c->remote ? (uint8_t)n : 0;
        c->remote_known = true;
    }
    return c->remote_len ? (km_str){ c->remote, c->remote_len } : (km_str){ NULL, 0 };
}

int km_http_fd(const km_http_req *r)
{
    return r->c->fd;
}
