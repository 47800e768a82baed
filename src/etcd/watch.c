/* SPDX-License-Identifier: MIT */
/* POST /v3/watch: one watch per request, streamed as newline-delimited
 * {"result":WatchResponse} objects over a chunked response, as etcd's
 * gateway streams them; a watch needs read permission on its range. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <kumo/hub.h>
#include "etcd/authz.h"
#include "rt/rt-int.h"

/* Slot in each message's encoding cache for this format. */
#define FMT_ETCD 0

typedef struct {
    km_etcd      *e;
    km_http_resp *w;            /* the stream's response */
    int64_t       watch_id;
    bool          prev_kv;
} wctx;

/* Filters come as enum names or numbers: NOPUT (0), NODELETE (1). */
static int dec_filters(json_t *o, unsigned *flags, const char **msg)
{
    json_t *f = json_object_get(o, "filters");
    if (!f || json_is_null(f))
        return 0;
    if (!json_is_array(f)) {
        *msg = "json: cannot unmarshal filters into Go value of type []etcdserverpb.WatchCreateRequest_FilterType";
        return -EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v) {
        long t = -1;
        if (json_is_integer(v))
            t = (long)json_integer_value(v);
        else if (json_is_string(v) && !strcmp(json_string_value(v), "NOPUT"))
            t = 0;
        else if (json_is_string(v) && !strcmp(json_string_value(v), "NODELETE"))
            t = 1;
        if (t == 0)
            *flags |= KM_WATCH_NOPUT;
        else if (t == 1)
            *flags |= KM_WATCH_NODELETE;
        else if (!json_is_integer(v)) {
            *msg = "unknown value for enum etcdserverpb.WatchCreateRequest_FilterType";
            return -EINVAL;
        }
    }
    return 0;
}

static int dec_create(json_t *c, km__arena *a, km_watch_opts *o, wctx *x, bool *progress,
                      const char **msg)
{
    /* etcd's gateway reads through a client that reassembles fragments,
     * so its JSON answers are whole whatever "fragment" says: so are ours. */
    bool prev = false, fragment = false;
    int rc;
    if ((rc = km__etcd_dec_bytes(c, "key", a, &o->key, msg)) < 0 ||
        (rc = km__etcd_dec_bytes(c, "range_end", a, &o->range_end, msg)) < 0 ||
        (rc = km__etcd_dec_i64(c, "start_revision", &o->start_revision, msg)) < 0 ||
        (rc = km__etcd_dec_i64(c, "watch_id", &x->watch_id, msg)) < 0 ||
        (rc = km__etcd_dec_bool(c, "prev_kv", &prev, msg)) < 0 ||
        (rc = km__etcd_dec_bool(c, "progress_notify", progress, msg)) < 0 ||
        (rc = km__etcd_dec_bool(c, "fragment", &fragment, msg)) < 0 ||
        (rc = dec_filters(c, &o->flags, msg)) < 0)
        return rc;
    if (prev)
        o->flags |= KM_WATCH_PREV_KV;
    x->prev_kv = prev;
    return 0;
}

/* {"result":{"header":{..},["watch_id":"N",] then the caller's members. */
static void open_result(km__jbuf *b, const wctx *x, int64_t rev)
{
    km__jbuf_puts(b, "{\"result\":{");
    km__jbuf_key(b, "header");
    km__etcd_header(b, x->e, rev);
    if (x->watch_id) {
        km__jbuf_key(b, "watch_id");
        km__jbuf_i64(b, x->watch_id);
    }
}

static int send_buf(km_http_resp *w, km__jbuf *b)
{
    int rc = b->err ? b->err : km_http_write(w, b->p, b->n);
    km__jbuf_free(b);
    return rc;
}

static void events(km__jbuf *b, const wctx *x, int64_t rev, const km_event *const *ev,
                   size_t n)
{
    open_result(b, x, rev);
    km__jbuf_key(b, "events");
    km__jbuf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        /* Committed events carry prev_kv; only watches that asked get it. */
        km_event e = *ev[i];
        e.has_prev = e.has_prev && x->prev_kv;
        km__jbuf_sep(b);
        km__etcd_event(b, &e);
    }
    km__jbuf_puts(b, "]}}\n");
}

/* One message as one line. */
static int enc_msg(const km_watch_msg *m, void *ud, char **p, size_t *n)
{
    const wctx *x = ud;
    size_t nev;
    const km_event *const *ev = km_watch_msg_events(m, &nev);
    km__jbuf b = KM__JBUF_INIT;
    events(&b, x, km_watch_msg_revision(m), ev, nev);
    if (b.err) {
        km__jbuf_free(&b);
        return -ENOMEM;
    }
    *p = b.p;
    *n = b.n;
    return 0;
}

static int sink_write(void *ud, const char *p, size_t n)
{
    const wctx *x = ud;
    return km_http_write(x->w, p, n);
}

static int sink_flush(void *ud)
{
    const wctx *x = ud;
    return km_http_flush(x->w);
}

static int progress(void *ud)
{
    const wctx *x = ud;
    km_hub_stat st;
    km_hub_stat_read(x->e->hub, &st);
    km__jbuf b = KM__JBUF_INIT;
    open_result(&b, x, st.revision);
    km__jbuf_puts(&b, "}}\n");
    return send_buf(x->w, &b);
}

/* etcd leaves the revision out of this header and cancels the watch. */
static int compacted(void *ud, int64_t crev)
{
    const wctx *x = ud;
    km__jbuf b = KM__JBUF_INIT;
    open_result(&b, x, 0);
    km__jbuf_key(&b, "canceled");
    km__jbuf_puts(&b, "true");
    km__jbuf_key(&b, "compact_revision");
    km__jbuf_i64(&b, crev);
    km__jbuf_puts(&b, "}}\n");
    return send_buf(x->w, &b);
}

/* gRPC's names for its codes, as Go's status error text spells them. */
/* Whether the caller may watch [key, range_end) as the client gave them
 * (etcd checks before it reads an empty key as "\0"): 0 or a KM_EAUTH_
 * error, a token that is not valid included. */
static int watch_allowed(km_etcd *e, km_http_req *r, const km_watch_opts *o)
{
    km_auth_id id;
    int rc = km__etcd_http_who(e, r, &id);
    if (!rc)
        rc = km__etcd_authz_op(e->auth, &id,
                               &(km_op){ .type = KM_OP_RANGE,
                                         .range = { .key = o->key, .range_end = o->range_end } });
    return rc;
}

/* A refused watch as etcd's gateway answers it: created and canceled at
 * once with watch id -1 and the gRPC error as text; then the stream stays
 * open, doing nothing, until the client leaves or the server drains. */
static void refuse(km_http_req *r, km_http_resp *w, km_etcd *e, int err)
{
    km_hub_stat st;
    km_hub_stat_read(e->hub, &st);
    char reason[256];
    km__etcd_err_text(err, reason, sizeof reason);
    wctx c = { .e = e, .w = w, .watch_id = -1 };
    km__jbuf b = KM__JBUF_INIT;
    open_result(&b, &c, st.revision);
    km__jbuf_puts(&b, ",\"created\":true,\"canceled\":true");
    km__jbuf_key(&b, "cancel_reason");
    km__jbuf_str(&b, reason, strlen(reason));
    km__jbuf_puts(&b, "}}\n");
    if (send_buf(w, &b) || km_http_flush(w))
        return;
    km_http_stream_lean(r, w);
    /* the flush made a hang-up cancel this goroutine's sleeps */
    while (!km_http_draining(r) && km_sleep(1000000000LL) == 0)
        ;
}

void km__etcd_watch(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km_str body;
    if (km__etcd_read(e, r, w, &body) < 0)
        return;
    if (!e->hub) {
        km__etcd_fail_msg(w, 503, 14, "etcdserver: watch is not available");
        return;
    }
    km__arena *a = km__arena_new();
    if (!a) {
        km__etcd_fail(w, -ENOMEM);
        return;
    }
    const char *msg = NULL;
    json_t *root = km__etcd_parse(body.p, body.n, a, &msg);
    if (!root) {
        /* The gateway reports stream decoding errors as code 2, HTTP 500. */
        km__etcd_fail_msg(w, 500, 2, msg);
        km__arena_free(a);
        return;
    }
    wctx x = { .e = e, .w = w };
    km_watch_opts o = { 0 };
    bool notify = false;
    json_t *c = json_object_get(root, "create_request");
    int rc = 0;
    if (c && json_is_object(c))
        rc = dec_create(c, a, &o, &x, &notify, &msg);
    if (rc < 0) {
        km__etcd_fail_msg(w, 500, 2, msg);
        goto out;
    }
    km_http_set_header(w, "Content-Type", "application/json");
    km_http_status(w, 200);
    if (!c || !json_is_object(c)) {
        /* No watch asked for (an empty body, a lone cancel): etcd answers
         * with an empty stream. */
        km_http_flush(w);
        goto out;
    }
    if ((rc = watch_allowed(e, r, &o))) {
        json_decref(root);
        km__arena_free(a);
        refuse(r, w, e, rc);
        return;
    }
    km_watch *wt;
    int64_t created_rev;
    rc = km_watch_new(e->hub, &o, &wt, &created_rev);
    if (rc < 0) {
        km__etcd_fail(w, rc);
        goto out;
    }
    /* The watch copied what it needs; a watch may live for hours. */
    json_decref(root);
    km__arena_free(a);
    root = NULL;
    a = NULL;
    km__jbuf b = KM__JBUF_INIT;
    open_result(&b, &x, created_rev);
    km__jbuf_key(&b, "created");
    km__jbuf_puts(&b, "true}}\n");
    if (send_buf(w, &b) == 0 && km_http_flush(w) == 0) {
        km_http_stream_lean(r, w);      /* -EBUSY just keeps the buffers */
        km_watch_sink sink = {
            /* A watch_id changes the bytes: encode alone. */
            .fmt = x.watch_id ? -1 : FMT_ETCD,
            .enc = enc_msg,
            .ud = &x,
            .write = sink_write,
            .flush = sink_flush,
            .idle = notify ? progress : NULL,
            .idle_interval = e->progress_interval,
            .compacted = compacted,
        };
        km_watch_stream(wt, &sink);
    }
    km_watch_free(wt);
out:
    if (root)
        json_decref(root);
    km__arena_free(a);
}
