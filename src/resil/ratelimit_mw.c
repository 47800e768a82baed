/* SPDX-License-Identifier: MIT */
/* HTTP middleware answering 429 with Retry-After when a rate limit is exceeded. */
#include "resil/resil-int.h"
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* The peer's IP address bytes (no port: one client, many connections). */
static size_t peer_key(km_http_req *r, unsigned char out[16])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(km_http_fd(r), (struct sockaddr *)&ss, &len) < 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        memcpy(out, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 16;
    }
    return 0;                   /* unix sockets: all one local client */
}

void km__send_retry_after(km_http_resp *w, int status, int64_t wait, const char *msg)
{
    char ra[24];
    int64_t s = (wait + KM__SEC - 1) / KM__SEC;
    snprintf(ra, sizeof ra, "%lld", (long long)(s < 1 ? 1 : s));
    km_http_set_header(w, "Retry-After", ra);
    km_http_send(w, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

void km_ratelimit_http_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    const km_ratelimit_mw_config *c = ud;
    int64_t wait = 0;
    int rc = 0;
    if (c->by == KM_RATELIMIT_BY_NONE && c->global) {
        rc = km_ratelimit_take(c->global, &wait);
    } else if (c->by == KM_RATELIMIT_BY_PATH && c->keyed) {
        km_str p = km_http_path(r);
        rc = km_ratelimit_keyed_take(c->keyed, p.p, p.n, &wait);
    } else if (c->by == KM_RATELIMIT_BY_PEER && c->keyed) {
        unsigned char a[16];
        size_t n = peer_key(r, a);
        rc = km_ratelimit_keyed_take(c->keyed, a, n, &wait);
    }
    if (rc == -EAGAIN) {
        km__send_retry_after(w, 429, wait, "rate limit exceeded\n");
        return;
    }
    km_http_next_call(next, r, w);
}
