/* SPDX-License-Identifier: MIT */
/* A watch that resumes where it left off: every event exactly once, in order,
 * across dropped connections, dead streams and server restarts, whichever
 * transport carries its streams. */
#include <string.h>
#include "client/client-int.h"
#include "rt/alloc.h"

#define SEC 1000000000LL
#define MS  1000000LL

struct km_client_watch {
    km_client           *c;
    km__watch_req        req;
    char                *key, *end;     /* req's bytes */
    int64_t              idle_timeout;
    bool                 no_resume;
    const km__client_tp *tp;            /* the transport of s */
    km__wstream         *s;             /* NULL: none open */
    /* Where to resume. Events of one revision may come split over several
     * messages, so the resume point is the last revision delivered itself,
     * with the count of its events already delivered skipped again. */
    int64_t              start_rev;     /* before any event: as asked, or created+1 */
    int64_t              last_rev;
    size_t               n_at_last, skip_at_last;
    int64_t              last_msg;      /* monotonic time of the last message */
    int64_t              streams;
    int                  failures;      /* in a row, for the backoff */
    int64_t              compact_rev;
    int                  dead;          /* 0, or the error every later call returns */
};

int km__evbuf_reserve(km__evbuf *b, size_t n, size_t bytes)
{
    if (n > b->cap) {
        km_client_event *ne = km__malloc(n * sizeof *ne);
        if (!ne)
            return -ENOMEM;
        km__free(b->ev);
        b->ev = ne;
        b->cap = n;
    }
    char *mem = km__malloc(bytes);
    if (!mem)
        return -ENOMEM;
    km__free(b->mem);
    b->mem = mem;
    return 0;
}

void km__evbuf_free(km__evbuf *b)
{
    km__free(b->ev);
    km__free(b->mem);
    memset(b, 0, sizeof *b);
}

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
    w->req.prev_kv = o->prev_kv;
    km__span s;
    int rc = km__client_span(o->key, o->prefix, &s);
    /* The key and range end are copied: the options need not outlive the
     * call. */
    if (!rc && !(w->key = km__malloc(s.key_len + 1)))
        rc = -ENOMEM;
    if (!rc && !o->prefix && o->range_end) {
        s.end_len = strlen(o->range_end);
        if (!(s.end = km__strdup(o->range_end)))
            rc = -ENOMEM;
    }
    if (rc) {
        km__client_span_free(&s);
        km__free(w->key);
        km__free(w);
        return rc;
    }
    memcpy(w->key, s.key, s.key_len);
    w->key[s.key_len] = 0;
    w->end = (char *)s.end;
    w->req.span = (km__span){ w->key, s.key_len, w->end, s.end_len };
    *out = w;
    return 0;
}

int64_t km_client_watch_revision(const km_client_watch *w) { return w->last_rev; }
int64_t km_client_watch_streams(const km_client_watch *w) { return w->streams; }

static void drop_stream(km_client_watch *w)
{
    if (w->s)
        w->tp->watch_close(w->s);
    w->s = NULL;
}

void km_client_watch_close(km_client_watch *w)
{
    if (!w)
        return;
    drop_stream(w);
    km__free(w->key);
    km__free(w->end);
    km__free(w);
}

static int connect_stream(km_client_watch *w, int64_t deadline)
{
    int64_t from = w->last_rev ? w->last_rev : w->start_rev;
    const char *ep;
    size_t seen = km__client_ep(w->c, &ep);
    int64_t dl = km_now() + w->c->dial_timeout;
    if (deadline != KM_FOREVER && deadline < dl)
        dl = deadline;
    const km__client_tp *t;
    int rc;
    do {
        t = km__client_transport(w->c);
        rc = t->watch_open(w->c, seen % w->c->neps, &w->req, from, dl, &w->s);
    } while (km__client_fallback(w->c, t, rc));
    if (rc) {
        w->s = NULL;
        if (km__client_transport_err(rc))
            km__client_failover(w->c, seen);
        return rc;
    }
    w->tp = t;
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

/* Keeps, in place, the events of m not delivered before; their count. */
static size_t take_events(km_client_watch *w, km__watch_msg *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        int64_t rev = m->ev[i].kv.mod_revision;
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
        if (k != i)
            m->ev[k] = m->ev[i];
        k++;
    }
    return k;
}

/* Handles one message. 0 with *n events, 1 for nothing to hand out, -errno. */
static int message(km_client_watch *w, km__watch_msg *m, size_t *n)
{
    *n = 0;
    if (m->err)
        return m->err;
    if (m->canceled) {
        w->compact_rev = m->compact_rev;
        return w->compact_rev ? -ENODATA : -ECONNRESET;
    }
    if (m->created && !w->last_rev && !w->start_rev)
        /* "From now" becomes a revision, so a reconnection misses nothing. */
        w->start_rev = m->header_rev + 1;
    *n = take_events(w, m);
    return *n ? 0 : 1;
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
        if (!w->s) {
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
        km__watch_msg m;
        rc = w->tp->watch_next(w->s, dl, &m);
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
        size_t k;
        rc = message(w, &m, &k);
        if (rc == 1)
            continue;
        if (rc == -ENODATA) {
            drop_stream(w);
            w->dead = rc;
            continue;
        }
        if (rc < 0) {
            drop_stream(w);
            if (w->no_resume)
                w->dead = rc;
            continue;
        }
        *ev = m.ev;
        *n = k;
        return 0;
    }
}
