/* SPDX-License-Identifier: MIT */
/* etcd's v3 API over a km_store: its gRPC services and the JSON API etcd 3.4's gateway serves. */
#ifndef KUMO_ETCD_H
#define KUMO_ETCD_H

#include "http.h"
#include "store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct km_hub km_hub;      /* watch fan-out, see hub.h */
typedef struct km_grpc_server km_grpc_server;  /* see grpc.h */
typedef struct km_auth km_auth;    /* users, roles, tokens; see auth.h */

typedef struct {
    km_store *store;
    km_hub   *hub;                 /* NULL: /v3/watch answers 503 */
    uint64_t  cluster_id, member_id;  /* echoed in every response header */
    size_t    max_request_bytes;   /* 0: 1.5 MiB, as etcd */
    int64_t   progress_interval;   /* watch progress notifications, ns; 0: 10 min, as etcd */
    const char *name;              /* the member's name (MemberList); NULL: "default", as etcd */
    const char *client_url;        /* where clients reach this server ("http://127.0.0.1:2379"),
                                      MemberList's clientURLs; NULL: none listed. Copied */
    km_auth  *auth;                /* etcd's Auth service and every permission check;
                                      NULL: no users, authentication never on. Must
                                      outlive the API */
} km_etcd_config;

typedef struct km_etcd km_etcd;

/* 0, -ENOMEM or -EINVAL (also for a name or URL over 255 bytes). The
 * store and hub must outlive the API. */
int  km_etcd_new(km_etcd **out, const km_etcd_config *cfg);
/* Registers POST /v3/kv/range, put, deleterange, txn, compaction,
 * /v3/lease/grant, revoke, keepalive, timetolive, leases, /v3/watch and
 * /v3/maintenance/status on rt, and GET /health and /version as etcd
 * answers them. 0 or -errno from km_http_route. */
int  km_etcd_routes(km_etcd *e, km_http_router *rt);
/* Registers etcd's gRPC services (etcdserverpb.KV, Watch, Lease, Cluster,
 * Maintenance, Auth) on s, for etcd's own clients (etcdctl, clientv3,
 * python-etcd3). 0 or -errno from km_grpc_register_service. */
int  km_etcd_grpc_register(km_etcd *e, km_grpc_server *s);
void km_etcd_free(km_etcd *e);
/* A not-found handler for the router (km_http_router_not_found): unknown
 * /v3/ paths get etcd's gateway answer, others Go's plain 404. */
void km_etcd_not_found(km_http_req *r, km_http_resp *w, void *ud);

#ifdef __cplusplus
}
#endif
#endif
