/* SPDX-License-Identifier: MIT */
/* GET /api/v1/watch: changes as Server-Sent Events, resumable with the
 * browser's Last-Event-ID (each event's id is its revision); with auth on,
 * for callers who may read the watched keys. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "rt/rt-int.h"
#include <kumo/hub.h>
#include "serve/native-int.h"

#define FMT_SSE 1
/* A comment line this often keeps proxies from closing an idle stream. */
#define KEEPALIVE_NS (15 * 1000000000LL)

/* What the stream's callbacks share. */
typedef struct {
    km_http_resp *w;
    unsigned      flags;        /* the watch's KM_WATCH_* */
} sse;

/* One SSE event per change. Only the last event of a revision carries the
 * id, so a client that resumes from it never skips half a revision. */
static int enc_sse(const km_watch_msg *m, void *ud, char **p, size_t *n)
{
    const sse *x = ud;
    size_t nev;
    const km_event *const *ev = km_watch_msg_events(m, &nev);
    km__jbuf b = KM__JBUF_INIT;
    for (size_t i = 0; i < nev; i++) {
        const km_event *e = ev[i];
        bool put = e->type == KM_EV_PUT;
        km__jbuf_puts(&b, put ? "event: put\ndata: {\"type\":\"PUT\"" : "event: delete\ndata: {\"type\":\"DELETE\"");
        km__native_bytes(&b, "key", e->kv.key);
        if (put)
            km__native_bytes(&b, "value", e->kv.value);
        km__jbuf_key(&b, "mod_revision");
        km__jbuf_int(&b, (long)e->kv.mod_revision);
        if (put) {
            km__jbuf_key(&b, "create_revision");
            km__jbuf_int(&b, (long)e->kv.create_revision);
            km__jbuf_key(&b, "version");
            km__jbuf_int(&b, (long)e->kv.version);
        }
        /* Committed events carry prev_kv; only watches that asked get it. */
        if (e->has_prev && (x->flags & KM_WATCH_PREV_KV))
            km__native_bytes(&b, "prev_value", e->prev_kv.value);
        km__jbuf_puts(&b, "}\n");
        if (i + 1 == nev || ev[i + 1]->kv.mod_revision != e->kv.mod_revision) {
            char id[40];
            snprintf(id, sizeof id, "id: %lld\n", (long long)e->kv.mod_revision);
            km__jbuf_puts(&b, id);
        }
        km__jbuf_putc(&b, '\n');
    }
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
    sse *x = ud;
    return km_http_write(x->w, p, n);
}

static int sink_flush(void *ud)
{
    sse *x = ud;
    return km_http_flush(x->w);
}

static int keepalive(void *ud)
{
    sse *x = ud;
    return km_http_write(x->w, ": keep-alive\n\n", 14);
}

static int compacted(void *ud, int64_t crev)
{
    sse *x = ud;
    char s[96];
    int n = snprintf(s, sizeof s, "event: compacted\ndata: {\"compact_revision\":%lld}\n\n",
                     (long long)crev);
    return km_http_write(x->w, s, (size_t)n);
}

void km__native_watch(km_http_req *r, km_http_resp *w, void *ud)
{
    km_native *nat = ud;
    km__arena *a = km__arena_new();
    if (!a) {
        km__native_fail(w, 503, "out of memory");
        return;
    }
    km_str q = km_http_query(r);
    km_watch_opts o = { 0 };
    km_bytes v;
    int err = 0;
    bool have_key = false;
    if (km__query_get(q, "prefix", a, &v, &err)) {
        o.key = v;
        if (km__prefix_end(v, a, &o.range_end) < 0) {
            km__native_fail(w, 503, "out of memory");
            goto out;
        }
        if (!v.n) {
            static const uint8_t zero = 0;
            o.key = (km_bytes){ &zero, 1 };
        }
        have_key = true;
    } else if (km__query_get(q, "key", a, &v, &err) && v.n) {
        o.key = v;
        have_key = true;
    }
    if (km__query_get(q, "rev", a, &v, &err) &&
        !(km__parse_i64(v, &o.start_revision) && o.start_revision >= 0)) {
        km__native_fail(w, 400, "rev must be a non-negative integer");
        goto out;
    }
    if (km__query_get(q, "prev_kv", a, &v, &err))
        o.flags |= KM_WATCH_PREV_KV;
    /* A reconnecting EventSource resumes after the last id it saw. */
    km_str last = km_http_header(r, "Last-Event-ID");
    if (last.p && last.n) {
        int64_t id;
        if (!km__parse_i64((km_bytes){ (const uint8_t *)last.p, last.n }, &id) || id < 0) {
            km__native_fail(w, 400, "Last-Event-ID must be a revision");
            goto out;
        }
        o.start_revision = id + 1;
    }
    if (err == -ENOMEM) {
        km__native_fail(w, 503, "out of memory");
        goto out;
    }
    if (err || !have_key) {
        km__native_fail(w, 400, err ? "bad percent-encoding in the query"
                                    : "give ?key=K or ?prefix=P (?prefix= for all keys)");
        goto out;
    }
    if (!km__native_allowed(nat, r, w, KM_PERM_READ, o.key, o.range_end))
        goto out;
    km_watch *wt;
    int64_t created;
    int rc = km_watch_new(nat->hub, &o, &wt, &created);
    if (rc < 0) {
        km__native_fail_errno(w, rc);
        goto out;
    }
    int64_t from = o.start_revision > 0 ? o.start_revision : created + 1;
    km__arena_free(a);      /* the watch copied its keys; it may live for hours */
    a = NULL;
    km_http_set_header(w, "Content-Type", "text/event-stream");
    km_http_set_header(w, "Cache-Control", "no-cache");
    km_http_status(w, 200);
    char hello[64];
    int n = snprintf(hello, sizeof hello, ": watching from revision %lld\n\n",
                     (long long)from);
    if (km_http_write(w, hello, (size_t)n) == 0 && km_http_flush(w) == 0) {
        km_http_stream_lean(r, w);      /* -EBUSY just keeps the buffers */
        sse x = { w, o.flags };
        km_watch_sink sink = {
            .fmt = FMT_SSE, .enc = enc_sse, .ud = &x,
            .write = sink_write, .flush = sink_flush,
            .idle = keepalive, .idle_interval = KEEPALIVE_NS,
            .compacted = compacted,
        };
        km_watch_stream(wt, &sink);
    }
    km_watch_free(wt);
out:
    km__arena_free(a);
}
