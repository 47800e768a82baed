/* SPDX-License-Identifier: MIT */
/* The change feed: one Watch over the whole keyspace, each revision
 * applied to the local replica once and in order (its feed publishes it),
 * resumed on another member after a broken stream, the replica reloaded
 * after a gap. */
#include <stdio.h>
#include <string.h>
#include "lmdb/replica.h"
#include "etcdb/etcdb-int.h"

#define MS 1000000LL
/* A feed stream silent this long is asked for progress; silent as long
 * again after that, its member is taken for stalled (a stopped process,
 * a dead host behind a live connection). */
#define QUIET (2000 * MS)

/* One attempt of km__etcdb_watch_open, with the token of login *gen. */
static int watch_open(km__etcdb *s, size_t ep, int64_t rev, int64_t floor, bool prev_kv,
                      int64_t deadline, km_grpc_stream **out, int64_t *compact, uint64_t *gen)
{
    *out = NULL;
    *compact = 0;
    km_grpc_stream *st = NULL;
    /* etcd ends the watch with "no leader" when its member loses the
     * leader (a minority that would otherwise go quiet, not stalled). */
    km_grpc_md md[2] = { km_grpc_md_of("hasleader", "true", 4) };
    char tok[KM__ETCDB_TOKEN_MAX];
    size_t nmd = 1 + km__etcdb_token_md(s, &md[1], tok, gen);
    /* The call lasts as long as the watch: only opening it is bounded. */
    int rc = km_grpc_stream_open(s->ch[ep], "/etcdserverpb.Watch/Watch", md, nmd, KM_FOREVER,
                                 &st);
    if (!rc) {
        Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
        cr.key = (ProtobufCBinaryData){ 1, (uint8_t *)"\0" };
        cr.range_end = (ProtobufCBinaryData){ 1, (uint8_t *)"\0" };
        cr.start_revision = rev;
        cr.prev_kv = prev_kv;
        /* An idle stream then still talks now and then. */
        cr.progress_notify = true;
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
        req.create_request = &cr;
        rc = km_grpc_stream_send_pb(st, &req.base, false, deadline);
    }
    ProtobufCMessage *m = NULL;
    if (!rc) {
        rc = km_grpc_stream_recv_pb(st, &etcdserverpb__watch_response__descriptor, &m, deadline);
        rc = rc == 1 ? 0 : rc == 0 ? -ECONNRESET : rc;
    }
    if (rc) {
        rc = km__etcdb_stream_err(rc, st);
        km_grpc_stream_free(st);
        return rc;
    }
    Etcdserverpb__WatchResponse *r = (Etcdserverpb__WatchResponse *)m;
    km__etcdb_saw(s, r->header);
    if (r->canceled || !r->created) {
        /* etcd checks the token as it creates the watch */
        const char *why = r->cancel_reason ? r->cancel_reason : "";
        *compact = r->compact_revision;
        rc = r->compact_revision > 0 ? -ENODATA
           : *why ? km__etcdb_status_err(KM_GRPC_PERMISSION_DENIED, why, strlen(why))
                  : -EBADMSG;
    } else if (!r->header || r->header->revision < floor) {
        rc = -ESTALE;      /* behind what was already served */
    }
    km_grpc_pb_free(m);
    if (rc) {
        km_grpc_stream_free(st);
        if (*compact)
            km__etcdb_saw_compact(s, *compact);
        return rc;
    }
    *out = st;
    return 0;
}

int km__etcdb_watch_open(km__etcdb *s, size_t ep, int64_t rev, int64_t floor, bool prev_kv,
                         int64_t deadline, km_grpc_stream **out, int64_t *compact)
{
    uint64_t gen;
    int rc = watch_open(s, ep, rev, floor, prev_kv, deadline, out, compact, &gen);
    /* a token etcd no longer takes: log in again, try once more */
    if (km__etcdb_token_err(s, rc) && !(rc = km__etcdb_relogin(s, gen, deadline)))
        rc = watch_open(s, ep, rev, floor, prev_kv, deadline, out, compact, &gen);
    return rc == -EKEYEXPIRED ? -EACCES : rc;
}

/* Applies the revisions of one watch message past the last one applied
 * to the replica, whose feed publishes each as it commits it. etcd never
 * splits a revision's events across messages of a watch that did not ask
 * for fragments, so each run of equal revisions here is a whole revision.
 * 0; -ENOMEM, -ECANCELED (nothing of the message applied past what was);
 * -EBADMSG and the replica's refusals (it diverged: reload it). */
static int apply(km__etcdb *s, const Etcdserverpb__WatchResponse *r)
{
    size_t i = 0;
    while (i < r->n_events) {
        int64_t rev = r->events[i]->kv ? r->events[i]->kv->mod_revision : 0;
        size_t j = i;
        while (j < r->n_events && r->events[j]->kv && r->events[j]->kv->mod_revision == rev)
            j++;
        if (j == i)
            return -EBADMSG;
        if (rev > s->published) {
            km__arena *a = km__arena_new();
            km_event *ev = a ? km__arena_alloc(a, (j - i) * sizeof *ev) : NULL;
            int rc = ev ? 0 : -ENOMEM;
            for (size_t k = i; !rc && k < j; k++)
                rc = km__etcdb_event(a, &ev[k - i], r->events[k]);
            if (!rc)
                rc = km__replica_apply(s->rep, rev, ev, j - i);
            km__arena_free(a);
            if (rc)
                return rc;
            s->published = rev;
            long long seen = atomic_load(&s->revision);
            while (rev > seen && !atomic_compare_exchange_weak(&s->revision, &seen, rev))
                ;
            km__etcdb_cache_applied(s);
        }
        i = j;
    }
    /* the replica's own history keeps a window: trim it now and then, not
     * at every revision */
    int64_t low = km__replica_compacted(s->rep);
    if (s->published - low > s->rep_window + s->rep_window / 8 + 1)
        km__replica_compact(s->rep, s->published - s->rep_window);
    return 0;
}

/* Says why the revisions after s->published cannot be applied. */
static void report_gap(km__etcdb *s, int why, int64_t compact)
{
    if (why == -ENODATA)
        fprintf(stderr,
                "kumo: etcd store: the change feed cannot resume from revision %lld: etcd "
                "compacted it (compact revision %lld); reloading the local replica and "
                "telling watchers the revisions in between are gone\n",
                (long long)(s->published + 1), (long long)compact);
    else
        fprintf(stderr,
                "kumo: etcd store: the local replica refused revision %lld (%s); "
                "reloading it and telling watchers the revisions in between are gone\n",
                (long long)(s->published + 1), km_strerror(why));
}

/* A fresh copy, and the gap told to the feed's subscribers. 0, or -errno
 * when no copy could be had (the replica stays closed to readers). */
static int reset(km__etcdb *s)
{
    int64_t rev;
    int rc = km__etcdb_cache_reload(s, &rev);
    if (rc) {
        fprintf(stderr, "kumo: etcd store: reloading the local replica failed: %s\n",
                km_strerror(rc));
        return rc;
    }
    km__feed_publish(&s->base, rev, NULL, 0);
    return 0;
}

/* Asks the stream's member for a progress answer, which any live member
 * gives at once. */
static int ask_progress(km_grpc_stream *st)
{
    Etcdserverpb__WatchProgressRequest pr = ETCDSERVERPB__WATCH_PROGRESS_REQUEST__INIT;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_PROGRESS_REQUEST;
    req.progress_request = &pr;
    int rc = km_grpc_stream_send_pb(st, &req.base, false, km_now() + QUIET);
    return rc ? km__etcdb_stream_err(rc, st) : 0;
}

/* The next message of the feed's stream, or -ETIMEDOUT when its member
 * stalled: 1 and *m, or -errno. */
static int next_message(km_grpc_stream *st, ProtobufCMessage **m)
{
    for (bool asked = false;;) {
        int r = km_grpc_stream_recv_pb(st, &etcdserverpb__watch_response__descriptor, m,
                                       km_now() + QUIET);
        if (r == 1)
            return 1;
        if (r != -ETIMEDOUT || km_grpc_stream_status(st).code >= 0)
            return r == 0 ? -ECONNRESET : km__etcdb_stream_err(r, st);
        if (asked)
            return -ETIMEDOUT;
        int rc = ask_progress(st);
        if (rc)
            return rc;
        asked = true;
    }
}

/* Says why the feed leaves member ep. */
static void report_leave(km__etcdb *s, size_t ep, int why)
{
    const char *what = why == -ETIMEDOUT ? "stalled (no answer to a progress request)"
                       : why == -ESTALE  ? "is behind the revisions already served"
                                         : km_strerror(why);
    fprintf(stderr, "kumo: etcd store: the change feed leaves member %s: %s; resuming from "
            "revision %lld on the next member\n", s->eps[ep], what,
            (long long)(s->published + 1));
}

static void feed_run(void *arg)
{
    km__etcdb *s = arg;
    int64_t nap = 50 * MS;
    size_t ep = atomic_load(&s->cur) % s->n;
    bool need_reset = false;
    int last = 1;            /* why the last member was left (told once in a row); 1 at start */
    while (km_group_err(s->bg) == 0) {
        /* nothing is applied to a replica that a reload left half done */
        if (need_reset) {
            if (reset(s) != 0) {
                if (km_sleep(nap) < 0)
                    return;
                nap = nap < 1000 * MS ? nap * 2 : nap;
                continue;
            }
            need_reset = false;
        }
        km_grpc_stream *st;
        int64_t compact = 0;
        bool diverged = false;
        int rc = km__etcdb_watch_open(s, ep, s->published + 1, s->published, false,
                                      km__etcdb_deadline(s), &st, &compact);
        if (!rc && last) {
            fprintf(stderr, "kumo: etcd store: the change feed follows member %s from "
                    "revision %lld\n", s->eps[ep], (long long)(s->published + 1));
            last = 0;
        }
        while (!rc) {
            ProtobufCMessage *m;
            int r = next_message(st, &m);
            if (r != 1) {
                rc = r;
                break;
            }
            Etcdserverpb__WatchResponse *w = (Etcdserverpb__WatchResponse *)m;
            km__etcdb_saw(s, w->header);
            if (w->canceled) {
                compact = w->compact_revision;
                rc = compact > 0 ? -ENODATA : -ECONNRESET;
            } else {
                rc = apply(s, w);
                /* out of memory or closing: try again; anything else is
                 * the replica refusing a revision */
                diverged = rc && rc != -ENOMEM && rc != -ECANCELED;
                nap = 50 * MS;      /* the stream works */
            }
            km_grpc_pb_free(m);
        }
        if (st)
            km_grpc_stream_free(st);
        if (km_group_err(s->bg))
            return;
        if (rc == -ENODATA)
            km__etcdb_saw_compact(s, compact);
        if (rc == -ENODATA || diverged) {
            report_gap(s, rc, compact);
            need_reset = true;
            continue;
        }
        /* Resume on the next member, from the last revision applied + 1. */
        if (rc != last)
            report_leave(s, ep, rc);
        last = rc;
        ep = (ep + 1) % s->n;
        if (km_sleep(nap) < 0)
            return;
        nap = nap < 1000 * MS ? nap * 2 : nap;
    }
}

int km__etcdb_feed_start(km__etcdb *s, int64_t rev)
{
    s->published = rev;
    int rc = km_group_new(&s->bg, NULL, KM_FOREVER);
    if (rc)
        return rc;
    rc = km_group_go(s->bg, feed_run, s);
    if (rc) {
        km_group_free(s->bg);
        s->bg = NULL;
    }
    return rc;
}

void km__etcdb_feed_stop(km__etcdb *s)
{
    if (!s->bg)
        return;
    km_group_cancel(s->bg);
    km_group_wait(s->bg, KM_FOREVER);
    km_group_free(s->bg);
    s->bg = NULL;
}
