/* SPDX-License-Identifier: MIT */
/* etcd's gRPC Watch: one bidi stream multiplexes many watches. Two
 * goroutines serve a stream however many watches it holds: a reader that
 * hands requests over, and the handler's, which owns the watches, waits
 * on all of them at once (a km_watch_set) and writes every response. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-watch-int.h"
#include "rt/rt-int.h"

/* Requests the reader may have waiting before it blocks: back-pressure
 * on a client that creates faster than the writer keeps up. */
#define REQ_QUEUE 64
/* Messages written between two looks at the requests. */
#define BATCH 256

static int64_t hub_rev(km__wstream *s)
{
    km_hub_stat st;
    km_hub_stat_read(s->e->hub, &st);
    return st.revision;
}

static void reader(void *arg)
{
    km__wstream *s = arg;
    int rc;
    for (;;) {
        ProtobufCMessage *m;
        rc = km_grpc_recv_pb(s->c, NULL, &m, KM_FOREVER);
        if (rc != 1)
            break;
        if ((rc = km_chan_send(s->reqs, &m)) < 0) {
            km_grpc_pb_free(m);
            break;
        }
        km_watch_set_wake(s->set);
    }
    /* etcd keeps the watches of a half-closed stream going. */
    s->rerr = rc;
    km_chan_close(s->reqs);
    km_watch_set_wake(s->set);
}

static void drop(km__wstream *s, km__wentry *e)
{
    if (e->flags & WE_PROGRESS)
        s->nprogress--;
    km__wtab_del(&s->tab, e->id);
    km_watch_free(e->w);
    km__free(e);
}

static bool bytes_less(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c < 0 : a.n < b.n;
}

static int create(km__wstream *s, const Etcdserverpb__WatchCreateRequest *cr)
{
    /* etcd checks the range as the client gave it, and answers a refusal
     * as a watch created and canceled at once */
    int denied = s->who_err;
    if (!denied)
        denied = km__etcd_authz_op(s->e->auth, &s->who,
                                   &(km_op){ .type = KM_OP_RANGE,
                                             .range = { .key = { cr->key.data, cr->key.len },
                                                        .range_end = { cr->range_end.data,
                                                                       cr->range_end.len } } });
    if (denied) {
        char reason[256];
        km__etcd_err_text(denied, reason, sizeof reason);
        return km__wstream_ctl(s, hub_rev(s), -1, true, true, 0, reason);
    }
    km_watch_opts o = { .start_revision = cr->start_revision };
    /* etcd: an empty key is "\0", the smallest; range_end "\0" means every
     * key from key on, as in the hub. */
    static const uint8_t zero = 0;
    o.key = cr->key.len ? (km_bytes){ cr->key.data, cr->key.len } : (km_bytes){ &zero, 1 };
    o.range_end = (km_bytes){ cr->range_end.data, cr->range_end.len };
    bool from_key = o.range_end.n == 1 && o.range_end.p[0] == 0;
    if (o.range_end.n && !from_key && !bytes_less(o.key, o.range_end))
        return km__wstream_ctl(s, hub_rev(s), -1, true, true, 0, "mvcc: watcher range is empty");
    for (size_t i = 0; i < cr->n_filters; i++)
        o.flags |= cr->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NOPUT
                   ? KM_WATCH_NOPUT
                   : cr->filters[i] == ETCDSERVERPB__WATCH_CREATE_REQUEST__FILTER_TYPE__NODELETE
                   ? KM_WATCH_NODELETE : 0;
    if (cr->prev_kv)
        o.flags |= KM_WATCH_PREV_KV;
    int64_t id = cr->watch_id;
    if (id && km__wtab_get(&s->tab, id))
        return km__wstream_ctl(s, hub_rev(s), -1, true, true, 0,
                               "mvcc: duplicate watch ID provided on the WatchStream");
    if (!id) {
        /* etcd's AutoWatchID: the next id no watch of the stream holds. */
        while (km__wtab_get(&s->tab, s->next_id))
            s->next_id++;
        id = s->next_id;
    }
    km__wentry *e = km__calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->id = id;
    e->flags = (cr->prev_kv ? WE_PREV_KV : 0) | (cr->fragment ? WE_FRAGMENT : 0) |
               (cr->progress_notify ? WE_PROGRESS : 0);
    int64_t created_rev;
    int rc = km_watch_set_open(s->set, &o, e, &e->w, &created_rev);
    if (rc == 0 && (rc = km__wtab_put(&s->tab, e)) < 0)
        km_watch_free(e->w);
    if (rc < 0) {
        km__free(e);
        if (rc == -ENOMEM)
            return rc;
        return km__wstream_ctl(s, hub_rev(s), -1, true, true, 0, km__etcd_errinfo(rc).msg);
    }
    if (!cr->watch_id)
        s->next_id++;
    if (e->flags & WE_PROGRESS)
        s->nprogress++;
    /* Before any event of the watch: this goroutine writes both. */
    return km__wstream_ctl(s, created_rev, id, true, false, 0, NULL);
}

static int request(km__wstream *s, Etcdserverpb__WatchRequest *r)
{
    switch (r->request_union_case) {
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST:
        return create(s, r->create_request);
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST: {
        int64_t id = r->cancel_request->watch_id;
        km__wentry *e = km__wtab_get(&s->tab, id);
        if (!e)
            return 0;           /* etcd says nothing about an unknown id */
        drop(s, e);
        return km__wstream_ctl(s, hub_rev(s), id, false, true, 0, NULL);
    }
    case ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST:
        /* Not the hub's revision: one no watch of the stream has sent all
         * its events up to would tell the client it has seen them. */
        return km__wstream_ctl(s, km_watch_set_revision(s->set), -1, false, false, 0, NULL);
    default:
        return 0;
    }
}

/* One message (or the compaction) of a ready watch; m: already taken. */
static int pump(km__wstream *s, km__wentry *e, km_watch_msg *m)
{
    int64_t crev = 0;
    int rc = m ? 0 : km_watch_try(e->w, &m, &crev);
    if (rc == -EAGAIN)
        return 0;
    if (rc == -ENODATA) {
        /* etcd cancels it, with the header's revision left out. */
        int64_t id = e->id;
        drop(s, e);
        return km__wstream_ctl(s, 0, id, false, true, crev, NULL);
    }
    if (rc < 0)
        return rc;
    rc = km__wstream_events(s, e, m);
    km_watch_msg_release(m);
    e->flags &= ~WE_IDLE;
    return rc;
}

/* etcd's progress ticker: each watch that asked and sent nothing for a
 * whole interval gets an empty response at the current revision, if it is
 * level with the store. */
static int tick(km__wstream *s)
{
    for (size_t i = 0; i < s->tab.cap; i++) {
        km__wentry *e = km__wtab_at(&s->tab, i);
        if (!e || !(e->flags & WE_PROGRESS))
            continue;
        int64_t rev;
        if ((e->flags & WE_IDLE) && km_watch_progress(e->w, &rev) == 0) {
            int rc = km__wstream_ctl(s, rev, e->id, false, false, 0, NULL);
            if (rc < 0)
                return rc;
        }
        e->flags |= WE_IDLE;
    }
    return 0;
}

/* The writer: requests first, then ready watches, then the ticker, then
 * wait for any of them. 0 when the client went, or the error. */
static int serve(km__wstream *s)
{
    bool reading = true;
    int64_t every = s->e->progress_interval, next_tick = km_now() + every;
    for (;;) {
        Etcdserverpb__WatchRequest *r;
        int rc;
        while (reading && (rc = km_chan_recv_dl(s->reqs, &r, 0)) == 0) {
            rc = request(s, r);
            km_grpc_pb_free(&r->base);
            if (rc < 0)
                return rc;
        }
        if (reading && rc == -EPIPE) {
            reading = false;
            if (s->rerr)
                return s->rerr;
        }
        void *ud;
        km_watch_msg *m;
        for (int i = 0; i < BATCH && km_watch_set_take(s->set, &ud, &m); i++)
            if ((rc = pump(s, ud, m)) < 0)
                return rc;
        /* The batch's responses were queued: one write for all of them. */
        if ((rc = km_grpc_send_flush(s->c, KM_FOREVER)) < 0)
            return rc;
        int64_t now = km_now();
        if (now >= next_tick) {
            if (s->nprogress && (rc = tick(s)) < 0)
                return rc;
            next_tick = now + every;
        }
        rc = km_watch_set_wait(s->set, s->nprogress ? next_tick : KM_FOREVER);
        if (rc == -ECANCELED)
            return 0;
        if (rc < 0 && rc != -ETIMEDOUT)
            return rc;
    }
}

static void watch(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    if (!e->hub) {
        km_grpc_finish(c, KM_GRPC_UNAVAILABLE, "etcdserver: watch is not available");
        return;
    }
    km__wstream s = { .e = e, .c = c };
    km_group *rg = NULL;
    int rc;
    s.who_err = km__etcd_who_call(e, c, &s.who);
    if ((rc = km_watch_set_new(e->hub, &s.set)) < 0 ||
        (rc = km_chan_new(&s.reqs, sizeof(Etcdserverpb__WatchRequest *), REQ_QUEUE)) < 0 ||
        (rc = km_group_new(&rg, km_group_current(), KM_FOREVER)) < 0) {
        km__etcd_rpc_fail(c, rc);
        goto out;
    }
    /* A server that stops ends the stream (the hub's shutdown does too):
     * the reader sees it even when the hub is not the one stopping. */
    km_grpc_wake_on_drain(c);
    /* Headers first: the reader must never be the one to send them. */
    if (km_grpc_send_header(c) < 0)
        goto out;
    if ((rc = km_group_go(rg, reader, &s)) < 0) {
        km__etcd_rpc_fail(c, rc);   /* no reader: RESOURCE_EXHAUSTED */
        goto out;
    }
    rc = serve(&s);
    if (rc == -ESHUTDOWN)
        km_grpc_finish(c, KM_GRPC_UNAVAILABLE, "etcdserver: server stopped");
    else if (rc < 0 && rc != -ECANCELED && rc != -EPIPE && rc != -ECONNRESET)
        km__etcd_rpc_fail(c, rc);
out:
    /* Stops the reader, which may be waiting on a client that keeps its
     * side open: the call is left whole, so the status set above still
     * goes out when this returns. */
    if (rg) {
        km_group_cancel(rg);
        km_group_wait(rg, KM_FOREVER);
        km_group_free(rg);
    }
    if (s.reqs) {
        Etcdserverpb__WatchRequest *r;
        while (km_chan_recv_dl(s.reqs, &r, 0) == 0)
            km_grpc_pb_free(&r->base);
        km_chan_free(s.reqs);
    }
    for (size_t i = 0; i < s.tab.cap; i++) {
        km__wentry *we = km__wtab_at(&s.tab, i);
        if (we) {
            km_watch_free(we->w);
            km__free(we);
        }
    }
    km__wtab_free(&s.tab);
    km_watch_set_free(s.set);
}

int km__etcd_rpc_watch(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "Watch", KM_GRPC_BIDI_STREAMING, watch },
    };
    return km_grpc_register_service(s, &etcdserverpb__watch__descriptor, methods, 1, e);
}
