/* SPDX-License-Identifier: MIT */
/* The cluster's state as the store reports it: stats, hashes, snapshots. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rt/alloc.h"
#include <kumo/net.h>
#include "etcdb/etcdb-int.h"

#define MAINT(m) "/etcdserverpb.Maintenance/" m

int km__etcdb_stat_read(km_store *st, km_store_stat *out)
{
    km__etcdb *s = (km__etcdb *)st;
    memset(out, 0, sizeof *out);
    int64_t deadline = km__etcdb_deadline(s);
    Etcdserverpb__StatusRequest sq = ETCDSERVERPB__STATUS_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc = km__etcdb_unary(s, MAINT("Status"), KM__ETCDB_READ, &sq.base,
                             &etcdserverpb__status_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    Etcdserverpb__StatusResponse *r = (Etcdserverpb__StatusResponse *)m;
    km__etcdb_saw(s, r->header);
    out->db_size = r->dbsize;
    out->db_size_in_use = r->dbsizeinuse;
    km_grpc_pb_free(m);

    /* The live keys and the revision: the replica's, unless it is
     * reloading; then a count over the whole keyspace, whose header also
     * gives a linearized revision (Status's is the member's own). */
    unsigned long e = atomic_load(&s->rep_epoch);
    km_store_stat rs;
    if (s->rep && !(e & 1) && km_store_stat_read(s->rep, &rs) == 0 &&
        atomic_load(&s->rep_epoch) == e) {
        out->keys = rs.keys;
        out->revision = rs.revision;
    } else {
        Etcdserverpb__RangeRequest rq = ETCDSERVERPB__RANGE_REQUEST__INIT;
        rq.key = (ProtobufCBinaryData){ 1, (uint8_t *)"\0" };
        rq.range_end = (ProtobufCBinaryData){ 1, (uint8_t *)"\0" };
        rq.count_only = true;
        rc = km__etcdb_unary(s, "/etcdserverpb.KV/Range", KM__ETCDB_READ, &rq.base,
                             &etcdserverpb__range_response__descriptor, deadline, &m);
        if (rc)
            return rc;
        Etcdserverpb__RangeResponse *g = (Etcdserverpb__RangeResponse *)m;
        km__etcdb_saw(s, g->header);
        out->keys = g->count;
        out->revision = g->header ? g->header->revision : 0;
        km_grpc_pb_free(m);
    }

    Etcdserverpb__LeaseLeasesRequest lq = ETCDSERVERPB__LEASE_LEASES_REQUEST__INIT;
    rc = km__etcdb_unary(s, "/etcdserverpb.Lease/LeaseLeases", KM__ETCDB_READ, &lq.base,
                         &etcdserverpb__lease_leases_response__descriptor, deadline, &m);
    if (rc)
        return rc;
    out->leases = (int64_t)((Etcdserverpb__LeaseLeasesResponse *)m)->n_leases;
    km_grpc_pb_free(m);
    out->compact_revision = atomic_load(&s->compact);
    /* commits and writes count LMDB commits: the cluster has none here. */
    return 0;
}

int64_t km__etcdb_revision(km_store *st)
{
    return atomic_load(&((km__etcdb *)st)->revision);
}

int km__etcdb_hash_kv(km_store *st, int64_t rev, uint32_t *hash, int64_t *revision,
                      int64_t *compact_revision)
{
    km__etcdb *s = (km__etcdb *)st;
    Etcdserverpb__HashKVRequest req = ETCDSERVERPB__HASH_KVREQUEST__INIT;
    req.revision = rev > 0 ? rev : 0;
    ProtobufCMessage *m;
    /* Hashing the whole history takes the member a while. */
    int rc = km__etcdb_unary(s, MAINT("HashKV"), KM__ETCDB_READ, &req.base,
                             &etcdserverpb__hash_kvresponse__descriptor,
                             km_now() + 4 * s->call_timeout, &m);
    if (rc)
        return rc;
    Etcdserverpb__HashKVResponse *r = (Etcdserverpb__HashKVResponse *)m;
    km__etcdb_saw(s, r->header);
    km__etcdb_saw_compact(s, r->compact_revision);
    *hash = r->hash;
    if (revision)
        *revision = r->header ? r->header->revision : 0;
    if (compact_revision)
        *compact_revision = r->compact_revision;
    km_grpc_pb_free(m);
    return 0;
}

int km__etcdb_hash(km_store *st, uint32_t *hash, int64_t *revision)
{
    km__etcdb *s = (km__etcdb *)st;
    Etcdserverpb__HashRequest req = ETCDSERVERPB__HASH_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc = km__etcdb_unary(s, MAINT("Hash"), KM__ETCDB_READ, &req.base,
                             &etcdserverpb__hash_response__descriptor,
                             km_now() + 4 * s->call_timeout, &m);
    if (rc)
        return rc;
    Etcdserverpb__HashResponse *r = (Etcdserverpb__HashResponse *)m;
    km__etcdb_saw(s, r->header);
    *hash = r->hash;
    if (revision)
        *revision = r->header ? r->header->revision : 0;
    km_grpc_pb_free(m);
    return 0;
}

typedef struct {
    int fd;
    const uint8_t *p;
    size_t n;
    int rc;
} write_arg;

static void write_all(void *arg)
{
    write_arg *a = arg;
    a->rc = 0;
    while (a->n) {
        ssize_t w = write(a->fd, a->p, a->n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            a->rc = -errno;
            return;
        }
        a->p += w;
        a->n -= (size_t)w;
    }
}

/* etcd ends its stream with the file's SHA-256; the store's snapshot is
 * the file alone (the API layer adds the digest, as for any backend), so
 * the last SHA_LEN bytes seen are held back until more come. */
#define SHA_LEN 32
typedef struct {
    int     fd;
    uint8_t held[SHA_LEN];
    size_t  n;
    bool    written;
} tail;

static int put(tail *t, const uint8_t *p, size_t n)
{
    if (!n)
        return 0;
    t->written = true;
    write_arg a = { t->fd, p, n, 0 };
    int rc = km_blocking(write_all, &a);
    return rc ? rc : a.rc;
}

static int emit(tail *t, const uint8_t *p, size_t n)
{
    size_t total = t->n + n;
    if (total <= SHA_LEN) {
        memcpy(t->held + t->n, p, n);
        t->n = total;
        return 0;
    }
    size_t out = total - SHA_LEN, from_held = out < t->n ? out : t->n;
    int rc = put(t, t->held, from_held);
    if (!rc)
        rc = put(t, p, out - from_held);
    if (rc)
        return rc;
    /* What stays: the held bytes not written, then the chunk's end. */
    uint8_t keep[SHA_LEN];
    size_t k = t->n - from_held;
    memcpy(keep, t->held + from_held, k);
    memcpy(keep + k, p + (n - (SHA_LEN - k)), SHA_LEN - k);
    memcpy(t->held, keep, SHA_LEN);
    t->n = SHA_LEN;
    return 0;
}

/* Streams Maintenance/Snapshot from one member into fd. A member that
 * fails before the first byte is written is replaced by the next; one
 * that fails later fails the copy, which cannot be resumed. */
int km__etcdb_snapshot(km_store *st, int fd)
{
    km__etcdb *s = (km__etcdb *)st;
    /* A database of gigabytes takes a while to send. */
    int64_t deadline = km_now() + 60 * s->call_timeout;
    int rc = -EHOSTUNREACH;
    bool relogged = false;
    for (size_t tries = 0; tries < s->n; tries++) {
        size_t ep = atomic_load(&s->cur) % s->n;
        km_grpc_stream *gs = NULL;
        Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
        char tok[KM__ETCDB_TOKEN_MAX];
        km_grpc_md md;
        uint64_t gen;
        size_t nmd = km__etcdb_token_md(s, &md, tok, &gen);
        rc = km_grpc_stream_open(s->ch[ep], MAINT("Snapshot"), nmd ? &md : NULL, nmd, deadline,
                                 &gs);
        if (!rc)
            rc = km_grpc_stream_send_pb(gs, &req.base, true, deadline);
        bool wrote = false;
        tail t = { .fd = fd };
        while (!rc) {
            ProtobufCMessage *m;
            int r = km_grpc_stream_recv_pb(gs, &etcdserverpb__snapshot_response__descriptor, &m,
                                           deadline);
            if (r == 0)
                break;
            if (r < 0) {
                rc = r;
                break;
            }
            Etcdserverpb__SnapshotResponse *sr = (Etcdserverpb__SnapshotResponse *)m;
            rc = emit(&t, sr->blob.data, sr->blob.len);
            wrote = wrote || t.written;
            km_grpc_pb_free(m);
            if (rc) {
                km_grpc_stream_free(gs);
                return rc;      /* the reader's error, not the cluster's */
            }
        }
        if (rc)
            rc = km__etcdb_stream_err(rc, gs);
        else if (t.n != SHA_LEN)
            rc = -EBADMSG;      /* shorter than its digest: not a snapshot */
        km_grpc_stream_free(gs);
        /* a token etcd no longer takes (it refuses it before the first
         * byte): log in again and ask once more */
        if (!wrote && !relogged && km__etcdb_token_err(s, rc)) {
            relogged = true;
            if ((rc = km__etcdb_relogin(s, gen, deadline)) != 0)
                return rc;
            tries--;
            continue;
        }
        if (rc == -EKEYEXPIRED)
            rc = -EACCES;
        if (!rc || wrote || !km__etcdb_transport_err(rc))
            return rc;
        km__etcdb_failover(s, ep);
    }
    return rc;
}

int km__etcdb_snapshot_file(km_store *st, int *fd, int64_t *size)
{
    km__etcdb *s = (km__etcdb *)st;
    *fd = -1;
    *size = 0;
    int f = open(s->tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (f < 0)
        return -errno;
    int rc = km__etcdb_snapshot(st, f);
    struct stat sb;
    if (!rc && fstat(f, &sb) != 0)
        rc = -errno;
    if (rc) {
        close(f);
        return rc;
    }
    *fd = f;
    *size = sb.st_size;
    return 0;
}
