/* SPDX-License-Identifier: MIT */
/* The config center as a library: store, watch hub, etcd's v3 JSON API and
 * the native API on one HTTP server (what `kumo serve` runs). */
#ifndef KUMO_SERVE_H
#define KUMO_SERVE_H

#include "etcd.h"
#include "hub.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *listen;          /* NULL: "127.0.0.1:2379" */
    const char *backend;         /* the store backend (km_store_config); NULL: lmdb */
    const char *data_dir;        /* NULL: "kumo.data" */
    size_t      map_size;        /* store address space; 0: 8 GiB */
    int64_t     call_timeout;    /* etcd backend: km_store_config's, ns; 0: 5 s */
    int64_t     cache_window;    /* etcd backend: revisions of history cached; 0: 10,000 */
    int64_t     cache_wait;      /* etcd backend: ns a read or write waits for the
                                    cache; 0: 1 s */
    struct km_tls *backend_tls;  /* etcd backend: TLS to its members (km_tls_client_new,
                                    the caller's); NULL: plain TCP */
    const char *backend_user;    /* etcd backend: the etcd user kumo logs in as
                                    (km_store_config's user); NULL: none. One holding
                                    etcd's root role also makes kumo mirror etcd's users,
                                    roles and permissions (km_etcd_mirror_new) */
    const char *backend_password; /* its password (never logged) */
    int         max_conns;       /* 0: 200,000 (watchers hold one each) */
    const char *access_log;      /* file for one record per request (appended); NULL: */
    int         access_log_fd;   /* ...this fd instead; -1 or 0: no access log */
    int         log_format;      /* KM_LOG_JSON (0) or KM_LOG_LOGFMT */
    int64_t     progress_interval; /* etcd watch progress notifications, ns; 0: 10 min */
    bool        no_metrics;      /* true: no GET /metrics and no per-request counting */
    bool        no_trace;        /* true: no request ids or W3C trace context */
    bool        echo_request_id; /* true: each response carries its X-Request-ID */
    const char *name;            /* the member's name etcd's MemberList shows; NULL: "default" */
    const char *advertise_url;   /* where clients reach the server (MemberList's clientURLs);
                                    NULL: "http://" + listen, a wildcard host as localhost */
    struct km_tls *tls;          /* TLS on the listener (<kumo/tls.h>, the caller's:
                                    it outlives the server; km_tls_reload applies to
                                    new connections); NULL: plain TCP */
    struct km_auth *auth;        /* users, roles and tokens (<kumo/auth.h>, the caller's,
                                    outliving the server): etcd's Auth service and the
                                    permission checks of every API. NULL: the embedded
                                    store's own, in DATA_DIR/auth.json, with the two
                                    options below and audit records on stderr; with the
                                    etcd backend, etcd's mirrored in memory (with a root
                                    backend_user), else none */
    const char *auth_token;      /* km_auth_config's token: "simple" or "jwt,..."; NULL:
                                    simple (checked before: km_auth_open with no file) */
    int64_t     auth_token_ttl;  /* a simple token's lifetime unused, ns; 0: 300 s */
    const char *secret_key_file; /* namespaces' secret values: a file of 32 random bytes
                                    (mode 0600); NULL: secret values are refused */
    bool        shedding;        /* adaptive load shedding of unary requests (503 +
                                    Retry-After); off by default: a closed-loop load
                                    such as a benchmark's would be shed needlessly */
} km_serve_config;

typedef struct km_serve km_serve;

/* Opens the store and starts serving; returns once listening. Call from a
 * goroutine. 0 or -errno (store, listen). */
int  km_serve_start(km_serve **out, const km_serve_config *cfg);
/* The bound port (for ":0"). */
int  km_serve_port(const km_serve *s);
/* Stops accepting, ends watches and requests by deadline, closes the store. */
int  km_serve_stop(km_serve *s, int64_t deadline);

/* Routes of the native API for people on rt: GET/PUT/DELETE
 * /api/v1/kv/<key> (raw bodies; ?prefix, ?rev, ?lease), GET /api/v1/watch
 * (Server-Sent Events; ?key or ?prefix, ?rev, Last-Event-ID), /healthz,
 * /readyz. The store, hub and auth must outlive the routes. With auth
 * (may be NULL: none) enabled, the kv and watch routes need a token
 * ("Authorization: Bearer TOKEN", or the bare token) or a verified client
 * certificate whose user may read (GET, watch) or write (PUT, DELETE) the
 * keys: 401 without one, 403 when refused. 0 or -ENOMEM. */
typedef struct km_native km_native;
int  km_native_new(km_native **out, km_store *s, km_hub *h, struct km_auth *auth);
int  km_native_routes(km_native *n, km_http_router *rt);
void km_native_free(km_native *n);

#ifdef __cplusplus
}
#endif
#endif
