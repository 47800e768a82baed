/* SPDX-License-Identifier: MIT */
/* A fixture for etcd's gRPC API: a store in a temp dir, its watch hub,
 * km_etcd with its gRPC services on an HTTP server (h2c), and a kumo gRPC
 * channel to it. Include once per test file, after util.h. */
#ifndef KUMO_TEST_ETCD_RPCFIX_H
#define KUMO_TEST_ETCD_RPCFIX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <protobuf-c/protobuf-c.h>
#include <kumo/auth.h>
#include <kumo/chan.h>
#include <kumo/etcd.h>
#include <kumo/grpc.h>
#include <kumo/hub.h>
#include "etcdserverpb/rpc.pb-c.h"

#define SEC 1000000000LL
/* The ids every response header carries here. */
#define FIX_CLUSTER 8140765981764738059ULL
#define FIX_MEMBER  185828541645115251ULL

typedef struct {
    char dir[64];
    km_store *store;
    km_hub *hub;
    km_etcd *etcd;
    km_grpc_server *gs;
    km_http_server *srv;
    km_grpc_channel *ch;
    char target[64];
    km_auth *auth;          /* the caller's, or NULL */
    km_grpc_md md[1];       /* sent with every call: a login token */
    size_t nmd;
    char token[2048];
} rpcfix;

/* rpcfix_up with some of km_etcd_config's knobs turned (0: the default):
 * a short progress_interval for watch progress notifications, a small
 * max_request_bytes for watch fragments. */
static inline void rpcfix_up_full(rpcfix *f, int64_t progress_interval, size_t max_request_bytes,
                                  km_auth *auth)
{
    f->auth = auth;
    f->nmd = 0;
    strcpy(f->dir, "/tmp/kumo-etcd-rpc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    km_store_config sc = { .dir = f->dir, .map_size = 64 << 20 };
    int rc = km_store_open(&f->store, &sc);
    ck_assert_msg(rc == 0, "store open: %s", km_strerror(rc));
    ck_assert_int_eq(km_hub_new(&f->hub, f->store, NULL), 0);
    km_etcd_config ec = { .store = f->store, .hub = f->hub, .cluster_id = FIX_CLUSTER,
                          .member_id = FIX_MEMBER, .progress_interval = progress_interval,
                          .max_request_bytes = max_request_bytes, .auth = auth };
    ck_assert_int_eq(km_etcd_new(&f->etcd, &ec), 0);
    ck_assert_int_eq(km_grpc_server_new(&f->gs, NULL), 0);
    ck_assert_int_eq(km_etcd_grpc_register(f->etcd, f->gs), 0);
    km_http_config hc = { .addr = "127.0.0.1:0", .handler = km_grpc_serve_http, .ud = f->gs };
    ck_assert_int_eq(km_http_serve(&f->srv, &hc), 0);
    snprintf(f->target, sizeof f->target, "127.0.0.1:%d", km_http_server_port(f->srv));
    km_grpc_channel_config cc = { .target = f->target };
    ck_assert_int_eq(km_grpc_channel_new(&f->ch, &cc), 0);
}

static inline void rpcfix_up_with(rpcfix *f, int64_t progress_interval, size_t max_request_bytes)
{
    rpcfix_up_full(f, progress_interval, max_request_bytes, NULL);
}

static inline void rpcfix_up(rpcfix *f)
{
    rpcfix_up_with(f, 0, 0);
}

static inline void rpcfix_down(rpcfix *f)
{
    km_grpc_channel_free(f->ch);
    km_hub_shutdown(f->hub);
    if (f->srv)     /* NULL: rpcfix_stop_start stopped it */
        km_http_shutdown(f->srv, km_now() + 5 * SEC);
    km_grpc_server_free(f->gs);
    km_etcd_free(f->etcd);
    km_hub_free(f->hub);
    km_store_close(f->store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The HTTP server stopping in a goroutine of its own while the test, a
 * client, looks on, with a grace of 5 s. rpcfix_stop_wait says how long
 * the stop took. */
typedef struct {
    rpcfix  *f;
    km_chan *done;
    int      rc;
    int64_t  took;
} rpcfix_stop;

static inline void rpcfix_stopper(void *arg)
{
    rpcfix_stop *s = arg;
    int64_t t0 = km_now();
    s->rc = km_http_shutdown(s->f->srv, t0 + 5 * SEC);
    s->took = km_now() - t0;
    km_chan_close(s->done);
}

static inline void rpcfix_stop_start(rpcfix_stop *s, rpcfix *f)
{
    *s = (rpcfix_stop){ .f = f };
    ck_assert_int_eq(km_chan_new(&s->done, 1, 0), 0);
    ck_assert_int_eq(km_go(rpcfix_stopper, s), 0);
}

/* Waits for the stop (10 s at most); the server is gone after it. */
#define RPCFIX_STOPPED "etcdserver: server stopped"
static inline void rpcfix_stop_wait(rpcfix_stop *s)
{
    char x;
    ck_assert_int_eq(km_chan_recv_dl(s->done, &x, km_now() + 10 * SEC), -EPIPE);
    km_chan_free(s->done);
    s->f->srv = NULL;
}

/* A unary call expected to succeed: the response unpacked as d (free it
 * with km_grpc_pb_free). */
static inline ProtobufCMessage *rpcfix_ok(rpcfix *f, const char *method, const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *d)
{
    km_grpc_stream *st;
    ProtobufCMessage *rep = NULL;
    int rc = km_grpc_unary_pb(f->ch, method, f->md, f->nmd, req, d, km_now() + 10 * SEC, &st, &rep);
    km_grpc_status s = st ? km_grpc_stream_status(st) : (km_grpc_status){ -1, { "", 0 } };
    ck_assert_msg(rc == 0, "%s: %s (status %d %.*s)", method, km_strerror(rc), s.code,
                  (int)s.message.n, s.message.p);
    km_grpc_stream_free(st);
    return rep;
}

/* A unary call expected to fail with code and message (exactly). */
static inline void rpcfix_fails(rpcfix *f, const char *method, const ProtobufCMessage *req,
                         const ProtobufCMessageDescriptor *d, int code, const char *msg)
{
    km_grpc_stream *st;
    ProtobufCMessage *rep = NULL;
    int rc = km_grpc_unary_pb(f->ch, method, f->md, f->nmd, req, d, km_now() + 10 * SEC, &st, &rep);
    ck_assert_msg(rc == -EREMOTEIO, "%s: %s, want a status", method, km_strerror(rc));
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, code);
    ck_assert_msg(s.message.n == strlen(msg) && !memcmp(s.message.p, msg, s.message.n),
                  "message '%.*s', want '%s'", (int)s.message.n, s.message.p, msg);
    km_grpc_stream_free(st);
}

#endif
