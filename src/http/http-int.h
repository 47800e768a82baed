/* SPDX-License-Identifier: MIT */
/* The HTTP stream interface: requests, responses and the server, whatever
 * protocol carries them (h1-int.h is HTTP/1.1, the first implementation). */
#ifndef KM_HTTP_INT_H
#define KM_HTTP_INT_H

#include <kumo/chan.h>
#include <kumo/group.h>
#include <kumo/http.h>
#include <kumo/net.h>
#include <kumo/sync.h>
#include "parse.h"
#include "tls/tls-int.h"
#include <stdatomic.h>

#define KM__MAX_PARAMS 8
#define KM__RESP_HDRS 1024      /* a response's header (or trailer) lines, to start */
#define KM__RESP_HDRS_MAX (64 << 10)    /* ... and at most (gRPC's status message
                                           and metadata travel in them) */

typedef struct km__stream km__stream;
typedef struct km__conn km__conn;

/* What a protocol does with one stream's request and response. The public
 * functions check their arguments and the response's state, then call
 * these; nothing else reaches the protocol. */
typedef struct {
    /* A whole response with a fixed-length body; w->status is set. */
    int     (*send)(km_http_resp *w, const char *ctype, const void *body, size_t n);
    /* Streamed body bytes (buffered), the head first if not sent yet. */
    int     (*write)(km_http_resp *w, const void *p, size_t n);
    /* Pushes what is buffered to the client, the head first if not sent. */
    int     (*flush)(km_http_resp *w);
    /* n bytes of file fd from off as a fixed-length body; w->status is set. */
    int     (*sendfile)(km_http_resp *w, const char *ctype, int fd, off_t off, size_t n);
    /* The whole request body (see km_http_body). */
    int     (*body)(km_http_req *r, km_str *body);
    /* Up to n more body bytes (see km_http_body_read). */
    ssize_t (*body_read)(km_http_req *r, void *buf, size_t n, int64_t deadline);
    /* Gives back what a long-lived stream does not need (km_http_stream_lean). */
    int     (*lean)(km_http_req *r, km_http_resp *w);
    /* Body reads that would wait end once the server drains
     * (km_http_body_wake_on_drain); NULL: they never wait that long. */
    void    (*drain_wake)(km_http_req *r);
} km__stream_ops;

struct km_http_req {
    km__stream *st;
    km__head    h;              /* version 10, 11 or 20 */
    km_str      pname[KM__MAX_PARAMS], pval[KM__MAX_PARAMS];
    int         nparams;
    /* The status the server answers after the chain when the body could
     * not be read and the handler did not respond (413, 400, 408); 499
     * when the client left (nothing to answer); 0 while none failed. */
    int         body_fail;
    char        request_id[65]; /* set by the request-id middleware */
    uint8_t     request_id_len;
    const char *route;          /* the matched router pattern, NULL before or without one */
    size_t      route_len;
    bool        traced;         /* trace is set by the trace middleware */
    km_http_trace_ctx trace;
    int64_t     start;          /* km_http_req_start, 0 until known */
    int64_t     end_at;         /* km_http_req_end, 0 until read */
    bool        handled;        /* the handler returned */
    bool        refused;        /* refused before the handler (body_fail says why) */
};

struct km_http_next {
    const km_http_config *cfg;
    size_t                i;    /* next middleware to run */
};

struct km_http_resp {
    km__stream *st;
    int         status;
    bool        head_sent;
    bool        no_body;        /* HEAD request, 204, 304 */
    bool        done;           /* the body is complete */
    bool        close;          /* the handler set Connection: close */
    char       *hdrs;           /* extra header lines set by the handler
                                   ("Name: value\r\n"), KM__RESP_HDRS bytes
                                   taken at first use, doubled as needed */
    size_t      hlen, hcap;
    char       *trls;           /* trailer lines, the same way */
    size_t      tlen, tcap;
};

/* The peer of a connection, looked up once (getpeername). */
typedef struct {
    int           fd;
    bool          known;
    uint8_t       len, iplen;
    char          text[56];     /* "ip:port", "[ip6]:port" or "unix" */
    unsigned char ip[16];       /* the address bytes (4 or 16), for keys */
    km__tls_conn *tls;          /* the connection's TLS, NULL for plain TCP */
} km__peer;

/* One request and its response at a time, on some connection. */
struct km__stream {
    const km__stream_ops *ops;
    km_http_server       *s;
    km__peer             *peer;
    km_http_req           req;
    km_http_resp          resp;
    km_group             *tgroup;       /* the timeout middleware's, reused */
    bool                  tgroup_linked;/* tgroup is under its parent */
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
    _Atomic uint64_t refused;           /* over max_conns or no goroutine */
    _Atomic uint64_t nread, nwritten;   /* bytes of the closed connections */
    atomic_bool     stopping;
    /* Hang-up monitor (hangup.c): streaming connections' sockets in an
     * epoll set of their own, started with the first stream. */
    km_mutex       *hup_mu;             /* starting and stopping it */
    int             hup_ep, hup_ev;     /* -1 until started */
    km_group       *hup_group;
    km_chan        *hup_done;
    atomic_bool     hup_stop;
};

/* Counts n bytes moved (n <= 0: none). Relaxed: a total for metrics. */
static inline void km__count_bytes(_Atomic uint64_t *total, ssize_t n)
{
    if (n > 0)
        atomic_fetch_add_explicit(total, (uint64_t)n, memory_order_relaxed);
}

/* Runs the middleware chain on a stream whose request head is in place
 * (its neutral fields are reset here), and the handler unless refused
 * (a status). Inline: it is every request's path, on every protocol. */
static inline void km__stream_chain(km__stream *st, int refused)
{
    km_http_req *r = &st->req;
    r->st = st;
    r->nparams = 0;
    r->body_fail = refused;
    r->refused = refused != 0;
    r->request_id[0] = 0;
    r->traced = r->handled = false;
    r->end_at = 0;
    r->route = NULL;
    km_http_next chain = { &st->s->cfg, 0 };
    km_http_next_call(&chain, r, &st->resp);
}

static inline void km__stream_run(km__stream *st)
{
    km__stream_chain(st, 0);
}

/* A request the server refuses before its handler (bad head 400, too slow
 * 408, too large 413 or 431, HTTP version 505) still goes through the
 * middleware, so that metrics and logs see it with its status; the
 * handler does not run, and the protocol answers status after the chain
 * unless a middleware answered. Its body cannot be read. */
static inline void km__stream_refuse(km__stream *st, int status)
{
    km__stream_chain(st, status);
}
/* resp.c */
void km__resp_reset(km_http_resp *w, km__stream *st, bool head_request);
/* km_http_set_header for a name and value known to be valid (the library's
 * own: constant names, checked or generated values). */
int  km__resp_add_header(km_http_resp *w, const char *name, size_t nl, const char *value, size_t vl);
/* req.c: a connection's peer, unknown until first asked for; resolve
 * looks it up now (a connection whose streams run in parallel does so
 * before the first one starts). */
void km__peer_init(km__peer *p, int fd);
void km__peer_resolve(km__peer *p);
/* accesslog.c: the config's access log line for a finished request,
 * appended to buf (room bytes): its length, 0 if no log is configured. */
#define KM__LOGLINE 1024
size_t km__access_line(km__stream *st, char *buf, size_t room);
/* mw.c: takes the timeout middleware's group from under its parent. */
void km__timeout_close(km__stream *st);

/* hangup.c: a connection's socket watched for the peer hanging up while
 * its response streams; group is cancelled when it does. The caller
 * removes it (km__hangup_unwatch) before the group or socket goes away.
 * 0 or -errno. */
int  km__hangup_watch(km_http_server *s, int fd, km_group *group);
void km__hangup_unwatch(km_http_server *s, int fd);
void km__hangup_stop(km_http_server *s);

#endif
