/* SPDX-License-Identifier: MIT */
/* HTTP server life cycle: listening, accepting, limits, graceful shutdown. */
#include "h2s-int.h"
#include "rt/rt-int.h"
#include <string.h>
#include <sys/socket.h>

#define SEC 1000000000LL

static void defaults(km_http_config *c)
{
    if (!c->backlog) c->backlog = 4096;
    if (!c->max_header_bytes) c->max_header_bytes = 16384;
    if (!c->max_headers) c->max_headers = 100;
    if (!c->max_body_bytes) c->max_body_bytes = 1 << 20;
    if (!c->read_header_timeout) c->read_header_timeout = 10 * SEC;
    if (!c->body_timeout) c->body_timeout = 30 * SEC;
    if (!c->write_timeout) c->write_timeout = 30 * SEC;
    if (!c->idle_timeout) c->idle_timeout = 60 * SEC;
    if (!c->max_conns) c->max_conns = 10000;
    if (!c->h2_max_streams) c->h2_max_streams = 250;
    if (!c->h2_stream_window) c->h2_stream_window = 256 << 10;
}

#define KEEP_FREE 256           /* closed connections kept for reuse */

static void conn_destroy(km__conn *c)
{
    km__free(c->rbuf);
    km__free(c->wbuf);
    km__free(c->hdrs);
    km__free(c->logbuf);
    km__free(c->st.tgroup);
    km__free(c->group);
    km__free(c->st.resp.hdrs);
    km__free(c->st.resp.trls);
    km__free(c);
}

static km__conn *conn_new(km_http_server *s, int fd)
{
    km_mutex_lock(s->mu);
    km__conn *c = s->free;
    if (c) {
        s->free = c->next;
        s->nfree--;
    }
    km_mutex_unlock(s->mu);
    if (!c) {
        c = km__calloc(1, sizeof *c);
        if (!c)
            return NULL;
        c->rcap = KM__RBUF;
        c->wcap = KM__WBUF;
        c->rbuf = km__malloc(c->rcap);
        c->wbuf = km__malloc(c->wcap);
        c->hdrs = km__malloc(s->cfg.max_headers * sizeof *c->hdrs);
        /* Kept with the connection, so reusing one allocates nothing. */
        c->group = km__malloc(sizeof *c->group);
        if (!c->rbuf || !c->wbuf || !c->hdrs || !c->group) {
            conn_destroy(c);
            return NULL;
        }
    }
    c->fd = fd;
    c->tls = NULL;
    c->st.ops = &km__h1_ops;
    c->st.s = s;
    c->st.peer = &c->peer;
    km__peer_init(&c->peer, fd);
    km__group_init(c->group, s->group, KM_FOREVER);
    c->rlen = c->rpos = c->wlen = c->loglen = 0;
    c->broken = c->lean = c->drained = c->hup_watched = false;
    c->fresh = true;
    c->h2 = NULL;
    c->prev = NULL;
    atomic_store(&c->busy, false);
    atomic_store_explicit(&c->nread, 0, memory_order_relaxed);
    atomic_store_explicit(&c->nwritten, 0, memory_order_relaxed);
    km_mutex_lock(s->mu);
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    km_mutex_unlock(s->mu);
    atomic_fetch_add(&s->nconns, 1);
    atomic_fetch_add_explicit(&s->served, 1, memory_order_relaxed);
    return c;
}

/* Closes like nginx's lingering close: after an early response the client
 * may still be sending; reading that briefly lets it see the response
 * instead of a reset. */
void km__http_conn_close(km__conn *c)
{
    km_http_server *s = c->st.s;
    km__timeout_close(&c->st);
    /* A group a handler made under the connection's and never freed keeps
     * it, and so the connection's memory: that handler's leak, not a
     * dangling pointer. */
    bool group_gone = km__group_fini(c->group) == 0;
    /* Only when the client may still be sending (input we did not use,
     * a body we did not read): otherwise a plain close is clean. */
    bool unread = c->rlen > c->rpos || c->body_state == BODY_UNREAD ||
                  c->body_state == BODY_FAILED;
    if (c->tls && !c->broken)
        km__tls_close_notify(c->tls, km_now() + SEC / 10);
    if (!c->broken && unread) {
        km_shutdown(c->fd, SHUT_WR);
        char sink[4096];
        int64_t dl = km_now() + SEC / 2;
        ssize_t n;
        for (int i = 0; i < 16 && (n = km_read(c->fd, sink, sizeof sink, dl)) > 0; i++)
            km__count_bytes(&c->nread, n);
    }
    memset(&c->st.req, 0, sizeof c->st.req);
    c->body_state = BODY_NONE;
    /* Unlinked and closed under the lock: km_http_shutdown must never
     * reach an fd number that may already belong to another file. */
    km_mutex_lock(s->mu);
    if (c->prev) c->prev->next = c->next; else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    /* Its bytes move to the server's totals under the lock that
     * km_http_server_stat_read sums the open connections under. */
    km__count_bytes(&s->nread, (ssize_t)atomic_load(&c->nread));
    km__count_bytes(&s->nwritten, (ssize_t)atomic_load(&c->nwritten));
    km_close(c->fd);
    c->fd = -1;
    km__tls_free(c->tls);
    c->tls = NULL;
    /* Keep it for the next connection unless its buffers grew. */
    bool keep = group_gone && s->nfree < KEEP_FREE && c->rcap == KM__RBUF && (c->wcap == KM__WBUF || !c->wbuf) &&
                !atomic_load(&s->stopping);
    if (keep) {
        c->next = s->free;
        s->free = c;
        s->nfree++;
    }
    km_mutex_unlock(s->mu);
    atomic_fetch_sub(&s->nconns, 1);
    if (!keep && group_gone)
        conn_destroy(c);
}

void km_http_server_stat_read(km_http_server *s, km_http_server_stat *st)
{
    km_mutex_lock(s->mu);
    uint64_t r = atomic_load(&s->nread), w = atomic_load(&s->nwritten);
    for (km__conn *c = s->conns; c; c = c->next) {
        r += atomic_load_explicit(&c->nread, memory_order_relaxed);
        w += atomic_load_explicit(&c->nwritten, memory_order_relaxed);
    }
    km_mutex_unlock(s->mu);
    *st = (km_http_server_stat){
        .conns_open = atomic_load(&s->nconns),
        .conns_total = atomic_load(&s->served),
        .conns_refused = atomic_load(&s->refused),
        .bytes_read = r,
        .bytes_written = w,
    };
}

/* A 503 on a fresh connection, whose send buffer is empty: it does not
 * block. An HTTP/2 client reads it as a broken preface and retries. */
static void say_busy(km_http_server *s, int fd)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                               "Content-Length: 0\r\nRetry-After: 1\r\n\r\n";
    km_write(fd, busy, sizeof busy - 1, km_now() + SEC);
    atomic_fetch_add_explicit(&s->refused, 1, memory_order_relaxed);
}

static void accept_loop(void *arg)
{
    km_http_server *s = arg;
    for (;;) {
        int fd = km_accept(s->lfd, KM_FOREVER);
        if (fd < 0) {
            if (fd == -EBADF || fd == -ECANCELED || atomic_load(&s->stopping))
                return;
            km_sleep(SEC / 100);    /* out of fds or memory: back off */
            continue;
        }
        if (atomic_load(&s->nconns) >= s->cfg.max_conns) {
            say_busy(s, fd);
            km_close(fd);
            continue;
        }
        /* Out of memory for the connection or its goroutine: refused
         * like one over max_conns, and the server goes on. */
        km__conn *c = conn_new(s, fd);
        if (!c) {
            say_busy(s, fd);
            km_close(fd);
        } else if (km_go(km__http_conn_main, c)) {
            atomic_fetch_sub_explicit(&s->served, 1, memory_order_relaxed);
            say_busy(s, fd);
            km__http_conn_close(c);
        }
    }
}

int km_http_serve(km_http_server **out, const km_http_config *cfg)
{
    if (!out || !cfg || !cfg->addr || !cfg->handler)
        return -EINVAL;
    km_http_server *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cfg = *cfg;
    defaults(&s->cfg);
    s->hup_ep = s->hup_ev = -1;
    int rc = km_mutex_new(&s->mu);
    if (!rc)
        rc = km_mutex_new(&s->hup_mu);
    if (!rc)
        rc = km_group_new(&s->group, NULL, KM_FOREVER);
    if (!rc && (s->lfd = km_listen_ex(s->cfg.addr, s->cfg.backlog,
                                      s->cfg.accept_early ? 0 : KM_LISTEN_DEFER_ACCEPT)) < 0)
        rc = s->lfd;
    if (!rc) {
        s->port = km_local_port(s->lfd);
        rc = km_group_go(s->group, accept_loop, s);
        if (rc)
            km_close(s->lfd);
    }
    if (rc) {
        if (s->group) km_group_free(s->group);
        if (s->mu) km_mutex_free(s->mu);
        if (s->hup_mu) km_mutex_free(s->hup_mu);
        km__free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int km_http_server_port(const km_http_server *s)
{
    return s ? s->port : -EINVAL;
}

int km_http_shutdown(km_http_server *s, int64_t deadline)
{
    if (!s)
        return -EINVAL;
    atomic_store(&s->stopping, true);
    km_close(s->lfd);                   /* wakes the accept loop */
    /* Idle connections go now; busy ones finish their request first (they
     * answer with Connection: close and stop). */
    int rc = 0;
    for (;;) {
        km_mutex_lock(s->mu);
        int64_t now = km_now();
        for (km__conn *c = s->conns; c; c = c->next)
            if (c->h2)
                km__h2s_drain(c, now);
            else if (!atomic_load(&c->busy))
                km_shutdown(c->fd, SHUT_RD);
        km_mutex_unlock(s->mu);
        int64_t step = km_now() + SEC / 20;
        if (deadline != KM_FOREVER && deadline < step)
            step = deadline;
        if (km_group_wait(s->group, step) == 0)
            break;
        if (deadline != KM_FOREVER && km_now() >= deadline) {
            rc = -ETIMEDOUT;
            km_group_cancel(s->group);  /* cut off what is left */
            km_mutex_lock(s->mu);
            for (km__conn *c = s->conns; c; c = c->next)
                km_shutdown(c->fd, SHUT_RDWR);
            km_mutex_unlock(s->mu);
            km_group_wait(s->group, KM_FOREVER);
            break;
        }
    }
    km_group_free(s->group);
    km__hangup_stop(s);
    km_mutex_free(s->hup_mu);
    while (s->free) {
        km__conn *c = s->free;
        s->free = c->next;
        conn_destroy(c);
    }
    km_mutex_free(s->mu);
    km__free(s);
    return rc;
}
