/* SPDX-License-Identifier: MIT */
/* nghttp2's callbacks: what arrives lands in the streams' buffers and wakes their waiters (session lock held). */
#include <string.h>
#include "h2-int.h"

/* The stream of an id: the last one asked for is remembered, since a
 * request's head asks once per field (nghttp2's map is a hash lookup);
 * km__h2_stream_detach forgets it. */
static km__h2_stream *stream_of(km__h2_conn *c, int32_t id)
{
    nghttp2_session *s = c->s;
    if (id <= 0)
        return NULL;
    if (id != c->last_id) {
        c->last_st = nghttp2_session_get_stream_user_data(s, id);
        c->last_id = c->last_st ? id : 0;
    }
    return c->last_st;
}

/* Server role: a peer opens a stream. Its object exists from the first
 * header on, so that the header callback has somewhere to put them. */
static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    km__h2_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST ||
        c->cfg.role != KM__H2_SERVER)
        return 0;
    km__h2_stream *st = km__h2_stream_new(c);
    if (!st)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* refused: RST_STREAM */
    st->id = f->hd.stream_id;
    st->in_session = true;
    st->refs = 1;
    km__h2_stream_link(st);
    if (nghttp2_session_set_stream_user_data(s, st->id, st)) {
        km__h2_stream_detach(st, NGHTTP2_INTERNAL_ERROR);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    km__h2_conn *c = ud;
    km__h2_stream *st = stream_of(c, f->hd.stream_id);
    if (f->hd.type != NGHTTP2_HEADERS || !st || st->err)
        return 0;
    km__h2_hblock *b = st->head_done ? &st->trail : &st->head;
    /* An interim (1xx) response is dropped once complete; the final one follows. */
    if (!st->head_done && c->cfg.role == KM__H2_CLIENT && nl == 7 &&
        !memcmp(name, ":status", 7) && vl == 3 && value[0] == '1')
        st->head_1xx = true;
    int rc = km__h2_hblock_add(b, name, nl, value, vl, c->cfg.max_header_bytes);
    if (rc) {
        /* Too large (or no memory): the stream fails and is reset; the
         * connection lives on, since the block is still decoded (HPACK's
         * state is shared), only not kept. */
        st->err = rc;
        km__h2_wake(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

/* Accounts a received frame against the server's flood limits; a
 * flood ends the session (GOAWAY ENHANCE_YOUR_CALM). */
static int flood_check(nghttp2_session *s, km__h2_conn *c, const nghttp2_frame *f)
{
    if (c->cfg.role != KM__H2_SERVER || c->flooded || km__h2_flood_frame(c, f))
        return 0;
    c->flooded = true;
    return nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM)
           ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

/* Every frame received, before nghttp2 acts on it (a flood is stopped
 * before its ACKs are queued). DATA waits until it is whole: only then
 * is its padding known, and a frame of padding alone is empty too. */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *ud)
{
    if (hd->type == NGHTTP2_DATA)
        return 0;
    nghttp2_frame f = { .hd = *hd };
    return flood_check(s, ud, &f);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    km__h2_conn *c = ud;
    km__h2_stream *st;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (!(st = stream_of(c, f->hd.stream_id)))
            break;
        if (st->head_done) {
            st->trail_done = true;
        } else if (st->head_1xx) {
            km__h2_hblock_reset(&st->head);
            st->head_1xx = false;
        } else {
            st->head_done = true;
            if (f->headers.cat == NGHTTP2_HCAT_REQUEST && c->cfg.role == KM__H2_SERVER) {
                /* Handed to hooks.stream_new once the lock is released,
                 * with a reference (and its hold on the connection). */
                st->user = true;
                st->refs++;
                km__h2_conn_ref(c);
                st->fresh_next = c->fresh;
                c->fresh = st;
                if (c->cfg.batch_answers) {
                    st->unstarted = true;
                    c->unstarted++;
                }
            }
        }
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
            st->in_end = true;
        km__h2_wake(st);
        break;
    case NGHTTP2_DATA:
        if (flood_check(s, c, f))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        if ((st = stream_of(c, f->hd.stream_id)) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            st->in_end = true;
            km__h2_wake(st);
        }
        break;
    case NGHTTP2_RST_STREAM:
        if ((st = stream_of(c, f->hd.stream_id)))
            st->rst_code = f->rst_stream.error_code;
        break;
    case NGHTTP2_SETTINGS:
        /* The peer's concurrency limit may have risen. */
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) {
            c->settings = true;
            km_cond_broadcast(c->slot_cv);
            c->notify = true;
        }
        break;
    case NGHTTP2_GOAWAY:
        /* nghttp2 closes the streams above last_stream_id (REFUSED_STREAM:
         * -EAGAIN, safe to retry); the others run to their end. */
        c->goaway = true;
        c->goaway_code = f->goaway.error_code;
        km_cond_broadcast(c->slot_cv);
        c->notify = true;
        break;
    case NGHTTP2_PING:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
            break;
        if (c->drain_pinged &&
            !memcmp(f->ping.opaque_data, KM__H2_DRAIN_PING, sizeof f->ping.opaque_data))
            c->drain_acked = true;
        else
            c->ping_sent = 0;
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *ud)
{
    km__h2_conn *c = ud;
    /* The connection's window is given back at once: what a stream holds
     * is bounded by its own window, and an unread stream must not stall
     * the others. The stream's window waits for its reader (km__h2_read). */
    int rv = nghttp2_session_consume_connection(s, len);
    if (nghttp2_is_fatal(rv))
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    km__h2_stream *st = stream_of(c, id);
    if (!st || st->err) {
        rv = nghttp2_session_consume_stream(s, id, len);
        return nghttp2_is_fatal(rv) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }
    /* Until the peer has our SETTINGS it may use the default window. */
    size_t max = c->cfg.stream_window > 65535 ? c->cfg.stream_window : 65535;
    int rc = km__h2_ring_put(&st->in, data, len, max);
    if (rc) {
        /* -ENOBUFS cannot happen while nghttp2 enforces the window. */
        st->err = rc == -ENOMEM ? -ENOMEM : -EPROTO;
        km__h2_wake(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    km__h2_wake(st);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    km__h2_conn *c = ud;
    km__h2_stream *st = stream_of(c, id);
    if (st)
        km__h2_stream_detach(st, code);
    return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int lib_err, void *ud)
{
    km__h2_conn *c = ud;
    km__h2_stream *st = stream_of(c, f->hd.stream_id);
    /* A header block too large to send; nghttp2 closes the stream next
     * (on_stream_close), which would otherwise say "refused". */
    if (f->hd.type == NGHTTP2_HEADERS && st && !st->err && lib_err == NGHTTP2_ERR_FRAME_SIZE_ERROR)
        st->err = -EMSGSIZE;
    return 0;
}

static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *f, int lib_err, void *ud)
{
    km__h2_conn *c = ud;
    km__h2_stream *st = stream_of(c, f->hd.stream_id);
    if (st && !st->err) {
        st->err = -EPROTO;
        km__h2_wake(st);
    }
    return 0;
}

/* A GOAWAY with an error code is nghttp2 ending the session over the
 * peer's protocol error: what is left of it fails with -EPROTO. */
static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    km__h2_conn *c = ud;
    km__h2_stream *st;
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR)
        c->proto_err = true;
    if (f->hd.type == NGHTTP2_DATA && c->cfg.role == KM__H2_SERVER)
        km__h2_flood_earn(c);
    if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) && (st = stream_of(c, f->hd.stream_id))) {
        st->end_sent = true;
        km_cond_broadcast(st->cv);
        /* The answer is out; the rest of the request is not wanted. */
        if (st->rst_after_end && !st->closed && !st->rst_code) {
            st->rst_code = NGHTTP2_NO_ERROR;
            if (nghttp2_is_fatal(nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id,
                                                           NGHTTP2_NO_ERROR)))
                return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    }
    return 0;
}

/* The peer's first bytes were no SETTINGS frame: it does not speak HTTP/2
 * (an HTTP/1.x server answering the preface, most likely). Noted at once:
 * such a peer closes before nghttp2's GOAWAY goes out, and the connection
 * must then fail as a protocol error, not as a dropped one. */
static int on_error(nghttp2_session *s, int code, const char *msg, size_t len, void *ud)
{
    if (code == NGHTTP2_ERR_SETTINGS_EXPECTED)
        ((km__h2_conn *)ud)->proto_err = true;
    return 0;
}

void km__h2_callbacks(nghttp2_session_callbacks *cb)
{
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
}
