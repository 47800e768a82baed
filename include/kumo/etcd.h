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
typedef struct km_etcd_mirror km_etcd_mirror;  /* etcd's users mirrored, below */

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
    km_etcd_mirror *mirror;        /* with auth mirroring an etcd cluster's users
                                      (km_etcd_mirror_new): the Auth service's changes
                                      go to that cluster. Must outlive the API */
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
/* Mirrors the users, roles, permissions and enabled flag of the etcd
 * cluster that store keeps its data in (the etcd backend, opened with a
 * user holding etcd's root role) into a (opened without a file), so that
 * every API checks requests locally as etcd would: read at once, then
 * every period (0: 2 s; etcd 3.4 cannot be watched for them) and after
 * each change made through the Auth service (km_etcd_config's mirror),
 * which goes to etcd as that user. Logins are checked by etcd; a's own
 * tokens are issued for them (km_auth_set_password_check). Call from a
 * goroutine. 0; -EPERM when user does not hold etcd's root role (nothing
 * is mirrored); -EOPNOTSUPP for a store that is not an etcd cluster;
 * -errno from reading. */
int  km_etcd_mirror_new(km_etcd_mirror **out, km_store *store, km_auth *a, const char *user,
                        int64_t period);
/* Stops refreshing and frees m; a checks logins with its own hashes again.
 * No request may be using it. NULL is ignored. */
void km_etcd_mirror_free(km_etcd_mirror *m);

/* A not-found handler for the router (km_http_router_not_found): unknown
 * /v3/ paths get etcd's gateway answer, others Go's plain 404. */
void km_etcd_not_found(km_http_req *r, km_http_resp *w, void *ud);

#ifdef __cplusplus
}
#endif
#endif
