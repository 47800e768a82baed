/* SPDX-License-Identifier: MIT */
/* Router: method + path patterns with ":param" segments and a "*rest". */
#include "http-int.h"
#include "rt/rt-int.h"
#include <string.h>

/* Why a list, not a tree: a service has tens of routes, and a linear
 * match over pre-split segments costs less than the syscalls of the
 * request. Routes are matched in registration order; literal routes
 * registered first win over parameters. */
#define MAX_SEGS 16

typedef struct route {
    char            method[16];
    char           *pattern;        /* owned copy, '/'-separated */
    size_t          pattern_len;
    km_str          seg[MAX_SEGS];
    int             nseg;
    bool            rest;           /* last segment is "*name" */
    km_http_handler *h;
    void           *ud;
    struct route   *next;
} route;

struct km_http_router {
    route *head, *tail;
    km_http_handler *not_found;     /* NULL: the plain 404 */
    void            *nf_ud;
};

void km_http_router_not_found(km_http_router *rt, km_http_handler *h, void *ud)
{
    rt->not_found = h;
    rt->nf_ud = ud;
}

int km_http_router_new(km_http_router **out)
{
    if (!out)
        return -EINVAL;
    *out = km__calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void km_http_router_free(km_http_router *rt)
{
    if (!rt)
        return;
    for (route *r = rt->head, *n; r; r = n) {
        n = r->next;
        km__free(r->pattern);
        km__free(r);
    }
    km__free(rt);
}

/* Splits a pattern into its '/'-separated segments. */
static int split(const char *p, size_t n, km_str *seg, int max)
{
    int k = 0;
    size_t i = 1;   /* skip the leading '/' */
    while (i <= n) {
        size_t s = i;
        while (i < n && p[i] != '/')
            i++;
        if (k == max)
            return -1;
        seg[k++] = (km_str){ p + s, i - s };
        i++;
    }
    return k;
}

/* Visible ASCII but '"' and '\\': what a request path can hold unencoded,
 * and what an access log can then write as a JSON string unescaped. */
static bool pattern_chars_ok(const char *p)
{
    for (const unsigned char *q = (const unsigned char *)p; *q; q++)
        if (*q < 0x21 || *q > 0x7e || *q == '"' || *q == '\\')
            return false;
    return true;
}

int km_http_route(km_http_router *rt, const char *method, const char *pattern,
                  km_http_handler *h, void *ud)
{
    if (!rt || !method || !pattern || !h || pattern[0] != '/' || !pattern_chars_ok(pattern) ||
        !*method || strlen(method) >= sizeof ((route *)0)->method)
        return -EINVAL;
    route *r = km__calloc(1, sizeof *r);
    size_t pl = strlen(pattern);
    if (!r || !(r->pattern = km__malloc(pl + 1))) {
        km__free(r);
        return -ENOMEM;
    }
    memcpy(r->pattern, pattern, pl + 1);
    r->pattern_len = pl;
    strcpy(r->method, method);
    r->h = h;
    r->ud = ud;
    r->nseg = split(r->pattern, pl, r->seg, MAX_SEGS);
    int rc = r->nseg < 0 ? -EINVAL : 0;
    for (int i = 0; !rc && i < r->nseg; i++) {
        km_str s = r->seg[i];
        if (s.n && s.p[0] == '*') {
            if (i != r->nseg - 1 || s.n < 2)
                rc = -EINVAL;
            r->rest = true;
        } else if (s.n && s.p[0] == ':' && s.n < 2) {
            rc = -EINVAL;
        }
    }
    for (route *o = rt->head; !rc && o; o = o->next)
        if (!strcmp(o->method, r->method) && !strcmp(o->pattern, r->pattern))
            rc = -EEXIST;
    if (rc) {
        km__free(r->pattern);
        km__free(r);
        return rc;
    }
    if (rt->tail) rt->tail->next = r; else rt->head = r;
    rt->tail = r;
    return 0;
}

/* Matches path against r, segment by segment; fills the request's
 * parameters on success. */
static bool match(const route *r, km_str path, km_http_req *req)
{
    if (path.n == 0 || path.p[0] != '/')
        return false;
    const char *p = path.p + 1, *end = path.p + path.n;
    int np = 0;
    for (int i = 0; i < r->nseg; i++) {
        km_str want = r->seg[i];
        if (p > end)
            return false;           /* the path has fewer segments */
        if (r->rest && i == r->nseg - 1) {
            if (np < KM__MAX_PARAMS) {
                req->pname[np] = (km_str){ want.p + 1, want.n - 1 };
                req->pval[np++] = (km_str){ p, (size_t)(end - p) };
            }
            req->nparams = np;
            return true;
        }
        const char *e = memchr(p, '/', (size_t)(end - p));
        if (!e)
            e = end;
        km_str got = { p, (size_t)(e - p) };
        if (want.n && want.p[0] == ':') {
            if (got.n == 0)
                return false;
            if (np < KM__MAX_PARAMS) {
                req->pname[np] = (km_str){ want.p + 1, want.n - 1 };
                req->pval[np++] = got;
            }
        } else if (want.n != got.n || memcmp(want.p, got.p, got.n)) {
            return false;
        }
        p = e + 1;
    }
    if (p != end + 1)
        return false;               /* the path has more segments */
    req->nparams = np;
    return true;
}

static bool method_is(km_str m, const char *lit)
{
    size_t n = strlen(lit);
    return m.n == n && !memcmp(m.p, lit, n);
}

void km_http_router_serve(km_http_req *req, km_http_resp *w, void *ud)
{
    km_http_router *rt = ud;
    km_str m = req->h.method, path = req->h.path;
    bool head = method_is(m, "HEAD");
    char allow[128];
    size_t alen = 0;
    allow[0] = 0;
    for (route *r = rt->head; r; r = r->next) {
        if (!match(r, path, req))
            continue;
        if (method_is(m, r->method) || (head && !strcmp(r->method, "GET"))) {
            req->route = r->pattern;
            req->route_len = r->pattern_len;
            r->h(req, w, r->ud);
            return;
        }
        size_t ml = strlen(r->method);
        bool listed = false;
        for (const char *a = allow; alen && (a = strstr(a, r->method)); a += ml)
            if ((a == allow || a[-1] == ' ') && (a[ml] == ',' || a[ml] == 0))
                listed = true;
        if (alen + ml + 2 < sizeof allow && !listed) {
            if (alen) { allow[alen++] = ','; allow[alen++] = ' '; }
            memcpy(allow + alen, r->method, ml);
            alen += ml;
            allow[alen] = 0;
        }
    }
    req->nparams = 0;
    static const char nf[] = "404 page not found\n", na[] = "405 method not allowed\n";
    if (alen) {
        allow[alen] = 0;
        km_http_set_header(w, "Allow", allow);
        km_http_send(w, 405, "text/plain; charset=utf-8", na, sizeof na - 1);
    } else if (rt->not_found) {
        rt->not_found(req, w, rt->nf_ud);
    } else {
        km_http_send(w, 404, "text/plain; charset=utf-8", nf, sizeof nf - 1);
    }
}
