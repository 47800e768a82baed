/* SPDX-License-Identifier: MIT */
/* The HTTP/2 server: a connection taken over after its preface, a
 * goroutine per stream running the same chain and handlers as HTTP/1.1,
 * graceful shutdown in two GOAWAY steps. */
#include "h2s-int.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000LL

/* The request head as the stream interface has it: pseudo-headers give
 * the method and target; :authority stands in for a missing Host. */
static int request_head(km__h2s_stream *s, bool ended)
{
    const km__h2_hblock *b = &s->core.head;
    km__head *h = &s->st.req.h;
    *h = (km__head){ .version = 20, .keep_alive = true, .content_length = -1 };
#define NAME_IS(lit) (name.n == sizeof lit - 1 && !memcmp(name.p, lit, sizeof lit - 1))
    km__hdr *hd = s->hdrs;
    if (b->n + 1 > KM__H2S_HDRS) {
        if (!(s->more = km__malloc((b->n + 1) * sizeof *hd)))
            return -ENOMEM;
        hd = s->more;
    }
    km_str authority = { NULL, 0 };
    bool host = false;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        km_str name, value;
        km__h2_hblock_at(b, i, &name, &value);
        /* HTTP/2 field names are lower case (nghttp2 refuses others). */
        if (name.n && name.p[0] == ':') {
            if (NAME_IS(":method"))
                h->method = value;
            else if (NAME_IS(":path"))
                h->target = value;
            else if (NAME_IS(":authority"))
                authority = value;
            continue;
        }
        if (NAME_IS("host"))
            host = true;
        else if (NAME_IS("content-length")) {
            /* nghttp2 checked it is a number that the DATA will match. */
            int64_t v = 0;
            for (size_t k = 0; k < value.n; k++)
                v = v * 10 + (value.p[k] - '0');
            h->content_length = v;
        }
        hd[n++] = (km__hdr){ name, value };
    }
    if (!host && authority.p)
        hd[n++] = (km__hdr){ { "host", 4 }, authority };
    h->hdrs = hd;
    h->nhdrs = n;
    const char *q = h->target.n ? memchr(h->target.p, '?', h->target.n) : NULL;
    h->path = (km_str){ h->target.p, q ? (size_t)(q - h->target.p) : h->target.n };
    h->query = q ? (km_str){ q + 1, h->target.n - h->path.n - 1 } : (km_str){ h->target.p + h->target.n, 0 };
#undef NAME_IS
    if (ended)
        h->content_length = 0;
    /* A body whose length nobody said: km_http_content_length gives -1. */
    h->chunked = h->content_length < 0;
    return 0;
}

/* One access-log line per request, written at once: streams of one
 * connection finish in parallel, and a line is one write(2). */
static void access_log(km__h2s_stream *s)
{
    char line[KM__LOGLINE];
    size_t n = km__access_line(&s->st, line, sizeof line);
    if (n) {
        ssize_t w = write(s->st.s->cfg.access_log_fd, line, n);
        (void)w;    /* a log that cannot be written must not fail requests */
    }
}

static void handle(void *arg)
{
    km__h2s_stream *s = arg;
    km_http_req *r = &s->st.req;
    km_http_resp *w = &s->st.resp;
    if (request_head(s, s->ended)) {
        km__h2_reset(&s->core, NGHTTP2_INTERNAL_ERROR, -ENOMEM);
        return;
    }
    r->start = km_now();
    bool head = r->h.method.n == 4 && !memcmp(r->h.method.p, "HEAD", 4);
    km__resp_reset(w, &s->st, head);
    if (r->h.content_length > 0 && (size_t)r->h.content_length > s->st.s->cfg.max_body_bytes)
        km__stream_refuse(&s->st, 413);     /* before reading it */
    else
        km__stream_run(&s->st);
    if (!w->head_sent && r->body_fail && r->body_fail != 499) {
        char body[64];
        int n = snprintf(body, sizeof body, "%d %s\n", r->body_fail, km_http_reason(r->body_fail));
        km_http_send(w, r->body_fail, "text/plain; charset=utf-8", body, (size_t)n);
    }
    km__h2s_finish(s);
    access_log(s);
}

/* A stream's goroutine: the handler under the stream's group, then
 * everything the stream held. */
static void run(void *arg)
{
    km__h2s_stream *s = arg;
    km__h2s_conn *sc = s->sc;
    km__group_init(&s->grp, sc->c->group, KM_FOREVER);
    s->ended = km__h2_stream_set_group(&s->core, &s->grp);
    km__group_run(&s->grp, handle, s);
    km__timeout_close(&s->st);
    /* Finalized while the core may still cancel it (a reset coming in):
     * a cancel touches only the group itself, fini only its parent. A
     * group a handler made under the stream's and never freed keeps the
     * stream: that handler's leak, not a dangling pointer. */
    bool gone = km__group_fini(&s->grp) == 0;
    /* What only this request needed; the header buffers and the timeout
     * group stay with the stream for its next use (stream_gone frees them). */
    km__free(s->more);
    km__free(s->body);
    s->more = NULL;
    s->body = NULL;
    /* A client that does not read (a zero window) holds the stream for
     * write_timeout at most; then it is reset. From here on s may be
     * another stream's. */
    if (gone)
        km__h2_stream_finish(&s->core, sc->c->st.s->cfg.write_timeout);
}

static void stream_gone(km__h2_stream *core, void *ud)
{
    (void)ud;
    km__h2s_stream *s = (km__h2s_stream *)core;
    km__free(s->st.tgroup);
    km__free(s->st.resp.hdrs);
    km__free(s->st.resp.trls);
}

static void on_stream(km__h2_conn *h, km__h2_stream *core, void *ud)
{
    km__h2s_conn *sc = ud;
    km__h2s_stream *s = (km__h2s_stream *)core;
    /* New, or kept from an earlier stream of this connection (see run). */
    s->sc = sc;
    s->body_len = 0;
    s->body_whole = s->body_reading = false;
    s->st.ops = &km__h2s_ops;
    s->st.s = sc->c->st.s;
    s->st.peer = &sc->c->peer;
    if (km_group_go(&sc->io, run, s) < 0) {
        /* No goroutine for it: the client may retry it elsewhere. */
        km__h2_reset(core, NGHTTP2_REFUSED_STREAM, -ENOMEM);
        km__h2_stream_release(core);
    }
}

void km__h2s_serve(km__conn *c)
{
    km_http_server *s = c->st.s;
    const km_http_config *cfg = &s->cfg;
    km__h2s_conn sc = { .c = c };
    /* Its streams run in parallel and all may ask for it. */
    km__peer_resolve(&c->peer);
    km__group_init(&sc.io, c->group, KM_FOREVER);
    km__h2_cfg hc = {
        .role = KM__H2_SERVER,
        .borrowed_fd = true,
        .tls = c->tls,
        .batch_answers = true,      /* run() starts with set_group */
        .max_concurrent = cfg->h2_max_streams,
        .stream_window = cfg->h2_stream_window,
        .max_header_bytes = cfg->max_header_bytes,
        .stream_size = sizeof(km__h2s_stream),
        .idle_timeout = cfg->idle_timeout,
        .settings_timeout = cfg->read_header_timeout,
        .write_timeout = cfg->write_timeout,
        .nread = &c->nread,
        .nwritten = &c->nwritten,
        .hooks = { .stream_new = on_stream, .stream_gone = stream_gone, .ud = &sc },
    };
    /* Busy for good: the server's shutdown drains it with GOAWAY, never
     * by closing its socket under it. */
    atomic_store(&c->busy, true);
    if (km__h2_conn_new(&sc.h, c->fd, &hc) == 0) {
        /* What HTTP/1.1 read already (the preface, maybe more) goes first. */
        int rc = km__h2_conn_start_with(sc.h, &sc.io, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rpos = c->rlen = 0;
        if (rc == 0) {
            km_mutex_lock(s->mu);
            c->h2 = &sc;
            if (atomic_load(&s->stopping))
                km__h2s_drain(c, km_now());
            km_mutex_unlock(s->mu);
        }
        /* The reader, the writer and every stream's goroutine are members
         * of sc.io: once they have returned, the connection is over. */
        km_group_wait(&sc.io, KM_FOREVER);
        km_mutex_lock(s->mu);
        c->h2 = NULL;
        km_mutex_unlock(s->mu);
        km__h2_conn_release(sc.h);
    }
    km_group_wait(&sc.io, KM_FOREVER);
    km__group_fini(&sc.io);
}

void km__h2s_drain(km__conn *c, int64_t now)
{
    km__h2s_conn *sc = c->h2;
    if (!sc->notice_at) {
        sc->notice_at = now;
        km__h2_conn_drain_notice(sc->h);
    } else if (!sc->final_sent &&
               (km__h2_conn_drain_acked(sc->h) || now - sc->notice_at >= SEC)) {
        /* The client answered the PING behind the notice, or a second
         * went by (long enough for it to have seen the notice): what it
         * sent before then is served, nothing after. */
        sc->final_sent = true;
        km__h2_conn_shutdown(sc->h);
    }
}
