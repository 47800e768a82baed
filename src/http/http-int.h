/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 server internals: connections, requests, responses. */
#ifndef KM_HTTP_INT_H
#define KM_HTTP_INT_H

#include <kumo.h>
#include "parse.h"
#include <stdatomic.h>

#define KM__MAX_PARAMS 8
#define KM__MAX_RETIRED 24      /* doublings of the read buffer per request */
#define KM__RBUF 4096           /* a connection's read buffer, to start */
#define KM__WBUF 8192           /* its write buffer */
#define KM__LOGBUF 2048         /* access-log lines held per connection */
#define KM__RESP_HDRS 1024      /* extra response header bytes per response */

typedef struct km__conn km__conn;

struct km_http_req {
    km__conn *c;
    km__head  h;
    km_str    pname[KM__MAX_PARAMS], pval[KM__MAX_PARAMS];
    int       nparams;
    int       body_state;       /* BODY_* */
    int       body_err;         /* negated HTTP status when reading failed */
    size_t    body_start;       /* offset of the body in the read buffer */
    size_t    body_len;         /* decoded length, once read */
    size_t    end;              /* offset just past this request, once known */
    char      request_id[65];   /* set by the request-id middleware */
    uint8_t   request_id_len;
    const char *route;          /* the matched router pattern, NULL before or without one */
    size_t    route_len;
    bool      traced;           /* trace is set by the trace middleware */
    km_http_trace_ctx trace;
    int64_t   start;            /* km_http_req_start, 0 until known */
    int64_t   end_at;           /* km_http_req_end, 0 until read */
    bool      handled;          /* the handler returned */
};

struct km_http_next {
    const km_http_config *cfg;
    size_t                i;    /* next middleware to run */
};
enum { BODY_NONE, BODY_UNREAD, BODY_READ, BODY_FAILED };

struct km_http_resp {
    km__conn *c;
    int       status;
    bool      head_sent;
    bool      chunked;          /* streaming with chunked coding */
    bool      no_body;          /* HEAD request, 204, 304 */
    bool      done;
    char     *hdrs;             /* extra header lines set by the handler:
                                   KM__RESP_HDRS bytes, taken at first use */
    size_t    hlen;
};

struct km__conn {
    int              fd;
    km_http_server  *s;
    char            *rbuf;
    size_t           rcap, rlen, rpos;  /* rpos: start of the current request */
    char            *retired[KM__MAX_RETIRED];  /* outgrown read buffers */
    int              nretired;
    char            *wbuf;
    size_t           wcap, wlen;
    km__hdr         *hdrs;
    km_http_req      req;
    km_http_resp     resp;
    bool             keep_alive;
    bool             sent_continue;
    bool             broken;            /* a write failed: close */
    bool             drained;           /* the last read emptied the socket */
    int64_t          started;           /* when the current request began */
    int64_t          read_at;           /* km_now() after the last read that got bytes */
    km_group        *tgroup;            /* the timeout middleware's, reused */
    bool             tgroup_linked;     /* tgroup is under its parent */
    char            *logbuf;            /* access log lines not yet written (KM__LOGBUF) */
    bool             lean;              /* km_http_stream_lean: big buffers given back */
    bool             remote_known;      /* remote holds the peer's address */
    uint8_t          remote_len;
    char             remote[56];        /* "ip:port", "[ip6]:port" or "unix" */
    size_t           loglen;
    km__conn        *next, *prev;       /* the server's list */
    atomic_bool      busy;              /* inside a request */
    _Atomic uint64_t nread, nwritten;   /* bytes, for km_http_server_stat_read */
};

struct km_http_server {
    km_http_config  cfg;
    int             lfd;
    int             port;
    km_group       *group;              /* accept loop and connections */
    km_mutex       *mu;                 /* conns list */
    km__conn       *conns;
    km__conn       *free;               /* closed ones, for reuse */
    int             nfree;
    atomic_int      nconns;
    _Atomic uint64_t served;            /* connections, in all */
    _Atomic uint64_t nread, nwritten;   /* bytes of the closed connections */
    atomic_bool     stopping;
};

/* Counts n bytes moved (n <= 0: none). Relaxed: a total for metrics. */
static inline void km__count_bytes(_Atomic uint64_t *total, ssize_t n)
{
    if (n > 0)
        atomic_fetch_add_explicit(total, (uint64_t)n, memory_order_relaxed);
}

/* conn.c, server.c */
void km__http_conn_main(void *arg);
void km__http_conn_close(km__conn *c);
/* mw.c: takes the timeout middleware's group from under its parent. */
void km__http_timeout_close(km__conn *c);
void km__conn_log_flush(km__conn *c);
/* Grows the read buffer to at least need bytes; strings of the current
 * request stay valid (the old buffer is kept until the request is done).
 * 0 or -ENOMEM/-EMSGSIZE. */
int  km__conn_reserve(km__conn *c, size_t need);
/* Reads more bytes into the read buffer; > 0, 0 at EOF, or -errno. */
ssize_t km__conn_fill(km__conn *c, int64_t deadline);

/* resp.c */
int  km__resp_flush(km__conn *c);
int  km__resp_error(km__conn *c, int status);
int  km__resp_finish(km_http_resp *w);
/* km_http_set_header for a name and value known to be valid (the library's
 * own: constant names, checked or generated values). */
int  km__resp_add_header(km_http_resp *w, const char *name, size_t nl, const char *value, size_t vl);
void km__resp_reset(km_http_resp *w, km__conn *c, bool head_request);
/* Writes raw bytes through the output buffer. */
int  km__out(km__conn *c, const void *p, size_t n);

/* lean.c: after a lean stream, buffers for the next request; 0 or -ENOMEM. */
int  km__conn_unlean(km__conn *c);

/* req.c */
/* Reads (or skips) the rest of the current request's body so that the
 * next request can be parsed. 0, or -1: the connection must close. */
int  km__req_drain(km_http_req *r);

#endif
