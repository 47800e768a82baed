/* SPDX-License-Identifier: MIT */
/* GET /ui/...: the web console's files, embedded in the binary, with the
 * headers that keep a browser from caching stale code or running anything
 * that did not come from these files. */
#include <string.h>
#include "serve/ui.h"

/* The console has no inline script or style, so the policy can forbid
 * both: data shown by it can never become code. */
#define CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
            "connect-src 'self'; frame-ancestors 'none'"

static void secure(km_http_resp *w)
{
    km_http_set_header(w, "Content-Security-Policy", CSP);
    km_http_set_header(w, "X-Content-Type-Options", "nosniff");
    km_http_set_header(w, "Referrer-Policy", "no-referrer");
}

static const km__ui_file *find(km_str path)
{
    if (!path.n)
        path = (km_str){ "index.html", 10 };
    for (size_t i = 0; i < km__ui_nfiles; i++) {
        const km__ui_file *f = &km__ui_files[i];
        if (strlen(f->path) == path.n && !memcmp(f->path, path.p, path.n))
            return f;
    }
    return NULL;
}

/* If-None-Match holds "*" or a list of entity tags; it matches when one
 * of them is ours, weak ("W/") or not (RFC 9110's weak comparison). */
static bool etag_match(km_str h, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = h.p, *end = h.p + h.n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *e = p;
        while (e < end && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t - p == 1 && *p == '*')
            return true;
        if (t - p > 2 && p[0] == 'W' && p[1] == '/')
            p += 2;
        if ((size_t)(t - p) == el && !memcmp(p, etag, el))
            return true;
        p = e;
    }
    return false;
}

static void file(km_http_req *r, km_http_resp *w, void *ud)
{
    const km__ui_file *f = find(km_http_param(r, "path"));
    secure(w);
    if (!f) {
        km_http_send(w, 404, "text/plain; charset=utf-8", "not found\n", 10);
        return;
    }
    /* no-cache: the browser asks each time, and a new build's files (a
     * new ETag) replace the old ones at once; an unchanged file costs a
     * 304 without a body. */
    km_http_set_header(w, "Cache-Control", "no-cache");
    km_http_set_header(w, "ETag", f->etag);
    km_str inm = km_http_header(r, "If-None-Match");
    if (inm.p && etag_match(inm, f->etag))
        km_http_send(w, 304, NULL, NULL, 0);
    else
        km_http_send(w, 200, f->type, f->data, f->len);
}

static void to_slash(km_http_req *r, km_http_resp *w, void *ud)
{
    secure(w);
    km_http_set_header(w, "Location", "/ui/");
    km_http_send(w, 301, "text/plain; charset=utf-8", "/ui/\n", 5);
}

int km__ui_routes(km_http_router *rt)
{
    int rc;
    if ((rc = km_http_route(rt, "GET", "/ui", to_slash, NULL)) < 0 ||
        (rc = km_http_route(rt, "GET", "/ui/", file, NULL)) < 0 ||
        (rc = km_http_route(rt, "GET", "/ui/*path", file, NULL)) < 0)
        return rc;
    return 0;
}
