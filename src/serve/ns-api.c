/* SPDX-License-Identifier: MIT */
/* The release workflow's REST API: JSON in and out, the native API's
 * errors, a permission level per endpoint mapped onto etcd roles' keys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt/rt-int.h"
#include "serve/ns-api.h"

/* ---- shared ---- */

bool km__ns_name(km_http_req *r, km_http_resp *w, char *buf)
{
    km_str app = km_http_param(r, "app"), name = km_http_param(r, "name");
    snprintf(buf, 140, "%.*s/%.*s", (int)(app.n > 64 ? 65 : app.n), app.p,
             (int)(name.n > 64 ? 65 : name.n), name.p);
    if (!km__rel_ns_valid(buf, NULL)) {
        km__native_fail(w, 400, "a namespace is APP/NAME, each 1-64 of A-Z a-z 0-9 . _ -");
        return false;
    }
    return true;
}

bool km__ns_allowed(km__nsapi *a, km_http_req *r, km_http_resp *w, const char *ns, int level)
{
    char key[300], end[300];
    km_perm_type type = level == KM__NS_READ ? KM_PERM_READ : KM_PERM_WRITE;
    /* read and publish: the published view (every key under it); edit:
     * the draft; admin: the namespace's meta (docs/API.md) */
    if (level == KM__NS_READ || level == KM__NS_PUBLISH) {
        snprintf(key, sizeof key, "/kumo/pub/%s/", ns);
        snprintf(end, sizeof end, "/kumo/pub/%s0", ns);
    } else {
        snprintf(key, sizeof key, level == KM__NS_EDIT ? "/kumo/ns/%s/draft" : "/kumo/meta/%s", ns);
        end[0] = 0;
    }
    return km__native_allowed(a->nat, r, w, type, (km_bytes){ (uint8_t *)key, strlen(key) },
                              (km_bytes){ (uint8_t *)end, strlen(end) });
}

void km__ns_fail(km_http_resp *w, int rc, const km_rel_err *err)
{
    int status;
    switch (rc) {
    case -EINVAL: case -ENOKEY: status = 400; break;
    case -ENOENT: status = 404; break;
    case -EEXIST: case -EBUSY: case -EALREADY: status = 409; break;
    case -EMSGSIZE: case -E2BIG: status = 413; break;
    case -ENOMEM: case -ESHUTDOWN: case -ETIMEDOUT: case -ECANCELED: status = 503; break;
    default: status = 500; break;
    }
    km__native_fail(w, status, err->msg);
}

bool km__ns_instance(km_http_req *r, km_http_resp *w, char *lab, char *ipbuf, const char **addr)
{
    km__arena *ar = km__arena_new();
    km_bytes labels = { 0 }, ip = { 0 };
    int qe = 0;
    if (!ar) {
        km__native_fail(w, 503, "out of memory");
        return false;
    }
    km__query_get(km_http_query(r), "labels", ar, &labels, &qe);
    km__query_get(km_http_query(r), "ip", ar, &ip, &qe);
    bool ok = !qe && labels.n < 1024;
    if (!ok)
        km__native_fail(w, 400, qe ? "bad percent-encoding in the query" : "labels too long");
    else {
        snprintf(lab, 1024, "%.*s", (int)labels.n, (const char *)labels.p);
        *addr = km__ns_ip(r, ip, ipbuf);
    }
    km__arena_free(ar);
    return ok;
}

const char *km__ns_ip(km_http_req *r, km_bytes q_ip, char *buf)
{
    if (q_ip.n) {
        snprintf(buf, 64, "%.*s", (int)(q_ip.n > 63 ? 63 : q_ip.n), (const char *)q_ip.p);
        return buf;
    }
    /* "192.0.2.1:5423" or "[2001:db8::1]:80" */
    km_str rem = km_http_remote(r);
    if (!rem.p || rem.n >= 64)
        return NULL;
    const char *colon = memrchr(rem.p, ':', rem.n);
    size_t n = colon ? (size_t)(colon - rem.p) : rem.n;
    const char *p = rem.p;
    if (n >= 2 && p[0] == '[' && p[n - 1] == ']')
        p++, n -= 2;
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static void reply(km_http_resp *w, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s) {
        km__native_fail(w, 503, "out of memory");
        return;
    }
    size_t n = strlen(s);
    s[n] = '\n';            /* over the NUL: one line per answer */
    km_http_send(w, status, "application/json", s, n + 1);
    free(s);
}

static void reply_rev(km_http_resp *w, int64_t rev)
{
    reply(w, 200, json_pack("{s:I}", "revision", (json_int_t)rev));
}

/* The request's JSON object body ({} when empty): NULL once a 400 was answered. */
static json_t *body_json(km_http_req *r, km_http_resp *w)
{
    km_str b;
    if (km_http_body(r, &b) < 0)
        return NULL;        /* the server answered */
    if (!b.n)
        return json_object();
    json_error_t je;
    json_t *v = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(v)) {
        char msg[256];
        snprintf(msg, sizeof msg, v ? "the body must be a JSON object"
                                    : "the body is not JSON: line %d, column %d: %s",
                 je.line, je.column, je.text);
        json_decref(v);
        km__native_fail(w, 400, msg);
        return NULL;
    }
    return v;
}

/* A string member, or NULL; false once a 400 was answered (not a string). */
static bool opt_str(json_t *o, const char *name, const char **out, km_http_resp *w)
{
    json_t *v = json_object_get(o, name);
    *out = json_string_value(v);
    if (v && !json_is_string(v) && !json_is_null(v)) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a string", name);
        km__native_fail(w, 400, msg);
        return false;
    }
    return true;
}

typedef struct {
    char       ns[140];
    char       user[256];
    char       addr[64];
    km_rel_who who;
} call;

/* The namespace, the permission and, for changes, who makes them. */
static bool begin(km__nsapi *a, km_http_req *r, km_http_resp *w, int level, call *c)
{
    if (!km__ns_name(r, w, c->ns) || !km__ns_allowed(a, r, w, c->ns, level))
        return false;
    km__native_user(a->nat, r, c->user, sizeof c->user);
    km_str rem = km_http_remote(r);
    snprintf(c->addr, sizeof c->addr, "%.*s", rem.p ? (int)rem.n : 0, rem.p ? rem.p : "");
    c->who = (km_rel_who){ c->user, c->addr };
    return true;
}

static void answer(km_http_resp *w, int rc, const km_rel_err *err, int status, json_t *out)
{
    if (rc < 0)
        km__ns_fail(w, rc, err);
    else
        reply(w, status, out);
}

/* ---- handlers ---- */

typedef struct {
    km__nsapi   *a;
    km_http_req *r;
} filter;

static bool readable(void *ud, const char *ns)
{
    filter *f = ud;
    char key[300], end[300];
    snprintf(key, sizeof key, "/kumo/pub/%s/", ns);
    snprintf(end, sizeof end, "/kumo/pub/%s0", ns);
    return km__native_may(f->a->nat, f->r, KM_PERM_READ, (km_bytes){ (uint8_t *)key, strlen(key) },
                          (km_bytes){ (uint8_t *)end, strlen(end) }) == 0;
}

static void ns_list(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    km__arena *ar = km__arena_new();
    km_bytes app = { 0 };
    int qe = 0;
    bool has_app = ar && km__query_get(km_http_query(r), "app", ar, &app, &qe);
    char appz[80] = "";
    if (!ar || qe) {
        km__native_fail(w, ar ? 400 : 503, ar ? "bad query" : "out of memory");
        km__arena_free(ar);
        return;
    }
    snprintf(appz, sizeof appz, "%.*s", (int)(app.n > 70 ? 70 : app.n), (const char *)app.p);
    km__arena_free(ar);
    /* an anonymous caller with auth on would list nothing; say why instead */
    if (!km__native_identified(a->nat, r, w))
        return;
    filter f = { a, r };
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_list(a->rel, has_app ? appz : NULL, readable, &f, &out, &err);
    answer(w, rc, &err, 200, out);
}

static void ns_create(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_ADMIN, &c))
        return;
    json_t *b = body_json(r, w);
    const char *format;
    if (!b || !opt_str(b, "format", &format, w)) {
        json_decref(b);
        return;
    }
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_create(a->rel, &c.who, c.ns, format, &out, &err);
    json_decref(b);
    answer(w, rc, &err, 201, out);
}

/* A read of the namespace that takes nothing but its name. */
static void read_call(km_http_req *r, km_http_resp *w, km__nsapi *a,
                      int (*fn)(km_rel *, const char *, json_t **, km_rel_err *))
{
    call c;
    if (!begin(a, r, w, KM__NS_READ, &c))
        return;
    km_rel_err err;
    json_t *out = NULL;
    int rc = fn(a->rel, c.ns, &out, &err);
    answer(w, rc, &err, 200, out);
}

static void ns_show(km_http_req *r, km_http_resp *w, void *ud)
{
    read_call(r, w, ud, km__rel_show);
}

static void item_call(km_http_req *r, km_http_resp *w, km__nsapi *a, bool set)
{
    call c;
    if (!begin(a, r, w, KM__NS_EDIT, &c))
        return;
    km__arena *ar = km__arena_new();
    km_bytes key, v;
    int qe = 0;
    if (!ar || km__pct_decode(km_http_param(r, "key"), ar, &key) < 0) {
        km__native_fail(w, ar ? 400 : 503, ar ? "bad percent-encoding in the key" : "out of memory");
        km__arena_free(ar);
        return;
    }
    bool secret = km__query_get(km_http_query(r), "secret", ar, &v, &qe);
    km_rel_err err;
    int64_t rev = 0;
    int rc;
    if (set) {
        km_str body;
        if (km_http_body(r, &body) < 0) {
            km__arena_free(ar);
            return;
        }
        rc = km__rel_set(a->rel, &c.who, c.ns, key.p, key.n, (const uint8_t *)body.p, body.n,
                         secret, &rev, &err);
    } else {
        rc = km__rel_del(a->rel, &c.who, c.ns, key.p, key.n, &rev, &err);
    }
    km__arena_free(ar);
    if (rc < 0)
        km__ns_fail(w, rc, &err);
    else
        reply_rev(w, rev);
}

static void item_put(km_http_req *r, km_http_resp *w, void *ud)
{
    item_call(r, w, ud, true);
}

static void item_del(km_http_req *r, km_http_resp *w, void *ud)
{
    item_call(r, w, ud, false);
}

static void ns_diff(km_http_req *r, km_http_resp *w, void *ud)
{
    read_call(r, w, ud, km__rel_diff);
}

/* GET .../compare?with=APP2/NAME2: needs read on both. */
static void ns_compare(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_READ, &c))
        return;
    km__arena *ar = km__arena_new();
    km_bytes with = { 0 };
    int qe = 0;
    bool has = ar && km__query_get(km_http_query(r), "with", ar, &with, &qe);
    char other[140];
    snprintf(other, sizeof other, "%.*s", (int)(with.n > 139 ? 139 : with.n),
             with.p ? (const char *)with.p : "");
    km__arena_free(ar);
    if (!has || qe || !km__rel_ns_valid(other, NULL)) {
        km__native_fail(w, 400, "give ?with=APP/NAME, the namespace to compare with");
        return;
    }
    if (!km__ns_allowed(a, r, w, other, KM__NS_READ))
        return;
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_compare(a->rel, c.ns, other, &out, &err);
    answer(w, rc, &err, 200, out);
}

static void ns_publish(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_PUBLISH, &c))
        return;
    json_t *b = body_json(r, w);
    const char *name, *notes;
    if (b && opt_str(b, "name", &name, w) && opt_str(b, "notes", &notes, w)) {
        km_rel_err err;
        json_t *out = NULL;
        int rc = km__rel_publish(a->rel, &c.who, c.ns, name, notes, &out, &err);
        answer(w, rc, &err, 201, out);
    }
    json_decref(b);
}

static int64_t query_int(km_http_req *r, const char *name, int64_t dflt, bool *bad)
{
    km__arena *ar = km__arena_new();
    km_bytes v;
    int qe = 0;
    int64_t x = dflt;
    if (!ar)
        *bad = true;
    else if (km__query_get(km_http_query(r), name, ar, &v, &qe) &&
             !(km__parse_i64(v, &x) && x >= 0))
        *bad = true;
    if (qe)
        *bad = true;
    km__arena_free(ar);
    return x;
}

static void ns_releases(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_READ, &c))
        return;
    bool bad = false;
    int64_t limit = query_int(r, "limit", 100, &bad);
    if (bad) {
        km__native_fail(w, 400, "limit must be a non-negative integer");
        return;
    }
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_releases(a->rel, c.ns, limit, &out, &err);
    answer(w, rc, &err, 200, out);
}

static void ns_release(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_READ, &c))
        return;
    km_str s = km_http_param(r, "id");
    int64_t id;
    if (!km__parse_i64((km_bytes){ (const uint8_t *)s.p, s.n }, &id) || id <= 0) {
        km__native_fail(w, 400, "a release id is a positive integer");
        return;
    }
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_release(a->rel, c.ns, id, &out, &err);
    answer(w, rc, &err, 200, out);
}

static void ns_rollback(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_PUBLISH, &c))
        return;
    json_t *b = body_json(r, w);
    if (!b)
        return;
    json_t *to = json_object_get(b, "to");
    if (!json_is_integer(to) || json_integer_value(to) <= 0) {
        km__native_fail(w, 400, "to must be a release id (a positive integer)");
    } else {
        km_rel_err err;
        json_t *out = NULL;
        int rc = km__rel_rollback(a->rel, &c.who, c.ns, json_integer_value(to), &out, &err);
        answer(w, rc, &err, 201, out);
    }
    json_decref(b);
}

static void gray_start(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_PUBLISH, &c))
        return;
    json_t *b = body_json(r, w);
    const char *name, *notes;
    if (b && opt_str(b, "name", &name, w) && opt_str(b, "notes", &notes, w)) {
        km_rel_err err;
        json_t *out = NULL;
        int rc = km__rel_gray(a->rel, &c.who, c.ns, name, json_object_get(b, "labels"),
                              json_object_get(b, "ips"), notes, &out, &err);
        answer(w, rc, &err, 201, out);
    }
    json_decref(b);
}

static void gray_list(km_http_req *r, km_http_resp *w, void *ud)
{
    read_call(r, w, ud, km__rel_gray_list);
}

static void gray_name(km_http_req *r, char *g)
{
    km_str s = km_http_param(r, "gray");
    snprintf(g, 80, "%.*s", (int)(s.n > 70 ? 70 : s.n), s.p);
}

static void gray_promote(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_PUBLISH, &c))
        return;
    json_t *b = body_json(r, w);
    const char *notes;
    char g[80];
    gray_name(r, g);
    if (b && opt_str(b, "notes", &notes, w)) {
        km_rel_err err;
        json_t *out = NULL;
        int rc = km__rel_promote(a->rel, &c.who, c.ns, g, notes, &out, &err);
        answer(w, rc, &err, 201, out);
    }
    json_decref(b);
}

static void gray_abandon(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_PUBLISH, &c))
        return;
    char g[80];
    gray_name(r, g);
    km_rel_err err;
    int64_t rev = 0;
    int rc = km__rel_abandon(a->rel, &c.who, c.ns, g, &rev, &err);
    if (rc < 0)
        km__ns_fail(w, rc, &err);
    else
        reply_rev(w, rev);
}

static void ns_config(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    call c;
    if (!begin(a, r, w, KM__NS_READ, &c))
        return;
    char lab[1024], ipbuf[64];
    const char *addr;
    if (!km__ns_instance(r, w, lab, ipbuf, &addr))
        return;
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_config(a->rel, c.ns, lab, addr, true, &out, &err);
    answer(w, rc, &err, 200, out);
}

/* A time bound: ns since the epoch. */
static void audit_q(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    km__arena *ar = km__arena_new();
    km_bytes ns = { 0 }, user = { 0 };
    int qe = 0;
    if (!ar) {
        km__native_fail(w, 503, "out of memory");
        return;
    }
    bool has_ns = km__query_get(km_http_query(r), "ns", ar, &ns, &qe);
    bool has_user = km__query_get(km_http_query(r), "user", ar, &user, &qe);
    char nsz[140], userz[256];
    snprintf(nsz, sizeof nsz, "%.*s", (int)(ns.n > 139 ? 139 : ns.n), (const char *)ns.p);
    snprintf(userz, sizeof userz, "%.*s", (int)(user.n > 255 ? 255 : user.n),
             (const char *)user.p);
    km__arena_free(ar);
    bool bad = qe != 0;
    km_rel_audit_q q = { .ns = has_ns ? nsz : NULL, .user = has_user ? userz : NULL,
                         .since = query_int(r, "since", 0, &bad),
                         .until = query_int(r, "until", 0, &bad),
                         .limit = query_int(r, "limit", 0, &bad) };
    if (bad) {
        km__native_fail(w, 400, "since, until and limit are non-negative integers");
        return;
    }
    if (q.ns && !km__rel_ns_valid(q.ns, NULL)) {
        km__native_fail(w, 400, "ns is APP/NAME");
        return;
    }
    /* a namespace's trail for its readers; everything for readers of /kumo/audit/ */
    if (q.ns ? !km__ns_allowed(a, r, w, q.ns, KM__NS_READ)
             : !km__native_allowed(a->nat, r, w, KM_PERM_READ,
                                   (km_bytes){ (uint8_t *)"/kumo/audit/", 12 },
                                   (km_bytes){ (uint8_t *)"/kumo/audit0", 12 }))
        return;
    km_rel_err err;
    json_t *out = NULL;
    int rc = km__rel_audit(a->rel, &q, &out, &err);
    answer(w, rc, &err, 200, out);
}

int km__nsapi_routes(km__nsapi *a, km_http_router *rt)
{
    static const struct { const char *method, *path; km_http_handler *h; } routes[] = {
        { "GET", "/api/v1/ns", ns_list },
        { "POST", "/api/v1/ns/:app/:name", ns_create },
        { "GET", "/api/v1/ns/:app/:name", ns_show },
        { "PUT", "/api/v1/ns/:app/:name/items/*key", item_put },
        { "DELETE", "/api/v1/ns/:app/:name/items/*key", item_del },
        { "GET", "/api/v1/ns/:app/:name/diff", ns_diff },
        { "GET", "/api/v1/ns/:app/:name/compare", ns_compare },
        { "POST", "/api/v1/ns/:app/:name/publish", ns_publish },
        { "GET", "/api/v1/ns/:app/:name/releases", ns_releases },
        { "GET", "/api/v1/ns/:app/:name/releases/:id", ns_release },
        { "POST", "/api/v1/ns/:app/:name/rollback", ns_rollback },
        { "POST", "/api/v1/ns/:app/:name/gray", gray_start },
        { "GET", "/api/v1/ns/:app/:name/gray", gray_list },
        { "POST", "/api/v1/ns/:app/:name/gray/:gray/promote", gray_promote },
        { "DELETE", "/api/v1/ns/:app/:name/gray/:gray", gray_abandon },
        { "GET", "/api/v1/ns/:app/:name/config", ns_config },
        { "GET", "/api/v1/ns/:app/:name/config/watch", km__ns_config_watch },
        { "GET", "/api/v1/ns/:app/:name/instances", km__ns_instances },
        { "GET", "/api/v1/audit", audit_q },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = km_http_route(rt, routes[i].method, routes[i].path, routes[i].h, a);
        if (rc < 0)
            return rc;
    }
    return 0;
}
