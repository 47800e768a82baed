/* SPDX-License-Identifier: MIT */
/* The parts of `kumo serve` and how they are held together. */
#ifndef KUMO_SERVE_INT_H
#define KUMO_SERVE_INT_H

#include <stdatomic.h>
#include <kumo/auth.h>
#include <kumo/grpc.h>
#include <kumo/log.h>
#include <kumo/metrics.h>
#include <kumo/resil.h>
#include <kumo/serve.h>
#include "serve/ns-api.h"

enum { STORE_SERIES = 12, HTTP_SERIES = 5 };

struct km_serve {
    km_store        *store;
    km_hub          *hub;
    km_etcd         *etcd;
    km_grpc_server  *grpc;          /* etcd's gRPC API, in front of the router */
    km_native       *native;
    km_http_router  *router;
    km_http_server  *http;
    km_metrics      *metrics;       /* NULL when turned off */
    km_metrics_http *mhttp;
    km_http_mw       mw[5];         /* the server's chain; outlives it */
    km_http_request_id_config echo_id;  /* the request-id middleware's */
    size_t           nmw;
    km_series       *st[STORE_SERIES];
    km_series       *hs[HTTP_SERIES];
    km_series       *commit_dur, *sync_dur;     /* the store's, fed by its committer */
    _Atomic(km_http_server *) http_up;          /* http, once km_http_serve returned */
    km_shedder      *shed;          /* adaptive load shedding, unary requests only */
    km_logger       *log;           /* request records; NULL without an access log */
    km_auth         *auth;          /* cfg->auth, or the one opened here */
    km_auth         *own_auth;      /* opened here (DATA_DIR/auth.json, or etcd's users
                                       mirrored in memory), freed here */
    km_etcd_mirror  *mirror;        /* own_auth mirrors the etcd backend's users */
    km_logger       *audit;         /* own_auth's audit records, to stderr */
    km__secret_key  *secret_key;    /* namespaces' secret values; NULL: none */
    km__nsapi        ns;            /* the release workflow's API */
};

/* metrics.c: km__serve_metrics_new makes the registry and the store's
 * commit histograms (before the store opens: its committer feeds them
 * through km__serve_on_commit); km__serve_metrics_start adds GET /metrics,
 * the HTTP middleware (to s->mw) and the families copied at each scrape.
 * 0 or -errno. km__serve_metrics_stop frees them all, once the store is
 * closed and no scrape can run. */
int  km__serve_metrics_new(km_serve *s);
int  km__serve_metrics_start(km_serve *s);
void km__serve_metrics_stop(km_serve *s);
void km__serve_on_commit(void *ud, int64_t commit_ns, int64_t sync_ns);

#endif
