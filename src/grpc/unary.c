/* SPDX-License-Identifier: MIT */
/* Unary client calls: one request out with the half-close, one response and the status back. */
#include "grpc/grpc-int.h"
#include "grpc/pb-int.h"

/* Sends req and reads the one response into *rep. */
static int exchange(km_grpc_stream *st, int (*send)(km_grpc_stream *, const void *, size_t),
                    const void *req, size_t n, int64_t deadline, km_str *rep)
{
    int rc = send(st, req, n);
    /* -EPIPE: the server answered without waiting for the request (an
     * error, usually); its status is read below. */
    if (rc && rc != -EPIPE)
        return rc;
    rc = km_grpc_stream_recv(st, rep, deadline);
    if (rc == 0) {
        /* OK, but no message: a unary call must have one. */
        km__grpc_stream_mark(st, KM_GRPC_INTERNAL, "server sent no response message");
        return -EPROTO;
    }
    if (rc < 0)
        return rc;
    return km__grpc_stream_expect_end(st, deadline);
}

static int send_raw(km_grpc_stream *st, const void *req, size_t n)
{
    return km_grpc_stream_send(st, req, n, true, KM_FOREVER);
}

static int send_pb(km_grpc_stream *st, const void *req, size_t n)
{
    return km_grpc_stream_send_pb(st, req, true, KM_FOREVER);
}

int km_grpc_unary(km_grpc_channel *ch, const char *method, const km_grpc_md *md, size_t nmd,
                  const void *req, size_t n, int64_t deadline,
                  km_grpc_stream **out, km_str *rep)
{
    if (!rep || (n && !req))
        return -EINVAL;
    int rc = km_grpc_stream_open(ch, method, md, nmd, deadline, out);
    if (rc)
        return rc;
    return exchange(*out, send_raw, req, n, deadline, rep);
}

int km_grpc_unary_pb(km_grpc_channel *ch, const char *method, const km_grpc_md *md, size_t nmd,
                     const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                     int64_t deadline, km_grpc_stream **out, ProtobufCMessage **rep)
{
    if (!req || !d || !rep)
        return -EINVAL;
    int rc = km_grpc_stream_open(ch, method, md, nmd, deadline, out);
    if (rc)
        return rc;
    km_str m;
    rc = exchange(*out, send_pb, req, 0, deadline, &m);
    if (rc)
        return rc;
    if ((rc = km__grpc_pb_unpack(d, m, rep)) == -EBADMSG)
        km__grpc_stream_mark(*out, KM_GRPC_INTERNAL, "response message does not decode");
    return rc;
}
