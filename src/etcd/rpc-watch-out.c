/* SPDX-License-Identifier: MIT */
/* What a Watch stream writes: control responses, and events encoded once
 * per hub message with each watch's id spliced in, or cut into fragments
 * as etcd 3.4 cuts them. */
#include <errno.h>
#include <string.h>
#include "etcd/rpc-watch-int.h"
#include "rt/rt-int.h"

/* The hub's encoding slot for this format (the JSON gateway uses 0). */
#define FMT_GRPC 1
/* etcd fragments past its request limit plus this much gRPC overhead. */
#define GRPC_OVERHEAD (512 * 1024)

int km__wstream_ctl(km__wstream *s, int64_t rev, int64_t id, bool created, bool canceled,
                    int64_t compact_rev, const char *reason)
{
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(s->e, rev, &h);
    Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    r.header = &h;
    r.watch_id = id;
    r.created = created;
    r.canceled = canceled;
    r.compact_revision = compact_rev;
    if (reason)
        r.cancel_reason = (char *)reason;
    return km_grpc_send_pb(s->c, &r.base, KM_FOREVER);
}

/* A message's events as protobuf-c structs pointing into the message, in
 * one allocation (*mem; free it). prev: the watch asked for prev_kv. */
static Mvccpb__Event **events_out(const km_watch_msg *m, bool prev, size_t *n, void **mem)
{
    const km_event *const *ev = km_watch_msg_events(m, n);
    size_t k = *n;
    char *p = km__malloc(k * (sizeof(Mvccpb__Event *) + sizeof(Mvccpb__Event) +
                              2 * sizeof(Mvccpb__KeyValue)) + 1);
    if (!p)
        return NULL;
    *mem = p;
    Mvccpb__Event **pv = (Mvccpb__Event **)p;
    Mvccpb__Event *e = (Mvccpb__Event *)(pv + k);
    Mvccpb__KeyValue *kv = (Mvccpb__KeyValue *)(e + k);
    for (size_t i = 0; i < k; i++) {
        mvccpb__event__init(&e[i]);
        e[i].type = ev[i]->type == KM_EV_PUT ? MVCCPB__EVENT__EVENT_TYPE__PUT
                                             : MVCCPB__EVENT__EVENT_TYPE__DELETE;
        km__etcd_rpc_kv_out(&ev[i]->kv, &kv[2 * i]);
        e[i].kv = &kv[2 * i];
        /* Committed events carry prev_kv; only watches that asked get it. */
        if (prev && ev[i]->has_prev) {
            km__etcd_rpc_kv_out(&ev[i]->prev_kv, &kv[2 * i + 1]);
            e[i].prev_kv = &kv[2 * i + 1];
        }
        pv[i] = &e[i];
    }
    return pv;
}

/* The message as a WatchResponse without a watch id: shared by every
 * watch of the group (they agree on prev_kv, part of the group's key). */
static int enc_events(const km_watch_msg *m, void *ud, char **p, size_t *n)
{
    const km__wstream *s = ((void **)ud)[0];
    const km__wentry *e = ((void **)ud)[1];
    void *mem = NULL;
    size_t nev;
    Mvccpb__Event **pv = events_out(m, e->flags & WE_PREV_KV, &nev, &mem);
    if (!pv)
        return -ENOMEM;
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(s->e, km_watch_msg_revision(m), &h);
    Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    r.header = &h;
    r.n_events = nev;
    r.events = pv;
    size_t sz = protobuf_c_message_get_packed_size(&r.base);
    char *out = km__malloc(sz + 1);
    if (out)
        protobuf_c_message_pack(&r.base, (uint8_t *)out);
    km__free(mem);
    if (!out)
        return -ENOMEM;
    *p = out;
    *n = sz;
    return 0;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Bytes watch_id takes in a response (0 is left out, as proto3 does). */
static size_t id_len(int64_t id)
{
    return id ? 1 + varint_len((uint64_t)id) : 0;
}

/* Where the header field (1, first in the shared encoding) ends. */
static size_t header_end(const uint8_t *p, size_t n)
{
    if (n < 2 || p[0] != 0x0a)
        return 0;
    uint64_t len = 0;
    size_t i = 1;
    for (int shift = 0; i < n && shift < 64; shift += 7) {
        uint8_t b = p[i++];
        len |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
    }
    return i + len <= n ? i + (size_t)len : 0;
}

/* etcd 3.4's sendFragments: as many events per response as fit under
 * the limit (at least one), fragment set on all but the last. */
static int send_fragments(km__wstream *s, km__wentry *e, km_watch_msg *m, size_t limit)
{
    void *mem = NULL;
    size_t nev;
    Mvccpb__Event **pv = events_out(m, e->flags & WE_PREV_KV, &nev, &mem);
    if (!pv)
        return -ENOMEM;
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(s->e, km_watch_msg_revision(m), &h);
    Etcdserverpb__WatchResponse r = ETCDSERVERPB__WATCH_RESPONSE__INIT;
    r.header = &h;
    r.watch_id = e->id;
    r.fragment = true;
    size_t base = protobuf_c_message_get_packed_size(&r.base);
    int rc = 0;
    for (size_t idx = 0; rc == 0 && idx < nev;) {
        size_t start = idx, size = base;
        for (; idx < nev; idx++) {
            size_t es = mvccpb__event__get_packed_size(pv[idx]);
            size += 1 + varint_len(es) + es;
            if (idx > start && size >= limit)
                break;
        }
        r.events = pv + start;
        r.n_events = idx - start;
        r.fragment = idx < nev;
        rc = km_grpc_send_pb(s->c, &r.base, KM_FOREVER);
    }
    km__free(mem);
    return rc;
}

int km__wstream_events(km__wstream *s, km__wentry *e, km_watch_msg *m)
{
    void *ud[2] = { s, e };
    const char *p;
    size_t n;
    int rc = km_watch_msg_encoded(m, FMT_GRPC, enc_events, ud, &p, &n);
    if (rc < 0)
        return rc;
    size_t idn = id_len(e->id), nev;
    km_watch_msg_events(m, &nev);
    size_t limit = s->e->max_request_bytes + GRPC_OVERHEAD;
    if ((e->flags & WE_FRAGMENT) && nev >= 2 && n + idn >= limit)
        return send_fragments(s, e, m, limit);
    /* Queued, not written: the writer sends a whole batch of ready
     * watches' responses in one write (km_grpc_send_flush), and each
     * response is put together in place, in the queue. */
    uint8_t *b;
    if ((rc = km_grpc_send_add(s->c, n + idn, (void **)&b)))
        return rc;
    if (!idn) {
        memcpy(b, p, n);
        return 0;
    }
    /* header, then watch_id (field 2), then the events: field order as
     * etcd writes it, so byte-for-byte the same response. */
    size_t he = header_end((const uint8_t *)p, n);
    memcpy(b, p, he);
    b[he] = 0x10;
    varint_put(b + he + 1, (uint64_t)e->id);
    memcpy(b + he + idn, p + he, n - he);
    return 0;
}
