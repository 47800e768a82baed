/* SPDX-License-Identifier: MIT */
/* gRPC over HTTP/2: a server that mounts as an HTTP handler, a client channel on the HTTP/2 client, protobuf-c messages. */
#ifndef KUMO_GRPC_H
#define KUMO_GRPC_H

#include <stdbool.h>
#include "rt.h"
#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* protobuf-c's types, declared here so that this header does not need
 * <protobuf-c/protobuf-c.h> (include it to build or read messages). */
typedef struct ProtobufCMessage ProtobufCMessage;
typedef struct ProtobufCMessageDescriptor ProtobufCMessageDescriptor;
typedef struct ProtobufCServiceDescriptor ProtobufCServiceDescriptor;

/* ---- status codes ---- */

/* The status a call ends with (grpc/doc/statuscodes.md). */
enum {
    KM_GRPC_OK                  = 0,
    KM_GRPC_CANCELLED           = 1,
    KM_GRPC_UNKNOWN             = 2,
    KM_GRPC_INVALID_ARGUMENT    = 3,
    KM_GRPC_DEADLINE_EXCEEDED   = 4,
    KM_GRPC_NOT_FOUND           = 5,
    KM_GRPC_ALREADY_EXISTS      = 6,
    KM_GRPC_PERMISSION_DENIED   = 7,
    KM_GRPC_RESOURCE_EXHAUSTED  = 8,
    KM_GRPC_FAILED_PRECONDITION = 9,
    KM_GRPC_ABORTED             = 10,
    KM_GRPC_OUT_OF_RANGE        = 11,
    KM_GRPC_UNIMPLEMENTED       = 12,
    KM_GRPC_INTERNAL            = 13,
    KM_GRPC_UNAVAILABLE         = 14,
    KM_GRPC_DATA_LOSS           = 15,
    KM_GRPC_UNAUTHENTICATED     = 16,
};

/* The code's name as the spec spells it ("DEADLINE_EXCEEDED"); "" for a
 * code outside 0..16. Static storage. */
const char *km_grpc_code_name(int code);
/* The code called name (as km_grpc_code_name gives it, n bytes), or -EINVAL. */
int km_grpc_code_parse(const char *name, size_t n);

/* A final status: a code and its message (UTF-8, decoded). The message
 * belongs to the object it came from. */
typedef struct {
    int    code;
    km_str message;
} km_grpc_status;

/* ---- metadata ---- */

/* One metadata entry. Keys are lower case, [0-9a-z_.-]. Values of keys
 * ending in "-bin" are bytes (base64 on the wire, which kumo does both
 * ways); other values are printable ASCII without spaces at either end.
 * Received entries point into memory the call owns, in the order they
 * came; one HTTP field carrying several comma-separated -bin values gives
 * one entry each. Fields the protocol reserves (pseudo-headers,
 * content-type, te, grpc-*) are never metadata. */
typedef struct {
    km_str key;
    km_str value;
} km_grpc_md;

/* An entry to send, from a NUL-terminated key and n value bytes. */
static inline km_grpc_md km_grpc_md_of(const char *key, const void *value, size_t n)
{
    km_grpc_md m;
    size_t kl = 0;
    while (key[kl])
        kl++;
    m.key.p = key;
    m.key.n = kl;
    m.value.p = (const char *)value;
    m.value.n = n;
    return m;
}

/* The first value of key among n entries; p NULL when absent. */
km_str km_grpc_md_get(const km_grpc_md *md, size_t n, const char *key);

/* ---- protobuf-c ---- */

/* Frees a message that a kumo call unpacked (with kumo's allocator hook,
 * which is why protobuf_c_message_free_unpacked(m, NULL) is not the way
 * when a hook is set). NULL is ignored. */
void km_grpc_pb_free(ProtobufCMessage *m);

/* ======================================================================
 * Server
 *
 * A server is a table of methods by path ("/package.Service/Method"),
 * served as an HTTP handler: mount km_grpc_serve_http on km_http_serve
 * (its ud: the server), alone or in front of other handlers (see
 * km_grpc_server_fallback). Each call runs its method's handler in the
 * HTTP stream's goroutine:
 *
 *     static void unary(km_grpc_call *c, void *ud) {
 *         ProtobufCMessage *req;
 *         if (km_grpc_recv_pb(c, NULL, &req, KM_FOREVER) != 1)
 *             return;                        // status already set
 *         Pkg__Reply rep = PKG__REPLY__INIT;
 *         ...
 *         km_grpc_send_pb(c, &rep.base, KM_FOREVER);
 *         km_grpc_pb_free(req);
 *     }                                      // returning: OK
 *
 * A handler ends its call by returning. The status is OK unless the
 * handler set another with km_grpc_finish, or a failure kumo saw set one
 * first (a message over the limit: RESOURCE_EXHAUSTED; one that does not
 * decode: INVALID_ARGUMENT; a broken frame: INTERNAL; the deadline passed:
 * DEADLINE_EXCEEDED, whatever the handler said). A call that ends before
 * any message was sent is answered "trailers-only" (one HEADERS frame).
 *
 * Deadline: a request's grpc-timeout becomes the call's deadline. The
 * handler then runs in a cancellation group of its own (under the HTTP
 * stream's): once the deadline passes, its blocking calls, kumo's and the
 * runtime's, return -ECANCELED. A client that resets its stream cancels
 * the call the same way. Goroutines the handler starts belong to that
 * group too; the handler must not return before they have.
 *
 * gRPC needs HTTP/2: a request over HTTP/1.x is answered 505 with a
 * message saying so; a method other than POST 405; a content type other
 * than application/grpc (or application/grpc+proto, application/grpc;...)
 * 415, or goes to the fallback handler; an unknown path is answered with
 * UNIMPLEMENTED. Messages are never compressed: a compressed one is
 * answered UNIMPLEMENTED (grpc-encoding not identity) or INTERNAL.
 * ====================================================================== */

typedef struct km_grpc_server km_grpc_server;
/* One call as its handler sees it; valid until the handler returns. Its
 * functions are called by one goroutine at a time (the handler's, or one
 * it started and waits for), except that one goroutine may receive
 * (km_grpc_recv, km_grpc_recv_pb) while another sends, as a bidi stream's
 * two directions run at their own pace; send the headers
 * (km_grpc_send_header) before starting the receiver. */
typedef struct km_grpc_call km_grpc_call;

typedef void km_grpc_handler(km_grpc_call *call, void *ud);

/* How many messages go each way. */
typedef enum {
    KM_GRPC_UNARY,              /* one request, one response */
    KM_GRPC_CLIENT_STREAMING,   /* requests, one response */
    KM_GRPC_SERVER_STREAMING,   /* one request, responses */
    KM_GRPC_BIDI_STREAMING,     /* both ways, each at its own pace */
} km_grpc_kind;

typedef struct {
    size_t max_recv_msg;        /* 0: 4 MiB, like grpc-go; a larger request
                                   ends the call with RESOURCE_EXHAUSTED */
    size_t max_send_msg;        /* 0: no limit; larger: km_grpc_send -EMSGSIZE */
} km_grpc_server_config;

/* Makes an empty server; cfg may be NULL. The caller owns *out. 0,
 * -ENOMEM. */
int  km_grpc_server_new(km_grpc_server **out, const km_grpc_server_config *cfg);
/* Frees s; no call may be running (shut the HTTP server down first). */
void km_grpc_server_free(km_grpc_server *s);

/* Registers a method by its full path, "/package.Service/Method" (copied).
 * Register before the server takes calls: the table is read without a
 * lock. 0; -EINVAL (not of that form); -EEXIST; -ENOMEM. */
int  km_grpc_register(km_grpc_server *s, const char *path, km_grpc_kind kind,
                      km_grpc_handler *h, void *ud);

/* One method of a service, by its name in the .proto ("Unary"). */
typedef struct {
    const char      *name;
    km_grpc_kind     kind;      /* protobuf-c's descriptors do not say */
    km_grpc_handler *handler;
} km_grpc_method;

/* Registers the n methods of service sd (protoc-c's
 * package__service__descriptor) with handlers from a table: each call's
 * messages can then be read with km_grpc_recv_pb(call, NULL, ...), the
 * method's input type. Methods of sd missing from the table stay
 * UNIMPLEMENTED. 0; -ENOENT (a name sd does not have: nothing is
 * registered); -EEXIST; -EINVAL; -ENOMEM. */
int  km_grpc_register_service(km_grpc_server *s, const ProtobufCServiceDescriptor *sd,
                              const km_grpc_method *methods, size_t n, void *ud);

/* Requests that are not gRPC (their content type is not application/grpc*)
 * go to h instead of being answered 415: gRPC and other APIs share a port.
 * Set before serving. */
void km_grpc_server_fallback(km_grpc_server *s, km_http_handler *h, void *ud);

/* The server as an HTTP handler (ud: the server). */
void km_grpc_serve_http(km_http_req *r, km_http_resp *w, void *server);

/* Whether r is a gRPC request by its content type. */
bool km_grpc_is_request(const km_http_req *r);

/* ---- a call, in its handler ---- */

/* Reads the next request message into *msg (valid until the next recv or
 * the handler's return). 1: a message; 0: the client has sent all its
 * messages (half-closed); -ETIMEDOUT at deadline (nothing lost: call
 * again); -ECANCELED (the call's deadline passed, the client went, or the
 * group the receiving goroutine runs in was cancelled: a bidi handler
 * stopping its reader leaves the call to end with the status it sets);
 * -ESHUTDOWN (after km_grpc_wake_on_drain: the server drains; the call is
 * whole, its handler ends it); -EMSGSIZE (over max_recv_msg), -EBADMSG (a
 * broken or compressed frame), -ECONNRESET: the call has failed, its
 * status is set. */
int  km_grpc_recv(km_grpc_call *c, km_str *msg, int64_t deadline);
/* For a call that lasts as long as its client wants (a watch, a
 * keep-alive stream): once the server drains (km_http_shutdown), a
 * km_grpc_recv of c that would wait returns -ESHUTDOWN, so that its
 * handler ends the call with a status the client retries on
 * (UNAVAILABLE) rather than be cut off at the shutdown's deadline. See
 * km_http_body_wake_on_drain. 0, -EINVAL. */
int  km_grpc_wake_on_drain(km_grpc_call *c);
/* Whether the server serving c drains (km_http_draining): a handler that
 * sends for long (a snapshot) looks between messages. */
bool km_grpc_draining(const km_grpc_call *c);
/* km_grpc_recv, then unpacks the message as d (NULL: the method's input
 * type, when registered with km_grpc_register_service). 1 and *out (the
 * caller frees it: km_grpc_pb_free); 0; km_grpc_recv's errors; -EBADMSG
 * when it does not decode (the status is then INVALID_ARGUMENT); -EINVAL
 * (no type known); -ENOMEM. */
int  km_grpc_recv_pb(km_grpc_call *c, const ProtobufCMessageDescriptor *d,
                     ProtobufCMessage **out, int64_t deadline);

/* Sends one response message (copied or sent before it returns); the
 * first one sends the response headers with the header metadata. A
 * streaming response's messages are pushed out at once. Blocks while
 * HTTP/2 flow control holds the stream up, until deadline (then
 * -ECANCELED: the call is broken, part of the message may be gone).
 * 0; -EALREADY (after km_grpc_finish); -EMSGSIZE (over max_send_msg);
 * -ECANCELED; -EPIPE or -ECONNRESET (the client went); -ENOMEM. */
int  km_grpc_send(km_grpc_call *c, const void *msg, size_t n, int64_t deadline);
/* Queues one response message of n bytes without writing it: *body is
 * where the caller puts the message, valid until the next call on c.
 * Queued messages go out, in order, in one write with the next
 * km_grpc_send_flush, km_grpc_send* or the end of the handler, so a
 * handler that answers many at once pays for one write. Errors as
 * km_grpc_send (the write's own errors come from the call that writes). */
int  km_grpc_send_add(km_grpc_call *c, size_t n, void **body);
/* Writes the queued messages now; 0 if none. Errors as km_grpc_send. */
int  km_grpc_send_flush(km_grpc_call *c, int64_t deadline);
/* Packs m and sends it; as km_grpc_send. */
int  km_grpc_send_pb(km_grpc_call *c, const ProtobufCMessage *m, int64_t deadline);
/* Sends the response headers now, before any message (a bidi stream's
 * client may wait for them). 0, -EALREADY (sent already), errors as
 * km_grpc_send. */
int  km_grpc_send_header(km_grpc_call *c);

/* Adds response header metadata (before the headers are sent) or trailer
 * metadata (until the call ends); key and value are copied; a -bin key's
 * value is bytes. 0; -EINVAL (a key the application may not use, a value
 * that cannot be sent); -EALREADY (too late); -ENOSPC (the response's
 * fields are full); -ENOMEM. */
int  km_grpc_set_header(km_grpc_call *c, const char *key, const void *value, size_t n);
int  km_grpc_set_trailer(km_grpc_call *c, const char *key, const void *value, size_t n);

/* Sets the status the call ends with when the handler returns (message:
 * UTF-8, may be NULL; copied). No message can be sent after it. 0;
 * -EINVAL (code < 0); -EALREADY (set already). */
int  km_grpc_finish(km_grpc_call *c, int code, const char *message);

/* The request's metadata (reserved fields left out, -bin values decoded),
 * owned by the call. 0, -ENOMEM. */
int     km_grpc_call_metadata(km_grpc_call *c, const km_grpc_md **md, size_t *n);
/* The call's deadline (km_now() time), KM_FOREVER without one. */
int64_t km_grpc_call_deadline(const km_grpc_call *c);
/* The client's address (km_http_remote). */
km_str  km_grpc_call_peer(const km_grpc_call *c);
/* The method's path, "/package.Service/Method". */
km_str  km_grpc_call_path(const km_grpc_call *c);
/* The HTTP request under the call (headers, trace, request id). */
km_http_req *km_grpc_call_http(km_grpc_call *c);

/* ======================================================================
 * Client
 *
 * A channel holds HTTP/2 connections to one target (a km_http2_client:
 * pooled, dialled on demand, redialled with backoff, dropped on GOAWAY,
 * keepalive PINGs) and starts calls on them; calls of any kind share the
 * connections. A call is a km_grpc_stream, whatever its kind:
 *
 *     km_grpc_stream *st;
 *     km_str rep;
 *     int rc = km_grpc_unary(ch, "/pkg.Svc/Get", NULL, 0, req, n,
 *                            km_now() + SEC, &st, &rep);
 *     if (rc == 0) use(rep);
 *     else log(km_grpc_stream_status(st));   // st is there on failures too
 *     km_grpc_stream_free(st);
 *
 * A stream may be used by two goroutines at once, one sending
 * (send, close_send) and one receiving (recv, headers, trailers);
 * km_grpc_stream_cancel and km_grpc_stream_status are safe from any.
 *
 * Errors (negative errno values) and the status each one leaves:
 *   -EREMOTEIO   the server ended the call with a status other than OK
 *   -ETIMEDOUT   the call's deadline passed (the stream is reset):
 *                DEADLINE_EXCEEDED; also an operation's own earlier
 *                deadline, which leaves the call as it was
 *   -ECANCELED   km_grpc_stream_cancel, or the caller's group was
 *                cancelled (the stream is reset): CANCELLED
 *   -ECONNREFUSED and other dial errors, -ECONNRESET without a stream
 *                reset (the connection went), -EAGAIN (refused, GOAWAY):
 *                UNAVAILABLE
 *   -ECONNRESET  the server reset the stream: the status grpc-go gives
 *                its RST_STREAM code (CANCEL: CANCELLED, REFUSED_STREAM:
 *                UNAVAILABLE, ENHANCE_YOUR_CALM: RESOURCE_EXHAUSTED,
 *                INADEQUATE_SECURITY: PERMISSION_DENIED, others: INTERNAL)
 *   -EPROTO, -EBADMSG  the server broke HTTP/2 or gRPC (a missing or bad
 *                grpc-status, a broken frame, a response that ended
 *                without trailers, a compressed message): INTERNAL or
 *                UNKNOWN as the spec says; an HTTP status other than 200
 *                maps as the spec's table does (404: UNIMPLEMENTED, 503:
 *                UNAVAILABLE, ...)
 *   -EMSGSIZE    a response message over max_recv_msg: RESOURCE_EXHAUSTED
 *   -EINVAL, -ENOMEM  bad arguments, no memory (nothing was sent)
 * ====================================================================== */

typedef struct km_grpc_channel km_grpc_channel;
/* One call, client side. */
typedef struct km_grpc_stream km_grpc_stream;

typedef struct {
    const char *target;             /* "127.0.0.1:50051", "localhost:443",
                                       "unix:/path" (as km_dial); required; copied */
    const char *authority;          /* :authority; NULL: target */
    const char *user_agent;         /* NULL: "kumo-grpc" */
    size_t   max_recv_msg;          /* 0: 4 MiB (RESOURCE_EXHAUSTED beyond) */
    size_t   max_send_msg;          /* 0: no limit (-EMSGSIZE beyond) */
    /* The HTTP/2 client's settings (km_http2_client_config says more): */
    int      max_conns;             /* 0: 4 connections at most */
    int64_t  connect_timeout;       /* ns; 0: 5 s */
    int64_t  backoff_base;          /* ns; 0: 100 ms after the first failed dial */
    int64_t  backoff_max;           /* ns; 0: 10 s */
    int64_t  keepalive_interval;    /* ns; 0: no PINGs */
    int64_t  keepalive_timeout;     /* ns; 0: 20 s */
    uint32_t stream_window;         /* 0: 1 MiB */
    uint32_t conn_window;           /* 0: 16 MiB */
    struct km_tls *tls;             /* TLS to the target (<kumo/tls.h>, km_tls_client_new;
                                       the caller's, it outlives the channel); NULL: h2c */
    const char *server_name;        /* with tls: the name the server's certificate must
                                       carry; NULL: target's host */
} km_grpc_channel_config;

/* Makes a channel; nothing is dialled until the first call. The caller
 * owns *out. 0, -EINVAL (no target), -ENOMEM. */
int  km_grpc_channel_new(km_grpc_channel **out, const km_grpc_channel_config *cfg);
/* Closes the connections and frees ch: every stream must have been freed. */
void km_grpc_channel_free(km_grpc_channel *ch);

/* Starts a call of any kind to method ("/package.Service/Method") with
 * request metadata md[0..nmd) (copied). deadline is the whole call's:
 * sent as grpc-timeout and enforced here, every later operation included.
 * Waits for a connection (dialling if none) until deadline. *out is set
 * whenever the result is not -EINVAL or -ENOMEM, also on failure, to
 * tell the status; the caller frees it; on those two it is NULL. 0; the
 * errors above. */
int  km_grpc_stream_open(km_grpc_channel *ch, const char *method, const km_grpc_md *md,
                         size_t nmd, int64_t deadline, km_grpc_stream **out);
/* Sends one request message (copied); end: it is the last (half-close
 * with it). Blocks while flow control holds it up. 0; -EPIPE (after the
 * last one, or the call has ended: see recv for its status); -EMSGSIZE;
 * the errors above. deadline: this send's own (earlier than the call's:
 * -ETIMEDOUT then fails the call, as part of the message may be gone). */
int  km_grpc_stream_send(km_grpc_stream *st, const void *msg, size_t n, bool end,
                         int64_t deadline);
/* Packs m and sends it; as km_grpc_stream_send. */
int  km_grpc_stream_send_pb(km_grpc_stream *st, const ProtobufCMessage *m, bool end,
                            int64_t deadline);
/* Half-closes: no more requests. 0, or as km_grpc_stream_send. */
int  km_grpc_stream_close_send(km_grpc_stream *st, int64_t deadline);
/* Reads the next response message into *msg (valid until the next recv
 * or free). 1: a message; 0: the call ended with OK; -EREMOTEIO: it
 * ended with another status; -ETIMEDOUT at this recv's own deadline
 * (nothing lost: call again) or the call's (the call failed); the errors
 * above. */
int  km_grpc_stream_recv(km_grpc_stream *st, km_str *msg, int64_t deadline);
/* km_grpc_stream_recv, unpacked as d. 1 and *out (free it with
 * km_grpc_pb_free); -EBADMSG when it does not decode (the call is then
 * cancelled, status INTERNAL); as km_grpc_stream_recv otherwise. */
int  km_grpc_stream_recv_pb(km_grpc_stream *st, const ProtobufCMessageDescriptor *d,
                            ProtobufCMessage **out, int64_t deadline);
/* The response's header metadata, waiting for it until deadline: 0 and
 * md[0..n) (owned by st; none for a trailers-only response, whose fields
 * are all trailers); the call's error. */
int  km_grpc_stream_headers(km_grpc_stream *st, const km_grpc_md **md, size_t *n,
                            int64_t deadline);
/* The trailer metadata, once the call has ended (recv returned 0 or an
 * error): 0 and md[0..n) (owned by st); -EAGAIN before. */
int  km_grpc_stream_trailers(km_grpc_stream *st, const km_grpc_md **md, size_t *n);
/* The call's final status; code -1 while it runs. The message belongs
 * to st. */
km_grpc_status km_grpc_stream_status(km_grpc_stream *st);
/* Cancels the call (RST_STREAM CANCEL): blocked and later operations
 * return -ECANCELED and the status is CANCELLED, unless it had ended
 * already. Callable from any goroutine; idempotent. */
void km_grpc_stream_cancel(km_grpc_stream *st);
/* Frees st, cancelling the call if it has not ended. No operation on st
 * may be in progress. NULL is ignored. */
void km_grpc_stream_free(km_grpc_stream *st);

/* A unary call: sends req (n bytes), half-closes, reads the one response
 * into *rep (valid until st is freed). 0 (status OK); the errors above
 * (-EPROTO if the server sent no message or more than one). *out as in
 * km_grpc_stream_open. */
int  km_grpc_unary(km_grpc_channel *ch, const char *method, const km_grpc_md *md, size_t nmd,
                   const void *req, size_t n, int64_t deadline,
                   km_grpc_stream **out, km_str *rep);
/* The same with protobuf-c messages: rep unpacked as d (free it with
 * km_grpc_pb_free). -EBADMSG if it does not decode. */
int  km_grpc_unary_pb(km_grpc_channel *ch, const char *method, const km_grpc_md *md, size_t nmd,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *d,
                      int64_t deadline, km_grpc_stream **out, ProtobufCMessage **rep);

#ifdef __cplusplus
}
#endif
#endif
