/* SPDX-License-Identifier: MIT */
/* HTTP/2 streams: open or answer, write through a bounded buffer, read with flow control, reset, release. */
#include <string.h>
#include "h2-int.h"
#include "rt/alloc.h"

#define CACHE_MAX  32            /* released streams a connection keeps */
#define KEEP_BYTES 4096          /* the buffers a kept stream may keep */

km__h2_stream *km__h2_stream_new(km__h2_conn *c)
{
    km__h2_stream *st = c->cache;
    if (st) {
        c->cache = st->next;
        c->ncache--;
        st->next = NULL;
        return st;
    }
    st = km__calloc(1, c->cfg.stream_size);
    if (!st)
        return NULL;
    if (km_cond_new(&st->cv)) {
        km__free(st);
        return NULL;
    }
    st->c = c;
    return st;
}

static void stream_free(km__h2_stream *st)
{
    const km__h2_hooks *h = &st->c->cfg.hooks;
    if (h->stream_gone)
        h->stream_gone(st, h->ud);
    km__h2_hblock_free(&st->head);
    km__h2_hblock_free(&st->trail);
    km__h2_ring_free(&st->in);
    km__h2_ring_free(&st->out);
    km__free(st->tr);
    km_cond_free(st->cv);
    km__free(st);
}

/* A released stream is kept for the next one: a stream, its condition
 * variable and its buffers are five allocations, and a unary call is one
 * stream. Only small buffers stay with it. */
static void stream_recycle(km__h2_stream *st)
{
    km__h2_conn *c = st->c;
    /* A server keeps as many as its clients may have open at once: what
     * one of its connections held at its busiest, no more. */
    int max = c->cfg.role == KM__H2_SERVER ? (int)c->cfg.max_concurrent : CACHE_MAX;
    if (c->ncache >= max) {
        stream_free(st);
        return;
    }
    km_cond *cv = st->cv;
    km__h2_hblock hb[2] = { st->head, st->trail };
    km__h2_ring rg[2] = { st->in, st->out };
    km__free(st->tr);
    for (int i = 0; i < 2; i++) {
        if (hb[i].cap > KEEP_BYTES || hb[i].fcap > 64)
            km__h2_hblock_free(&hb[i]);
        else
            km__h2_hblock_reset(&hb[i]);
        if (rg[i].cap > KEEP_BYTES)
            km__h2_ring_free(&rg[i]);
        rg[i].head = rg[i].len = 0;
    }
    /* A layer above with fields of its own (stream_gone set) resets them
     * itself and keeps what they hold; otherwise they start from zero. */
    memset(st, 0, c->cfg.hooks.stream_gone ? sizeof *st : c->cfg.stream_size);
    st->c = c;
    st->cv = cv;
    st->head = hb[0];
    st->trail = hb[1];
    st->in = rg[0];
    st->out = rg[1];
    st->next = c->cache;
    c->cache = st;
    c->ncache++;
}

void km__h2_stream_cache_free(km__h2_conn *c)
{
    while (c->cache) {
        km__h2_stream *st = c->cache;
        c->cache = st->next;
        stream_free(st);
    }
    c->ncache = 0;
}

void km__h2_stream_link(km__h2_stream *st)
{
    km__h2_conn *c = st->c;
    c->nstreams++;
    st->prev = NULL;
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
}

void km__h2_stream_unref(km__h2_stream *st)
{
    if (--st->refs > 0)
        return;
    km__h2_conn *c = st->c;
    if (st->prev) st->prev->next = st->next;
    else c->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    if (!c->streams)
        c->idle_since = km_now();
    stream_recycle(st);
}

int km__h2_rst_err(uint32_t code)
{
    switch (code) {
    case NGHTTP2_REFUSED_STREAM: return -EAGAIN;        /* not processed: retry */
    case NGHTTP2_PROTOCOL_ERROR: return -EPROTO;
    default:                     return -ECONNRESET;
    }
}

void km__h2_stream_detach(km__h2_stream *st, uint32_t code)
{
    km__h2_conn *c = st->c;
    st->closed = true;
    if (c->last_st == st)
        c->last_id = 0;
    /* Closed before END_STREAM came, or (a server) before ours went:
     * reset (NO_ERROR included). */
    if (!st->err && (!st->in_end || (c->cfg.role == KM__H2_SERVER && !st->end_sent)))
        st->err = km__h2_rst_err(code);
    if (!st->rst_code)
        st->rst_code = code;
    if (st->counted) {
        st->counted = false;
        c->active--;
        km_cond_signal(c->slot_cv);
        c->notify = true;
    }
    /* Reset (or cut off) while its handler works on it: the handler stops. */
    if (st->grp && st->err)
        km_group_cancel(st->grp);
    km__h2_wake(st);
    if (st->in_session) {
        st->in_session = false;
        c->nstreams--;
        km__h2_stream_unref(st);
    }
}

static void reset_locked(km__h2_stream *st, uint32_t code, int err)
{
    km__h2_conn *c = st->c;
    if (!st->err)
        st->err = err;
    if (st->in_session && !st->closed && !c->err && !st->rst_code) {
        st->rst_code = code;
        int rv = nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, st->id, code);
        if (nghttp2_is_fatal(rv))
            km__h2_fail(c, -ENOMEM);
        else
            km__h2_kick(c);
    }
    km__h2_wake(st);
}

/* Waits on st's condition. A cancelled group resets a client's stream:
 * its caller gave up on it. A server's is left as it is: the goroutine
 * that stopped waiting may be one its handler cancelled (a reader of a
 * bidi stream) while the handler goes on to end the answer with a status
 * of its own; the handler's return decides (release_locked). */
static int wait_locked(km__h2_stream *st, int64_t deadline)
{
    st->nwait++;
    int rc = km_cond_wait_dl(st->cv, st->c->mu, deadline);
    st->nwait--;
    if (rc == -ECANCELED && st->c->cfg.role != KM__H2_SERVER)
        reset_locked(st, NGHTTP2_CANCEL, -ECANCELED);
    return rc;
}

ssize_t km__h2_data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    km__h2_stream *st = src->ptr;
    if (st->err) {
        /* Being reset: its RST_STREAM is queued and closes it. */
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = km__h2_ring_get(&st->out, buf, len);
    if (n)
        km__h2_wake(st);            /* room for a blocked writer */
    if (!st->out.len && st->out_end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (st->tr) {
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            int rv = nghttp2_submit_trailer(s, id, st->tr, st->ntr);
            km__free(st->tr);
            st->tr = NULL;
            if (rv)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        return (ssize_t)n;
    }
    if (!n) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

int km__h2_open(km__h2_conn *c, const nghttp2_nv *nv, size_t n, bool end,
                int64_t deadline, km__h2_stream **out)
{
    km__h2_stream *st = NULL;
    int rc;
    km__h2_lock(c);
    for (;;) {
        rc = c->err ? c->err : (c->goaway || c->draining || c->exhausted) ? -EAGAIN : 0;
        if (rc)
            goto fail;
        uint32_t lim = nghttp2_session_get_remote_settings(c->s,
                                                           NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
        if ((uint32_t)c->active < lim)
            break;
        if ((rc = km_cond_wait_dl(c->slot_cv, c->mu, deadline)))
            goto fail;
    }
    if (!(st = km__h2_stream_new(c))) {
        rc = -ENOMEM;
        goto fail;
    }
    nghttp2_data_provider prd = { .source.ptr = st, .read_callback = km__h2_data_read };
    int32_t id = nghttp2_submit_request(c->s, NULL, nv, n, end ? NULL : &prd, st);
    if (id < 0) {
        if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
            c->exhausted = true;
            c->notify = true;
            rc = -EAGAIN;
        } else {
            rc = id == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EINVAL;
        }
        goto fail;
    }
    st->id = id;
    st->has_body = !end;
    st->out_end = end;
    st->counted = true;
    c->active++;
    st->in_session = st->user = true;
    st->refs = 2;
    km__h2_stream_link(st);
    km__h2_conn_ref(c);
    km__h2_kick(c);
    km__h2_unlock(c);
    *out = st;
    return 0;
fail:
    if (st)
        stream_recycle(st);
    km__h2_unlock(c);
    return rc;
}

/* A server stream's handler started (or it never will). The writer, held
 * until every handler its input started has run, goes on after the last.
 * Lock held. */
static void started(km__h2_stream *st)
{
    km__h2_conn *c = st->c;
    if (st->unstarted) {
        st->unstarted = false;
        if (--c->unstarted == 0 && c->writer_held)
            km_cond_signal(c->wcv);
    }
}

int km__h2_respond(km__h2_stream *st, const nghttp2_nv *nv, size_t n, bool end)
{
    km__h2_conn *c = st->c;
    km__h2_lock(c);
    int rc = st->has_body || st->out_end ? -EALREADY
             : st->err ? st->err : c->err ? c->err : st->closed ? -EPIPE : 0;
    if (!rc) {
        nghttp2_data_provider prd = { .source.ptr = st, .read_callback = km__h2_data_read };
        int rv = nghttp2_submit_response(c->s, st->id, nv, n, end ? NULL : &prd);
        if (rv) {
            rc = rv == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EINVAL;
        } else {
            st->has_body = !end;
            st->out_end = end;
            km__h2_kick(c);
        }
    }
    km__h2_unlock(c);
    return rc;
}

static nghttp2_nv *nv_copy(const nghttp2_nv *nv, size_t n);

int km__h2_respond_body(km__h2_stream *st, const nghttp2_nv *nv, size_t n,
                        const void *body, size_t len, const nghttp2_nv *tr, size_t ntr)
{
    km__h2_conn *c = st->c;
    if (!len || len > c->cfg.send_buffer)
        return -EINVAL;
    nghttp2_nv *trc = NULL;
    if (ntr && !(trc = nv_copy(tr, ntr)))
        return -ENOMEM;
    km__h2_lock(c);
    int rc = st->has_body || st->out_end ? -EALREADY :
             st->err ? st->err : c->err ? c->err : st->closed ? -EPIPE : 0;
    if (!rc)
        rc = km__h2_ring_put(&st->out, body, len, c->cfg.send_buffer);
    if (!rc) {
        nghttp2_data_provider prd = { .source.ptr = st, .read_callback = km__h2_data_read };
        int rv = nghttp2_submit_response(c->s, st->id, nv, n, &prd);
        if (rv) {
            rc = rv == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EINVAL;
            st->out.head = st->out.len = 0;
        } else {
            st->has_body = st->out_end = true;
            if (trc) {
                st->tr = trc;       /* sent by the data source after the body */
                st->ntr = ntr;
                trc = NULL;
            }
            km__h2_kick(c);
        }
    }
    km__h2_unlock(c);
    km__free(trc);
    return rc;
}

/* Why st can take no more body, or 0. */
static int write_err(km__h2_stream *st)
{
    if (st->err)
        return st->err;
    if (st->c->err)
        return st->c->err;
    return !st->has_body || st->out_end || st->closed ? -EPIPE : 0;
}

/* The data source said "nothing yet"; now there is. */
static void resume(km__h2_stream *st)
{
    km__h2_conn *c = st->c;
    if (st->deferred) {
        st->deferred = false;
        int rv = nghttp2_session_resume_data(c->s, st->id);
        if (nghttp2_is_fatal(rv))
            km__h2_fail(c, -ENOMEM);
    }
    km__h2_kick(c);
}

int km__h2_write(km__h2_stream *st, const void *p, size_t n, bool end, int64_t deadline)
{
    km__h2_conn *c = st->c;
    const char *q = p;
    int rc;
    km__h2_lock(c);
    for (;;) {
        if ((rc = write_err(st)))
            break;
        size_t room = c->cfg.send_buffer - st->out.len;
        size_t k = n < room ? n : room;
        if (k && (rc = km__h2_ring_put(&st->out, q, k, c->cfg.send_buffer)))
            break;
        q += k;
        n -= k;
        if (!n && end)
            st->out_end = true;
        if (k || st->out_end)
            resume(st);
        if (!n)
            break;
        /* The buffer is full: the peer's window, or the socket, holds it
         * up; the data source wakes us as it drains. */
        if ((rc = wait_locked(st, deadline))) {
            reset_locked(st, NGHTTP2_CANCEL, rc);
            break;
        }
    }
    km__h2_unlock(c);
    return rc;
}

/* One allocation holding a copy of nv and its strings. */
static nghttp2_nv *nv_copy(const nghttp2_nv *nv, size_t n)
{
    size_t bytes = n * sizeof *nv;
    for (size_t i = 0; i < n; i++)
        bytes += nv[i].namelen + nv[i].valuelen;
    nghttp2_nv *out = km__malloc(bytes ? bytes : 1);
    if (!out)
        return NULL;
    uint8_t *s = (uint8_t *)(out + n);
    for (size_t i = 0; i < n; i++) {
        out[i] = (nghttp2_nv){ s, s + nv[i].namelen, nv[i].namelen, nv[i].valuelen,
                               NGHTTP2_NV_FLAG_NONE };
        memcpy(s, nv[i].name, nv[i].namelen);
        s += nv[i].namelen;
        memcpy(s, nv[i].value, nv[i].valuelen);
        s += nv[i].valuelen;
    }
    return out;
}

int km__h2_write_trailers(km__h2_stream *st, const nghttp2_nv *nv, size_t n)
{
    km__h2_conn *c = st->c;
    nghttp2_nv *tr = nv_copy(nv, n);
    if (!tr)
        return -ENOMEM;
    km__h2_lock(c);
    int rc = write_err(st);
    if (!rc) {
        st->tr = tr;
        st->ntr = n;
        tr = NULL;
        st->out_end = true;
        resume(st);
    }
    km__h2_unlock(c);
    km__free(tr);
    return rc;
}

int km__h2_wait_head(km__h2_stream *st, int64_t deadline)
{
    km__h2_conn *c = st->c;
    int rc;
    km__h2_lock(c);
    for (;;) {
        if ((rc = st->err) || st->head_done)
            break;
        if ((rc = wait_locked(st, deadline)))
            break;
    }
    km__h2_unlock(c);
    return rc;
}

ssize_t km__h2_read(km__h2_stream *st, void *buf, size_t n, int64_t deadline)
{
    km__h2_conn *c = st->c;
    ssize_t rc;
    km__h2_lock(c);
    for (;;) {
        if (st->err) {
            rc = st->err;
            break;
        }
        if (st->in.len) {
            size_t k = km__h2_ring_get(&st->in, buf, n);
            /* Only now does the peer get this window back (nghttp2 sends
             * WINDOW_UPDATE once half of it is consumed). */
            if (!st->closed && !c->err) {
                int rv = nghttp2_session_consume_stream(c->s, st->id, k);
                if (nghttp2_is_fatal(rv))
                    km__h2_fail(c, -ENOMEM);
                km__h2_kick(c);
            }
            rc = (ssize_t)k;
            break;
        }
        if (st->in_end) {
            rc = 0;
            break;
        }
        if (st->drain_wake && c->drain_notice) {
            rc = -ESHUTDOWN;
            break;
        }
        if ((rc = wait_locked(st, deadline)))
            break;
    }
    km__h2_unlock(c);
    return rc;
}

void km__h2_stream_drain_wake(km__h2_stream *st)
{
    km__h2_lock(st->c);
    st->drain_wake = true;
    km__h2_unlock(st->c);
}

void km__h2_conn_drain_notice(km__h2_conn *c)
{
    km__h2_lock(c);
    if (!c->drain_notice) {
        c->drain_notice = true;
        for (km__h2_stream *st = c->streams; st; st = st->next)
            if (st->drain_wake)
                km__h2_wake(st);
        /* The PING goes behind the notice: once its ACK is back, every
         * stream the client opened before it saw the notice has come in. */
        if (!c->err && nghttp2_submit_shutdown_notice(c->s) == 0 &&
            nghttp2_submit_ping(c->s, NGHTTP2_FLAG_NONE, (const uint8_t *)KM__H2_DRAIN_PING) == 0)
            c->drain_pinged = true;
        km__h2_kick(c);
    }
    km__h2_unlock(c);
}

bool km__h2_conn_drain_acked(km__h2_conn *c)
{
    km__h2_lock(c);
    bool acked = c->drain_acked;
    km__h2_unlock(c);
    return acked;
}

bool km__h2_stream_set_group(km__h2_stream *st, km_group *grp)
{
    km__h2_lock(st->c);
    started(st);
    st->grp = grp;
    /* Gone already: its handler should not even start. */
    if (grp && (st->err || st->c->err))
        km_group_cancel(grp);
    /* The whole request came with its head: no body, not even one that
     * arrived before the handler started (its length stays as said). */
    bool ended = st->in_end && st->in.len == 0;
    km__h2_unlock(st->c);
    return ended;
}

/* Can what st has queued go out without waiting for a window (lock held)? */
static bool fits_window(km__h2_stream *st)
{
    nghttp2_session *s = st->c->s;
    int32_t sw = nghttp2_session_get_stream_remote_window_size(s, st->id);
    int32_t cw = nghttp2_session_get_remote_window_size(s);
    return sw >= 0 && cw >= 0 && st->out.len <= (size_t)sw && st->out.len <= (size_t)cw;
}

/* km__h2_drain's work (lock held); the deadline is read only if it must
 * wait (timeout ns from then; deadline, if not 0, overrides it). */
static int drain_locked(km__h2_stream *st, int64_t deadline, int64_t timeout)
{
    km__h2_conn *c = st->c;
    int rc;
    for (;;) {
        if ((rc = st->err) || st->end_sent)
            break;
        /* Most answers fit: they go out as the writer gets to them, and
         * nothing need wait here. */
        if (!st->closed && !c->err && st->out_end && fits_window(st))
            break;
        if (st->closed || c->err) {
            rc = c->err ? c->err : -EPIPE;
            break;
        }
        if (!deadline)
            deadline = km_now() + timeout;
        if ((rc = wait_locked(st, deadline))) {
            reset_locked(st, NGHTTP2_CANCEL, rc);
            break;
        }
    }
    return rc;
}

int km__h2_drain(km__h2_stream *st, int64_t deadline)
{
    km__h2_lock(st->c);
    int rc = drain_locked(st, deadline, 0);
    km__h2_unlock(st->c);
    return rc;
}

void km__h2_reset(km__h2_stream *st, uint32_t code, int err)
{
    km__h2_conn *c = st->c;
    km__h2_lock(c);
    reset_locked(st, code, err);
    km__h2_unlock(c);
}

/* km__h2_stream_release's work, lock held. */
static void release_locked(km__h2_stream *st)
{
    km__h2_conn *c = st->c;
    st->grp = NULL;
    started(st);
    /* Finished both ways (all input came, the output is ended): let the
     * session send what is queued and close it. A server that answered
     * without reading the whole request tells the client to stop sending
     * (RST_STREAM NO_ERROR, RFC 9113 §8.1) once the answer is out.
     * Otherwise cancel. */
    if (st->in_end && st->out_end) {
        /* done */
    } else if (c->cfg.role == KM__H2_SERVER && st->out_end && !st->err) {
        if (st->end_sent)
            reset_locked(st, NGHTTP2_NO_ERROR, -EPIPE);
        else
            st->rst_after_end = true;
    } else {
        reset_locked(st, NGHTTP2_CANCEL, -ECANCELED);
    }
    st->user = false;
    km__h2_stream_unref(st);
}

void km__h2_stream_release(km__h2_stream *st)
{
    if (!st)
        return;
    km__h2_conn *c = st->c;
    km__h2_lock(c);
    release_locked(st);
    km__h2_unlock(c);
    km__h2_conn_release(c);
}

int km__h2_stream_finish(km__h2_stream *st, int64_t timeout)
{
    km__h2_conn *c = st->c;
    km__h2_lock(c);
    int rc = drain_locked(st, 0, timeout);
    release_locked(st);
    km__h2_unlock(c);
    km__h2_conn_release(c);
    return rc;
}
