/* SPDX-License-Identifier: MIT */
/* gRPC's server and client internals: the method table, a call on each side, and what they share. */
#ifndef KM_GRPC_INT_H
#define KM_GRPC_INT_H

#include <stdatomic.h>
#include <kumo/grpc.h>
#include <kumo/group.h>
#include <kumo/http2.h>
#include <kumo/sync.h>
#include "grpc/wire-int.h"

#define KM__GRPC_DEFAULT_MAX_RECV (4u << 20)    /* grpc-go's and grpcio's default */
/* A call's read buffer on the handler's (or caller's) stack: a small
 * message is read, and handed out, without an allocation. */
#define KM__GRPC_LENT 1024
/* A single-response call's message up to this size (framed) waits for the
 * handler's return, so that head, message and status leave in one step. */
#define KM__GRPC_KEEP 1024
/* A message this small goes out behind its prefix in one write. */
#define KM__GRPC_SMALL 4096

/* ---- received metadata (mdlist.c) ---- */

/* A header block's fields as metadata: reserved ones left out, -bin
 * values decoded (one entry per comma-separated value; a value that is
 * not base64 is left out). Keys and ASCII values point into the block;
 * decoded bytes into one allocation the list owns. */
typedef struct {
    km_grpc_md *md;
    size_t      n;
    bool        built;
} km__grpc_mdlist;

/* The i-th field of some header block. 0 or -ERANGE. */
typedef int km__grpc_field_at(void *src, size_t i, km_str *name, km_str *value);
/* Builds l from the n fields of src (once; later calls keep it). 0 or -ENOMEM. */
int  km__grpc_mdlist_build(km__grpc_mdlist *l, km__grpc_field_at *at, void *src, size_t n);
void km__grpc_mdlist_free(km__grpc_mdlist *l);

/* A metadata value as it goes in a header field: checked, base64 for a
 * -bin key, NUL-terminated, in buf (cap bytes) or on the heap (the
 * caller frees *out when it is not buf). 0; -EINVAL (key or value not
 * allowed); -ENOMEM. */
int  km__grpc_md_field(const km_str key, const void *v, size_t n, char *buf, size_t cap,
                       char **out);

/* ---- the server (registry.c, server.c, call.c) ---- */

typedef struct {
    char            *path;      /* "/package.Service/Method" */
    size_t           len;
    size_t           svc_len;   /* "/package.Service" */
    km_grpc_kind     kind;
    km_grpc_handler *h;
    void            *ud;
    const ProtobufCMessageDescriptor *in;   /* NULL unless from a service descriptor */
} km__grpc_method;

struct km_grpc_server {
    km_grpc_server_config cfg;
    km__grpc_method *m;
    size_t           n, cap;
    uint32_t        *slots;     /* open addressing: method index + 1, 0 free */
    size_t           nslots;    /* a power of two, over twice n */
    km_http_handler *fallback;
    void            *fallback_ud;
};

/* The method at path, or NULL. */
const km__grpc_method *km__grpc_lookup(const km_grpc_server *s, const char *path, size_t n);
/* Whether some method's service is the one of path ("/package.Service"). */
bool km__grpc_has_service(const km_grpc_server *s, const char *path, size_t n);

/* Trailer metadata a handler set, kept until it is known whether they go
 * as trailers or in a trailers-only answer's one block: "key\0value\0"... */
typedef struct {
    char  *buf;
    size_t len, cap;
} km__grpc_fields;

struct km_grpc_call {
    km_grpc_server        *srv;
    const km__grpc_method *m;
    km_http_req           *r;
    km_http_resp          *w;
    int64_t                deadline;        /* KM_FOREVER: none */
    km__grpc_rd            rd;
    bool                   eof;             /* the client half-closed */
    bool                   head_sent;       /* response headers are out */
    /* A status is set. Atomic because a bidi handler may receive in one
     * goroutine (whose failures set a status) while another sends. */
    atomic_bool            finished;
    bool                   ended;           /* the status went out */
    bool                   encoded;         /* the request has a grpc-encoding */
    int                    rerr;            /* reading failed for good */
    int                    serr;            /* sending failed for good */
    int                    code;            /* the status, once finished */
    char                  *msg;             /* its message (heap) or NULL */
    km__grpc_fields        trailers;
    km__grpc_mdlist        md;
    char                  *sbuf;            /* packing buffer for large messages */
    size_t                 scap;
    char                  *qbuf;            /* km_grpc_send_add's framed messages, */
    size_t                 qlen, qcap;      /* written ahead of the next write */
    size_t                 klen;            /* the kept message's length (0: none) */
    char                   lent[KM__GRPC_LENT];
    char                   kept[KM__GRPC_KEEP];
};

/* Sets the status kumo saw a failure with, unless one is set (call.c). */
void km__grpc_call_fail(km_grpc_call *c, int code, const char *msg);
/* Sends the status and the trailers (server.c calls it after the handler). */
void km__grpc_call_end(km_grpc_call *c);
/* Writes what km_grpc_send_add queued, unless sending already failed. */
void km__grpc_send_queued(km_grpc_call *c);
/* Releases what the call holds. */
void km__grpc_call_free(km_grpc_call *c);

/* ---- the client (channel.c, stream.c, status-map.c) ---- */

struct km_grpc_channel {
    km_http2_client *h2;
    char            *user_agent;
    size_t           max_recv, max_send;
};

enum { ST_OPEN, ST_ENDED };

struct km_grpc_stream {
    km_grpc_channel  *ch;
    km_http2_stream  *h2;               /* NULL if opening failed */
    int64_t           deadline;
    km_mutex         *mu;               /* the fields below, across goroutines */
    int               err;              /* the call's end, when local: sticky */
    bool              ended;            /* the status is known */
    bool              cancelled;        /* km_grpc_stream_cancel */
    bool              sent_last;        /* half-closed */
    bool              head;             /* the response head came and was checked */
    bool              trailers_only;
    bool              eof;              /* the body was read to its end */
    int               code;
    char             *msg;              /* the status message (heap), or NULL */
    size_t            msg_len;
    km__grpc_rd       rd;
    km__grpc_mdlist   hmd, tmd;
    char             *sbuf;             /* packing buffer */
    size_t            scap;
    char              lent[KM__GRPC_LENT];
};

/* After a unary call's one message: reads to the end of the response
 * (anything more is an error) and takes the status, leaving the message
 * where it is in the reader's buffer (stream.c). 0, or the call's error. */
int km__grpc_stream_expect_end(km_grpc_stream *st, int64_t deadline);

/* Overrides an ended call's status with a violation only the caller
 * could see (a unary response without its message, one that does not
 * decode): code and msg, error -EPROTO. */
void km__grpc_stream_mark(km_grpc_stream *st, int code, const char *msg);

/* The status grpc-go gives a stream reset with RST_STREAM code. */
int km__grpc_rst_code(uint32_t h2_code);
/* The status the spec gives an HTTP response status other than 200. */
int km__grpc_http_code(int http_status);

#endif
