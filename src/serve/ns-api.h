/* SPDX-License-Identifier: MIT */
/* The release workflow's REST API under /api/v1/ns and /api/v1/audit
 * (docs/API.md), on the native API's conventions and permission checks. */
#ifndef KUMO_SERVE_NS_API_H
#define KUMO_SERVE_NS_API_H

#include "release/release.h"
#include "serve/native-int.h"

typedef struct {
    km_native *nat;     /* store, hub and auth */
    km_rel    *rel;
} km__nsapi;

/* Registers the routes (before the native API's catch-alls). 0 or -errno. */
int  km__nsapi_routes(km__nsapi *a, km_http_router *rt);

/* internal: shared by the handlers (ns-api.c) and the config watch (ns-watch.c) */
enum { KM__NS_READ, KM__NS_EDIT, KM__NS_PUBLISH, KM__NS_ADMIN };
/* "APP/NAME" from the route's :app and :name into buf (>= 140): false
 * once a 400 was answered. */
bool km__ns_name(km_http_req *r, km_http_resp *w, char *buf);
/* Whether the caller may act at level on ns: false once refused. */
bool km__ns_allowed(km__nsapi *a, km_http_req *r, km_http_resp *w, const char *ns, int level);
/* Answers a release service error. */
void km__ns_fail(km_http_resp *w, int rc, const km_rel_err *err);
void km__ns_config_watch(km_http_req *r, km_http_resp *w, void *ud);
void km__ns_instances(km_http_req *r, km_http_resp *w, void *ud);
/* The instance a config request speaks for: ?labels into lab (>= 1024)
 * and its address (km__ns_ip) as *addr: false once a 400 was answered. */
bool km__ns_instance(km_http_req *r, km_http_resp *w, char *lab, char *ipbuf, const char **addr);
/* The instance's address: ?ip, else the connection's peer; into buf (>= 64). */
const char *km__ns_ip(km_http_req *r, km_bytes q_ip, char *buf);

#endif
