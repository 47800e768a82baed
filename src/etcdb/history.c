/* SPDX-License-Identifier: MIT */
/* History from the local replica when its window has it, else from the
 * cluster: a watch replayed from `from` and cut at `to`, for watchers
 * catching up from an old revision. */
#include <string.h>
#include "etcdb/etcdb-int.h"

static bool in_range(const km_kv *kv, km_bytes key, km_bytes end)
{
    size_t n = kv->key.n < key.n ? kv->key.n : key.n;
    int c = memcmp(kv->key.p, key.p, n);
    if (c == 0)
        c = kv->key.n < key.n ? -1 : kv->key.n > key.n;
    if (end.n == 0)
        return c == 0 && kv->key.n == key.n;
    if (c < 0)
        return false;
    if (end.n == 1 && end.p[0] == 0)
        return true;
    n = kv->key.n < end.n ? kv->key.n : end.n;
    c = memcmp(kv->key.p, end.p, n);
    return c < 0 || (c == 0 && kv->key.n < end.n);
}

typedef struct {
    km_event *v;
    size_t    n, cap;
} evs;

static int push(km__arena *a, evs *e, km_event **slot)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        km_event *nv = km__arena_alloc(a, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        if (e->n)
            memcpy(nv, e->v, e->n * sizeof *nv);
        e->v = nv;
        e->cap = cap;
    }
    *slot = &e->v[e->n++];
    return 0;
}

/* Reads the watch until `to` is passed, `max` is reached at a revision's
 * end, or the stream fails. *next as km_store_history says. */
static int replay(km__etcdb *s, km_grpc_stream *st, int64_t to, km_bytes key, km_bytes end,
                  bool with_prev, size_t max, int64_t deadline, evs *out, int64_t *next,
                  km_store_res *res)
{
    int64_t last = 0;
    for (;;) {
        ProtobufCMessage *m;
        int r = km_grpc_stream_recv_pb(st, &etcdserverpb__watch_response__descriptor, &m,
                                       deadline);
        if (r != 1)
            return km__etcdb_stream_err(r == 0 ? -ECONNRESET : r, st);
        Etcdserverpb__WatchResponse *w = (Etcdserverpb__WatchResponse *)m;
        km__etcdb_saw(s, w->header);
        if (w->canceled) {
            int64_t c = w->compact_revision;
            km_grpc_pb_free(m);
            if (c <= 0)
                return -ECONNRESET;
            km__etcdb_saw_compact(s, c);
            res->revision = c;
            return -ENODATA;
        }
        int rc = 0;
        bool done = false;
        for (size_t i = 0; !rc && !done && i < w->n_events; i++) {
            const Mvccpb__Event *e = w->events[i];
            int64_t rev = e->kv ? e->kv->mod_revision : 0;
            if (rev > to) {
                done = true;
                *next = to + 1;
                break;
            }
            if (rev != last && max && out->n >= max) {
                done = true;
                *next = rev;
                break;
            }
            last = rev;
            km_event tmp;
            rc = km__etcdb_event(res->arena, &tmp, e);
            if (rc || !in_range(&tmp.kv, key, end))
                continue;
            if (!with_prev) {
                tmp.has_prev = false;
                memset(&tmp.prev_kv, 0, sizeof tmp.prev_kv);
            }
            km_event *slot;
            if (!(rc = push(res->arena, out, &slot)))
                *slot = tmp;
        }
        km_grpc_pb_free(m);
        if (rc)
            return rc;
        /* Every revision has an event somewhere in the keyspace, so one at
         * `to` means every revision up to it has come. */
        if (!done && last >= to) {
            done = true;
            *next = to + 1;
        }
        if (done)
            return 0;
    }
}

int km__etcdb_history(km_store *st, int64_t from, int64_t to, km_bytes key, km_bytes end,
                      bool with_prev, size_t max, km_event **ev, size_t *n, int64_t *next,
                      km_store_res *res)
{
    km__etcdb *s = (km__etcdb *)st;
    *ev = NULL;
    *n = 0;
    *next = from;
    int crc = km__etcdb_cache_history(s, from, to, key, end, with_prev, max, ev, n, next, res);
    if (crc != 1)
        return crc;
    memset(res, 0, sizeof *res);
    if (!(res->arena = km__arena_new()))
        return -ENOMEM;
    int64_t deadline = km__etcdb_deadline(s), cur;
    int rc = km__etcdb_current(s, deadline, &cur);
    if (rc)
        return rc;
    res->revision = cur;
    if (to <= 0 || to > cur)
        to = cur;
    if (from < 1)
        from = 1;
    if (from > to) {
        *next = from;
        return 0;
    }
    /* Revision 1 is the empty store's: it has no events. */
    if (to < 2) {
        *next = to + 1;
        return 0;
    }
    evs out = { 0 };
    for (size_t tries = 0;; tries++) {
        size_t ep = atomic_load(&s->cur) % s->n;
        km_grpc_stream *ws;
        int64_t compact;
        rc = km__etcdb_watch_open(s, ep, from, to, with_prev, deadline, &ws, &compact);
        if (rc == -ENODATA) {
            res->revision = compact;
            return rc;
        }
        if (!rc) {
            rc = replay(s, ws, to, key, end, with_prev, max, deadline, &out, next, res);
            km_grpc_stream_free(ws);
        }
        if (!rc)
            break;
        /* Start over elsewhere: nothing of a failed replay is kept. */
        out.n = 0;
        if (!km__etcdb_transport_err(rc) || km_now() >= deadline || tries + 1 >= 2 * s->n)
            return rc;
        km__etcdb_failover(s, ep);
    }
    res->revision = cur;
    *ev = out.v;
    *n = out.n;
    return 0;
}
