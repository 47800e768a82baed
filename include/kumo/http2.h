/* SPDX-License-Identifier: MIT */
/* HTTP/2 client: streams over a small pool of connections to one target (h2c, prior knowledge). */
#ifndef KUMO_HTTP2_H
#define KUMO_HTTP2_H

#include <stdbool.h>
#include "rt.h"
#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A client keeps one or a few HTTP/2 connections to one target and opens
 * streams on them: it dials on demand, fills a connection up to the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS before opening another (up to
 * max_conns), drops connections that failed or got GOAWAY, and redials
 * after failures with exponential backoff and jitter. Safe to share
 * between goroutines; call from goroutines.
 *
 * A stream is one request/response exchange, either side of which may
 * stream (what gRPC needs). One goroutine may write it while another
 * reads it, and any goroutine may cancel it; otherwise one call at a time:
 *
 *     km_http_kv h[] = { { ":method", "POST" }, { ":path", "/echo" },
 *                        { "content-type", "application/grpc" } };
 *     km_http2_stream *st;
 *     km_http2_stream_open(c, h, 3, false, dl, &st);
 *     km_http2_stream_write(st, msg, n, true, dl);       // END_STREAM
 *     km_http2_stream_response(st, dl, &status);
 *     while ((n = km_http2_stream_read(st, buf, sizeof buf, dl)) > 0) ...
 *     km_str s = km_http2_stream_trailer(st, "grpc-status");
 *     km_http2_stream_free(st);
 *
 * Errors a stream's calls return (negative errno values):
 *   -ETIMEDOUT    the call's deadline passed (each call says what then);
 *                 also the connection's: its keepalive PING went
 *                 unanswered, or a socket write blocked past write_timeout
 *   -ECANCELED    the stream was cancelled (km_http2_stream_cancel, or
 *                 the calling goroutine's group was cancelled, which also
 *                 resets the stream)
 *   -EAGAIN       the server did not process the stream: it was refused
 *                 (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last
 *                 stream id); safe to retry, non-idempotent requests too
 *   -ECONNRESET   the server reset the stream (km_http2_stream_reset_code
 *                 says with what), or the connection was closed
 *   -EPIPE        writing after the body was ended, or after the stream
 *                 or the connection closed
 *   -EPROTO       the server broke the protocol (stream or connection)
 *   -EMSGSIZE     a header block larger than max_header_bytes came, or
 *                 ours was too large to send
 *   -ENOMEM; and for opening: -ECONNREFUSED and the other km_dial errors. */
typedef struct km_http2_client km_http2_client;
typedef struct km_http2_stream km_http2_stream;

typedef struct {
    const char *addr;               /* target, as km_dial takes it ("127.0.0.1:50051",
                                       "unix:/path"); required; copied */
    const char *authority;          /* :authority when a request has none;
                                       NULL: addr ("localhost" for unix:);
                                       copied */
    const char *scheme;             /* :scheme when a request has none; NULL: "http" */
    int      max_conns;             /* 0: 4 connections to the target at most */
    int64_t  connect_timeout;       /* ns; 0: 5 s (the call's deadline also applies) */
    int64_t  backoff_base;          /* ns; 0: 100 ms: the wait after the first failed
                                       dial, x1.6 per further failure, ±20% jitter */
    int64_t  backoff_max;           /* ns; 0: 10 s */
    int64_t  keepalive_interval;    /* ns; 0: off. A PING after this long without
                                       input from the server */
    int64_t  keepalive_timeout;     /* ns; 0: 20 s for its ACK, else the connection
                                       fails with -ETIMEDOUT */
    bool     keepalive_idle;        /* PING also while no stream is open (off: some
                                       servers, grpc-go's by default, answer such
                                       pings with GOAWAY) */
    int64_t  write_timeout;         /* ns; 0: 30 s that one socket write may block */
    uint32_t stream_window;         /* 0: 1 MiB. Receive window per stream: the most
                                       a stream buffers that nobody has read; the
                                       server stops sending until it is read */
    uint32_t conn_window;           /* 0: 16 MiB, the connection's receive window */
    size_t   max_header_bytes;      /* 0: 64 KiB, a received header list (RFC 9113
                                       sizes: name + value + 32 per field) */
    size_t   send_buffer;           /* 0: 256 KiB a stream's writes may queue ahead
                                       of the socket before they block */
    struct km_tls *tls;             /* h2 over TLS to the target (km_tls_client_new;
                                       the caller's, it outlives the client); NULL: h2c */
    const char *server_name;        /* with tls: the name the server's certificate
                                       must carry; NULL: addr's host; copied */
} km_http2_client_config;

/* Makes a client; nothing is dialled until a stream opens. The caller
 * owns *out. 0, -EINVAL (no addr), -ENOMEM. */
int  km_http2_client_new(km_http2_client **out, const km_http2_client_config *cfg);
/* Closes every connection and frees c. Every stream must have been freed
 * and no call on c may be in progress. Call from a goroutine. */
void km_http2_client_free(km_http2_client *c);

/* What the client holds now and has done (for tests and metrics). */
typedef struct {
    int      conns;                 /* connections usable for new streams */
    int      streams;               /* streams open (or queued) on them */
    uint64_t dials, dial_failures;  /* connection attempts, and failed ones */
    uint64_t conns_lost;            /* connections dropped: failed or GOAWAY */
} km_http2_client_stat;
/* Call from a goroutine. */
void km_http2_client_stat_read(km_http2_client *c, km_http2_client_stat *st);

/* Opens a stream and sends its request headers. hdrs are the request's
 * pseudo-headers and fields: ":method" and ":path" are required, ":scheme"
 * and ":authority" default to the client's; names are sent lower-cased;
 * connection-specific fields (connection, keep-alive, proxy-connection,
 * transfer-encoding, upgrade, and te other than "trailers") are refused.
 * hdrs are copied. end: the request has no body (END_STREAM on HEADERS);
 * otherwise write it with km_http2_stream_write. Waits until deadline for
 * a connection and for a free slot under the server's concurrency limit.
 * The caller owns *out (km_http2_stream_free). 0; -EINVAL (a missing or
 * malformed header); -ETIMEDOUT; -ECANCELED; -EMSGSIZE (headers beyond
 * 64 KiB); a dial error (also while backing off after failed dials, then
 * without dialling); -ENOMEM. */
int  km_http2_stream_open(km_http2_client *c, const km_http_kv *hdrs, size_t n, bool end,
                          int64_t deadline, km_http2_stream **out);

/* Sends n bytes of request body; end: they are the last (END_STREAM, the
 * request is half-closed). n may be 0 to just end it. Returns once the
 * bytes are queued (copied), blocking while the stream's send buffer is
 * full (the server's flow-control window, or the socket, holds it up).
 * 0; -EPIPE (ended already); the stream's error; -ETIMEDOUT or
 * -ECANCELED (then part of p may have been queued, and the stream is
 * reset: its calls return that error from now on). */
int  km_http2_stream_write(km_http2_stream *st, const void *p, size_t n, bool end,
                           int64_t deadline);

/* Waits for the response head (interim 1xx responses are skipped) and
 * gives its status. 0; the stream's error; -ETIMEDOUT (the stream stays
 * usable); -ECANCELED. A stream the server ended with the head alone
 * ("trailers-only" in gRPC) then reads 0. */
int  km_http2_stream_response(km_http2_stream *st, int64_t deadline, int *status);

/* The response head's fields, after km_http2_stream_response returned 0.
 * The strings belong to st and stay valid until km_http2_stream_free.
 * km_http2_stream_header: the first field called name (ASCII case
 * ignored; ":status" included); p is NULL when absent. _at: the i-th
 * field as received, 0 or -ERANGE. */
km_str km_http2_stream_header(km_http2_stream *st, const char *name);
size_t km_http2_stream_header_count(km_http2_stream *st);
int    km_http2_stream_header_at(km_http2_stream *st, size_t i, km_str *name, km_str *value);

/* Reads up to n (> 0) response body bytes into buf: their count (> 0),
 * 0 at the end of the stream (all of the body read), or the stream's
 * error; -ETIMEDOUT when nothing came by deadline (the stream stays
 * usable); -ECANCELED; -EINVAL (buf NULL or n 0).
 * Reading gives the server its flow-control window back: a stream that
 * is not read holds at most stream_window bytes, then the server waits. */
ssize_t km_http2_stream_read(km_http2_stream *st, void *buf, size_t n, int64_t deadline);

/* The trailers, once they came: at the latest when km_http2_stream_read
 * returned 0 (before they come: none). Strings as for headers. */
km_str km_http2_stream_trailer(km_http2_stream *st, const char *name);
size_t km_http2_stream_trailer_count(km_http2_stream *st);
int    km_http2_stream_trailer_at(km_http2_stream *st, size_t i, km_str *name, km_str *value);

/* Cancels st: RST_STREAM CANCEL unless it has closed; calls blocked on
 * it, from any goroutine, and every later call return -ECANCELED.
 * Idempotent. */
void km_http2_stream_cancel(km_http2_stream *st);

/* The RST_STREAM error code the server reset st with (or we did: CANCEL
 * is 8), 0 if none: gRPC maps it to a status. */
uint32_t km_http2_stream_reset_code(km_http2_stream *st);

/* Frees st. A stream not finished both ways (request ended, response
 * fully received) is cancelled first. No call on st may be in progress. */
void km_http2_stream_free(km_http2_stream *st);

#ifdef __cplusplus
}
#endif
#endif
