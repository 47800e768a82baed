/* SPDX-License-Identifier: MIT */
/* etcd's Maintenance and Cluster services, as one member with no peers answers them. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "enc/sha256.h"
#include "etcd/rpc-int.h"
#include "rt/rt-int.h"

/* Reads the request (whatever it holds); 0, or the call has failed. */
static int recv_req(km_grpc_call *c, ProtobufCMessage **m)
{
    return km_grpc_recv_pb(c, NULL, m, KM_FOREVER) == 1 ? 0 : -EIO;
}

/* ---- Maintenance ---- */

static void status(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    km_grpc_pb_free(m);
    km_store_stat st;
    int rc = km_store_stat_read(e->store, &st);
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, st.revision, &h);
    Etcdserverpb__StatusResponse rep = ETCDSERVERPB__STATUS_RESPONSE__INIT;
    rep.header = &h;
    rep.version = (char *)KM__ETCD_VERSION;
    rep.dbsize = st.db_size;
    rep.leader = e->member_id;      /* the one member leads */
    /* no raft log: each revision stands for one applied entry */
    rep.raftindex = (uint64_t)st.revision;
    rep.raftappliedindex = (uint64_t)st.revision;
    rep.raftterm = e->raft_term;
    rep.dbsizeinuse = st.db_size_in_use;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

/* The store raises no alarms: a full disk fails the write that hit it
 * (etcd's NOSPACE message) instead of turning the server read-only. So
 * there is never one to list or disarm, and one cannot be raised by
 * request either. */
static void alarms(km_grpc_call *c, void *ud)
{
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    Etcdserverpb__AlarmRequest *req = (Etcdserverpb__AlarmRequest *)m;
    bool raise = req->action == ETCDSERVERPB__ALARM_REQUEST__ALARM_ACTION__ACTIVATE &&
                 req->alarm != ETCDSERVERPB__ALARM_TYPE__NONE;
    km_grpc_pb_free(m);
    if (raise) {
        km_grpc_finish(c, KM_GRPC_UNIMPLEMENTED, "kumo: alarms cannot be raised by request");
        return;
    }
    /* GET lists none; DEACTIVATE of an alarm not raised answers an empty
     * list, as etcd does; so does ACTIVATE of NONE. etcd 3.4's alarm
     * answers carry no header. */
    Etcdserverpb__AlarmResponse rep = ETCDSERVERPB__ALARM_RESPONSE__INIT;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

/* LMDB reuses freed pages in place and never leaves the fragmentation
 * bbolt's defragmentation exists to undo, so there is nothing to do; a
 * compacting copy is what km_store_snapshot makes. etcd 3.4 answers
 * without a header. */
static void defragment(km_grpc_call *c, void *ud)
{
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    if (km__etcd_rpc_admin(ud, c)) {
        km_grpc_pb_free(m);
        return;
    }
    km_grpc_pb_free(m);
    Etcdserverpb__DefragmentResponse rep = ETCDSERVERPB__DEFRAGMENT_RESPONSE__INIT;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

static void hash(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    if (km__etcd_rpc_admin(ud, c)) {
        km_grpc_pb_free(m);
        return;
    }
    km_grpc_pb_free(m);
    uint32_t sum;
    int64_t rev;
    int rc = km_store_hash(e->store, &sum, &rev);
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, rev, &h);
    Etcdserverpb__HashResponse rep = ETCDSERVERPB__HASH_RESPONSE__INIT;
    rep.header = &h;
    rep.hash = sum;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

static void hash_kv(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    if (km__etcd_rpc_admin(ud, c)) {
        km_grpc_pb_free(m);
        return;
    }
    int64_t at = ((Etcdserverpb__HashKVRequest *)m)->revision;
    km_grpc_pb_free(m);
    uint32_t sum;
    int64_t rev, compact;
    int rc = km_store_hash_kv(e->store, at, &sum, &rev, &compact);
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, rev, &h);
    Etcdserverpb__HashKVResponse rep = ETCDSERVERPB__HASH_KVRESPONSE__INIT;
    rep.header = &h;
    rep.hash = sum;
    /* etcd's store starts with compacted revision -1, not 0 */
    rep.compact_revision = compact ? compact : -1;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

/* How the copy is read (one offloaded pread each) and sent (etcd sends
 * 32 KiB messages; any size under a client's 4 MiB limit does). */
#define READ_CHUNK (1 << 20)
#define SEND_CHUNK (64 << 10)
/* How long a snapshot may go on once the server drains: a small one
 * finishes, a large one ends (UNAVAILABLE) rather than hold the stop. */
#define DRAIN_GRACE (1000 * 1000000LL)

typedef struct {
    int     fd;
    void   *buf;
    size_t  n;
    int64_t off;
    ssize_t got;
    int     err;
} pread_arg;

static void pread_fn(void *arg)
{
    pread_arg *a = arg;
    do
        a->got = pread(a->fd, a->buf, a->n, a->off);
    while (a->got < 0 && errno == EINTR);
    a->err = a->got < 0 ? -errno : 0;
}

/* The store copied at one revision, streamed with the bytes still to
 * come, then the copy's SHA-256 in a message of its own with none
 * remaining: etcd's framing, which `etcdctl snapshot restore` and `kumo
 * snapshot restore` check. */
static void snapshot(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    km_grpc_pb_free(m);
    /* etcd's stream passes the auth error on unmapped: code Unknown */
    km_auth_id id;
    int rc = km__etcd_who_call(e, c, &id);
    if (!rc && (rc = km_auth_check_admin(e->auth, &id))) {
        km_grpc_finish(c, KM_GRPC_UNKNOWN, rc == KM_EAUTH_USER_EMPTY ? "auth: user name is empty"
                                                                     : "auth: permission denied");
        return;
    }
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    int fd;
    int64_t size;
    rc = km_store_snapshot_file(e->store, &fd, &size);
    if (rc) {
        km__etcd_rpc_fail(c, rc);
        return;
    }
    uint8_t *buf = km__malloc(READ_CHUNK);
    if (!buf) {
        close(fd);
        km__etcd_rpc_fail(c, -ENOMEM);
        return;
    }
    km__sha256 sh;
    km__sha256_init(&sh);
    Etcdserverpb__SnapshotResponse rep = ETCDSERVERPB__SNAPSHOT_RESPONSE__INIT;
    int64_t sent = 0, drain_at = 0;
    while (sent < size && !rc) {
        if (!drain_at && km_grpc_draining(c))
            drain_at = km_now();
        if (drain_at && km_now() - drain_at >= DRAIN_GRACE) {
            rc = -ESHUTDOWN;
            break;
        }
        pread_arg a = { fd, buf, READ_CHUNK, sent, 0, 0 };
        if (size - sent < READ_CHUNK)
            a.n = (size_t)(size - sent);
        /* not cancellable: a client that goes must not leave a read
         * running into buf after it is freed (one read is short) */
        rc = km__blocking(pread_fn, &a, false);
        if (!rc)
            rc = a.err ? a.err : a.got == 0 ? -EIO : 0;
        if (rc)
            break;
        km__sha256_update(&sh, buf, (size_t)a.got);
        for (size_t off = 0; off < (size_t)a.got && !rc; off += SEND_CHUNK) {
            size_t k = (size_t)a.got - off < SEND_CHUNK ? (size_t)a.got - off : SEND_CHUNK;
            sent += (int64_t)k;
            rep.remaining_bytes = (uint64_t)(size - sent);
            rep.blob = (ProtobufCBinaryData){ k, buf + off };
            rc = km_grpc_send_pb(c, &rep.base, KM_FOREVER);
        }
    }
    if (!rc) {
        uint8_t sum[KM__SHA256_LEN];
        km__sha256_final(&sh, sum);
        rep.remaining_bytes = 0;
        rep.blob = (ProtobufCBinaryData){ sizeof sum, sum };
        rc = km_grpc_send_pb(c, &rep.base, KM_FOREVER);
    } else if (rc != -ECANCELED && rc != -EPIPE && rc != -ECONNRESET) {
        km__etcd_rpc_fail(c, rc);   /* a read failed; a client that went needs no status */
    }
    km__free(buf);
    close(fd);
}

/* The one member leads already: moving to it is done at once (etcd's
 * raft ignores a transfer to the leader); there is nobody else. */
static void move_leader(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    if (km__etcd_rpc_admin(ud, c)) {
        km_grpc_pb_free(m);
        return;
    }
    uint64_t target = ((Etcdserverpb__MoveLeaderRequest *)m)->targetid;
    km_grpc_pb_free(m);
    if (target != e->member_id) {
        km_grpc_finish(c, KM_GRPC_FAILED_PRECONDITION, "etcdserver: bad leader transferee");
        return;
    }
    Etcdserverpb__MoveLeaderResponse rep = ETCDSERVERPB__MOVE_LEADER_RESPONSE__INIT;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

int km__etcd_rpc_maint(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "Alarm", KM_GRPC_UNARY, alarms },
        { "Status", KM_GRPC_UNARY, status },
        { "Defragment", KM_GRPC_UNARY, defragment },
        { "Hash", KM_GRPC_UNARY, hash },
        { "HashKV", KM_GRPC_UNARY, hash_kv },
        { "Snapshot", KM_GRPC_SERVER_STREAMING, snapshot },
        { "MoveLeader", KM_GRPC_UNARY, move_leader },
    };
    return km_grpc_register_service(s, &etcdserverpb__maintenance__descriptor, methods,
                                    sizeof methods / sizeof methods[0], e);
}

/* ---- Cluster ---- */

/* This server as the cluster's one member. It has no peer URLs: there is
 * no peer port, members are never added. */
static void member_of(km_etcd *e, Etcdserverpb__Member *mb, char **url)
{
    etcdserverpb__member__init(mb);
    mb->id = e->member_id;
    mb->name = e->name;
    *url = e->client_url;
    if (e->client_url[0]) {
        mb->n_clienturls = 1;
        mb->clienturls = url;
    }
}

static void member_list(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    km_grpc_pb_free(m);
    Etcdserverpb__Member mb, *mp = &mb;
    char *url;
    member_of(e, &mb, &url);
    /* etcd's cluster answers carry no revision */
    Etcdserverpb__ResponseHeader h;
    km__etcd_rpc_header(e, 0, &h);
    Etcdserverpb__MemberListResponse rep = ETCDSERVERPB__MEMBER_LIST_RESPONSE__INIT;
    rep.header = &h;
    rep.n_members = 1;
    rep.members = &mp;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
}

static const char no_change[] = "kumo: a single member: membership cannot change";

/* What etcd takes for a peer URL: http or https, a host and a port,
 * nothing after them (unix sockets aside, which it takes too). */
static bool peer_url_ok(const char *u)
{
    const char *p;
    if (!strncmp(u, "http://", 7))
        p = u + 7;
    else if (!strncmp(u, "https://", 8))
        p = u + 8;
    else
        return !strncmp(u, "unix://", 7) || !strncmp(u, "unixs://", 8);
    const char *colon = strrchr(p, ':');
    if (!colon || colon == p || !colon[1] || strchr(p, '/'))
        return false;
    for (const char *d = colon + 1; *d; d++)
        if (*d < '0' || *d > '9')
            return false;
    return true;
}

/* etcd checks the URLs first; a valid request is refused as one this
 * server cannot carry out. */
static void member_add(km_grpc_call *c, void *ud)
{
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    Etcdserverpb__MemberAddRequest *req = (Etcdserverpb__MemberAddRequest *)m;
    bool ok = req->n_peerurls > 0;
    for (size_t i = 0; ok && i < req->n_peerurls; i++)
        ok = peer_url_ok(req->peerurls[i]);
    km_grpc_pb_free(m);
    if (!ok)
        km_grpc_finish(c, KM_GRPC_INVALID_ARGUMENT, "etcdserver: given member URLs are invalid");
    else
        km_grpc_finish(c, KM_GRPC_UNIMPLEMENTED, no_change);
}

/* Remove, update and promote name a member: one that is not this one is
 * etcd's "member not found"; this one cannot go or change its (absent)
 * peer URLs, and is a voter already, which etcd refuses to promote. */
static void member_named(km_grpc_call *c, void *ud)
{
    km_etcd *e = ud;
    ProtobufCMessage *m;
    if (recv_req(c, &m))
        return;
    uint64_t id;
    bool promote = m->descriptor == &etcdserverpb__member_promote_request__descriptor;
    if (m->descriptor == &etcdserverpb__member_remove_request__descriptor)
        id = ((Etcdserverpb__MemberRemoveRequest *)m)->id;
    else if (m->descriptor == &etcdserverpb__member_update_request__descriptor)
        id = ((Etcdserverpb__MemberUpdateRequest *)m)->id;
    else
        id = ((Etcdserverpb__MemberPromoteRequest *)m)->id;
    km_grpc_pb_free(m);
    if (id != e->member_id)
        km_grpc_finish(c, KM_GRPC_NOT_FOUND, "etcdserver: member not found");
    else if (promote)
        km_grpc_finish(c, KM_GRPC_FAILED_PRECONDITION,
                       "etcdserver: can only promote a learner member");
    else
        km_grpc_finish(c, KM_GRPC_UNIMPLEMENTED, no_change);
}

int km__etcd_rpc_cluster(km_etcd *e, km_grpc_server *s)
{
    static const km_grpc_method methods[] = {
        { "MemberAdd", KM_GRPC_UNARY, member_add },
        { "MemberRemove", KM_GRPC_UNARY, member_named },
        { "MemberUpdate", KM_GRPC_UNARY, member_named },
        { "MemberList", KM_GRPC_UNARY, member_list },
        { "MemberPromote", KM_GRPC_UNARY, member_named },
    };
    return km_grpc_register_service(s, &etcdserverpb__cluster__descriptor, methods,
                                    sizeof methods / sizeof methods[0], e);
}
