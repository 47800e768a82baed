/* SPDX-License-Identifier: MIT */
/* Deadline propagation over HTTP: X-Kumo-Deadline-Ms out, a per-request timeout in. */
#include "resil/resil-int.h"
#include <stdio.h>

#define MS 1000000LL
/* Larger budgets (over ~31 years) are as good as none. */
#define MAX_MS 1000000000000LL

int km_deadline_header(int64_t deadline, km_http_kv *out, char buf[KM_DEADLINE_BUF])
{
    if (deadline == KM_FOREVER)
        return 0;
    int64_t left = deadline - km_now();
    if (left <= 0)
        return -ETIMEDOUT;
    /* Rounded down: the callee must not believe it has more time than the
     * caller will wait. */
    snprintf(buf, KM_DEADLINE_BUF, "%lld", (long long)(left / MS));
    *out = (km_http_kv){ KM_DEADLINE_HEADER, buf };
    return 1;
}

int64_t km_deadline_current(void)
{
    km__g *g = km__curg();
    return g ? km__cancel_deadline(g) : KM_FOREVER;
}

/* Milliseconds from the header: 1..13 digits; -1 when absent or malformed. */
static int64_t parse_ms(km_str v)
{
    if (!v.p || v.n == 0 || v.n > 13)
        return -1;
    int64_t ms = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -1;
        ms = ms * 10 + (v.p[i] - '0');
    }
    return ms > MAX_MS ? -1 : ms;
}

void km_deadline_http_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    int64_t cap = ud ? *(const int64_t *)ud : 0;
    int64_t ms = parse_ms(km_http_header(r, KM_DEADLINE_HEADER));
    if (ms == 0) {
        static const char msg[] = "deadline exceeded\n";
        km_http_send(w, 504, "text/plain; charset=utf-8", msg, sizeof msg - 1);
        return;
    }
    int64_t ns = ms > 0 ? ms * MS : 0;
    if (cap > 0 && (ns == 0 || ns > cap))
        ns = cap;
    if (ns <= 0) {
        km_http_next_call(next, r, w);
        return;
    }
    km_http_mw_timeout(r, w, &ns, next);
}
