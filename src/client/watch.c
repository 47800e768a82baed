/* SPDX-License-Identifier: MIT */
/* A watch that resumes where it left off: every event exactly once, in order,
 * across dropped connections, dead streams and server restarts. */
#include <stdlib.h>
#include <string.h>
#include "client/client-int.h"
#include "rt/rt-int.h"

#define SEC 1000000000LL
#define MS  1000000LL

struct km_client_watch {
    km_client       *c;
    json_t          *create;        /* create_request without start_revision */
    int64_t          idle_timeout;
    bool             no_resume;
    km__stream       s;
    bool             open;
    /* Where to resume. Events of one revision may come split over several
     * messages, so the resume point is the last revision delivered itself,
     * with the count of its events already delivered skipped again. */
    int64_t          start_rev;     /* before any event: as asked, or created+1 */
    int64_t          last_rev;
    size_t           n_at_last, skip_at_last;
    int64_t          last_msg;      /* monotonic time of the last message */
    int64_t          streams;
    int              failures;      /* in a row, for the backoff */
    int64_t          compact_rev;
    int              dead;          /* 0, or the error every later call returns */
    km_client_event *ev;            /* the batch handed out last */
    size_t           evcap;
    char            *mem;           /* its strings */
};

int km_client_watch_open(km_client *c, const km_client_watch_opts *o, km_client_watch **out)
{
    *out = NULL;
    if (!c || !o || !o->key)
        return -EINVAL;
    km_client_watch *w = km__calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->c = c;
    w->idle_timeout = o->idle_timeout > 0 ? o->idle_timeout : 30 * 60 * SEC;
    w->no_resume = o->no_resume;
    w->start_rev = o->start_revision > 0 ? o->start_revision : 0;
    w->s.fd = -1;
    size_t kn = strlen(o->key);
    json_t *cr = json_object();
    int rc = cr ? 0 : -ENOMEM;
    if (!rc) {
        json_object_set_new(cr, "key", km__etcd_json_b64(kn ? o->key : "\0", kn ? kn : 1));
        if (o->prefix) {
            char *end = km__malloc(kn + 2);
            if (end) {
                size_t en = km__etcd_prefix_end(end, o->key, kn);
                json_object_set_new(cr, "range_end", km__etcd_json_b64(end, en));
                km__free(end);
            } else {
                rc = -ENOMEM;
            }
        } else if (o->range_end) {
            json_object_set_new(cr, "range_end", km__etcd_json_b64(o->range_end, strlen(o->range_end)));
        }
        if (o->prev_kv)
            json_object_set_new(cr, "prev_kv", json_true());
        /* Progress notifications keep an idle stream talking, so silence
         * means a dead connection. */
        json_object_set_new(cr, "progress_notify", json_true());
    }
    if (rc) {
        json_decref(cr);
        km__free(w);
        return rc;
    }
    w->create = cr;
    *out = w;
    return 0;
}

int64_t km_client_watch_revision(const km_client_watch *w) { return w->last_rev; }
int64_t km_client_watch_streams(const km_client_watch *w) { return w->streams; }

static void drop_stream(km_client_watch *w)
{
    if (w->open)
        km__stream_close(&w->s);
    w->open = false;
}

void km_client_watch_close(km_client_watch *w)
{
    if (!w)
        return;
    drop_stream(w);
    json_decref(w->create);
    km__free(w->ev);
    km__free(w->mem);
    km__free(w);
}

static int connect_stream(km_client_watch *w, int64_t deadline)
{
    json_t *cr = json_deep_copy(w->create);
    int64_t from = w->last_rev ? w->last_rev : w->start_rev;
    if (cr && from)
        json_object_set_new(cr, "start_revision", json_integer(from));
    json_t *req = cr ? json_pack("{s:o}", "create_request", cr) : NULL;
    char *js = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!js)
        return -ENOMEM;
    const char *ep;
    size_t seen = km__client_ep(w->c, &ep);
    int64_t dl = km_now() + w->c->dial_timeout;
    if (deadline != KM_FOREVER && deadline < dl)
        dl = deadline;
    memset(&w->s, 0, sizeof w->s);
    int rc = km__stream_open(&w->s, ep, "/v3/watch", js, dl);
    free(js);
    if (rc) {
        km__stream_close(&w->s);
        if (km__client_transport_err(rc))
            km__client_failover(w->c, seen);
        return rc;
    }
    w->open = true;
    w->streams++;
    w->skip_at_last = w->last_rev ? w->n_at_last : 0;
    w->last_msg = km_now();
    return 0;
}

/* Waits before the next attempt: 50 ms doubling up to 1 s. */
static int backoff(km_client_watch *w, int64_t deadline)
{
    int f = w->failures++;
    int64_t d = f < 5 ? 50 * MS << f : SEC;
    int64_t until = km_now() + d;
    if (deadline != KM_FOREVER && deadline < until) {
        km_sleep_until(deadline);
        return -ETIMEDOUT;
    }
    return km_sleep_until(until);
}

/* Copies the events of one message that were not delivered before. */
static int take_events(km_client_watch *w, json_t *evs, size_t *out)
{
    size_t n = json_array_size(evs), bytes = 1, k = 0;
    *out = 0;
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(evs, i);
        bytes += km__client_kv_size(json_object_get(e, "kv"));
        if (json_object_get(e, "prev_kv"))
            bytes += km__client_kv_size(json_object_get(e, "prev_kv"));
    }
    if (n > w->evcap) {
        km_client_event *ne = km__malloc(n * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        km__free(w->ev);
        w->ev = ne;
        w->evcap = n;
    }
    char *mem = km__malloc(bytes);
    if (!mem)
        return -ENOMEM;
    km__free(w->mem);
    w->mem = mem;
    km__kvmem m = { mem, bytes };
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(evs, i), *prev = json_object_get(e, "prev_kv");
        km_client_event *d = &w->ev[k];
        memset(d, 0, sizeof *d);
        const char *t = json_string_value(json_object_get(e, "type"));
        d->type = t && !strcmp(t, "DELETE") ? KM_CLIENT_DELETE : KM_CLIENT_PUT;
        if (km__client_kv_decode(json_object_get(e, "kv"), &d->kv, &m) ||
            (prev && km__client_kv_decode(prev, &d->prev_kv, &m)))
            return -EBADMSG;
        int64_t rev = d->kv.mod_revision;
        if (rev < w->last_rev)
            continue;                       /* delivered before the reconnect */
        if (rev == w->last_rev) {
            if (w->skip_at_last) {
                w->skip_at_last--;
                continue;
            }
            w->n_at_last++;
        } else {
            w->last_rev = rev;
            w->n_at_last = 1;
            w->skip_at_last = 0;
        }
        k++;
    }
    *out = k;
    return 0;
}

/* Handles one message. 0 with *n events, 1 for nothing to hand out, -errno. */
static int message(km_client_watch *w, const char *line, size_t len, size_t *n)
{
    *n = 0;
    json_error_t je;
    json_t *m = json_loadb(line, len, 0, &je);
    if (!m)
        return -EBADMSG;
    json_t *res = json_object_get(m, "result");
    int rc = 1;
    if (!json_is_object(res)) {
        json_t *err = json_object_get(m, "error");
        rc = km__client_err(500, json_is_object(err) ? err : m);
    } else if (json_is_true(json_object_get(res, "canceled"))) {
        w->compact_rev = km__etcd_json_i64(res, "compact_revision");
        rc = w->compact_rev ? -ENODATA : -ECONNRESET;
    } else {
        if (json_is_true(json_object_get(res, "created")) && !w->last_rev && !w->start_rev)
            /* "From now" becomes a revision, so a reconnection misses nothing. */
            w->start_rev = km__etcd_json_i64(json_object_get(res, "header"), "revision") + 1;
        rc = take_events(w, json_object_get(res, "events"), n);
        if (!rc && !*n)
            rc = 1;
    }
    json_decref(m);
    return rc;
}

int km_client_watch_next(km_client_watch *w, int64_t deadline,
                         const km_client_event **ev, size_t *n, int64_t *compact_rev)
{
    *ev = NULL;
    *n = 0;
    for (;;) {
        if (w->dead) {
            if (compact_rev)
                *compact_rev = w->compact_rev;
            return w->dead;
        }
        if (deadline != KM_FOREVER && km_now() >= deadline)
            return -ETIMEDOUT;
        int rc;
        if (!w->open) {
            rc = connect_stream(w, deadline);
            if (rc == -ECANCELED || rc == -ENOMEM)
                return rc;
            if (rc == -ETIMEDOUT && deadline != KM_FOREVER && km_now() >= deadline)
                return rc;
            if (rc == -ENODATA || (rc && (w->no_resume || !km__client_transport_err(rc)))) {
                w->dead = rc;
                continue;
            }
            if (rc) {
                if ((rc = backoff(w, deadline)) < 0)
                    return rc;
                continue;
            }
        }
        int64_t idle_dl = w->last_msg + w->idle_timeout;
        int64_t dl = deadline != KM_FOREVER && deadline < idle_dl ? deadline : idle_dl;
        char *line;
        size_t len;
        rc = km__stream_line(&w->s, dl, &line, &len);
        if (rc == -ETIMEDOUT && km_now() < idle_dl)
            return rc;                      /* the caller's deadline: keep the place */
        if (rc == -ECANCELED || rc == -ENOMEM)
            return rc;
        if (rc) {
            /* Dropped, ended or silent for too long: resume elsewhere. */
            drop_stream(w);
            if (w->no_resume) {
                w->dead = rc == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
                continue;
            }
            if (rc != -ETIMEDOUT)
                km__client_failover(w->c, atomic_load(&w->c->cur));
            if ((rc = backoff(w, deadline)) < 0)
                return rc;
            continue;
        }
        w->last_msg = km_now();
        w->failures = 0;
        if (!len)
            continue;
        size_t k;
        rc = message(w, line, len, &k);
        if (rc == 1)
            continue;
        if (rc == -ENODATA) {
            drop_stream(w);
            w->dead = rc;
            continue;
        }
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            drop_stream(w);
            if (w->no_resume)
                w->dead = rc;
            continue;
        }
        *ev = w->ev;
        *n = k;
        return 0;
    }
}
