/* SPDX-License-Identifier: MIT */
/* HTTP/2 client internals shared by its stream calls (h2-client.c) and its connection pool (h2-pool.c). */
#ifndef KM_H2_CLIENT_INT_H
#define KM_H2_CLIENT_INT_H

#include <kumo/http2.h>
#include "h2-int.h"

/* A client stream: the core's stream first (the core allocates
 * cfg.stream_size bytes and frees them), then what only a client needs. */
struct km_http2_stream {
    km__h2_stream core;
    int           status;       /* :status, once the head came */
};

typedef struct {
    km__h2_conn *conn;          /* NULL: free slot */
    bool         dialing;       /* a goroutine is dialling for this slot */
} km__h2_slot;

typedef struct {
    km__h2_conn *conn;
    int          why;           /* km__h2_conn_usable's answer; -ECONNABORTED: close */
} km__h2_gone;

struct km_http2_client {
    char         *addr, *authority, *scheme;
    char         *server_name;      /* with TLS: who the server's certificate must name */
    km_http2_client_config cfg;
    km__h2_cfg    h2;           /* what every connection is made with */
    km_mutex     *mu;           /* the slots and the backoff state */
    km_cond      *cv;           /* a slot, a dial or a stream came free */
    atomic_int    waiting;      /* openers about to wait on cv */
    km_group     *grp;          /* the connections' goroutines */
    km__h2_slot  *slots;        /* cfg.max_conns */
    km__h2_gone  *gone;         /* dropped, to let go of once mu is released */
    int           ngone;
    int           fails;        /* dials failed in a row */
    int           last_err;     /* the last failed dial's error */
    int64_t       retry_at;     /* no dial before this after a failure */
    uint64_t      rng;
    uint64_t      dials, dial_failures, conns_lost;
};

/* Opens a stream on some connection with room, dialling if there is none
 * (h2-pool.c). nv as km__h2_open takes them. Errors as km_http2_stream_open. */
int km__h2_pool_open(km_http2_client *c, const nghttp2_nv *nv, size_t n, bool end,
                     int64_t deadline, km__h2_stream **out);

#endif
