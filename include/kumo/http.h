/* SPDX-License-Identifier: MIT */
/* HTTP server and client: requests and responses per stream, whatever the
 * protocol under them; one goroutine per connection, zero-copy requests,
 * router, middleware. */
#ifndef KUMO_HTTP_H
#define KUMO_HTTP_H

#include <stdbool.h>
#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A byte string that points into memory kumo owns; not NUL-terminated.
 * Strings from a request are valid until the handler returns. */
typedef struct { const char *p; size_t n; } km_str;

/* A header to send: name and value, NUL-terminated. */
typedef struct { const char *name, *value; } km_http_kv;

/* ---- requests ---- */

/* A request, valid during the handler call only. */
typedef struct km_http_req km_http_req;

km_str  km_http_method(const km_http_req *r);
km_str  km_http_target(const km_http_req *r);   /* as sent: path and query */
km_str  km_http_path(const km_http_req *r);     /* target up to '?' (not decoded) */
km_str  km_http_query(const km_http_req *r);    /* after '?', may be empty */
int     km_http_version(const km_http_req *r);  /* 10, 11 or 20 */
/* First header called name (case-insensitive); p is NULL when absent. */
km_str  km_http_header(const km_http_req *r, const char *name);
size_t  km_http_header_count(const km_http_req *r);
/* The i-th header as received. 0, or -ERANGE. */
int     km_http_header_at(const km_http_req *r, size_t i, km_str *name, km_str *value);
/* The pattern of the route that matched, as registered (with its ":id"
 * and "*rest" segments): a label with a bounded set of values for logs and
 * metrics. p NULL before routing or when no route matched. */
km_str  km_http_route_pattern(const km_http_req *r);
/* Names the route for a handler that dispatches by itself (the gRPC server
 * names the method called): pattern must stay valid while the server runs
 * and its values must be a bounded set. */
void    km_http_set_route(km_http_req *r, const char *pattern);
/* When the request began, in km_now() time: when the read that brought
 * its first byte returned (for pipelined requests, one read brings several).
 * Timing a request from here costs no clock read of its own. */
int64_t km_http_req_start(km_http_req *r);
/* When its handler returned, in km_now() time: read by the first call
 * after it did, and the same for every later call, so that middleware
 * timing a request (metrics, access log) share one clock read; km_now()
 * while the handler has not returned (or never ran). */
int64_t km_http_req_end(km_http_req *r);
/* A parameter captured by the router (":name" or "*name"); p NULL if none. */
km_str  km_http_param(const km_http_req *r, const char *name);
/* Body length from Content-Length, or -1 (chunked, or no body: 0). */
int64_t km_http_content_length(const km_http_req *r);
/* Reads the whole body (de-chunked) into memory the request owns. 0;
 * -EMSGSIZE over the server's max_body_bytes; -EBADMSG for bad chunked
 * framing; -ETIMEDOUT; -ECONNRESET (the client left or reset the stream).
 * The server answers those errors itself (413, 400, 408) if the handler
 * does not respond. */
int     km_http_body(km_http_req *r, km_str *body);
/* Reads up to n more body bytes into buf, as they arrive (a streamed
 * upload, a gRPC stream): > 0 bytes, 0 at the end of the body, or the
 * errors of km_http_body, -ETIMEDOUT at deadline, -ECANCELED. Do not mix
 * with km_http_body on one request. Over HTTP/1.1 the body is read whole
 * first (up to max_body_bytes), then handed out. */
ssize_t km_http_body_read(km_http_req *r, void *buf, size_t n, int64_t deadline);

/* The client's address ("192.0.2.1:5423", "[2001:db8::1]:80", "unix"),
 * looked up once per connection; p NULL if unknown. */
km_str  km_http_remote(const km_http_req *r);
/* The client's IP address bytes (4 for IPv4, 16 for IPv6) into ip; 0 for
 * a unix socket or when unknown. */
size_t  km_http_remote_ip(const km_http_req *r, unsigned char ip[16]);
/* The common name of the client's certificate, when the connection is TLS
 * and the certificate was verified (client-cert-auth): 0 and buf
 * (NUL-terminated), else -ENOENT. */
int     km_http_peer_cn(const km_http_req *r, char *buf, size_t n);

/* A client that hangs up, or resets its stream, cancels the group the
 * handler runs in: its blocking calls return -ECANCELED from then on, so a
 * stream that idles (a watch) ends at once, not at its next write. */

/* Draining. From the moment km_http_shutdown is called, the server is
 * draining: requests in flight may finish within its grace period, but a
 * request that lasts as long as its client wants (a watch, a keep-alive
 * stream) would only be cut off at the deadline, and its client left to
 * guess why. Such a handler ends early instead, with an answer its client
 * retries elsewhere or later (gRPC's UNAVAILABLE, say).
 *
 * km_http_draining: whether r's server is draining (cheap: a handler may
 * look between two messages it sends). */
bool    km_http_draining(const km_http_req *r);
/* For a handler that waits in km_http_body_read for as long as its client
 * keeps the request body open (a bidi gRPC stream): once the server
 * drains, such a read returns -ESHUTDOWN instead of waiting (bytes that
 * came before are still handed out first), and again at each later call.
 * Nothing else changes: the stream stays open for the handler's answer.
 * Over HTTP/1.1 the body is read whole before reads hand it out, so no
 * read waits on the client and this changes nothing. 0, -EINVAL. */
int     km_http_body_wake_on_drain(km_http_req *r);

/* ---- responses ---- */

typedef struct km_http_resp km_http_resp;

/* Adds a response header (copied). Before the status line is sent only.
 * "Connection: close" is kept by the protocol: HTTP/1.1 closes the
 * connection after the response (HTTP/2 has no such field). 0; -EINVAL for names or values with CR, LF or NUL; -ENOSPC when the
 * response's header lines would pass 64 KiB; -EALREADY once the head was
 * sent; -ENOMEM. */
int km_http_set_header(km_http_resp *w, const char *name, const char *value);
/* Adds a trailer field (copied), sent after a streamed body (in HTTP/1.1's
 * last chunk, in HTTP/2's closing HEADERS frame); a response with a fixed
 * length or no body has none. Errors as km_http_set_header; -EALREADY once
 * the body is complete. */
int km_http_set_trailer(km_http_resp *w, const char *name, const char *value);
/* A complete response with a fixed-length body (Content-Length). Over
 * HTTP/2, trailers set before it follow the body instead of a length (a
 * gRPC unary answer in one step); HTTP/1.1 drops them. 0 or -errno (the
 * connection is then closed). */
int km_http_send(km_http_resp *w, int status, const char *content_type,
                 const void *body, size_t n);
/* Streaming: sends the head (chunked transfer coding, or close-delimited
 * for HTTP/1.0) on the first call, then body bytes. */
int km_http_write(km_http_resp *w, const void *p, size_t n);
/* The status sent or to be sent, including the 413/400/408 the server
 * answers after the chain for a body the handler could not read (for
 * middleware that logs or counts). */
int km_http_resp_status(const km_http_resp *w);
/* Sets the status for a streaming response (before the first write). */
int km_http_status(km_http_resp *w, int status);
/* Pushes buffered response bytes to the client now (watch streams, SSE). */
int km_http_flush(km_http_resp *w);
/* For responses that stay open a long time (watches, Server-Sent Events):
 * gives back the connection's read and write buffers, keeping a copy of
 * the request just large enough for it, and drops the write buffer each
 * time the stream is flushed. The request's method, target, headers and
 * params stay valid; a body string taken earlier does not. 0, -EBUSY
 * (the request cannot be copied: unread body, a pipelined request behind
 * it, or larger than 16 KiB; nothing changes), -ENOMEM. */
int km_http_stream_lean(km_http_req *r, km_http_resp *w);
/* Sends n bytes of file fd from off as the body (sendfile(2)). */
int km_http_sendfile(km_http_resp *w, int status, const char *content_type,
                     int fd, off_t off, size_t n);

typedef void km_http_handler(km_http_req *r, km_http_resp *w, void *ud);

/* ---- middleware ---- */

/* A chain of middleware runs around the handler, in order (as in Kratos):
 * each gets the request, the response and `next`, and decides whether and
 * when to call the rest of the chain. */
typedef struct km_http_next km_http_next;
typedef void km_http_mw_fn(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);
typedef struct { km_http_mw_fn *fn; void *ud; } km_http_mw;

/* Runs the rest of the chain (the next middleware, at the end the handler). */
void km_http_next_call(km_http_next *next, km_http_req *r, km_http_resp *w);

/* X-Request-ID: a sane incoming one (1..64 of [A-Za-z0-9._:-]) is kept,
 * otherwise one is generated. ud: NULL, or a km_http_request_id_config. */
void km_http_mw_request_id(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);
typedef struct {
    /* Send the id back in the response's X-Request-ID. Off by default, as
     * in Envoy and nginx: 32 more bytes in every response, which most
     * clients never read, cost a pipelining client about 4% of its
     * requests/s (docs/BENCHMARKS.md). */
    bool echo;
} km_http_request_id_config;
/* The request id, or p NULL without the middleware. */
km_str km_http_request_id(const km_http_req *r);

/* W3C Trace Context: a valid incoming traceparent (and its tracestate) is
 * continued, anything else starts a new trace; every request gets a span
 * id of its own. ud unused. */
void km_http_mw_trace(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);
typedef struct {
    char    trace_id[33];       /* 32 lower-case hex digits */
    char    span_id[17];        /* this request's span */
    char    parent_id[17];      /* the caller's span, "" when the trace starts here */
    uint8_t flags;              /* bit 0: sampled */
    km_str  tracestate;         /* as received (p NULL if none) */
} km_http_trace_ctx;
/* This request's trace, or NULL without the middleware. */
const km_http_trace_ctx *km_http_trace(const km_http_req *r);
/* Headers that carry the trace to an outgoing call (traceparent with this
 * request's span as parent, and tracestate): fills out[0..1] with strings
 * stored in buf; returns how many (0 without a trace). */
#define KM_HTTP_TRACE_BUF 600
size_t km_http_trace_headers(const km_http_req *r, km_http_kv out[2],
                             char buf[KM_HTTP_TRACE_BUF]);

/* Per-request timeout: ud points to an int64_t of nanoseconds, counted
 * from km_http_req_start (time the request spent queued behind pipelined
 * ones counts too). Blocking calls of the handler return -ECANCELED once
 * it passes; a handler that has not answered by then gets a 503. */
void km_http_mw_timeout(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);

/* ---- router ---- */

/* Routes by method and path pattern: literal segments, ":name" for one
 * segment, "*name" (last) for the rest of the path. Unknown path: 404;
 * known path, other method: 405 with Allow. GET routes also answer HEAD. */
typedef struct km_http_router km_http_router;
int  km_http_router_new(km_http_router **out);
/* 0, -EINVAL (bad pattern: not starting with '/', a misplaced ":" or "*",
 * a space, control, non-ASCII, '"' or '\\' byte), -EEXIST (same method and
 * pattern), -ENOMEM. */
int  km_http_route(km_http_router *rt, const char *method, const char *pattern,
                   km_http_handler *h, void *ud);
/* Answers requests no route's path matches (instead of the plain 404). */
void km_http_router_not_found(km_http_router *rt, km_http_handler *h, void *ud);
/* The router as a handler: pass it with the router as ud. */
void km_http_router_serve(km_http_req *r, km_http_resp *w, void *router);
void km_http_router_free(km_http_router *rt);

/* ---- server ---- */

typedef struct {
    const char      *addr;              /* "127.0.0.1:8080" ... (see net.h) */
    km_http_handler *handler;
    void            *ud;
    int              backlog;           /* 0: 4096 */
    size_t           max_header_bytes;  /* 0: 16 KiB (431 beyond) */
    size_t           max_headers;       /* 0: 100 (431 beyond) */
    size_t           max_body_bytes;    /* 0: 1 MiB (413 beyond) */
    int64_t          read_header_timeout; /* ns; 0: 10 s (408) */
    int64_t          body_timeout;      /* ns; 0: 30 s */
    int64_t          write_timeout;     /* ns; 0: 30 s */
    int64_t          idle_timeout;      /* ns between requests; 0: 60 s */
    int              max_conns;         /* 0: 10,000; beyond: 503 and close */
    bool             accept_early;      /* accept before the request's first
                                         * bytes arrive (default: after, see
                                         * KM_LISTEN_DEFER_ACCEPT) */
    int              access_log_fd;     /* -1 or 0: none; else one JSON line per request */
    /* HTTP/2 with prior knowledge (h2c) is served on the same listener:
     * a connection that opens with HTTP/2's preface speaks it. */
    bool             h1_only;           /* serve HTTP/1.1 only */
    uint32_t         h2_max_streams;    /* 0: 250 streams at once per connection */
    uint32_t         h2_stream_window;  /* 0: 256 KiB a stream may send ahead of
                                         * its handler's reads; with the above,
                                         * what bounds a connection's buffers */
    const km_http_mw *middleware;       /* run in order around handler */
    size_t           nmiddleware;
    /* TLS on the listener (<kumo/tls.h>): every connection starts with a
     * handshake (bounded by read_header_timeout); ALPN "h2" serves
     * HTTP/2, anything else HTTP/1.1. NULL: plain TCP. */
    struct km_tls   *tls;
} km_http_config;

typedef struct km_http_server km_http_server;

/* Listens and starts serving in new goroutines; returns once listening.
 * 0, or -errno from km_listen, -EINVAL, -ENOMEM. Call from a goroutine. */
int  km_http_serve(km_http_server **out, const km_http_config *cfg);
/* Bound port (for ":0"). */
int  km_http_server_port(const km_http_server *s);
/* What a server has done since it started (for metrics): connections
 * open now and served in all, those refused with a 503 and closed (over
 * max_conns, or no memory for their goroutine: not in conns_total), and
 * the bytes read from and written to them, heads and bodies. Call from a
 * goroutine. */
typedef struct {
    int64_t  conns_open;
    uint64_t conns_total, conns_refused, bytes_read, bytes_written;
} km_http_server_stat;
void km_http_server_stat_read(km_http_server *s, km_http_server_stat *st);
/* Graceful shutdown: stops accepting, lets in-flight requests finish until
 * deadline, then closes every connection, waits for them and frees s.
 * The server is draining from the start (km_http_draining); HTTP/2
 * connections get GOAWAY, then a final GOAWAY once the client has
 * answered a PING sent behind the first (it has seen it) or a second
 * later, and close once their streams are done. 0, or -ETIMEDOUT if
 * requests had to be cut off. */
int  km_http_shutdown(km_http_server *s, int64_t deadline);

/* ---- client ---- */

/* A pooled HTTP/1.1 client: keep-alive connections are reused per host.
 * Safe to share between goroutines. Redirects are not followed. */
typedef struct km_http_client km_http_client;

typedef struct {
    int     max_idle_per_host;      /* 0: 16 idle connections kept per host */
    int     max_per_host;           /* 0: 64 open (busy + idle); more wait */
    int64_t connect_timeout;        /* ns; 0: 5 s (the request's deadline also applies) */
    int64_t idle_timeout;           /* ns; 0: 90 s; older idle connections are closed */
    int64_t max_lifetime;           /* ns; 0: unlimited; older connections are not reused */
    int64_t leak_threshold;         /* ns; 0: off; warn on stderr when a request holds
                                       a connection longer (a stuck handler or peer) */
    size_t  max_response_bytes;     /* 0: 8 MiB (-EMSGSIZE beyond) */
    struct km_tls *tls;             /* for https:// URLs (<kumo/tls.h>, km_tls_client_new;
                                       the caller's, it outlives the client); NULL:
                                       https:// is -EPROTONOSUPPORT */
} km_http_client_config;

/* A received response; the caller frees it with km_http_response_free. */
typedef struct km_http_response km_http_response;

int  km_http_client_new(km_http_client **out, const km_http_client_config *cfg);
/* Closes idle connections and frees c; no request may be in flight. */
void km_http_client_free(km_http_client *c);

/* Sends method url (http:// only) with optional headers and body and waits
 * for the whole response until deadline. 0 and *out; -EINVAL (bad URL or
 * header), -EPROTONOSUPPORT (https), -ETIMEDOUT, -ECONNREFUSED and other
 * socket errors, -EBADMSG (malformed response), -EMSGSIZE (too large),
 * -ECANCELED, -ENOMEM. A request that fails on a reused connection before
 * any response byte arrived is retried once on a new one if it is
 * idempotent (GET, HEAD, OPTIONS, PUT, DELETE). */
int  km_http_do(km_http_client *c, const char *method, const char *url,
                const km_http_kv *hdrs, size_t nhdrs, const void *body, size_t n,
                int64_t deadline, km_http_response **out);
int  km_http_get(km_http_client *c, const char *url, int64_t deadline, km_http_response **out);

int    km_http_response_status(const km_http_response *r);
km_str km_http_response_body(const km_http_response *r);
/* First header called name (case-insensitive); p NULL if absent. */
km_str km_http_response_header(const km_http_response *r, const char *name);
void   km_http_response_free(km_http_response *r);

/* Splits an http:// URL. host/port point into url; *path is the path and
 * query ("/" when absent). 0, -EINVAL, or -EPROTONOSUPPORT. */
int km_http_url_parse(const char *url, km_str *host, int *port, km_str *path);

/* Reason phrase of a status code ("Not Found"), "" if unknown. */
const char *km_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif
