/* SPDX-License-Identifier: MIT */
/* HTTP server metrics: requests, durations and requests in flight, as a middleware. */
#include "metrics-int.h"
#include <stdio.h>

/* One label set's two series. Looking them up by label values hashes and
 * compares three strings; this cache, in front of it, compares a pointer,
 * an int and the route. Entries never change once published. */
typedef struct {
    const char *method;         /* one of method_label's literals */
    int         status;
    km_series  *requests, *duration;
    char        route[];        /* a copy: the pointer it came from may be reused */
} label_set;

#define NCACHE 64

struct km_metrics_http {
    km_metric *requests, *duration;
    km_series *in_flight;
    char     **routes;          /* patterns, or none: the default labels */
    size_t     nroutes;
    _Atomic(label_set *) cache[NCACHE];
};

/* Checks a router pattern: '/'-separated, ":name" a segment, "*name" last. */
static bool pattern_ok(const char *p)
{
    if (!p || p[0] != '/')
        return false;
    for (const char *q = p + 1; *q; q++) {
        if (q[-1] != '/')
            continue;
        if (*q == '*' && (!q[1] || strchr(q, '/')))
            return false;
        if (*q == ':' && (!q[1] || q[1] == '/'))
            return false;
    }
    return true;
}

/* Does path (without query) match pattern, with the router's syntax? */
static bool match(const char *pat, km_str path)
{
    size_t i = 0;
    for (const char *q = pat; *q;) {
        bool seg_start = q > pat && q[-1] == '/';
        if (seg_start && *q == '*')
            return true;
        if (seg_start && *q == ':') {
            while (*q && *q != '/')
                q++;
            size_t s = i;
            while (i < path.n && path.p[i] != '/')
                i++;
            if (i == s)
                return false;
            continue;
        }
        if (i >= path.n || path.p[i] != *q)
            return false;
        i++;
        q++;
    }
    return i == path.n;
}

static bool plain_path(km_str p)
{
    for (size_t i = 0; i < p.n; i++) {
        char c = p.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static size_t put_label(char *out, size_t cap, const char *s, size_t n)
{
    if (n + 1 > cap)
        return put_label(out, cap, "other", 5);
    memcpy(out, s, n);
    out[n] = 0;
    return n;
}

size_t km_metrics_route_default(km_str path, int status, char *out, size_t cap)
{
    static const char kv[] = "/api/v1/kv/";
    if (path.n >= sizeof kv - 1 && !memcmp(path.p, kv, sizeof kv - 1))
        return put_label(out, cap, "/api/v1/kv/*key", 15);
    if (status == 404)
        return put_label(out, cap, "unmatched", 9);
    /* Why 64: the API's fixed paths are shorter; anything longer is a
     * client's invention and would only grow the series. */
    if (path.n == 0 || path.n > 64 || !plain_path(path))
        return put_label(out, cap, "other", 5);
    return put_label(out, cap, path.p, path.n);
}

/* The method's label: one of a fixed set, so that a client's inventions do
 * not grow the series. Each label comes from one literal (OTHER from one
 * array), so its address names the method: the cache compares addresses. */
static const char *method_label(km_str m)
{
    static const char other[] = "OTHER";
#define IS(s) (!memcmp(m.p, s, sizeof s - 1))      /* the length is the case */
    switch (m.n) {
    case 3:
        return IS("GET") ? "GET" : IS("PUT") ? "PUT" : other;
    case 4:
        return IS("POST") ? "POST" : IS("HEAD") ? "HEAD" : other;
    case 5:
        return IS("PATCH") ? "PATCH" : IS("TRACE") ? "TRACE" : other;
    case 6:
        return IS("DELETE") ? "DELETE" : other;
    case 7:
        return IS("OPTIONS") ? "OPTIONS" : IS("CONNECT") ? "CONNECT" : other;
    }
    return other;
#undef IS
}

static size_t slot(const char *method, const char *route, int status)
{
    return ((uintptr_t)route >> 4 ^ (uintptr_t)method >> 3 ^ (unsigned)status * 0x9e37u) &
           (NCACHE - 1);
}

/* The cached series for a stable route pointer, or NULL. */
static label_set *cached(km_metrics_http *h, const char *method, const char *route, int status)
{
    label_set *e = atomic_load_explicit(&h->cache[slot(method, route, status)], memory_order_acquire);
    return e && e->method == method && e->status == status && !strcmp(e->route, route) ? e : NULL;
}

/* Fills route's free slot; NULL when the slot holds another label set (the
 * caller looks the series up by value then). */
static label_set *fill(km_metrics_http *h, const char *method, const char *route, int status,
                       const char *code)
{
    size_t i = slot(method, route, status);
    if (atomic_load_explicit(&h->cache[i], memory_order_acquire))
        return NULL;
    size_t n = strlen(route) + 1;
    label_set *e = km__malloc(sizeof *e + n);
    if (!e)
        return NULL;
    e->method = method;
    e->status = status;
    e->requests = km_metric_with(h->requests, method, route, code);
    e->duration = km_metric_with(h->duration, method, route);
    memcpy(e->route, route, n);
    label_set *none = NULL;
    if (!e->requests || !e->duration ||
        !atomic_compare_exchange_strong_explicit(&h->cache[i], &none, e, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        km__free(e);    /* another worker filled the slot first */
        return NULL;
    }
    return e;
}

/* A request that is not to a router's route with its series cached: its
 * labels worked out, its series cached when its route label is stable. Out
 * of line and cold, so that the per-request path stays a few cache lines
 * of code. */
static __attribute__((cold, noinline)) void observe_uncached(km_metrics_http *h, km_http_req *r,
                                                            int status, const char *method,
                                                            double secs)
{
    km_str path = km_http_path(r), pat = km_http_route_pattern(r);
    char route[96], code[8];
    const char *rl = "unmatched";
    if (pat.p) {
        rl = pat.p;         /* the router's pattern: a bounded set */
    } else if (h->nroutes) {
        for (size_t i = 0; i < h->nroutes; i++) {
            if (match(h->routes[i], path)) {
                rl = h->routes[i];
                break;
            }
        }
    } else {
        km_metrics_route_default(path, status, route, sizeof route);
        rl = route;
    }
    if (status >= 100 && status <= 999) {
        code[0] = (char)('0' + status / 100);
        code[1] = (char)('0' + status / 10 % 10);
        code[2] = (char)('0' + status % 10);
        code[3] = 0;
    } else {
        snprintf(code, sizeof code, "%d", status);
    }
    /* Every label but the default's buffer is stable: cached. */
    label_set *ls = NULL;
    if (rl != route && !(ls = cached(h, method, rl, status)))
        ls = fill(h, method, rl, status, code);
    if (ls) {
        km_counter_inc(ls->requests);
        km_histogram_observe(ls->duration, secs);
        return;
    }
    km_counter_inc(km_metric_with(h->requests, method, rl, code));
    km_histogram_observe(km_metric_with(h->duration, method, rl), secs);
}

/* The request counted, timed and no longer in flight. Out of line, so that
 * its frame is not on the stack under the handler: every frame of the
 * chain sits below each handler's frames, on every connection's stack. */
static __attribute__((noinline)) void observe(km_metrics_http *h, km_http_req *r, km_http_resp *w,
                                              double secs)
{
    /* The status sent, or the one the server will send for a body that
     * could not be read (it answers those after the chain returns). */
    int status = km_http_resp_status(w);
    const char *method = method_label(km_http_method(r));
    km_str pat = km_http_route_pattern(r);
    label_set *ls = pat.p ? cached(h, method, pat.p, status) : NULL;
    if (!ls) {
        km_gauge_dec(h->in_flight);
        observe_uncached(h, r, status, method, secs);
        return;
    }
    km__request_done(h->in_flight, ls->requests, ls->duration, secs);
}

void km_metrics_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    km_metrics_http *h = ud;
    int64_t t0 = km_http_req_start(r);
    km_gauge_inc(h->in_flight);
    km_http_next_call(next, r, w);
    observe(h, r, w, (double)(km_http_req_end(r) - t0) / 1e9);
}

void km_metrics_http_free(km_metrics_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nroutes; i++)
        km__free(h->routes[i]);
    for (size_t i = 0; i < NCACHE; i++)
        km__free(atomic_load_explicit(&h->cache[i], memory_order_relaxed));
    km__free(h->routes);
    km__free(h);
}

int km_metrics_http_new(km_metrics_http **out, km_metrics *r, const km_metrics_http_config *cfg)
{
    static const km_metrics_http_config none = { 0 };
    if (!out || !r)
        return -EINVAL;
    if (!cfg)
        cfg = &none;
    if (cfg->nroutes && !cfg->routes)
        return -EINVAL;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (!pattern_ok(cfg->routes[i]))
            return -EINVAL;
    km_metrics_http *h = km__calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    int rc = 0;
    if (cfg->nroutes && !(h->routes = km__calloc(cfg->nroutes, sizeof *h->routes)))
        rc = -ENOMEM;
    for (size_t i = 0; i < cfg->nroutes && !rc; i++) {
        size_t n = strlen(cfg->routes[i]) + 1;
        if (!(h->routes[i] = km__malloc(n)))
            rc = -ENOMEM;
        else
            memcpy(h->routes[i], cfg->routes[i], n);
        h->nroutes = i + 1;
    }
    /* Found rather than duplicated when r has them already: several
     * servers may share one registry. */
    km_metric *inf = NULL;
    if (!rc)
        rc = km__family_get(r, &h->requests, KM__COUNTER, "http_requests_total",
                            "HTTP requests answered, by method, route and status code.",
                            "method,route,code", NULL, 0);
    if (!rc)
        rc = km__family_get(r, &h->duration, KM__HISTOGRAM, "http_request_duration_seconds",
                            "Time from a request's first byte to its handler's return.",
                            "method,route", cfg->buckets, cfg->nbuckets);
    if (!rc)
        rc = km__family_get(r, &inf, KM__GAUGE, "http_requests_in_flight",
                            "HTTP requests being handled.", NULL, NULL, 0);
    if (!rc && !(h->in_flight = km_metric_with(inf)))
        rc = -ENOMEM;
    if (rc) {
        km_metrics_http_free(h);
        return rc;
    }
    *out = h;
    return 0;
}
