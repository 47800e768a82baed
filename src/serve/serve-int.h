/* SPDX-License-Identifier: MIT */
/* The parts of `kumo serve` and how they are held together. */
#ifndef KUMO_SERVE_INT_H
#define KUMO_SERVE_INT_H

#include <kumo/log.h>
#include <kumo/metrics.h>
#include <kumo/resil.h>
#include <kumo/serve.h>

enum { STORE_SERIES = 12 };

struct km_serve {
    km_store        *store;
    km_hub          *hub;
    km_etcd         *etcd;
    km_native       *native;
    km_http_router  *router;
    km_http_server  *http;
    km_metrics      *metrics;       /* NULL when turned off */
    km_metrics_http *mhttp;
    km_http_mw       mw[5];         /* the server's chain; outlives it */
    size_t           nmw;
    km_series       *st[STORE_SERIES];
    km_shedder      *shed;          /* adaptive load shedding, unary requests only */
    km_logger       *log;           /* request records; NULL without an access log */
};

/* metrics.c: the registry, GET /metrics, the HTTP middleware (added to
 * s->mw) and the store and hub gauges. 0 or -errno. */
int  km__serve_metrics_start(km_serve *s);
void km__serve_metrics_stop(km_serve *s);

#endif
