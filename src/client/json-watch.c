/* SPDX-License-Identifier: MIT */
/* A watch stream over the JSON gateway: a streamed POST to /v3/watch read
 * line by line, each line one WatchResponse in etcd's JSON. */
#include <stdlib.h>
#include <string.h>
#include "client/json-int.h"
#include "rt/alloc.h"

struct km__wstream {
    km__stream s;
    km__evbuf  buf;
};

int km__json_watch_open(km_client *c, size_t ep, const km__watch_req *q, int64_t start_rev,
                        int64_t deadline, km__wstream **out)
{
    *out = NULL;
    json_t *cr = json_object();
    /* every member checked: a watch missing one would watch something else */
    bool ok = cr && km__json_span(cr, &q->span);
    if (q->prev_kv)
        ok &= !json_object_set_new(cr, "prev_kv", json_true());
    /* Progress notifications keep an idle stream talking, so silence
     * means a dead connection. */
    ok &= !json_object_set_new(cr, "progress_notify", json_true());
    if (start_rev)
        ok &= !json_object_set_new(cr, "start_revision", json_integer(start_rev));
    if (!ok) {
        json_decref(cr);
        cr = NULL;
    }
    json_t *req = cr ? json_pack("{s:o}", "create_request", cr) : NULL;
    char *js = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    km__wstream *w = js ? km__calloc(1, sizeof *w) : NULL;
    if (!w) {
        free(js);
        return -ENOMEM;
    }
    int rc = km__stream_open(&w->s, c->eps[ep], "/v3/watch", js, deadline);
    free(js);
    if (rc) {
        km__json_watch_close(w);
        return rc;
    }
    *out = w;
    return 0;
}

void km__json_watch_close(km__wstream *w)
{
    if (!w)
        return;
    km__stream_close(&w->s);
    km__evbuf_free(&w->buf);
    km__free(w);
}

/* The events of one message into w's memory: 0, -EBADMSG, -ENOMEM. */
static int take_events(km__wstream *w, json_t *evs, km__watch_msg *m)
{
    size_t n = json_array_size(evs), bytes = 1;
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(evs, i);
        bytes += km__client_kv_size(json_object_get(e, "kv"));
        if (json_object_get(e, "prev_kv"))
            bytes += km__client_kv_size(json_object_get(e, "prev_kv"));
    }
    if (km__evbuf_reserve(&w->buf, n, bytes))
        return -ENOMEM;
    km__kvmem mem = { w->buf.mem, bytes };
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(evs, i), *prev = json_object_get(e, "prev_kv");
        km_client_event *d = &w->buf.ev[i];
        memset(d, 0, sizeof *d);
        const char *t = json_string_value(json_object_get(e, "type"));
        d->type = t && !strcmp(t, "DELETE") ? KM_CLIENT_DELETE : KM_CLIENT_PUT;
        if (km__client_kv_decode(json_object_get(e, "kv"), &d->kv, &mem) ||
            (prev && km__client_kv_decode(prev, &d->prev_kv, &mem)))
            return -EBADMSG;
    }
    m->ev = w->buf.ev;
    m->n = n;
    return 0;
}

int km__json_watch_next(km__wstream *w, int64_t deadline, km__watch_msg *m)
{
    memset(m, 0, sizeof *m);
    char *line;
    size_t len;
    int rc = km__stream_line(&w->s, deadline, &line, &len);
    if (rc || !len)
        return rc;
    json_error_t je;
    json_t *j = json_loadb(line, len, 0, &je);
    if (!j) {
        m->err = -EBADMSG;
        return 0;
    }
    json_t *res = json_object_get(j, "result");
    if (!json_is_object(res)) {
        json_t *err = json_object_get(j, "error");
        m->err = km__client_err(500, json_is_object(err) ? err : j);
    } else {
        m->canceled = json_is_true(json_object_get(res, "canceled"));
        m->compact_rev = km__etcd_json_i64(res, "compact_revision");
        m->created = json_is_true(json_object_get(res, "created"));
        m->header_rev = km__etcd_json_i64(json_object_get(res, "header"), "revision");
        if (!m->canceled && (rc = take_events(w, json_object_get(res, "events"), m))) {
            if (rc == -EBADMSG) {
                m->err = rc;
                rc = 0;
            }
            m->n = 0;
        }
    }
    json_decref(j);
    return rc;
}
