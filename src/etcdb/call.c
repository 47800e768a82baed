/* SPDX-License-Identifier: MIT */
/* Calls to the cluster: the member that last answered first, failover to
 * the next ones, and etcd's statuses as the store's errno values. */
#include <string.h>
#include "etcdb/etcdb-int.h"

#define MS 1000000LL

int64_t km__etcdb_deadline(km__etcdb *s)
{
    return km_now() + s->call_timeout;
}

void km__etcdb_saw(km__etcdb *s, const Etcdserverpb__ResponseHeader *h)
{
    if (!h)
        return;
    long long cur = atomic_load(&s->revision);
    while (h->revision > cur && !atomic_compare_exchange_weak(&s->revision, &cur, h->revision))
        ;
}

void km__etcdb_saw_compact(km__etcdb *s, int64_t rev)
{
    long long cur = atomic_load(&s->compact);
    while (rev > cur && !atomic_compare_exchange_weak(&s->compact, &cur, rev))
        ;
}

void km__etcdb_failover(km__etcdb *s, size_t ep)
{
    size_t want = ep;
    atomic_compare_exchange_strong(&s->cur, &want, (ep + 1) % s->n);
}

static bool has(const char *msg, size_t n, const char *what)
{
    return msg && memmem(msg, n, what, strlen(what)) != NULL;
}

int km__etcdb_status_err(int code, const char *msg, size_t n)
{
    /* etcd's errors (its rpctypes) are told apart by their messages, as
     * its own clients do; several share a code. */
    static const struct { const char *text; int err; } by_text[] = {
        { "compacted", -ENODATA },
        { "future revision", -ERANGE },
        { "key not found", -ENOKEY },
        { "duplicate key", -ENOTUNIQ },
        { "too many operations", -E2BIG },
        { "request is too large", -EMSGSIZE },
        { "larger than max", -EMSGSIZE },
        { "lease not found", -ENOENT },
        { "lease already exists", -EEXIST },
        { "too large lease TTL", -EFBIG },
        { "database space exceeded", -ENOSPC },
        { "request timed out", -ETIMEDOUT },
        /* the token is missing, expired or older than a change to the
         * users and roles: a new login may cure it */
        { "invalid auth token", -EKEYEXPIRED },
        { "user name is empty", -EKEYEXPIRED },
        { "revision of auth store is old", -EKEYEXPIRED },
    };
    for (size_t i = 0; i < sizeof by_text / sizeof by_text[0]; i++)
        if (has(msg, n, by_text[i].text))
            return by_text[i].err;
    switch (code) {
    case KM_GRPC_CANCELLED:           return -ECANCELED;
    case KM_GRPC_INVALID_ARGUMENT:    return -EINVAL;
    case KM_GRPC_DEADLINE_EXCEEDED:   return -ETIMEDOUT;
    case KM_GRPC_NOT_FOUND:           return -ENOENT;
    case KM_GRPC_ALREADY_EXISTS:
    case KM_GRPC_FAILED_PRECONDITION: return -EEXIST;
    case KM_GRPC_RESOURCE_EXHAUSTED:  return -ENOSPC;
    case KM_GRPC_OUT_OF_RANGE:        return -ERANGE;
    case KM_GRPC_UNAVAILABLE:         return -EHOSTUNREACH;
    case KM_GRPC_UNIMPLEMENTED:       return -EPROTONOSUPPORT;
    case KM_GRPC_PERMISSION_DENIED:
    case KM_GRPC_UNAUTHENTICATED:     return -EACCES;
    }
    return -EIO;
}

int km__etcdb_stream_err(int rc, km_grpc_stream *st)
{
    km_grpc_status t = st ? km_grpc_stream_status(st) : (km_grpc_status){ .code = -1 };
    switch (rc) {
    case -EREMOTEIO:
        return km__etcdb_status_err(t.code, t.message.p, t.message.n);
    case -ECONNREFUSED: case -EAGAIN: case -ENETUNREACH: case -EHOSTUNREACH:
    case -EADDRNOTAVAIL: case -ECONNRESET: case -EPIPE: case -ECONNABORTED:
        return -EHOSTUNREACH;
    case -EPROTO:
        return -EBADMSG;
    }
    return rc;
}

bool km__etcdb_transport_err(int rc)
{
    return rc == -EHOSTUNREACH || rc == -ESTALE;
}

/* Whether a response's header (every etcd response has one, as its field
 * "header") carries a revision below floor. */
static bool lags(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int64_t floor)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, "header");
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE ||
        f->descriptor != &etcdserverpb__response_header__descriptor)
        return false;
    const Etcdserverpb__ResponseHeader *h =
        *(Etcdserverpb__ResponseHeader *const *)((const char *)m + f->offset);
    return h && h->revision < floor;
}

/* After a failed attempt: whether it may be sent again elsewhere. A write
 * only when it surely was not applied: the member refused the connection
 * or the stream, or answered that it had no leader to propose it to
 * (clientv3's rule). A connection that broke after the request went out
 * leaves a write's outcome unknown, whatever status the gRPC layer gives
 * the broken stream (it calls a closed connection UNAVAILABLE too): sent
 * again, the write could be applied twice. */
static bool retryable(int rc, km_grpc_stream *st, int kind, bool early_dl)
{
    km_grpc_status t = st ? km_grpc_stream_status(st) : (km_grpc_status){ .code = -1 };
    switch (rc) {
    case -ECONNREFUSED: case -EAGAIN: case -ENETUNREACH: case -EHOSTUNREACH:
    case -EADDRNOTAVAIL:
        return true;
    case -ECONNRESET: case -EPIPE: case -ECONNABORTED:
        return kind == KM__ETCDB_READ;
    case -ETIMEDOUT:
        /* Only the attempt's own bound passed, not the call's. */
        return kind == KM__ETCDB_READ && early_dl;
    case -EREMOTEIO:
        if (t.code != KM_GRPC_UNAVAILABLE)
            return false;
        return kind == KM__ETCDB_READ || has(t.message.p, t.message.n, "no leader") ||
               has(t.message.p, t.message.n, "not capable");
    }
    return false;
}

/* The status an attempt ended with, for the caller who asked for it. */
static void keep_status(km_store_status *out, km_grpc_stream *st)
{
    if (!out)
        return;
    km_grpc_status t = st ? km_grpc_stream_status(st) : (km_grpc_status){ .code = -1 };
    out->code = t.code;
    size_t n = t.code >= 0 && t.message.p ? t.message.n : 0;
    if (n >= sizeof out->message)
        n = sizeof out->message - 1;
    if (n)
        memcpy(out->message, t.message.p, n);
    out->message[n] = 0;
}

int km__etcdb_call(km__etcdb *s, const char *method, int kind, int flags,
                   const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                   int64_t deadline, ProtobufCMessage **rep, km_store_status *status)
{
    *rep = NULL;
    keep_status(status, NULL);
    int err = -EHOSTUNREACH;
    /* A member whose revision is below one already seen lags (a
     * serializable read there would go back in time): a read tries
     * another. */
    int64_t floor = kind == KM__ETCDB_READ ? atomic_load(&s->revision) : 0;
    char tok[KM__ETCDB_TOKEN_MAX];
    km_grpc_md md;
    uint64_t gen = 0;
    size_t nmd = flags & KM__ETCDB_ANON ? 0 : km__etcdb_token_md(s, &md, tok, &gen);
    bool relogged = flags & KM__ETCDB_ANON;
    for (size_t tries = 0;; tries++) {
        size_t ep = atomic_load(&s->cur) % s->n;
        int64_t dl = deadline;
        /* A read leaves time for the other members when one hangs. */
        if (kind == KM__ETCDB_READ && s->n > 1) {
            int64_t per = km_now() + s->call_timeout / 2;
            if (per < dl)
                dl = per;
        }
        km_grpc_stream *st = NULL;
        int rc = km_grpc_unary_pb(s->ch[ep], method, nmd ? &md : NULL, nmd, req, d, dl, &st, rep);
        bool again;
        if (rc == 0 && !lags(*rep, d, floor)) {
            km_grpc_stream_free(st);
            return 0;
        } else if (rc == 0) {
            km_grpc_pb_free(*rep);
            *rep = NULL;
            err = -ESTALE;
            again = true;
        } else {
            err = km__etcdb_stream_err(rc, st);
            again = retryable(rc, st, kind, dl < deadline);
            keep_status(status, st);
        }
        km_grpc_stream_free(st);
        /* etcd refused the token before doing anything: log in again
         * (once per call) and send it to the same member. */
        if (!relogged && km__etcdb_token_err(s, err)) {
            relogged = true;
            int lr = km__etcdb_relogin(s, gen, deadline);
            if (lr)
                return lr;
            nmd = km__etcdb_token_md(s, &md, tok, &gen);
            tries--;
            continue;
        }
        if (!again || rc == -ECANCELED)
            return err == -EKEYEXPIRED ? -EACCES : err;
        km__etcdb_failover(s, ep);
        if (km_now() >= deadline)
            return err == -EHOSTUNREACH || err == -ESTALE ? -EHOSTUNREACH : -ETIMEDOUT;
        /* Once every member failed, wait a little: an election takes a
         * second or so. */
        if ((tries + 1) % s->n == 0) {
            int64_t nap = (50 * MS) << (tries / s->n < 3 ? tries / s->n : 3);
            if (km_now() + nap > deadline)
                nap = deadline - km_now();
            if (nap > 0 && km_sleep(nap) < 0)
                return -ECANCELED;
        }
    }
}

int km__etcdb_unary(km__etcdb *s, const char *method, int kind, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *d, int64_t deadline,
                    ProtobufCMessage **rep)
{
    return km__etcdb_call(s, method, kind, 0, req, d, deadline, rep, NULL);
}

int km__etcdb_pass(km_store *st, const char *method, int flags, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *d, ProtobufCMessage **rep,
                   km_store_status *status)
{
    km__etcdb *s = (km__etcdb *)st;
    km_store_status own, *sp = status ? status : &own;
    int kind = flags & KM_STORE_CALL_READ ? KM__ETCDB_READ : KM__ETCDB_WRITE;
    int rc = km__etcdb_call(s, method, kind, flags & KM_STORE_CALL_ANON ? KM__ETCDB_ANON : 0,
                            req, d, km__etcdb_deadline(s), rep, sp);
    /* etcd's answer is the status itself; only the transport's failures
     * (and the deadline) are said as errno values */
    if (rc && sp->code > 0 && rc != -ECANCELED && rc != -ETIMEDOUT && rc != -EHOSTUNREACH)
        rc = -EREMOTEIO;
    return rc;
}

int km__etcdb_current(km__etcdb *s, int64_t deadline, int64_t *rev)
{
    /* A quorum read of one key nobody uses: the header carries the
     * revision. */
    Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
    req.key = (ProtobufCBinaryData){ 1, (uint8_t *)"\0" };
    req.count_only = true;
    ProtobufCMessage *m;
    int rc = km__etcdb_unary(s, "/etcdserverpb.KV/Range", KM__ETCDB_READ, &req.base,
                             &etcdserverpb__range_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)m;
    km__etcdb_saw(s, r->header);
    *rev = r->header ? r->header->revision : 0;
    km_grpc_pb_free(m);
    return 0;
}
