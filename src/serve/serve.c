/* SPDX-License-Identifier: MIT */
/* Assembles the config center: store, hub, both APIs, one HTTP server. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "rt/rt-int.h"
#include "serve/serve-int.h"
#include "serve/ui.h"

/* Ids stable for a data directory, so clients that compare them across
 * restarts see the same cluster (etcd derives its own from its config). */
static uint64_t id_for(const char *dir, uint64_t salt)
{
    char path[PATH_MAX];
    const char *p = realpath(dir, path) ? path : dir;
    uint64_t h = 1469598103934665603ull ^ salt;
    for (; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h ? h : 1;
}

/* The URL clients reach a listen address at, as etcd's
 * --advertise-client-urls would name it: a wildcard host is reached as
 * localhost. "" when it cannot be known before listening (port 0). */
static void client_url(const char *listen, bool tls, char *out, size_t n)
{
    out[0] = 0;
    if (!strncmp(listen, "unix:", 5)) {
        snprintf(out, n, "%s://%s", tls ? "unixs" : "unix", listen + 5);
        return;
    }
    const char *colon = strrchr(listen, ':');
    if (!colon || !strcmp(colon + 1, "0"))
        return;
    int hl = (int)(colon - listen);
    const char *host = listen;
    if (hl == 0 || (hl == 7 && !strncmp(host, "0.0.0.0", 7)) ||
        (hl == 4 && !strncmp(host, "[::]", 4))) {
        host = "localhost";
        hl = 9;
    }
    snprintf(out, n, "%s://%.*s%s", tls ? "https" : "http", hl, host, colon);
}

static void teardown(km_serve *s)
{
    if (s->shed)
        km_shedder_free(s->shed);
    km_log_free(s->log);
    km_native_free(s->native);
    if (s->ns.rel)
        km__rel_free(s->ns.rel);
    km__secret_key_free(s->secret_key);
    if (s->grpc)
        km_grpc_server_free(s->grpc);
    km_etcd_free(s->etcd);
    if (s->router)
        km_http_router_free(s->router);
    km_hub_free(s->hub);
    km_etcd_mirror_free(s->mirror);
    km_auth_free(s->own_auth);
    km_log_free(s->audit);
    if (s->store)
        km_store_close(s->store);
    /* Last: the store's committer feeds its histograms until it closes. No
     * scrape (the only reader of the store and hub here) runs any more:
     * the HTTP server is shut down, or never started. */
    km__serve_metrics_stop(s);
    km__free(s);
}

static bool is(km_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && !memcmp(s.p, lit, n);
}

/* Watch streams stay in flight for hours and never complete: only unary
 * requests go through the shedder, whose limit comes from completions. */
static void shed_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    km_str p = km_http_path(r);
    if ((p.n >= 9 && !memcmp(p.p, "/v3/watch", 9)) ||
        (p.n >= 13 && !memcmp(p.p, "/api/v1/watch", 13)) ||
        is(p, "/etcdserverpb.Watch/Watch") || is(p, "/etcdserverpb.Lease/LeaseKeepAlive") ||
        is(p, "/etcdserverpb.Maintenance/Snapshot"))
        km_http_next_call(next, r, w);
    else
        km_shedder_http_mw(r, w, ud, next);
}

/* Whether [key, end) (a permission's range; end "\0": every key from key
 * on) reaches into the release workflow's keys, [/kumo/, /kumo0). */
static bool workflow_range(km_bytes key, km_bytes end)
{
    static const uint8_t lo[] = "/kumo/", hi[] = "/kumo0";
    if (!key.n)
        return false;
    size_t m = key.n < 6 ? key.n : 6;
    int c = memcmp(key.p, hi, m);
    bool below_hi = c < 0 || (c == 0 && key.n < 6);
    if (!below_hi)
        return false;               /* starts at or past /kumo0 */
    if (!end.n)                     /* a single key */
        return key.n >= 6 && !memcmp(key.p, lo, 6);
    if (end.n == 1 && end.p[0] == 0)
        return true;                /* from key on, and key < /kumo0 */
    m = end.n < 6 ? end.n : 6;
    c = memcmp(end.p, lo, m);
    return c > 0 || (c == 0 && end.n > 6);
}

/* Grants and revocations of permissions on the workflow's keys (who may
 * read, edit, publish, administer namespaces) join its audit trail, right
 * after the change (that lives in auth.json). Other user and role changes
 * stay in the server's log: a write to the store would move its revision,
 * which etcd's clients compare with etcd's own. */
static void auth_changed(void *ud, const char *what, const char *by, const char *subject,
                         km_bytes key, km_bytes end)
{
    km_serve *s = ud;
    if (!s->ns.rel || !workflow_range(key, end))
        return;
    km_rel_who who = { by ? by : "", "" };
    km_rel_err err;
    json_t *d = json_pack("{s:s,s:s,s:s%}", "what", what, "subject", subject ? subject : "",
                          "key", key.p, key.n);
    if (d && end.n)
        json_object_set_new(d, "range_end", json_stringn((const char *)end.p, end.n));
    int rc = km__rel_note(s->ns.rel, &who, "auth", "", d, &err);
    if (rc < 0)
        fprintf(stderr, "kumo serve: audit: %s\n", err.msg);
}

/* Users and roles live beside the embedded store, in DIR/auth.json; every
 * change to them and every refused login is an audit record on stderr.
 * Over an etcd cluster they are etcd's, mirrored in memory when the
 * backend's user holds etcd's root role; else kumo keeps none (its Auth
 * service says so) and every request reaches etcd as the backend's user. */
static int open_auth(km_serve *s, const km_serve_config *cfg, const char *dir)
{
    s->auth = cfg->auth;
    bool etcd = !strcmp(km_store_backend(s->store), "etcd");
    if (s->auth || (!etcd && strcmp(km_store_backend(s->store), "lmdb")))
        return 0;
    if (etcd && !cfg->backend_user) {
        fprintf(stderr, "kumo serve: no --backend-user: kumo keeps no users over the etcd "
                "cluster (logins find authentication off, user and role changes are "
                "refused)\n");
        return 0;
    }
    char file[4096];
    snprintf(file, sizeof file, "%s/auth.json", dir);
    km_log_config lc = { .fd = 2, .format = cfg->log_format };
    int rc = km_log_new(&s->audit, &lc);
    if (rc < 0)
        return rc;
    km_auth_config ac = { .file = etcd ? NULL : file, .token = cfg->auth_token,
                          .token_ttl = cfg->auth_token_ttl, .audit = s->audit,
                          .on_change = auth_changed, .on_change_ud = s };
    const char *err;
    if ((rc = km_auth_open(&s->own_auth, &ac, &err)) < 0)
        return rc;
    if (etcd && (rc = km_etcd_mirror_new(&s->mirror, s->store, s->own_auth,
                                         cfg->backend_user, 0)) < 0) {
        km_auth_free(s->own_auth);
        s->own_auth = NULL;
        if (rc != -EPERM)
            return rc;
        fprintf(stderr, "kumo serve: --backend-user %s does not hold etcd's root role: kumo "
                "keeps no users over the etcd cluster, and every request reaches etcd as "
                "%s\n", cfg->backend_user, cfg->backend_user);
        return 0;
    }
    if (etcd)
        fprintf(stderr, "kumo serve: mirroring etcd's users, roles and permissions (read "
                "every 2 s and after each change made here); logins are checked by etcd\n");
    s->auth = s->own_auth;
    return 0;
}

/* Namespaces and releases on the store, their secret values sealed with
 * the key file's key. */
static int open_releases(km_serve *s, const km_serve_config *cfg)
{
    if (cfg->secret_key_file) {
        char err[256];
        int rc = km__secret_key_load(&s->secret_key, cfg->secret_key_file, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "kumo serve: --secret-key-file: %s\n", err);
            return rc;
        }
    }
    s->ns.nat = s->native;
    s->native->secure_cookies = cfg->tls != NULL;
    return km__rel_new(&s->ns.rel, s->store, s->secret_key);
}

int km_serve_start(km_serve **out, const km_serve_config *cfg)
{
    km_serve *s = km__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    const char *dir = cfg->data_dir ? cfg->data_dir : "kumo.data";
    km_store_config sc = { .backend = cfg->backend, .dir = dir, .map_size = cfg->map_size,
                           .call_timeout = cfg->call_timeout,
                           .cache_window = cfg->cache_window, .cache_wait = cfg->cache_wait,
                           .tls = cfg->backend_tls, .user = cfg->backend_user,
                           .password = cfg->backend_password };
    int rc = 0;
    if (!cfg->no_metrics) {
        if ((rc = km__serve_metrics_new(s)) < 0)
            goto fail;
        sc.on_commit = km__serve_on_commit;
        sc.on_commit_ud = s;
    }
    if ((rc = km_store_open(&s->store, &sc)) < 0 || (rc = open_auth(s, cfg, dir)) < 0)
        goto fail;
    if ((rc = km_hub_new(&s->hub, s->store, NULL)) < 0)
        goto fail;
    char url[256];
    client_url(cfg->listen ? cfg->listen : "127.0.0.1:2379", cfg->tls != NULL, url, sizeof url);
    km_etcd_config ec = {
        .store = s->store, .hub = s->hub,
        .name = cfg->name,
        .client_url = cfg->advertise_url ? cfg->advertise_url : url[0] ? url : NULL,
        .cluster_id = id_for(dir, 0x6b756d6f),
        .member_id = id_for(dir, 0x6d656d62),
        .progress_interval = cfg->progress_interval,
        .auth = s->auth,
        .mirror = s->mirror,
    };
    if ((rc = km_etcd_new(&s->etcd, &ec)) < 0 ||
        (rc = km_native_new(&s->native, s->store, s->hub, s->auth)) < 0 ||
        (rc = km_http_router_new(&s->router)) < 0 ||
        (rc = km_etcd_routes(s->etcd, s->router)) < 0 ||
        (rc = km_grpc_server_new(&s->grpc, NULL)) < 0 ||
        (rc = km_etcd_grpc_register(s->etcd, s->grpc)) < 0 ||
        (rc = open_releases(s, cfg)) < 0 ||
        (rc = km__nsapi_routes(&s->ns, s->router)) < 0 ||
        (rc = km__ui_routes(s->router)) < 0 ||
        (rc = km_native_routes(s->native, s->router)) < 0 ||
        (!cfg->no_metrics && (rc = km__serve_metrics_start(s)) < 0))
        goto fail;
    km_http_router_not_found(s->router, km_etcd_not_found, NULL);
    /* gRPC requests (by content type) to etcd's services, the rest (JSON
     * gateway, native API, SSE, metrics) to the router: one port. */
    km_grpc_server_fallback(s->grpc, km_http_router_serve, s->router);
    /* After the metrics middleware, so shed requests are counted too. */
    if (cfg->shedding) {
        if ((rc = km_shedder_new(&s->shed, NULL)) < 0)
            goto fail;
        s->mw[s->nmw++] = (km_http_mw){ shed_mw, s->shed };
    }
    /* Request ids and W3C trace context for every request (the id echoed
     * to the client if asked); one structured record per request with an
     * access log. */
    if (!cfg->no_trace) {
        s->echo_id.echo = cfg->echo_request_id;
        s->mw[s->nmw++] = (km_http_mw){ km_http_mw_request_id, &s->echo_id };
        s->mw[s->nmw++] = (km_http_mw){ km_http_mw_trace, NULL };
    }
    if (cfg->access_log || cfg->access_log_fd > 0) {
        /* Buffered: a request pays a copy, the disk gets one write per
         * 50 ms (records reach the file within that). */
        km_log_config lc = { .fd = cfg->access_log_fd > 0 ? cfg->access_log_fd : 0,
                             .path = cfg->access_log, .format = cfg->log_format,
                             .flush_interval = 50 * 1000000LL };
        if ((rc = km_log_new(&s->log, &lc)) < 0)
            goto fail;
        s->mw[s->nmw++] = (km_http_mw){ km_log_mw_request, s->log };
    }
    km_http_config hc = {
        .addr = cfg->listen ? cfg->listen : "127.0.0.1:2379",
        .handler = km_grpc_serve_http,
        .ud = s->grpc,
        /* The APIs apply their own request limits (etcd: 1.5 MiB) and
         * answer in their own error shapes. */
        .max_body_bytes = 4 << 20,
        .max_conns = cfg->max_conns ? cfg->max_conns : 200000,
        .middleware = s->mw,
        .nmiddleware = s->nmw,
        .tls = cfg->tls,
    };
    if ((rc = km_http_serve(&s->http, &hc)) < 0)
        goto fail;
    atomic_store(&s->http_up, s->http);
    *out = s;
    return 0;
fail:
    teardown(s);
    return rc;
}

int km_serve_port(const km_serve *s)
{
    return km_http_server_port(s->http);
}

int km_serve_stop(km_serve *s, int64_t deadline)
{
    km_hub_shutdown(s->hub);        /* watch streams end now, not at the deadline */
    int rc = km_http_shutdown(s->http, deadline);
    teardown(s);
    return rc;
}
