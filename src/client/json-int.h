/* SPDX-License-Identifier: MIT */
/* The JSON gateway transport's internals: calls with failover, kv decoding
 * and the chunked stream reader that watches read. */
#ifndef KUMO_CLIENT_JSON_INT_H
#define KUMO_CLIENT_JSON_INT_H

#include <jansson.h>
#include "client/client-int.h"
#include "etcd/wire.h"
#include "http/parse.h"

/* Maps an error answer (HTTP status, etcd JSON error body) to -errno. */
int km__client_err(int status, json_t *body);

/* POSTs req (consumed) to path on the current endpoint, moving to the next
 * ones on transport errors, until deadline. 0 with *out (the caller
 * decrefs), or -errno as listed in client.h. */
int km__client_call(km_client *c, const char *path, json_t *req, int64_t deadline,
                    json_t **out);

/* Upper bound of the bytes km__client_kv_decode needs for kv. */
size_t km__client_kv_size(json_t *kv);
/* Decodes kv (etcd's JSON mvccpb.KeyValue) into dst, strings in m. 0 or
 * -EBADMSG. */
int    km__client_kv_decode(json_t *kv, km_client_kv *dst, km__kvmem *m);
/* Decodes an array of kvs into r (kvs and priv_ one block). */
int    km__client_decode_kvs(json_t *arr, km_client_range *r);
/* A span as the request's key and range_end members. */
/* Sets the span's key and range_end members of o: false when out of
 * memory (a request missing a member must never be sent). */
bool   km__json_span(json_t *o, const km__span *s);

/* The JSON transport's operations (the table's entries). */
int  km__json_range(km_client *c, const km__span *s, int64_t rev, int64_t limit,
                    int64_t deadline, km_client_range *out);
int  km__json_put(km_client *c, const void *key, size_t key_len, const void *value,
                  size_t value_len, int64_t lease, int64_t deadline, int64_t *rev);
int  km__json_del(km_client *c, const km__span *s, int64_t deadline, int64_t *deleted,
                  int64_t *rev);
int  km__json_txn(km_client *c, const km_client_cmp *cmp, size_t ncmp,
                  const km_client_op *then_ops, size_t nthen,
                  const km_client_op *else_ops, size_t nelse,
                  int64_t deadline, bool *succeeded, int64_t *rev);
int  km__json_compact(km_client *c, int64_t rev, int64_t deadline);
int  km__json_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                          int64_t *granted_ttl);
int  km__json_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl);
int  km__json_lease_revoke(km_client *c, int64_t id, int64_t deadline);
int  km__json_watch_open(km_client *c, size_t ep, const km__watch_req *q, int64_t start_rev,
                         int64_t deadline, km__wstream **out);
int  km__json_watch_next(km__wstream *s, int64_t deadline, km__watch_msg *m);
void km__json_watch_close(km__wstream *s);

/* ---- streaming responses (watch) ---- */

/* A response's head at most (431 on the server side), its headers at most,
 * and its undelivered body at most by default: an error answer whole, or
 * a streamed line and the chunk that carries it. */
#define KM__STREAM_MAX_HEAD  16384
#define KM__STREAM_MAX_HDRS  100
#define KM__STREAM_MAX_BODY  (256u << 20)

struct km__tls_conn;

typedef struct {
    int         fd;             /* -1: the response is mem[0, memn) */
    struct km__tls_conn *tls;   /* TLS over fd (freed by km__stream_close); NULL: plain */
    int         status;
    bool        chunked, eof;
    int         err;            /* the body's framing failed: after its lines */
    km__chunked dec;            /* the server's chunked decoder */
    int64_t     left;           /* Content-Length bytes still to come; -1 none */
    size_t      max_body;       /* 0: KM__STREAM_MAX_BODY */
    const char *mem;
    size_t      memn;
    char       *rbuf;
    size_t      rr, rw;         /* unread rbuf[rr..rw) */
    char       *body;           /* decoded body bytes not yet handed out */
    size_t      boff, bn, bcap;
} km__stream;

/* Dials ep, POSTs json to path and reads the response (km__stream_begin).
 * s must be zeroed (max_body may be set); close it in every case. */
int  km__stream_open(km__stream *s, const char *ep, const char *path, const char *json,
                     int64_t deadline);
/* Reads the response head from s->fd (or, with fd -1, from mem): 0 with
 * s->status 200; a non-200 answer is read whole into the body and mapped
 * with km__client_err. -EBADMSG for a malformed head, framing or a body
 * cut short, -EMSGSIZE for a head, header count or body over the limits,
 * -ETIMEDOUT, -ECONNRESET, -errno. */
int  km__stream_begin(km__stream *s, int64_t deadline);
/* The next newline-terminated line of the body (NUL-terminated in place,
 * without the newline; valid until the next call). -ETIMEDOUT keeps the
 * partial state; -ECONNRESET at the end of the body; -EBADMSG (bad chunk
 * framing), -EMSGSIZE (a line or chunk over max_body); -errno. */
int  km__stream_line(km__stream *s, int64_t deadline, char **line, size_t *n);
void km__stream_close(km__stream *s);

#endif
