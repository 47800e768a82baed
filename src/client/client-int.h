/* SPDX-License-Identifier: MIT */
/* Internals of the client SDK: the client object, JSON calls with failover,
 * kv decoding, the chunked stream reader and the informer's views. */
#ifndef KUMO_CLIENT_INT_H
#define KUMO_CLIENT_INT_H

#include <stdatomic.h>
#include <jansson.h>
#include <kumo/client.h>
#include "etcd/wire.h"

struct km_client {
    char          **eps;        /* "host:port" each, km__malloc'd */
    size_t          neps;
    atomic_size_t   cur;        /* index of the endpoint in use */
    int64_t         dial_timeout;
    km_http_client *http;
};

/* The endpoint in use and a hint for moving on when it fails: failover only
 * moves if nobody moved since seen (so concurrent failures skip one each). */
size_t km__client_ep(km_client *c, const char **ep);
void   km__client_failover(km_client *c, size_t seen);
/* True for errors that say "this endpoint is not answering". */
bool   km__client_transport_err(int rc);
/* Maps an error answer (HTTP status, etcd JSON error body) to -errno. */
int    km__client_err(int status, json_t *body);

/* POSTs req (consumed) to path on the current endpoint, moving to the next
 * ones on transport errors, until deadline. 0 with *out (the caller
 * decrefs), or -errno as listed in client.h. */
int km__client_call(km_client *c, const char *path, json_t *req, int64_t deadline,
                    json_t **out);

/* Decoding kvs into one allocation: size first, then fill. */
typedef struct {
    char  *p;
    size_t left;
} km__kvmem;
/* Upper bound of the bytes km__client_kv_decode needs for kv. */
size_t km__client_kv_size(json_t *kv);
/* Decodes kv (etcd's JSON mvccpb.KeyValue) into dst, strings in m. 0 or
 * -EBADMSG. */
int    km__client_kv_decode(json_t *kv, km_client_kv *dst, km__kvmem *m);
/* Decodes an array of kvs into r (kvs and priv_ one block). */
int    km__client_decode_kvs(json_t *arr, km_client_range *r);

/* ---- streaming responses (watch) ---- */

typedef struct {
    int     fd;
    int     status;
    bool    chunked, eof;
    int     cstate;         /* chunked decoder state */
    int64_t cleft;          /* bytes left in the current chunk */
    char   *rbuf;
    size_t  rr, rw;         /* unread rbuf[rr..rw) */
    char   *body;           /* decoded body bytes not yet handed out */
    size_t  boff, bn, bcap;
} km__stream;

/* Dials ep, POSTs json to path and reads the response head (until deadline).
 * 0 with s->status; a non-200 answer is read whole into the body and
 * mapped with km__client_err. s must be zeroed; close it in every case. */
int  km__stream_open(km__stream *s, const char *ep, const char *path, const char *json,
                     int64_t deadline);
/* The next newline-terminated line of the body (NUL-terminated in place,
 * without the newline; valid until the next call). -ETIMEDOUT keeps the
 * partial state; -ECONNRESET at the end of the body; -EBADMSG; -errno. */
int  km__stream_line(km__stream *s, int64_t deadline, char **line, size_t *n);
void km__stream_close(km__stream *s);

/* ---- informer views ---- */

/* One cached kv, shared (reference-counted) by every view that holds it. */
typedef struct km__entry {
    atomic_long   refs;
    km_client_kv  kv;
    char          data[];   /* key, NUL, value, NUL */
} km__entry;

struct km_informer_view {
    atomic_long  refs;
    int64_t      rev;
    size_t       n, cap;
    km__entry  **e;         /* sorted by key */
};

km__entry *km__entry_new(const km_client_kv *kv);
static inline km__entry *km__entry_ref(km__entry *e) { atomic_fetch_add(&e->refs, 1); return e; }
void       km__entry_unref(km__entry *e);
/* Compares two keys as byte strings. */
int        km__key_cmp(const char *a, size_t an, const char *b, size_t bn);

/* A new view holding a reference to each entry of from (NULL: empty). */
km_informer_view *km__view_copy(const km_informer_view *from);
/* Index where key is or would go; *found tells which. */
size_t km__view_find(const km_informer_view *v, const char *key, size_t kn, bool *found);
/* Puts e (the view takes the caller's reference) at its key; returns the
 * entry it replaced (the caller's reference now) or NULL. -ENOMEM: *err. */
km__entry *km__view_set(km_informer_view *v, km__entry *e, int *err);
/* Removes key; returns the removed entry (caller's reference) or NULL. */
km__entry *km__view_del(km_informer_view *v, const char *key, size_t kn);

#endif
