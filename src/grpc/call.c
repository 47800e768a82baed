/* SPDX-License-Identifier: MIT */
/* A call in its handler: request messages in, response messages out, metadata, the status it ends with. */
#include <stdio.h>
#include <string.h>
#include "grpc/grpc-int.h"
#include "grpc/pb-int.h"
#include "rt/alloc.h"

void km__grpc_call_fail(km_grpc_call *c, int code, const char *msg)
{
    km_grpc_finish(c, code, msg);
}

int km_grpc_finish(km_grpc_call *c, int code, const char *message)
{
    if (!c || code < 0)
        return -EINVAL;
    /* The first status wins, whichever goroutine sets it. */
    if (atomic_exchange_explicit(&c->finished, true, memory_order_acq_rel))
        return -EALREADY;
    c->code = code;
    if (message && *message) {
        size_t n = strlen(message) + 1;
        /* Without memory the status goes without its message. */
        if ((c->msg = km__malloc(n)))
            memcpy(c->msg, message, n);
    }
    return 0;
}

/* ---- receiving ---- */

/* A message kumo cannot take ends the call: its status, and the error
 * every later recv returns. */
static int recv_failed(km_grpc_call *c, int err, int code, const char *msg)
{
    km__grpc_call_fail(c, code, msg);
    c->rerr = err;
    return err;
}

int km_grpc_recv(km_grpc_call *c, km_str *msg, int64_t deadline)
{
    if (!c || !msg)
        return -EINVAL;
    if (c->rerr)
        return c->rerr;
    for (;;) {
        bool comp;
        int rc = km__grpc_rd_next(&c->rd, msg, &comp);
        if (rc == 1) {
            if (!comp)
                return 1;
            /* We accept identity only, so a compressed message is either
             * in an encoding we did not offer, or flagged with none. */
            return c->encoded
                ? recv_failed(c, -EBADMSG, KM_GRPC_UNIMPLEMENTED,
                              "grpc: compressed message in an unsupported grpc-encoding")
                : recv_failed(c, -EBADMSG, KM_GRPC_INTERNAL,
                              "grpc: compressed flag set without a grpc-encoding");
        }
        if (rc == -EMSGSIZE) {
            char text[96];
            snprintf(text, sizeof text, "grpc: received message larger than max (%zu bytes)",
                     c->rd.max);
            return recv_failed(c, -EMSGSIZE, KM_GRPC_RESOURCE_EXHAUSTED, text);
        }
        if (rc < 0)
            return recv_failed(c, rc, KM_GRPC_INTERNAL, "grpc: malformed message frame");
        if (c->eof) {
            if (km__grpc_rd_partial(&c->rd))
                return recv_failed(c, -EBADMSG, KM_GRPC_INTERNAL,
                                   "grpc: request ended inside a message");
            return 0;
        }
        char *p;
        size_t room;
        if ((rc = km__grpc_rd_room(&c->rd, &p, &room)))
            return recv_failed(c, rc, KM_GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
        ssize_t n = km_http_body_read(c->r, p, room, deadline);
        if (n > 0) {
            km__grpc_rd_fill(&c->rd, (size_t)n);
        } else if (n == 0) {
            c->eof = true;
        } else if (n == -ETIMEDOUT || n == -ECANCELED || n == -ESHUTDOWN) {
            /* This recv's deadline (the call goes on); a group: the call's
             * deadline or the client's reset, which end() tells apart, or
             * the handler's own; the server draining. None sets a status:
             * the handler may still end the call with its own. */
            return (int)n;
        } else {
            /* The stream broke under the call; nobody is left to answer. */
            c->rerr = (int)n;
            return (int)n;
        }
    }
}

int km_grpc_recv_pb(km_grpc_call *c, const ProtobufCMessageDescriptor *d,
                    ProtobufCMessage **out, int64_t deadline)
{
    if (!c || !out)
        return -EINVAL;
    if (!d && !(d = c->m->in))
        return -EINVAL;
    km_str m;
    int rc = km_grpc_recv(c, &m, deadline);
    if (rc != 1)
        return rc;
    if ((rc = km__grpc_pb_unpack(d, m, out)) == -EBADMSG)
        return recv_failed(c, -EBADMSG, KM_GRPC_INVALID_ARGUMENT,
                           "grpc: request message does not decode");
    return rc ? rc : 1;
}

/* ---- sending ---- */

/* A response's messages go out at once when more may follow; a single
 * response waits for the trailers, to share their write. */
static bool streams_out(const km_grpc_call *c)
{
    return c->m->kind == KM_GRPC_SERVER_STREAMING || c->m->kind == KM_GRPC_BIDI_STREAMING;
}

/* A drained queue bigger than this is given back: a stream that sent one
 * large batch should not keep its buffer while it idles. */
#define QUEUE_KEEP 4096

typedef struct {
    km_grpc_call *c;
    const void   *a, *b;
    size_t        an, bn;
    bool          flush;
    int           rc;
} out_op;

static void do_out(void *arg)
{
    out_op *o = arg;
    km_grpc_call *c = o->c;
    int rc = 0;
    if (!c->head_sent) {
        rc = km_http_set_header(c->w, "content-type", "application/grpc");
        c->head_sent = true;
    }
    /* The kept message, then the queued ones: they were sent before this one. */
    if (!rc && c->klen)
        rc = km_http_write(c->w, c->kept, c->klen);
    c->klen = 0;
    if (!rc && c->qlen)
        rc = km_http_write(c->w, c->qbuf, c->qlen);
    c->qlen = 0;
    if (c->qcap > QUEUE_KEEP) {
        km__free(c->qbuf);
        c->qbuf = NULL;
        c->qcap = 0;
    }
    if (!rc && o->an)
        rc = km_http_write(c->w, o->a, o->an);
    if (!rc && o->bn)
        rc = km_http_write(c->w, o->b, o->bn);
    if (!rc && o->flush)
        rc = km_http_flush(c->w);
    o->rc = rc;
}

/* Writes a then b under deadline: an earlier one than the call's runs
 * the writes in a group of their own, since HTTP writes take none. */
static int out(km_grpc_call *c, const void *a, size_t an, const void *b, size_t bn, bool flush,
               int64_t deadline)
{
    out_op o = { c, a, b, an, bn, flush, 0 };
    if (deadline == KM_FOREVER || (c->deadline != KM_FOREVER && deadline >= c->deadline)) {
        do_out(&o);
    } else {
        km_group *g;
        int rc = km_group_new(&g, km_group_current(), deadline);
        if (rc)
            return rc;
        km_group_run(g, do_out, &o);
        km_group_cancel(g);
        km_group_wait(g, KM_FOREVER);
        km_group_free(g);
    }
    /* A write that failed may have sent part of a message: nothing more
     * can follow it. */
    if (o.rc)
        c->serr = o.rc;
    return o.rc;
}

static int send_check(km_grpc_call *c, size_t n)
{
    if (atomic_load_explicit(&c->finished, memory_order_acquire))
        return -EALREADY;
    if (c->serr)
        return c->serr;
    return n > c->srv->cfg.max_send_msg ? -EMSGSIZE : 0;
}

/* Where a single-response call's first message of n bytes is kept until
 * the handler returns (km__grpc_call_end sends it with the status), or NULL. */
static char *keep(km_grpc_call *c, size_t n)
{
    if (streams_out(c) || c->head_sent || c->qlen || c->klen || KM__GRPC_PREFIX + n > KM__GRPC_KEEP)
        return NULL;
    km__grpc_prefix((uint8_t *)c->kept, false, (uint32_t)n);
    c->klen = KM__GRPC_PREFIX + n;
    return c->kept + KM__GRPC_PREFIX;
}

int km_grpc_send(km_grpc_call *c, const void *msg, size_t n, int64_t deadline)
{
    if (!c || (n && !msg))
        return -EINVAL;
    int rc = send_check(c, n);
    if (rc)
        return rc;
    char *k = keep(c, n);
    if (k) {
        if (n)
            memcpy(k, msg, n);
        return 0;
    }
    if (n <= KM__GRPC_SMALL) {
        char buf[KM__GRPC_PREFIX + KM__GRPC_SMALL];
        km__grpc_prefix((uint8_t *)buf, false, (uint32_t)n);
        if (n)
            memcpy(buf + KM__GRPC_PREFIX, msg, n);
        return out(c, buf, KM__GRPC_PREFIX + n, NULL, 0, streams_out(c), deadline);
    }
    uint8_t pre[KM__GRPC_PREFIX];
    km__grpc_prefix(pre, false, (uint32_t)n);
    return out(c, pre, sizeof pre, msg, n, streams_out(c), deadline);
}

int km_grpc_send_add(km_grpc_call *c, size_t n, void **body)
{
    if (!c || !body)
        return -EINVAL;
    int rc = send_check(c, n);
    if (rc)
        return rc;
    size_t need = c->qlen + KM__GRPC_PREFIX + n;
    if (need > c->qcap) {
        size_t nc = c->qcap ? c->qcap : 1024;
        while (nc < need)
            nc *= 2;
        char *nb = km__malloc(nc);
        if (!nb)
            return -ENOMEM;
        if (c->qlen)
            memcpy(nb, c->qbuf, c->qlen);
        km__free(c->qbuf);
        c->qbuf = nb;
        c->qcap = nc;
    }
    km__grpc_prefix((uint8_t *)c->qbuf + c->qlen, false, (uint32_t)n);
    *body = c->qbuf + c->qlen + KM__GRPC_PREFIX;
    c->qlen = need;
    return 0;
}

int km_grpc_send_flush(km_grpc_call *c, int64_t deadline)
{
    if (!c)
        return -EINVAL;
    if (!c->qlen)
        return 0;
    int rc = send_check(c, 0);
    if (rc) {
        c->qlen = 0;
        return rc;
    }
    return out(c, NULL, 0, NULL, 0, streams_out(c), deadline);
}

void km__grpc_send_queued(km_grpc_call *c)
{
    if (c->qlen && !c->serr)
        out(c, NULL, 0, NULL, 0, true, KM_FOREVER);
    c->qlen = 0;
}

int km_grpc_send_pb(km_grpc_call *c, const ProtobufCMessage *m, int64_t deadline)
{
    if (!c || !m)
        return -EINVAL;
    size_t n = km__grpc_pb_size(m);
    int rc = send_check(c, n);
    if (rc)
        return rc;
    char *k = keep(c, n);
    if (k) {
        km__grpc_pb_pack(m, k);
        return 0;
    }
    char stack[KM__GRPC_PREFIX + KM__GRPC_SMALL];
    char *buf = stack;
    if (n > KM__GRPC_SMALL) {
        if (c->scap < KM__GRPC_PREFIX + n) {
            char *nb = km__malloc(KM__GRPC_PREFIX + n);
            if (!nb)
                return -ENOMEM;
            km__free(c->sbuf);
            c->sbuf = nb;
            c->scap = KM__GRPC_PREFIX + n;
        }
        buf = c->sbuf;
    }
    km__grpc_prefix((uint8_t *)buf, false, (uint32_t)n);
    km__grpc_pb_pack(m, buf + KM__GRPC_PREFIX);
    return out(c, buf, KM__GRPC_PREFIX + n, NULL, 0, streams_out(c), deadline);
}

int km_grpc_send_header(km_grpc_call *c)
{
    if (!c)
        return -EINVAL;
    if (c->head_sent)
        return -EALREADY;
    int rc = send_check(c, 0);
    return rc ? rc : out(c, NULL, 0, NULL, 0, true, KM_FOREVER);
}

/* ---- metadata ---- */

int km_grpc_set_header(km_grpc_call *c, const char *key, const void *value, size_t n)
{
    if (!c || !key)
        return -EINVAL;
    if (c->head_sent)
        return -EALREADY;
    char stack[256], *v;
    km_str k = { key, strlen(key) };
    int rc = km__grpc_md_field(k, value, n, stack, sizeof stack, &v);
    if (rc)
        return rc;
    rc = km_http_set_header(c->w, key, v);
    if (v != stack)
        km__free(v);
    return rc;
}

/* Appends "key\0value\0" to the kept trailers. */
static int keep_field(km__grpc_fields *f, const char *key, size_t kl, const char *v, size_t vl)
{
    size_t need = f->len + kl + vl + 2;
    if (need > f->cap) {
        size_t cap = f->cap ? f->cap : 256;
        while (cap < need)
            cap *= 2;
        char *nb = km__malloc(cap);
        if (!nb)
            return -ENOMEM;
        if (f->len)
            memcpy(nb, f->buf, f->len);
        km__free(f->buf);
        f->buf = nb;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, key, kl + 1);
    memcpy(f->buf + f->len + kl + 1, v, vl + 1);
    f->len = need;
    return 0;
}

int km_grpc_set_trailer(km_grpc_call *c, const char *key, const void *value, size_t n)
{
    if (!c || !key)
        return -EINVAL;
    if (c->ended)
        return -EALREADY;
    char stack[256], *v;
    km_str k = { key, strlen(key) };
    int rc = km__grpc_md_field(k, value, n, stack, sizeof stack, &v);
    if (rc)
        return rc;
    rc = keep_field(&c->trailers, key, k.n, v, strlen(v));
    if (v != stack)
        km__free(v);
    return rc;
}

static int req_field_at(void *src, size_t i, km_str *name, km_str *value)
{
    return km_http_header_at(src, i, name, value);
}

int km_grpc_call_metadata(km_grpc_call *c, const km_grpc_md **md, size_t *n)
{
    if (!c || !md || !n)
        return -EINVAL;
    int rc = km__grpc_mdlist_build(&c->md, req_field_at, c->r, km_http_header_count(c->r));
    *md = rc ? NULL : c->md.md;
    *n = rc ? 0 : c->md.n;
    return rc;
}

int64_t km_grpc_call_deadline(const km_grpc_call *c)
{
    return c ? c->deadline : KM_FOREVER;
}

km_str km_grpc_call_peer(const km_grpc_call *c)
{
    return c ? km_http_remote(c->r) : (km_str){ NULL, 0 };
}

km_str km_grpc_call_path(const km_grpc_call *c)
{
    return c ? (km_str){ c->m->path, c->m->len } : (km_str){ NULL, 0 };
}

km_http_req *km_grpc_call_http(km_grpc_call *c)
{
    return c ? c->r : NULL;
}

int km_grpc_wake_on_drain(km_grpc_call *c)
{
    return c ? km_http_body_wake_on_drain(c->r) : -EINVAL;
}

bool km_grpc_draining(const km_grpc_call *c)
{
    return c && km_http_draining(c->r);
}
