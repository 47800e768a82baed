/* SPDX-License-Identifier: MIT */
/* Lean streams: a response that stays open for hours (a watch) gives back
 * the connection's read and write buffers, which would otherwise outweigh
 * everything else a watcher holds. */
#include "h1-int.h"
#include "rt/rt-int.h"
#include <string.h>

/* Requests larger than this keep their buffer: copying them saves little. */
#define LEAN_MAX 16384

static void rebase(km_str *s, const char *old, size_t n, char *nb)
{
    if (s->p && s->p >= old && s->p <= old + n)
        s->p = nb + (s->p - old);
}

int km__h1_lean(km_http_req *r, km_http_resp *w)
{
    km__conn *c = km__conn_of(r->st);
    if (c->lean)
        return 0;
    /* Only a request fully read, with nothing pipelined behind it: then
     * the read buffer holds exactly this request. */
    if (c->body_state == BODY_UNREAD || c->rpos != 0 || c->rlen != c->end ||
        c->nretired || c->end > LEAN_MAX)
        return -EBUSY;
    size_t n = c->end, nh = r->h.nhdrs;
    char *nb = km__malloc(n ? n : 1);
    km__hdr *hdrs = km__malloc((nh ? nh : 1) * sizeof *hdrs);
    if (!nb || !hdrs) {
        km__free(nb);
        km__free(hdrs);
        return -ENOMEM;
    }
    memcpy(nb, c->rbuf, n);
    memcpy(hdrs, c->hdrs, nh * sizeof *hdrs);
    /* Every string of the request moves to the copy. */
    const char *old = c->rbuf;
    rebase(&r->h.method, old, n, nb);
    rebase(&r->h.target, old, n, nb);
    rebase(&r->h.path, old, n, nb);
    rebase(&r->h.query, old, n, nb);
    for (size_t i = 0; i < nh; i++) {
        rebase(&hdrs[i].name, old, n, nb);
        rebase(&hdrs[i].value, old, n, nb);
    }
    for (int i = 0; i < r->nparams; i++) {
        rebase(&r->pname[i], old, n, nb);
        rebase(&r->pval[i], old, n, nb);
    }
    rebase(&r->trace.tracestate, old, n, nb);
    r->h.hdrs = hdrs;
    size_t freed = c->rcap + c->st.s->cfg.max_headers * sizeof *hdrs;
    km__free(c->rbuf);
    km__free(c->hdrs);
    c->rbuf = nb;
    c->rcap = n;
    c->hdrs = hdrs;
    if (c->wlen == 0) {
        freed += c->wcap;
        km__free(c->wbuf);
        c->wbuf = NULL;
        c->wcap = 0;
    }
    if (w->head_sent && w->hdrs) {
        freed += w->hcap;
        km__free(w->hdrs);      /* taken again by the next response that sets one */
        w->hdrs = NULL;
        w->hcap = 0;
    }
    c->lean = true;
    km__release_freed(freed);
    return 0;
}

int km__conn_unlean(km__conn *c)
{
    /* The request is done and nothing was read behind it. */
    char *rb = km__malloc(KM__RBUF);
    km__hdr *hdrs = km__malloc(c->st.s->cfg.max_headers * sizeof *hdrs);
    if (!rb || !hdrs) {
        km__free(rb);
        km__free(hdrs);
        return -ENOMEM;
    }
    km__free(c->rbuf);
    km__free(c->hdrs);
    c->rbuf = rb;
    c->rcap = KM__RBUF;
    c->rlen = c->rpos = 0;
    c->hdrs = hdrs;
    c->lean = false;
    return 0;
}
