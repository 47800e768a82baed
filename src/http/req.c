/* SPDX-License-Identifier: MIT */
/* Requests: accessors, the body through the stream, the peer's address. */
#include <errno.h>
#include "http-int.h"
#include <kumo/rt.h>
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

void km_http_set_route(km_http_req *r, const char *pattern)
{
    r->route = pattern;
    r->route_len = pattern ? strlen(pattern) : 0;
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

int km_http_body(km_http_req *r, km_str *body)
{
    if (!r || !body)
        return -EINVAL;
    return r->st->ops->body(r, body);
}

ssize_t km_http_body_read(km_http_req *r, void *buf, size_t n, int64_t deadline)
{
    if (!r || (n && !buf))
        return -EINVAL;
    return r->st->ops->body_read(r, buf, n, deadline);
}

bool km_http_draining(const km_http_req *r)
{
    return r && atomic_load(&r->st->s->stopping);
}

int km_http_body_wake_on_drain(km_http_req *r)
{
    if (!r)
        return -EINVAL;
    if (r->st->ops->drain_wake)
        r->st->ops->drain_wake(r);
    return 0;
}

void km__peer_init(km__peer *p, int fd)
{
    p->fd = fd;
    p->known = false;
    p->tls = NULL;
}

void km__peer_resolve(km__peer *p)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    int n = 0;
    p->iplen = 0;
    if (getpeername(p->fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            n = snprintf(p->text, sizeof p->text, "%s:%u", ip, ntohs(a->sin_port));
            memcpy(p->ip, &a->sin_addr, 4);
            p->iplen = 4;
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            n = snprintf(p->text, sizeof p->text, "[%s]:%u", ip, ntohs(a->sin6_port));
            memcpy(p->ip, &a->sin6_addr, 16);
            p->iplen = 16;
        } else if (ss.ss_family == AF_UNIX) {
            n = snprintf(p->text, sizeof p->text, "unix");
        }
    }
    p->len = n > 0 && (size_t)n < sizeof p->text ? (uint8_t)n : 0;
    p->known = true;
}

/* Looked up at the first use, once per connection: a system call per
 * request would cost more than the logging it is for. */
static const km__peer *peer(const km_http_req *r)
{
    km__peer *p = r->st->peer;
    if (!p->known)
        km__peer_resolve(p);
    return p;
}

km_str km_http_remote(const km_http_req *r)
{
    const km__peer *p = peer(r);
    return p->len ? (km_str){ p->text, p->len } : (km_str){ NULL, 0 };
}

int km_http_peer_cn(const km_http_req *r, char *buf, size_t n)
{
    km__tls_conn *t = r->st->peer->tls;
    return t ? km__tls_peer_cn(t, buf, n) : -ENOENT;
}

size_t km_http_remote_ip(const km_http_req *r, unsigned char ip[16])
{
    const km__peer *p = peer(r);
    memcpy(ip, p->ip, p->iplen);
    return p->iplen;
}
