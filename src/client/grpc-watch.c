/* SPDX-License-Identifier: MIT */
/* A watch stream over etcd's gRPC API: one Watch call per stream, carrying
 * the one watch it was created with. */
#include <string.h>
#include "client/grpc-int.h"
#include "rt/alloc.h"

#define METHOD "/etcdserverpb.Watch/Watch"

struct km__wstream {
    km_grpc_stream   *st;
    ProtobufCMessage *first;    /* the answer to the create request, not handed out yet */
    km__evbuf         buf;
};

void km__grpc_watch_close(km__wstream *w)
{
    if (!w)
        return;
    km_grpc_pb_free(w->first);
    km_grpc_stream_free(w->st);     /* cancels the call */
    km__evbuf_free(&w->buf);
    km__free(w);
}

/* The next message: 0 and *out, or -errno in client.h's terms. */
static int recv_msg(km__wstream *w, int64_t deadline, ProtobufCMessage **out)
{
    int rc = km_grpc_stream_recv_pb(w->st, &etcdserverpb__watch_response__descriptor, out,
                                    deadline);
    if (rc == 1)
        return 0;
    if (rc == 0)
        return -ECONNRESET;         /* the server ended the stream */
    if (rc == -ETIMEDOUT || rc == -ECANCELED || rc == -ENOMEM)
        return rc;
    return km__grpc_err(rc, w->st);
}

int km__grpc_watch_open(km_client *c, size_t ep, const km__watch_req *q, int64_t start_rev,
                        int64_t deadline, km__wstream **out)
{
    *out = NULL;
    km__wstream *w = km__calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    /* The call itself has no deadline: it lives as long as the watch. It
     * waits for a connection at most the dial timeout. */
    int rc = km_grpc_stream_open(c->grpc[ep], METHOD, NULL, 0, KM_FOREVER, &w->st);
    if (!rc) {
        Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
        cr.key = (ProtobufCBinaryData){ q->span.key_len, (uint8_t *)q->span.key };
        if (q->span.end)
            cr.range_end = (ProtobufCBinaryData){ q->span.end_len, (uint8_t *)q->span.end };
        cr.start_revision = start_rev;
        cr.prev_kv = q->prev_kv;
        /* Progress notifications keep an idle stream talking, so silence
         * means a dead connection. */
        cr.progress_notify = true;
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
        req.create_request = &cr;
        rc = km_grpc_stream_send_pb(w->st, &req.base, false, deadline);
    } else {
        rc = km__grpc_err(rc, w->st);
    }
    /* The answer to the create request says whether the server speaks
     * etcd's Watch at all (an AUTO client falls back on UNIMPLEMENTED); it
     * is handed out by the first next. */
    if (!rc)
        rc = recv_msg(w, deadline, &w->first);
    if (rc) {
        km__grpc_watch_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

/* The events of r into w's memory: 0 or -ENOMEM, -EBADMSG. */
static int take_events(km__wstream *w, const Etcdserverpb__WatchResponse *r, km__watch_msg *m)
{
    size_t n = r->n_events, bytes = 1;
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++)
        bytes += km__grpc_kv_size(r->events[i]->kv) + km__grpc_kv_size(r->events[i]->prev_kv);
    if (km__evbuf_reserve(&w->buf, n, bytes))
        return -ENOMEM;
    km__kvmem mem = { w->buf.mem, bytes };
    for (size_t i = 0; i < n; i++) {
        const Mvccpb__Event *e = r->events[i];
        km_client_event *d = &w->buf.ev[i];
        memset(d, 0, sizeof *d);
        d->type = e->type == MVCCPB__EVENT__EVENT_TYPE__DELETE ? KM_CLIENT_DELETE : KM_CLIENT_PUT;
        if (km__grpc_kv_copy(&d->kv, e->kv, &mem) || km__grpc_kv_copy(&d->prev_kv, e->prev_kv, &mem))
            return -EBADMSG;
    }
    m->ev = w->buf.ev;
    m->n = n;
    return 0;
}

int km__grpc_watch_next(km__wstream *w, int64_t deadline, km__watch_msg *m)
{
    memset(m, 0, sizeof *m);
    ProtobufCMessage *pm = w->first;
    w->first = NULL;
    int rc = pm ? 0 : recv_msg(w, deadline, &pm);
    if (rc)
        return rc;
    const Etcdserverpb__WatchResponse *r = (const Etcdserverpb__WatchResponse *)pm;
    m->created = r->created;
    m->canceled = r->canceled;
    m->compact_rev = r->compact_revision;
    m->header_rev = km__grpc_rev(r->header);
    if (!m->canceled && (rc = take_events(w, r, m))) {
        if (rc == -EBADMSG) {
            m->err = rc;
            rc = 0;
        }
        m->n = 0;
    }
    km_grpc_pb_free(pm);
    return rc;
}
