/* SPDX-License-Identifier: MIT */
/* HTTP middleware answering 429 with Retry-After when a rate limit is exceeded. */
#include "resil/resil-int.h"
#include <stdio.h>
#include <string.h>

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
        /* The IP without the port: one client, many connections; unix
         * sockets are all one local client. */
        unsigned char a[16];
        size_t n = km_http_remote_ip(r, a);
        rc = km_ratelimit_keyed_take(c->keyed, a, n, &wait);
    }
    if (rc == -EAGAIN) {
        km__send_retry_after(w, 429, wait, "rate limit exceeded\n");
        return;
    }
    km_http_next_call(next, r, w);
}
