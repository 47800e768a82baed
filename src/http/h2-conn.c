/* SPDX-License-Identifier: MIT */
/* An HTTP/2 connection: the session, its reader and writer goroutines, keepalive, failure and teardown. */
#include <string.h>
#include <sys/socket.h>
#include <kumo/net.h>
#include "h2-int.h"
#include "rt/alloc.h"
#include "tls/tls-int.h"

#define SEC    1000000000LL
#define RBUF   65536            /* one socket read */
#define WBATCH 65536            /* frames gathered before one write */

void km__h2_cfg_defaults(km__h2_cfg *cfg)
{
    if (!cfg->stream_window) cfg->stream_window = 1u << 20;
    if (!cfg->conn_window) cfg->conn_window = 16u << 20;
    if (!cfg->max_concurrent) cfg->max_concurrent = 100;
    if (!cfg->max_header_bytes) cfg->max_header_bytes = 64 << 10;
    if (!cfg->send_buffer) cfg->send_buffer = 256 << 10;
    if (cfg->stream_size < sizeof(km__h2_stream)) cfg->stream_size = sizeof(km__h2_stream);
    if (cfg->keepalive_timeout <= 0) cfg->keepalive_timeout = 20 * SEC;
    if (cfg->write_timeout <= 0) cfg->write_timeout = 30 * SEC;
    /* HTTP/2 caps windows at 2^31-1. */
    if (cfg->stream_window > 0x7fffffffu) cfg->stream_window = 0x7fffffffu;
    if (cfg->conn_window > 0x7fffffffu) cfg->conn_window = 0x7fffffffu;
}

/* nghttp2's fatal errors as errno values. */
static int ng_err(ssize_t rv)
{
    return rv == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EPROTO;
}

static void destroy(km__h2_conn *c)
{
    nghttp2_session_del(c->s);
    km__h2_mem_drop(&c->memc);
    /* Streams whose users are gone but which the session still held. */
    while (c->streams) {
        km__h2_stream *st = c->streams;
        st->in_session = false;
        st->refs = 1;
        km__h2_stream_unref(st);
    }
    km__h2_stream_cache_free(c);
    if (c->fd >= 0 && !c->cfg.borrowed_fd)
        km_close(c->fd);
    if (!c->cfg.borrowed_fd)
        km__tls_free(c->cfg.tls);
    km__free(c->rbuf);
    km__free(c->wbuf);
    km_cond_free(c->wcv);
    km_cond_free(c->slot_cv);
    km_mutex_free(c->mu);
    km__free(c);
}

int km__h2_conn_new(km__h2_conn **out, int fd, const km__h2_cfg *cfg)
{
    if (!out || fd < 0 || !cfg ||
        (cfg->role != KM__H2_CLIENT && cfg->role != KM__H2_SERVER)) {
        if (fd >= 0 && !(cfg && cfg->borrowed_fd))
            km_close(fd);
        if (cfg && !cfg->borrowed_fd)
            km__tls_free(cfg->tls);
        return -EINVAL;
    }
    km__h2_conn *c = km__calloc(1, sizeof *c);
    if (!c) {
        if (!cfg->borrowed_fd) {
            km_close(fd);
            km__tls_free(cfg->tls);
        }
        return -ENOMEM;
    }
    c->fd = fd;
    c->cfg = *cfg;
    km__h2_cfg_defaults(&c->cfg);
    c->wcap = WBATCH + 32768;
    atomic_init(&c->refs, 1);
    c->last_read = c->started = c->idle_since = km_now();
    km__h2_mem_init(&c->mem, &c->memc);
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    int rc = -ENOMEM;
    if (km_mutex_new(&c->mu) || km_cond_new(&c->wcv) || km_cond_new(&c->slot_cv) ||
        !(c->rbuf = km__malloc(RBUF)) || !(c->wbuf = km__malloc(c->wcap)) ||
        nghttp2_session_callbacks_new(&cb) || nghttp2_option_new(&opt))
        goto fail;
    km__h2_callbacks(cb);
    /* Window updates follow what readers consume, not what arrives: a
     * stream nobody reads stops its sender (h2-stream.c). */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    /* Closed streams are kept only for priorities, which kumo ignores. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    /* RFC 9113 forbids spaces at the ends of a field value, but gRPC
     * peers (grpc-go, grpcio) send grpc-message that way ("  both ends  "
     * goes out as is): refusing it would reset the stream and lose the
     * status. What we send is still checked (h2-client.c). */
    nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(opt, 1);
    if (c->cfg.role == KM__H2_SERVER)
        km__h2_flood_options(opt);
    int nrv = c->cfg.role == KM__H2_CLIENT
        ? nghttp2_session_client_new3(&c->s, cb, c, opt, &c->mem)
        : nghttp2_session_server_new3(&c->s, cb, c, opt, &c->mem);
    if (nrv)
        goto fail;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    *out = c;
    return 0;
fail:
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    destroy(c);
    return rc;
}

void km__h2_lock(km__h2_conn *c)
{
    km_mutex_lock(c->mu);
}

void km__h2_unlock(km__h2_conn *c)
{
    bool notify = c->notify;
    km__h2_stream *fresh = c->fresh;
    c->notify = false;
    c->fresh = NULL;
    km_mutex_unlock(c->mu);
    /* Hooks run unlocked: they take their own locks (the client's pool)
     * or start goroutines (the server), and may call back into the core. */
    const km__h2_hooks *h = &c->cfg.hooks;
    if (notify && h->changed)
        h->changed(c, h->ud);
    while (fresh) {
        km__h2_stream *next = fresh->fresh_next;
        fresh->fresh_next = NULL;
        if (h->stream_new)
            h->stream_new(c, fresh, h->ud);
        else
            km__h2_stream_release(fresh);
        fresh = next;
    }
}

void km__h2_kick(km__h2_conn *c)
{
    if (c->writer_idle && nghttp2_session_want_write(c->s)) {
        c->writer_idle = false;
        km_cond_signal(c->wcv);
    }
}

void km__h2_fail(km__h2_conn *c, int err)
{
    if (c->err)
        return;
    c->err = err;
    for (km__h2_stream *st = c->streams; st; st = st->next) {
        /* A stream that got all of its input keeps it readable. */
        if (!st->closed && !st->err && !st->in_end)
            st->err = err;
        km__h2_wake(st);
    }
    km_cond_broadcast(c->slot_cv);
    km_cond_signal(c->wcv);
    c->notify = true;
    /* Handlers still at work on its streams stop too. */
    for (km__h2_stream *st = c->streams; st; st = st->next)
        if (st->grp)
            km_group_cancel(st->grp);
    /* Wakes the reader (and a blocked write) without closing the fd: the
     * number must not be reused while they may still use it. The last of
     * them closes it. */
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
}

/* nghttp2 gave up on the input (lock held). A flood it caught itself
 * (more ACKs queued than the peer reads, a header block in too many
 * CONTINUATIONs) is told as h2-flood.c's are: GOAWAY ENHANCE_YOUR_CALM,
 * and the session ends once that is out. Anything else (no memory, a
 * callback failed) ends it at once. */
static void recv_failed(km__h2_conn *c, ssize_t rv)
{
    if ((rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) &&
        nghttp2_session_terminate_session(c->s, NGHTTP2_ENHANCE_YOUR_CALM) == 0) {
        c->flooded = true;
        km__h2_kick(c);
        return;
    }
    km__h2_fail(c, ng_err(rv));
}

/* The session has nothing left to read or write: GOAWAY both ways done,
 * or a protocol error's GOAWAY sent. */
static bool over(km__h2_conn *c)
{
    if (nghttp2_session_want_read(c->s) || nghttp2_session_want_write(c->s))
        return false;
    km__h2_fail(c, c->proto_err ? -EPROTO : -EPIPE);
    return true;
}

/* The reader or the writer is done; the last one closes the socket
 * (unless it is borrowed) and tells km__h2_conn_wait. */
static void io_exit(km__h2_conn *c)
{
    km__h2_lock(c);
    int fd = -1;
    if (--c->io_live == 0) {
        if (!c->cfg.borrowed_fd)
            fd = c->fd;
        c->fd = -1;
        km_cond_broadcast(c->slot_cv);
    }
    km__h2_unlock(c);
    if (fd >= 0)
        km_close(fd);
    km__h2_conn_release(c);
}

void km__h2_conn_wait(km__h2_conn *c)
{
    km__h2_lock(c);
    while (c->io_live > 0)
        km_cond_wait_dl(c->slot_cv, c->mu, KM_FOREVER);
    km__h2_unlock(c);
}

static void count(_Atomic uint64_t *total, ssize_t n)
{
    if (total && n > 0)
        atomic_fetch_add_explicit(total, (uint64_t)n, memory_order_relaxed);
}

/* How long the reader may wait for input (lock held): a server closes a
 * peer that never sends SETTINGS, and one with no stream for idle_timeout
 * after the last one went, whatever else it sends (PINGs keep no
 * connection); with streams, it looks again that often. */
static int64_t read_deadline(km__h2_conn *c)
{
    int64_t dl = KM_FOREVER, now = km_now();
    if (c->cfg.idle_timeout > 0)
        dl = (c->streams || c->draining ? now : c->idle_since) + c->cfg.idle_timeout;
    if (c->cfg.settings_timeout > 0 && !c->settings) {
        int64_t s = c->started + c->cfg.settings_timeout;
        if (dl == KM_FOREVER || s < dl)
            dl = s;
    }
    return dl;
}

/* The reader's wait ran out (lock held): a silent peer goes. */
/* Graceful close (lock held): GOAWAY, NO_ERROR, naming the last stream
 * processed; the session ends once the streams before it are done. */
static void goaway(km__h2_conn *c)
{
    c->draining = true;
    int rv = nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE,
                                   nghttp2_session_get_last_proc_stream_id(c->s),
                                   NGHTTP2_NO_ERROR, NULL, 0);
    if (rv)
        km__h2_fail(c, ng_err(rv));
    else
        km__h2_kick(c);
}

static void read_timeout(km__h2_conn *c)
{
    int64_t now = km_now();
    if (c->cfg.settings_timeout > 0 && !c->settings &&
        now - c->started >= c->cfg.settings_timeout) {
        km__h2_fail(c, -ETIMEDOUT);
    } else if (c->cfg.idle_timeout > 0 && !c->streams && !c->draining &&
               now - c->idle_since >= c->cfg.idle_timeout) {
        /* Idle: GOAWAY, and the session ends once it is out. */
        goaway(c);
    }
}

static void reader(void *arg)
{
    km__h2_conn *c = arg;
    bool drained = false;
    km__h2_lock(c);
    int64_t dl = read_deadline(c);
    km__h2_unlock(c);
    for (;;) {
        /* A read that stopped short of the buffer emptied the socket, and
         * anything after it raises a new edge (a hang-up that came with
         * the bytes stays visible to the wait): wait for that rather than
         * spend a read on EAGAIN (one system call per batch of frames). */
        ssize_t n = drained ? km__io_wait_read(c->fd, c->cfg.tls, dl) : 0;
        if (n == 0)
            n = km__io_read(c->fd, c->cfg.tls, c->rbuf, RBUF, dl);
        drained = n > 0 && n < RBUF;
        count(c->cfg.nread, n);
        km__h2_lock(c);
        if (!c->err) {
            if (n == -ETIMEDOUT) {
                read_timeout(c);
            } else if (n <= 0) {
                km__h2_fail(c, n == 0 ? (c->proto_err ? -EPROTO : -ECONNRESET)
                               : n == -ECANCELED ? -ECONNABORTED : (int)n);
            } else {
                c->last_read = km_now();
                ssize_t rv = nghttp2_session_mem_recv(c->s, (const uint8_t *)c->rbuf, (size_t)n);
                if (rv < 0)
                    recv_failed(c, rv);
                else if (!over(c))
                    km__h2_kick(c);
                /* A peer that never pauses is timed as a silent one. */
                if (!c->err && dl != KM_FOREVER && c->last_read >= dl)
                    read_timeout(c);
            }
        }
        bool stop = c->err != 0;
        dl = read_deadline(c);
        km__h2_unlock(c);
        if (stop)
            break;
    }
    io_exit(c);
}

/* Keepalive: a PING once nothing has been read for a while, and failure
 * when its ACK is late. Returns when to look again. Without streams only
 * if asked (keepalive_idle): servers may take pings on an idle
 * connection for abuse (grpc-go's default policy answers them with
 * GOAWAY ENHANCE_YOUR_CALM). A stream that opens wakes the writer, which
 * looks again. */
static int64_t keepalive(km__h2_conn *c)
{
    if (c->cfg.keepalive_interval <= 0 || (!c->nstreams && !c->cfg.keepalive_idle && !c->ping_sent))
        return KM_FOREVER;
    int64_t now = km_now();
    if (c->ping_sent) {
        if (now - c->ping_sent >= c->cfg.keepalive_timeout) {
            km__h2_fail(c, -ETIMEDOUT);
            return 0;
        }
        return c->ping_sent + c->cfg.keepalive_timeout;
    }
    int64_t due = c->last_read + c->cfg.keepalive_interval;
    if (now < due)
        return due;
    uint8_t opaque[8];
    memcpy(opaque, &now, sizeof opaque);
    int rv = nghttp2_submit_ping(c->s, NGHTTP2_FLAG_NONE, opaque);
    if (rv) {
        km__h2_fail(c, ng_err(rv));
        return 0;
    }
    c->ping_sent = now;
    return now + c->cfg.keepalive_timeout;
}

/* Serializes what the session wants to send into wbuf, up to a batch. */
static int gather(km__h2_conn *c)
{
    while (c->wlen < WBATCH) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->s, &p);
        if (n < 0)
            return ng_err(n);
        if (n == 0)
            break;
        if (c->wlen + (size_t)n > c->wcap) {
            size_t nc = c->wcap * 2;
            while (nc < c->wlen + (size_t)n)
                nc *= 2;
            char *nb = km__malloc(nc);
            if (!nb)
                return -ENOMEM;
            memcpy(nb, c->wbuf, c->wlen);
            km__free(c->wbuf);
            c->wbuf = nb;
            c->wcap = nc;
        }
        memcpy(c->wbuf + c->wlen, p, (size_t)n);
        c->wlen += (size_t)n;
    }
    return 0;
}

static void writer(void *arg)
{
    km__h2_conn *c = arg;
    km__h2_lock(c);
    while (!c->err) {
        int64_t dl = keepalive(c);
        if (c->err)
            break;
        int rc = gather(c);
        if (rc) {
            km__h2_fail(c, rc);
            break;
        }
        if (!c->wlen) {
            if (over(c))
                break;
            if (c->notify || c->fresh) {
                /* Streams closed while nothing went out (a cancelled
                 * request's HEADERS): their hooks run before we sleep. */
                km__h2_unlock(c);
                km__h2_lock(c);
                continue;
            }
            c->writer_idle = true;
            rc = km_cond_wait_dl(c->wcv, c->mu, dl);
            c->writer_idle = false;
            if (rc == -ECANCELED) {
                km__h2_fail(c, -ECONNABORTED);
            } else if (rc == 0 && c->unstarted > 0) {
                /* Woken by the first stream with something to send while
                 * handlers the same input started wait for their turn: let
                 * every one run (until it answers or blocks), so that
                 * their frames share one write instead of costing one
                 * each (a write costs more than the answers in it, and a
                 * client answered in small batches keeps sending small
                 * ones). The last to start wakes us; a keepalive deadline
                 * or a failure does too. */
                c->writer_held = true;
                rc = km_cond_wait_dl(c->wcv, c->mu, dl);
                c->writer_held = false;
                if (rc == -ECANCELED)
                    km__h2_fail(c, -ECONNABORTED);
            }
            continue;
        }
        size_t len = c->wlen;
        km__h2_unlock(c);
        /* Other goroutines submit meanwhile; their frames go in the next batch. */
        ssize_t w = KM__FAULT_SOCKWRITE(km__io_write(c->fd, c->cfg.tls, c->wbuf, len,
                                                     km_now() + c->cfg.write_timeout));
        count(c->cfg.nwritten, w);
        km__h2_lock(c);
        c->wlen = 0;
        if (w < 0)
            km__h2_fail(c, w == -ETIMEDOUT ? -ETIMEDOUT : w == -ECANCELED ? -ECONNABORTED : -EPIPE);
    }
    km__h2_unlock(c);
    io_exit(c);
}

int km__h2_conn_start(km__h2_conn *c, km_group *grp)
{
    return km__h2_conn_start_with(c, grp, NULL, 0);
}

int km__h2_conn_start_with(km__h2_conn *c, km_group *grp, const void *initial, size_t len)
{
    km__h2_lock(c);
    nghttp2_settings_entry iv[4];
    size_t n = 0;
    if (c->cfg.role == KM__H2_CLIENT)
        iv[n++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
    else
        iv[n++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                            c->cfg.max_concurrent };
    iv[n++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->cfg.stream_window };
    iv[n++] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                        (uint32_t)(c->cfg.max_header_bytes > UINT32_MAX
                                                   ? UINT32_MAX : c->cfg.max_header_bytes) };
    int rv = nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, n);
    /* The connection window is consumed as data arrives (h2-cb.c), so it
     * only has to cover what is in flight; large, so that no stream waits
     * for it. */
    if (!rv && c->cfg.conn_window > 65535)
        rv = nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0,
                                                   (int32_t)c->cfg.conn_window);
    if (rv) {
        km__h2_fail(c, ng_err(rv));
        km__h2_unlock(c);
        return -ENOMEM;
    }
    /* After our SETTINGS, so that whatever the bytes make us answer
     * follows them, as HTTP/2 wants. */
    if (len) {
        ssize_t rn = nghttp2_session_mem_recv(c->s, initial, len);
        if (rn < 0)
            recv_failed(c, rn);
    }
    c->io_live = 2;
    atomic_fetch_add(&c->refs, 2);
    km__h2_unlock(c);
    km_fn *fns[2] = { reader, writer };
    int err = 0;
    for (int i = 0; i < 2; i++) {
        int rc = err ? err : grp ? km_group_go(grp, fns[i], c) : km_go(fns[i], c);
        if (rc) {
            /* Stands in for the goroutine that did not start. */
            if (!err) {
                err = rc;
                km__h2_conn_close(c, rc);
            }
            io_exit(c);
        }
    }
    return err;
}

int km__h2_conn_ready(km__h2_conn *c, int64_t deadline)
{
    int rc = 0;
    km__h2_lock(c);
    while (!c->err && !c->settings && !rc)
        rc = km_cond_wait_dl(c->slot_cv, c->mu, deadline);
    if (c->err)
        rc = c->err;
    km__h2_unlock(c);
    return rc;
}

void km__h2_conn_ref(km__h2_conn *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void km__h2_conn_release(km__h2_conn *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        destroy(c);
}

void km__h2_conn_close(km__h2_conn *c, int err)
{
    km__h2_lock(c);
    km__h2_fail(c, err);
    km__h2_unlock(c);
}

void km__h2_conn_shutdown(km__h2_conn *c)
{
    km__h2_lock(c);
    if (!c->err && !c->draining) {
        c->notify = true;
        goaway(c);
    }
    km__h2_unlock(c);
}

/* These two only look: they unlock without running hooks, so that the
 * pool may call them holding its own lock (which the hook takes). */
int km__h2_conn_usable(km__h2_conn *c)
{
    km__h2_lock(c);
    int rc = c->err ? c->err : (c->goaway || c->draining || c->exhausted) ? -EAGAIN : 0;
    km_mutex_unlock(c->mu);
    return rc;
}

void km__h2_conn_load(km__h2_conn *c, int *active, int *limit)
{
    km__h2_lock(c);
    uint32_t lim = nghttp2_session_get_remote_settings(c->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    *active = c->active;
    *limit = lim > INT32_MAX ? INT32_MAX : (int)lim;
    km_mutex_unlock(c->mu);
}
