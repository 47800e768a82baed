/* SPDX-License-Identifier: MIT */
/* The API object, its routes, and /v3/maintenance/status (which, as in
 * etcd, needs no permission). */
#include <errno.h>
#include <string.h>
#include "etcd/etcd-int.h"
#include "rt/rt-int.h"

int km_etcd_new(km_etcd **out, const km_etcd_config *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->store)
        return -EINVAL;
    const char *name = cfg->name ? cfg->name : "default";
    const char *url = cfg->client_url ? cfg->client_url : "";
    if (strlen(name) >= sizeof ((km_etcd *)0)->name ||
        strlen(url) >= sizeof ((km_etcd *)0)->client_url)
        return -EINVAL;
    km_etcd *e = km__calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->store = cfg->store;
    e->hub = cfg->hub;
    e->auth = cfg->auth;
    e->mirror = cfg->auth ? cfg->mirror : NULL;
    e->cluster_id = cfg->cluster_id;
    e->member_id = cfg->member_id;
    e->raft_term = 2;
    strcpy(e->name, name);
    strcpy(e->client_url, url);
    e->max_request_bytes = cfg->max_request_bytes ? cfg->max_request_bytes : KM__ETCD_MAX_REQUEST;
    e->progress_interval = cfg->progress_interval > 0 ? cfg->progress_interval
                                                      : 600 * 1000000000LL;
    *out = e;
    return 0;
}

void km_etcd_free(km_etcd *e) { km__free(e); }

static const struct { const char *path; km_http_handler *h; } routes[] = {
    { "/v3/kv/range", km__etcd_range },
    { "/v3/kv/put", km__etcd_put },
    { "/v3/kv/deleterange", km__etcd_delete },
    { "/v3/kv/txn", km__etcd_txn },
    { "/v3/kv/compaction", km__etcd_compact },
    { "/v3/lease/grant", km__etcd_lease_grant },
    { "/v3/lease/revoke", km__etcd_lease_revoke },
    { "/v3/kv/lease/revoke", km__etcd_lease_revoke },
    { "/v3/lease/keepalive", km__etcd_lease_keepalive },
    { "/v3/lease/timetolive", km__etcd_lease_ttl },
    { "/v3/kv/lease/timetolive", km__etcd_lease_ttl },
    { "/v3/lease/leases", km__etcd_lease_leases },
    { "/v3/kv/lease/leases", km__etcd_lease_leases },
    { "/v3/maintenance/status", km__etcd_status },
    { "/v3/auth/enable", km__etcd_auth },
    { "/v3/auth/disable", km__etcd_auth },
    { "/v3/auth/authenticate", km__etcd_auth },
    { "/v3/auth/user/add", km__etcd_auth },
    { "/v3/auth/user/get", km__etcd_auth },
    { "/v3/auth/user/list", km__etcd_auth },
    { "/v3/auth/user/delete", km__etcd_auth },
    { "/v3/auth/user/changepw", km__etcd_auth },
    { "/v3/auth/user/grant", km__etcd_auth },
    { "/v3/auth/user/revoke", km__etcd_auth },
    { "/v3/auth/role/add", km__etcd_auth },
    { "/v3/auth/role/get", km__etcd_auth },
    { "/v3/auth/role/list", km__etcd_auth },
    { "/v3/auth/role/delete", km__etcd_auth },
    { "/v3/auth/role/grant", km__etcd_auth },
    { "/v3/auth/role/revoke", km__etcd_auth },
};

/* The handlers answer other methods themselves, as the gateway does
 * (plain 405, OPTIONS 200), so they are routed too. */
static const char *const methods[] = { "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS" };

/* GET /health as etcd answers it: healthy when the store answers a read
 * (etcd's own check reads through its consensus, which one member has not). */
static void health(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km_store_stat st;
    if (km_store_stat_read(e->store, &st) == 0)
        km_http_send(w, 200, "text/plain; charset=utf-8", "{\"health\":\"true\"}", 17);
    else
        km_http_send(w, 503, "text/plain; charset=utf-8", "{\"health\":\"false\"}", 18);
}

/* GET /version: the etcd release and cluster version clients check. */
static void version(km_http_req *r, km_http_resp *w, void *etcd)
{
    static const char v[] = "{\"etcdserver\":\"" KM__ETCD_VERSION "\",\"etcdcluster\":\"3.4.0\"}";
    km_http_send(w, 200, "application/json", v, sizeof v - 1);
}

int km_etcd_routes(km_etcd *e, km_http_router *rt)
{
    /* POST first: the router tries routes in the order they were added */
    int rc = km_http_route(rt, "POST", "/v3/watch", km__etcd_watch, e);
    if (!rc)
        rc = km_http_route(rt, "GET", "/health", health, e);
    if (!rc)
        rc = km_http_route(rt, "GET", "/version", version, e);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0] && !rc; m++)
        for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !rc; i++)
            rc = km_http_route(rt, methods[m], routes[i].path, routes[i].h, e);
    return rc;
}

static void i64_field(km__jbuf *b, const char *name, int64_t v)
{
    if (v) {
        km__jbuf_key(b, name);
        km__jbuf_i64(b, v);
    }
}

void km__etcd_status(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km__arena *a;
    json_t *o;
    if (km__etcd_begin(e, r, w, &a, &o))
        return;
    km__etcd_end(a, o);
    km_store_stat st;
    int rc = km_store_stat_read(e->store, &st);
    if (rc) {
        km__etcd_fail(w, rc);
        return;
    }
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, e, st.revision);
    km__jbuf_puts(&b, ",\"version\":\"" KM__ETCD_VERSION "\"");
    i64_field(&b, "dbSize", st.db_size);
    if (e->member_id) {
        km__jbuf_key(&b, "leader");
        km__jbuf_u64(&b, e->member_id);
    }
    /* one member, no log: the revision stands in for the raft index */
    i64_field(&b, "raftIndex", st.revision);
    i64_field(&b, "raftTerm", (int64_t)e->raft_term);
    i64_field(&b, "raftAppliedIndex", st.revision);
    i64_field(&b, "dbSizeInUse", st.db_size_in_use);
    km__jbuf_putc(&b, '}');
    km__etcd_send(w, &b);
}

void km_etcd_not_found(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)ud;
    km_str p = km_http_path(r);
    km_http_set_header(w, "X-Content-Type-Options", "nosniff");
    if (p.n >= 4 && !memcmp(p.p, "/v3/", 4))
        km_http_send(w, 404, "text/plain; charset=utf-8", "Not Found\n", 10);
    else
        km_http_send(w, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
}
