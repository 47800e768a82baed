/* SPDX-License-Identifier: MIT */
/* Internals of the client SDK: the client object, failover and error
 * mapping shared by the transports, kv memory and the informer's views. */
#ifndef KUMO_CLIENT_INT_H
#define KUMO_CLIENT_INT_H

#include <stdatomic.h>
#include <kumo/client.h>
#include "client/tp-int.h"

struct km_grpc_channel;

struct km_client {
    char          **eps;        /* "host:port" each, km__malloc'd */
    size_t          neps;
    atomic_size_t   cur;        /* index of the endpoint in use */
    int64_t         dial_timeout;
    _Atomic(const km__client_tp *) tp;  /* the transport in use */
    bool            auto_tp;    /* may fall back from gRPC to JSON */
    km_http_client *http;       /* the JSON gateway's connections */
    struct km_grpc_channel **grpc;  /* one channel per endpoint; NULL for JSON only */
    struct km_tls  *tls;        /* the caller's TLS to every endpoint; NULL: plain
                                   (the config follower's HTTP/1.1 stream uses it) */
};

/* The endpoint in use and a hint for moving on when it fails: failover only
 * moves if nobody moved since seen (so concurrent failures skip one each). */
size_t km__client_ep(km_client *c, const char **ep);
void   km__client_failover(km_client *c, size_t seen);
/* True for errors that say "this endpoint is not answering". */
bool   km__client_transport_err(int rc);
/* Maps an error the server reported (a gRPC status code, as etcd's JSON
 * gateway reports it too, and its message of n bytes; msg may be NULL) to
 * -errno; 0 when the code says nothing known. */
int    km__client_errno(int64_t code, const char *msg, size_t n);

/* One attempt of a call at endpoint ep (an index) until deadline. */
typedef int km__client_once(km_client *c, size_t ep, int64_t deadline, void *arg);
/* Makes the attempt at the endpoint in use, moving to the next ones on
 * transport errors, each once and then again while deadline allows (a
 * restarting server answers within a second or two). The last attempt's
 * result. */
int    km__client_retry(km_client *c, int64_t deadline, km__client_once *once, void *arg);

/* The span a key names, or every key it prefixes (prefix), in etcd's
 * terms: an empty key is "\0", and so is the end of an empty prefix (all
 * keys). s->end is allocated (km__client_span_free). 0 or -ENOMEM. */
int    km__client_span(const char *key, bool prefix, km__span *s);
void   km__client_span_free(km__span *s);

/* Decoding kvs into one allocation: size first, then fill. */
typedef struct {
    char  *p;
    size_t left;
} km__kvmem;
/* Copies n bytes of src into m, NUL-terminated: 0 and *out, or -EBADMSG
 * when m is too small. */
int    km__kvmem_put(km__kvmem *m, const void *src, size_t n, const char **out);

/* Events in memory of their own, reused message after message. */
typedef struct {
    km_client_event *ev;
    size_t           cap;
    char            *mem;
} km__evbuf;
/* Room for n events and bytes of strings (b->mem). 0 or -ENOMEM. */
int    km__evbuf_reserve(km__evbuf *b, size_t n, size_t bytes);
void   km__evbuf_free(km__evbuf *b);

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
