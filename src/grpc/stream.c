/* SPDX-License-Identifier: MIT */
/* Client calls: one HTTP/2 stream each; messages both ways, the response head and trailers, the final status. */
#include <stdio.h>
#include <string.h>
#include "grpc/grpc-int.h"
#include "grpc/pb-int.h"
#include "rt/alloc.h"

/* ---- the end of a call ---- */

/* Records how the call ended, the first time (lock held). msg: len
 * bytes, decoded; copied. */
static void end_locked(km_grpc_stream *st, int err, int code, const char *msg, size_t len)
{
    if (st->ended)
        return;
    st->ended = true;
    st->err = err;
    st->code = code;
    if (len && (st->msg = km__malloc(len))) {
        memcpy(st->msg, msg, len);
        st->msg_len = len;
    }
}

static int end(km_grpc_stream *st, int err, int code, const char *msg)
{
    km_mutex_lock(st->mu);
    end_locked(st, err, code, msg, msg ? strlen(msg) : 0);
    err = st->err;
    km_mutex_unlock(st->mu);
    return err;
}

void km__grpc_stream_mark(km_grpc_stream *st, int code, const char *msg)
{
    km_mutex_lock(st->mu);
    km__free(st->msg);
    st->msg = NULL;
    st->msg_len = 0;
    st->ended = false;
    end_locked(st, -EPROTO, code, msg, strlen(msg));
    km_mutex_unlock(st->mu);
}

/* What an ended call's operations return: 0 for OK, -EREMOTEIO for
 * another status the server sent, the local error otherwise. */
static int ended_rc(km_grpc_stream *st)
{
    km_mutex_lock(st->mu);
    int rc = st->ended ? st->err : 1;
    km_mutex_unlock(st->mu);
    return rc;
}

static bool past(int64_t dl)
{
    return dl != KM_FOREVER && km_now() >= dl;
}

/* An operation's own deadline, bounded by the call's. */
static int64_t op_deadline(const km_grpc_stream *st, int64_t dl)
{
    if (st->deadline == KM_FOREVER)
        return dl;
    return dl == KM_FOREVER || dl > st->deadline ? st->deadline : dl;
}

/* A transport error ends the call with the status grpc-go gives it; the
 * stream is reset unless the error did that already. Returns the error
 * the operation reports. */
static int fail(km_grpc_stream *st, int rc)
{
    int code;
    const char *msg;
    bool cancelled;
    km_mutex_lock(st->mu);
    cancelled = st->cancelled;
    km_mutex_unlock(st->mu);
    if (cancelled || rc == -ECANCELED) {
        rc = -ECANCELED;
        code = KM_GRPC_CANCELLED;
        msg = "context canceled";
    } else if (rc == -ETIMEDOUT && past(st->deadline)) {
        code = KM_GRPC_DEADLINE_EXCEEDED;
        msg = "context deadline exceeded";
    } else if (rc == -ECONNRESET || rc == -EPROTO) {
        uint32_t rst = st->h2 ? km_http2_stream_reset_code(st->h2) : 0;
        code = rst || rc == -EPROTO ? km__grpc_rst_code(rst) : KM_GRPC_UNAVAILABLE;
        msg = rst ? "stream reset by the server"
              : rc == -EPROTO ? "HTTP/2 protocol error" : "connection closed";
    } else if (rc == -ENOMEM) {
        code = KM_GRPC_RESOURCE_EXHAUSTED;
        msg = "out of memory";
    } else if (rc == -EMSGSIZE) {
        code = KM_GRPC_INTERNAL;
        msg = "header list too large";
    } else {
        /* dial errors, refused streams, a dead connection */
        code = KM_GRPC_UNAVAILABLE;
        msg = km_strerror(rc);
    }
    if (st->h2)
        km_http2_stream_cancel(st->h2);
    return end(st, rc, code, msg);
}

/* The call's deadline passed: reset, DEADLINE_EXCEEDED. */
static int expired(km_grpc_stream *st)
{
    if (st->h2)
        km_http2_stream_cancel(st->h2);
    return end(st, -ETIMEDOUT, KM_GRPC_DEADLINE_EXCEEDED, "context deadline exceeded");
}

/* A protocol violation of the server's: reset, code and message. */
static int broken(km_grpc_stream *st, int err, int code, const char *msg)
{
    if (st->h2)
        km_http2_stream_cancel(st->h2);
    return end(st, err, code, msg);
}

/* ---- opening ---- */

/* Request fields beyond the metadata: :method :path content-type te
 * user-agent grpc-timeout. */
#define FIXED 6

int km_grpc_stream_open(km_grpc_channel *ch, const char *method, const km_grpc_md *md,
                        size_t nmd, int64_t deadline, km_grpc_stream **out)
{
    if (out)
        *out = NULL;    /* a caller may look at it after any error */
    if (!ch || !method || method[0] != '/' || !method[1] || !out || (nmd && !md))
        return -EINVAL;
    /* The metadata, checked and encoded, into one block of strings. */
    size_t bytes = 0;
    for (size_t i = 0; i < nmd; i++) {
        if (!km__grpc_md_key_ok(md[i].key.p, md[i].key.n))
            return -EINVAL;
        size_t vl = md[i].value.n;
        bytes += md[i].key.n + 1 + (km__grpc_md_key_bin(md[i].key.p, md[i].key.n)
                                     ? km__grpc_b64_len(vl) : vl) + 1;
    }
    km_http_kv kv_stack[FIXED + 16];
    km_http_kv *kv = kv_stack;
    char *strs = NULL;
    if (nmd > 16 && !(kv = km__malloc((FIXED + nmd) * sizeof *kv)))
        return -ENOMEM;
    int rc = 0;
    if (bytes && !(strs = km__malloc(bytes)))
        rc = -ENOMEM;
    size_t n = 0;
    kv[n++] = (km_http_kv){ ":method", "POST" };
    kv[n++] = (km_http_kv){ ":path", method };
    kv[n++] = (km_http_kv){ "content-type", "application/grpc" };
    kv[n++] = (km_http_kv){ "te", "trailers" };
    kv[n++] = (km_http_kv){ "user-agent", ch->user_agent };
    char *s = strs;
    for (size_t i = 0; !rc && i < nmd; i++) {
        char *key = s, *val;
        memcpy(key, md[i].key.p, md[i].key.n);
        key[md[i].key.n] = 0;
        s += md[i].key.n + 1;
        size_t room = bytes - (size_t)(s - strs);
        if ((rc = km__grpc_md_field(md[i].key, md[i].value.p, md[i].value.n, s, room, &val)))
            break;
        s += strlen(val) + 1;
        kv[FIXED + i] = (km_http_kv){ key, val };
    }
    km_grpc_stream *st = NULL;
    if (!rc && !(st = km__calloc(1, sizeof *st)))
        rc = -ENOMEM;
    if (!rc && km_mutex_new(&st->mu)) {
        km__free(st);
        st = NULL;
        rc = -ENOMEM;
    }
    if (rc)
        goto out;
    st->ch = ch;
    st->deadline = deadline;
    st->code = -1;
    km__grpc_rd_init(&st->rd, st->lent, sizeof st->lent, ch->max_recv);
    *out = st;
    char tmo[KM__GRPC_TIMEOUT_MAX];
    if (deadline != KM_FOREVER) {
        int64_t left = deadline - km_now();
        if (left <= 0) {
            /* Already past: grpc-go fails such a call without sending it. */
            rc = expired(st);
            goto out;
        }
        km__grpc_timeout_format(left, tmo);
        kv[n++] = (km_http_kv){ "grpc-timeout", tmo };
    }
    /* The metadata follows the fixed fields (the slot left for
     * grpc-timeout may be empty). */
    if (n < FIXED)
        memmove(kv + n, kv + FIXED, nmd * sizeof *kv);
    rc = km_http2_stream_open(ch->h2, kv, n + nmd, false, deadline, &st->h2);
    if (rc) {
        st->h2 = NULL;
        rc = rc == -EINVAL ? end(st, -EINVAL, KM_GRPC_INTERNAL, "invalid request header")
                           : fail(st, rc);
    }
out:
    km__free(strs);
    if (kv != kv_stack)
        km__free(kv);
    return rc;
}

/* ---- sending ---- */

static int send_bytes(km_grpc_stream *st, const void *prefix, const void *msg, size_t n,
                      bool end_, int64_t deadline)
{
    int rc = ended_rc(st);
    if (rc != 1)
        return rc ? rc : -EPIPE;
    if (st->sent_last)
        return -EPIPE;
    if (past(st->deadline))
        return expired(st);
    int64_t dl = op_deadline(st, deadline);
    rc = km_http2_stream_write(st->h2, prefix, prefix ? KM__GRPC_PREFIX : 0, !msg && end_, dl);
    if (!rc && msg)
        rc = km_http2_stream_write(st->h2, msg, n, end_, dl);
    if (!rc) {
        st->sent_last = end_;
        return 0;
    }
    /* The server has ended its side (its status is on the way, for recv
     * to read): nothing more goes, and the call has not failed. */
    if (rc == -EPIPE)
        return -EPIPE;
    /* A blocked write that timed out has reset the stream, with part of
     * the message maybe sent: the call is over. */
    if (rc == -ETIMEDOUT)
        return past(st->deadline) ? expired(st)
               : broken(st, -ETIMEDOUT, KM_GRPC_DEADLINE_EXCEEDED, "send deadline exceeded");
    return fail(st, rc);
}

int km_grpc_stream_send(km_grpc_stream *st, const void *msg, size_t n, bool end_,
                        int64_t deadline)
{
    if (!st || (n && !msg))
        return -EINVAL;
    if (n > st->ch->max_send)
        return -EMSGSIZE;
    if (n <= KM__GRPC_SMALL) {
        /* Prefix and message in one write (one DATA frame, usually). */
        char buf[KM__GRPC_PREFIX + KM__GRPC_SMALL];
        km__grpc_prefix((uint8_t *)buf, false, (uint32_t)n);
        if (n)
            memcpy(buf + KM__GRPC_PREFIX, msg, n);
        return send_bytes(st, NULL, buf, KM__GRPC_PREFIX + n, end_, deadline);
    }
    uint8_t pre[KM__GRPC_PREFIX];
    km__grpc_prefix(pre, false, (uint32_t)n);
    return send_bytes(st, pre, msg, n, end_, deadline);
}

int km_grpc_stream_send_pb(km_grpc_stream *st, const ProtobufCMessage *m, bool end_,
                           int64_t deadline)
{
    if (!st || !m)
        return -EINVAL;
    size_t n = km__grpc_pb_size(m);
    if (n > st->ch->max_send)
        return -EMSGSIZE;
    char stack[KM__GRPC_PREFIX + KM__GRPC_SMALL];
    char *buf = stack;
    if (n > KM__GRPC_SMALL) {
        if (st->scap < KM__GRPC_PREFIX + n) {
            char *nb = km__malloc(KM__GRPC_PREFIX + n);
            if (!nb)
                return -ENOMEM;
            km__free(st->sbuf);
            st->sbuf = nb;
            st->scap = KM__GRPC_PREFIX + n;
        }
        buf = st->sbuf;
    }
    km__grpc_prefix((uint8_t *)buf, false, (uint32_t)n);
    km__grpc_pb_pack(m, buf + KM__GRPC_PREFIX);
    return send_bytes(st, NULL, buf, KM__GRPC_PREFIX + n, end_, deadline);
}

int km_grpc_stream_close_send(km_grpc_stream *st, int64_t deadline)
{
    if (!st)
        return -EINVAL;
    if (st->sent_last)
        return 0;
    return send_bytes(st, NULL, NULL, 0, true, deadline);
}

/* ---- receiving ---- */

static bool starts(km_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p && s.n >= n && !memcmp(s.p, lit, n);
}

/* The status of a finished response, from its trailers (or from its one
 * head block, trailers-only). */
static int status_from(km_grpc_stream *st, km_str code, km_str msg, bool any)
{
    if (!any)
        return broken(st, -EPROTO, KM_GRPC_INTERNAL,
                      "server closed the stream without sending trailers");
    if (!code.p)
        return broken(st, -EPROTO, KM_GRPC_UNKNOWN, "missing grpc-status");
    int c = 0;
    if (!code.n || code.n > 9)
        c = -1;
    for (size_t i = 0; c >= 0 && i < code.n; i++)
        c = code.p[i] >= '0' && code.p[i] <= '9' ? c * 10 + (code.p[i] - '0') : -1;
    if (c < 0)
        return broken(st, -EPROTO, KM_GRPC_INTERNAL, "malformed grpc-status");
    char stack[256], *text = stack;
    size_t len = 0;
    if (msg.n) {
        if (msg.n > sizeof stack && !(text = km__malloc(msg.n)))
            text = NULL;
        if (text)
            len = km__grpc_pct_decode(text, msg.p, msg.n);
    }
    km_mutex_lock(st->mu);
    end_locked(st, c == KM_GRPC_OK ? 0 : -EREMOTEIO, c, text, len);
    int rc = st->err;
    km_mutex_unlock(st->mu);
    if (text != stack)
        km__free(text);
    return rc;
}

static int trailers_done(km_grpc_stream *st)
{
    if (st->trailers_only)
        return status_from(st, km_http2_stream_header(st->h2, "grpc-status"),
                           km_http2_stream_header(st->h2, "grpc-message"), true);
    return status_from(st, km_http2_stream_trailer(st->h2, "grpc-status"),
                       km_http2_stream_trailer(st->h2, "grpc-message"),
                       km_http2_stream_trailer_count(st->h2) > 0);
}

/* Waits for the response head and checks it. 0; 1 when it is the whole
 * response (trailers-only: the call has ended); the call's error. */
static int head(km_grpc_stream *st, int64_t deadline)
{
    if (st->head)
        return st->trailers_only;
    int status;
    int rc = km_http2_stream_response(st->h2, op_deadline(st, deadline), &status);
    if (rc) {
        if (rc == -ETIMEDOUT && !past(st->deadline))
            return -ETIMEDOUT;          /* this operation's own deadline */
        return rc == -ETIMEDOUT ? expired(st) : fail(st, rc);
    }
    km_str gs = km_http2_stream_header(st->h2, "grpc-status");
    if (status != 200) {
        char msg[96];
        snprintf(msg, sizeof msg, "unexpected HTTP status code received from server: %d (%s)",
                 status, km_http_reason(status));
        return broken(st, -EPROTO, km__grpc_http_code(status), msg);
    }
    /* A trailers-only answer carries the status in its one block; its
     * content type may be left out. */
    if (!gs.p && !starts(km_http2_stream_header(st->h2, "content-type"), "application/grpc"))
        return broken(st, -EPROTO, KM_GRPC_UNKNOWN, "malformed header: missing HTTP content-type");
    st->head = true;
    if (gs.p) {
        st->trailers_only = true;
        trailers_done(st);
        return 1;
    }
    return 0;
}

int km_grpc_stream_recv(km_grpc_stream *st, km_str *msg, int64_t deadline)
{
    if (!st || !msg)
        return -EINVAL;
    int rc = ended_rc(st);
    if (rc != 1)
        return rc;
    if (past(st->deadline))
        return expired(st);
    if ((rc = head(st, deadline)))
        return rc == 1 ? ended_rc(st) : rc;
    int64_t dl = op_deadline(st, deadline);
    for (;;) {
        bool comp;
        rc = km__grpc_rd_next(&st->rd, msg, &comp);
        if (rc == 1) {
            if (comp)
                return broken(st, -EBADMSG, KM_GRPC_INTERNAL,
                              "compressed message without a grpc-encoding the client accepts");
            return 1;
        }
        if (rc == -EMSGSIZE) {
            char text[96];
            snprintf(text, sizeof text, "grpc: received message larger than max (%zu bytes)",
                     st->rd.max);
            return broken(st, -EMSGSIZE, KM_GRPC_RESOURCE_EXHAUSTED, text);
        }
        if (rc < 0)
            return broken(st, rc, KM_GRPC_INTERNAL, "malformed message frame");
        if (st->eof) {
            if (km__grpc_rd_partial(&st->rd))
                return broken(st, -EBADMSG, KM_GRPC_INTERNAL, "response ended inside a message");
            return trailers_done(st);
        }
        char *p;
        size_t room;
        if ((rc = km__grpc_rd_room(&st->rd, &p, &room)))
            return fail(st, rc);
        ssize_t n = km_http2_stream_read(st->h2, p, room, dl);
        if (n > 0) {
            km__grpc_rd_fill(&st->rd, (size_t)n);
        } else if (n == 0) {
            st->eof = true;
        } else if (n == -ETIMEDOUT && !past(st->deadline)) {
            return -ETIMEDOUT;
        } else {
            return n == -ETIMEDOUT ? expired(st) : fail(st, (int)n);
        }
    }
}

int km_grpc_stream_recv_pb(km_grpc_stream *st, const ProtobufCMessageDescriptor *d,
                           ProtobufCMessage **out, int64_t deadline)
{
    if (!st || !d || !out)
        return -EINVAL;
    km_str m;
    int rc = km_grpc_stream_recv(st, &m, deadline);
    if (rc != 1)
        return rc;
    if ((rc = km__grpc_pb_unpack(d, m, out)))
        return rc == -EBADMSG ? broken(st, -EBADMSG, KM_GRPC_INTERNAL,
                                       "response message does not decode")
                              : rc;
    return 1;
}

/* After a unary call's one message, reads on to the end without moving
 * the reader's buffer (the message stays where it is): any further byte
 * is a second message, which a unary call cannot have. */
int km__grpc_stream_expect_end(km_grpc_stream *st, int64_t deadline)
{
    if (st->rd.len)
        return broken(st, -EPROTO, KM_GRPC_INTERNAL, "more than one response message");
    int64_t dl = op_deadline(st, deadline);
    while (!st->eof) {
        char scratch[64];
        ssize_t n = km_http2_stream_read(st->h2, scratch, sizeof scratch, dl);
        if (n > 0)
            return broken(st, -EPROTO, KM_GRPC_INTERNAL, "more than one response message");
        if (n == 0)
            st->eof = true;
        else
            return n == -ETIMEDOUT ? expired(st) : fail(st, (int)n);
    }
    return trailers_done(st);
}

/* ---- metadata and status ---- */

static int header_at(void *src, size_t i, km_str *name, km_str *value)
{
    return km_http2_stream_header_at(src, i, name, value);
}

static int trailer_at(void *src, size_t i, km_str *name, km_str *value)
{
    return km_http2_stream_trailer_at(src, i, name, value);
}

int km_grpc_stream_headers(km_grpc_stream *st, const km_grpc_md **md, size_t *n,
                           int64_t deadline)
{
    if (!st || !md || !n)
        return -EINVAL;
    *md = NULL;
    *n = 0;
    if (!st->head) {
        int rc = ended_rc(st);
        if (rc != 1)
            return rc;
        if ((rc = head(st, deadline)) < 0)
            return rc;
    }
    if (st->trailers_only)
        return 0;
    int rc = km__grpc_mdlist_build(&st->hmd, header_at, st->h2,
                                   km_http2_stream_header_count(st->h2));
    if (rc)
        return rc;
    *md = st->hmd.md;
    *n = st->hmd.n;
    return 0;
}

int km_grpc_stream_trailers(km_grpc_stream *st, const km_grpc_md **md, size_t *n)
{
    if (!st || !md || !n)
        return -EINVAL;
    *md = NULL;
    *n = 0;
    if (ended_rc(st) == 1)
        return -EAGAIN;
    if (!st->h2 || !st->head)
        return 0;
    int rc = st->trailers_only
        ? km__grpc_mdlist_build(&st->tmd, header_at, st->h2, km_http2_stream_header_count(st->h2))
        : km__grpc_mdlist_build(&st->tmd, trailer_at, st->h2,
                                km_http2_stream_trailer_count(st->h2));
    if (rc)
        return rc;
    *md = st->tmd.md;
    *n = st->tmd.n;
    return 0;
}

km_grpc_status km_grpc_stream_status(km_grpc_stream *st)
{
    km_grpc_status s = { -1, { NULL, 0 } };
    if (!st)
        return s;
    km_mutex_lock(st->mu);
    if (st->ended) {
        s.code = st->code;
        s.message = (km_str){ st->msg ? st->msg : "", st->msg_len };
    }
    km_mutex_unlock(st->mu);
    return s;
}

void km_grpc_stream_cancel(km_grpc_stream *st)
{
    if (!st)
        return;
    km_mutex_lock(st->mu);
    bool live = !st->ended;
    if (live)
        st->cancelled = true;
    km_mutex_unlock(st->mu);
    /* Blocked operations wake with -ECANCELED and end the call CANCELLED. */
    if (live && st->h2)
        km_http2_stream_cancel(st->h2);
}

void km_grpc_stream_free(km_grpc_stream *st)
{
    if (!st)
        return;
    if (st->h2)
        km_http2_stream_free(st->h2);
    km__grpc_rd_free(&st->rd);
    km__grpc_mdlist_free(&st->hmd);
    km__grpc_mdlist_free(&st->tmd);
    km__free(st->msg);
    km__free(st->sbuf);
    km_mutex_free(st->mu);
    km__free(st);
}
