/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 connections: the first implementation of the stream interface
 * (one stream per connection, requests in turn, pipelining). */
#ifndef KM_H1_INT_H
#define KM_H1_INT_H

#include "http-int.h"

#define KM__MAX_RETIRED 24      /* doublings of the read buffer per request */
#define KM__RBUF 4096           /* a connection's read buffer, to start */
#define KM__WBUF 8192           /* its write buffer */
#define KM__LOGBUF 2048         /* access-log lines held per connection */

enum { BODY_NONE, BODY_UNREAD, BODY_READ, BODY_FAILED };

struct km__h2s_conn;

struct km__conn {
    km__stream       st;                /* first: its stream is the connection */
    km__peer         peer;
    int              fd;
    km__tls_conn    *tls;               /* NULL: plain TCP */
    char            *rbuf;
    size_t           rcap, rlen, rpos;  /* rpos: start of the current request */
    char            *retired[KM__MAX_RETIRED];  /* outgrown read buffers */
    int              nretired;
    char            *wbuf;
    size_t           wcap, wlen;
    km__hdr         *hdrs;
    /* The current request's body. */
    int              body_state;        /* BODY_* */
    size_t           body_start;        /* offset of the body in the read buffer */
    size_t           body_len;          /* decoded length, once read */
    size_t           body_off;          /* handed out by km_http_body_read */
    size_t           end;               /* offset just past this request, once known */
    bool             keep_alive;
    bool             sent_continue;
    bool             chunked;           /* the response streams with chunked coding */
    bool             broken;            /* a write failed: close */
    bool             drained;           /* the last read emptied the socket */
    bool             lean;              /* km_http_stream_lean: big buffers given back */
    bool             hup_watched;       /* in the server's hang-up monitor */
    bool             fresh;             /* no request served yet */
    int64_t          started;           /* when the current request began */
    int64_t          read_at;           /* km_now() after the last read that got bytes */
    char            *logbuf;            /* access log lines not yet written (KM__LOGBUF) */
    size_t           loglen;
    km_group        *group;             /* the connection's; a hang-up cancels it */
    struct km__h2s_conn *h2;            /* set while it speaks HTTP/2, under the
                                           server's lock */
    km__conn        *next, *prev;       /* the server's list */
    atomic_bool      busy;              /* inside a request */
    _Atomic uint64_t nread, nwritten;   /* bytes, for km_http_server_stat_read */
};

static inline km__conn *km__conn_of(const km__stream *st) { return (km__conn *)st; }

extern const km__stream_ops km__h1_ops;

/* h1-conn.c, server.c */
void km__http_conn_main(void *arg);
void km__http_conn_close(km__conn *c);
void km__conn_log_flush(km__conn *c);
/* Grows the read buffer to at least need bytes; strings of the current
 * request stay valid (the old buffer is kept until the request is done).
 * 0 or -ENOMEM/-EMSGSIZE. */
int  km__conn_reserve(km__conn *c, size_t need);
/* Reads more bytes into the read buffer; > 0, 0 at EOF, or -errno. */
ssize_t km__conn_fill(km__conn *c, int64_t deadline);

/* The stream interface's operations (km__h1_ops, in h1-conn.c). */
int     km__h1_send(km_http_resp *w, const char *ctype, const void *body, size_t n);
int     km__h1_write(km_http_resp *w, const void *p, size_t n);
int     km__h1_flush_resp(km_http_resp *w);
int     km__h1_sendfile(km_http_resp *w, const char *ctype, int fd, off_t off, size_t n);
int     km__h1_body(km_http_req *r, km_str *body);
ssize_t km__h1_body_read(km_http_req *r, void *buf, size_t n, int64_t deadline);
int     km__h1_lean(km_http_req *r, km_http_resp *w);

/* h1-resp.c */
int  km__h1_flush(km__conn *c);
int  km__h1_error(km__conn *c, int status);
int  km__h1_finish(km__conn *c);
/* Writes raw bytes through the output buffer. */
int  km__out(km__conn *c, const void *p, size_t n);

/* h1-lean.c: after a lean stream, buffers for the next request; 0 or -ENOMEM. */
int  km__conn_unlean(km__conn *c);

/* h1-body.c: reads (or skips) the rest of the current request's body so
 * that the next request can be parsed. 0, or -1: the connection must close. */
int  km__h1_drain(km__conn *c);

#endif
