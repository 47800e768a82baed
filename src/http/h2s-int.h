/* SPDX-License-Identifier: MIT */
/* The HTTP/2 server: the second implementation of the stream interface,
 * a stream per request on the connection core (h2-int.h). */
#ifndef KM_H2S_INT_H
#define KM_H2S_INT_H

#include "h1-int.h"
#include "h2-int.h"
#include "rt/rt-int.h"

/* Request header fields kept in the stream itself; more take an allocation. */
#define KM__H2S_HDRS 16

/* One connection's server side (h2-serve.c). */
typedef struct km__h2s_conn {
    km__conn    *c;             /* the connection it took over */
    km__h2_conn *h;
    km_group     io;            /* the core's reader and writer and the stream
                                   goroutines are its members: waited for until
                                   they have returned, not only finished */
    int64_t      notice_at;     /* graceful shutdown: when the first GOAWAY went */
    bool         final_sent;    /* ... and the second */
} km__h2s_conn;

/* A stream: the core's fields first (the core allocates cfg.stream_size
 * bytes), then the stream interface's. */
typedef struct {
    km__h2_stream  core;
    km__stream     st;
    km__h2s_conn  *sc;
    km_group       grp;         /* the handler's: a reset cancels it */
    km__hdr        hdrs[KM__H2S_HDRS];
    km__hdr       *more;        /* when the request has more fields */
    char          *body;        /* the whole body, once read (km_http_body) */
    size_t         body_len;
    bool           ended;       /* all of the request came with its head */
    bool           body_whole;  /* body holds all of it */
    bool           body_reading;/* km_http_body_read took some */
} km__h2s_stream;

static inline km__h2s_stream *km__h2s_of(const km__stream *st)
{
    return (km__h2s_stream *)((char *)st - offsetof(km__h2s_stream, st));
}

extern const km__stream_ops km__h2s_ops;

/* h2-serve.c: serves the connection as HTTP/2 from here on; its read
 * buffer holds what came so far (the preface first). Returns when the
 * connection is over. */
void km__h2s_serve(km__conn *c);
/* Graceful shutdown, a step at a time: the first call tells the
 * connection's streams the server drains and sends GOAWAY with the
 * highest stream id (new streams still welcome while the client learns
 * of it) and a PING; a later call, once that PING is answered or a second
 * went by, the final GOAWAY; the connection then ends once its streams
 * have. Under the server's lock. */
void km__h2s_drain(km__conn *c, int64_t now);

/* h2-resp.c: the response's head as HTTP/2 fields. */
int  km__h2s_finish(km__h2s_stream *s);

#endif
