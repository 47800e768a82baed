/* SPDX-License-Identifier: MIT */
/* The native API for people: raw values over GET/PUT/DELETE /api/v1/kv/<key>,
 * who may touch which keys, health and readiness. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "rt/rt-int.h"
#include "serve/native-int.h"

/* The caller: the token of the Authorization header ("Bearer TOKEN" as
 * people's tools send it, or bare as etcd's gateway takes it), else the
 * console's session cookie, else the verified client certificate's
 * common name. */
static km_str bearer(km_http_req *r)
{
    km_str t = km_http_header(r, "Authorization");
    if (t.n > 7 && !strncasecmp(t.p, "Bearer ", 7)) {
        t.p += 7, t.n -= 7;
        while (t.n && *t.p == ' ')
            t.p++, t.n--;
    }
    return t;
}

static int who(km_native *n, km_http_req *r, km_auth_id *id)
{
    km_str t = bearer(r);
    char cn[256] = "";
    if (!t.n) {
        t = km__native_cookie(r, "kumo_session");
        if (t.n && !km__native_csrf_ok(r))
            return -EPERM;      /* possibly forged by another site */
    }
    if (!t.n)
        km_http_peer_cn(r, cn, sizeof cn);
    return km_auth_identify(n->auth, t.p, t.n, cn, id);
}

void km__native_user(km_native *n, km_http_req *r, char *buf, size_t len)
{
    km_auth_id id;
    buf[0] = 0;
    if (n->auth && who(n, r, &id) == 0)
        snprintf(buf, len, "%s", id.user);
}

/* Answers a refusal rc (a KM_EAUTH_* or -errno) as people's tools expect. */
static void refuse(km_http_resp *w, int rc)
{
    switch (rc) {
    case KM_EAUTH_DENIED:
        km__native_fail(w, 403, "permission denied");
        break;
    case KM_EAUTH_TOKEN:
        /* RFC 6750: a 401 names the scheme, and why the token failed */
        km_http_set_header(w, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        km__native_fail(w, 401, "invalid auth token");
        break;
    case KM_EAUTH_USER_EMPTY:
        km_http_set_header(w, "WWW-Authenticate", "Bearer");
        km__native_fail(w, 401, "authentication required: send Authorization: Bearer TOKEN "
                                "(POST /v3/auth/authenticate gives one)");
        break;
    case -EPERM:
        km__native_fail(w, 403, "a change made with the session cookie needs the X-Kumo-CSRF "
                                "header");
        break;
    default:
        km__native_fail_errno(w, rc);
    }
}

int km__native_may(km_native *n, km_http_req *r, km_perm_type type, km_bytes key, km_bytes end)
{
    if (!n->auth || !km_auth_enabled(n->auth))
        return 0;
    km_auth_id id;
    int rc = who(n, r, &id);
    return rc ? rc : km_auth_check(n->auth, &id, type, key, end);
}

bool km__native_allowed(km_native *n, km_http_req *r, km_http_resp *w, km_perm_type type,
                        km_bytes key, km_bytes end)
{
    int rc = km__native_may(n, r, type, key, end);
    if (rc)
        refuse(w, rc);
    return rc == 0;
}

bool km__native_identified(km_native *n, km_http_req *r, km_http_resp *w)
{
    if (!n->auth || !km_auth_enabled(n->auth))
        return true;
    km_auth_id id;
    int rc = who(n, r, &id);
    if (rc == 0 && !id.user[0])
        rc = KM_EAUTH_USER_EMPTY;
    if (rc)
        refuse(w, rc);
    return rc == 0;
}

/* The key from the path and the options every kv call shares. */
typedef struct {
    km__arena *a;
    km_bytes   key, range_end;
    bool       prefix;
    int64_t    rev, lease;
} kvargs;

static int parse_args(km_http_req *r, km_http_resp *w, kvargs *k)
{
    km_str q = km_http_query(r);
    km_bytes v;
    int err = km__pct_decode(km_http_param(r, "key"), k->a, &k->key);
    if (err) {
        km__native_fail(w, err == -ENOMEM ? 503 : 400,
                        err == -ENOMEM ? "out of memory" : "bad percent-encoding in the key");
        return -1;
    }
    k->prefix = km__query_get(q, "prefix", k->a, &v, &err);
    if (km__query_get(q, "rev", k->a, &v, &err) && !(km__parse_i64(v, &k->rev) && k->rev >= 0)) {
        km__native_fail(w, 400, "rev must be a non-negative integer");
        return -1;
    }
    if (km__query_get(q, "lease", k->a, &v, &err) && !(km__parse_i64(v, &k->lease) && k->lease >= 0)) {
        km__native_fail(w, 400, "lease must be a non-negative integer");
        return -1;
    }
    if (err) {
        km__native_fail(w, err == -ENOMEM ? 503 : 400,
                        err == -ENOMEM ? "out of memory" : "bad percent-encoding in the query");
        return -1;
    }
    if (k->prefix && km__prefix_end(k->key, k->a, &k->range_end) < 0) {
        km__native_fail(w, 503, "out of memory");
        return -1;
    }
    if (!k->key.n && !k->prefix) {
        km__native_fail(w, 400, "a key is required (or ?prefix for all keys)");
        return -1;
    }
    if (!k->key.n) {
        /* Every key: etcd spells that key "\0", range_end "\0". */
        static const uint8_t zero = 0;
        k->key = (km_bytes){ &zero, 1 };
    }
    return 0;
}

static void kv_json(km__jbuf *b, const km_kv *kv)
{
    km__jbuf_putc(b, '{');
    km__native_bytes(b, "key", kv->key);
    km__native_bytes(b, "value", kv->value);
    km__jbuf_key(b, "create_revision");
    km__jbuf_int(b, (long)kv->create_revision);
    km__jbuf_key(b, "mod_revision");
    km__jbuf_int(b, (long)kv->mod_revision);
    km__jbuf_key(b, "version");
    km__jbuf_int(b, (long)kv->version);
    if (kv->lease) {
        km__jbuf_key(b, "lease");
        km__jbuf_int(b, (long)kv->lease);
    }
    km__jbuf_putc(b, '}');
}

static void send_json(km_http_resp *w, km__jbuf *b)
{
    if (b->err)
        km__native_fail(w, 503, "out of memory");
    else
        km_http_send(w, 200, "application/json", b->p, b->n);
    km__jbuf_free(b);
}

static void set_num(km_http_resp *w, const char *name, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)v);
    km_http_set_header(w, name, s);
}

/* {"revision":N} or {"revision":N,"deleted":D} (deleted >= 0). */
static void send_revision(km_http_resp *w, int64_t rev, int64_t deleted)
{
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"revision\":");
    km__jbuf_int(&b, (long)rev);
    if (deleted >= 0) {
        km__jbuf_puts(&b, ",\"deleted\":");
        km__jbuf_int(&b, (long)deleted);
    }
    km__jbuf_puts(&b, "}\n");
    send_json(w, &b);
}

static void get_one(km_http_resp *w, const km_store_res *res)
{
    const km_range_resp *rr = &res->txn.resp[0].range;
    if (!rr->nkvs) {
        km__native_fail(w, 404, "key not found");
        return;
    }
    const km_kv *kv = &rr->kvs[0];
    set_num(w, "X-Kumo-Create-Revision", kv->create_revision);
    set_num(w, "X-Kumo-Mod-Revision", kv->mod_revision);
    set_num(w, "X-Kumo-Version", kv->version);
    if (kv->lease)
        set_num(w, "X-Kumo-Lease", kv->lease);
    km_http_send(w, 200, "application/octet-stream", kv->value.p, kv->value.n);
}

static void get_list(km_http_resp *w, const km_store_res *res)
{
    const km_range_resp *rr = &res->txn.resp[0].range;
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"revision\":");
    km__jbuf_int(&b, (long)res->revision);
    km__jbuf_puts(&b, ",\"count\":");
    km__jbuf_int(&b, (long)rr->count);
    km__jbuf_puts(&b, ",\"kvs\":[");
    for (size_t i = 0; i < rr->nkvs; i++) {
        km__jbuf_sep(&b);
        kv_json(&b, &rr->kvs[i]);
    }
    km__jbuf_puts(&b, "]}\n");
    send_json(w, &b);
}

/* One kv call: the key and options from the request, one store operation
 * of the method's kind, the answer. */
static void kv_call(km_http_req *r, km_http_resp *w, km_native *n, int type)
{
    kvargs k = { .a = km__arena_new() };
    km_store_res res = { 0 };
    if (!k.a) {
        km__native_fail(w, 503, "out of memory");
        return;
    }
    if (parse_args(r, w, &k) < 0)
        goto out;
    /* before the body is read: a refused PUT's value is never looked at */
    if (!km__native_allowed(n, r, w, type == KM_OP_RANGE ? KM_PERM_READ : KM_PERM_WRITE, k.key,
                            k.range_end))
        goto out;
    km_op op = { .type = type };
    if (type == KM_OP_RANGE) {
        op.range = (km_range_req){ .key = k.key, .range_end = k.range_end, .revision = k.rev };
    } else if (type == KM_OP_DELETE) {
        op.del = (km_del_req){ .key = k.key, .range_end = k.range_end };
    } else {
        if (k.prefix || k.rev) {
            km__native_fail(w, 400, "PUT takes one key; ?prefix and ?rev do not apply");
            goto out;
        }
        km_str body;
        if (km_http_body(r, &body) < 0)
            goto out;       /* the server answers 413, 400 or 408 */
        op.put = (km_put_req){ .key = k.key, .lease = k.lease,
                               .value = { (const uint8_t *)body.p, body.n } };
    }
    int rc = km_store_do(n->store, &op, &res);
    if (rc < 0)
        km__native_fail_errno(w, rc);
    else if (type == KM_OP_PUT)
        send_revision(w, res.revision, -1);
    else if (type == KM_OP_DELETE)
        send_revision(w, res.revision, res.txn.resp[0].del.deleted);
    else {
        set_num(w, "X-Kumo-Revision", res.revision);
        (k.prefix ? get_list : get_one)(w, &res);
    }
out:
    km_store_res_free(&res);
    km__arena_free(k.a);
}

static void kv_get(km_http_req *r, km_http_resp *w, void *ud)
{
    kv_call(r, w, ud, KM_OP_RANGE);
}

static void kv_put(km_http_req *r, km_http_resp *w, void *ud)
{
    kv_call(r, w, ud, KM_OP_PUT);
}

static void kv_delete(km_http_req *r, km_http_resp *w, void *ud)
{
    kv_call(r, w, ud, KM_OP_DELETE);
}

/* DELETE /api/v1/auth/token: logs out, the token of the request's
 * Authorization header refused from now on (etcd has no call for it: its
 * tokens only expire). 204, or 401 for a token that is not valid. */
static void logout(km_http_req *r, km_http_resp *w, void *ud)
{
    km_native *n = ud;
    km_str t = bearer(r);
    if (!n->auth || !t.n || km_auth_revoke_token(n->auth, t.p, t.n) != 0) {
        km_http_set_header(w, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        km__native_fail(w, 401, "invalid auth token");
        return;
    }
    km_http_send(w, 204, NULL, NULL, 0);
}

static void healthz(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_send(w, 200, "text/plain", "ok\n", 3);
}

/* Ready when the store answers a read. */
static void readyz(km_http_req *r, km_http_resp *w, void *ud)
{
    km_native *n = ud;
    km_store_stat st;
    if (km_store_stat_read(n->store, &st) == 0)
        km_http_send(w, 200, "text/plain", "ready\n", 6);
    else
        km_http_send(w, 503, "text/plain", "store unavailable\n", 18);
}

int km_native_new(km_native **out, km_store *s, km_hub *h, km_auth *auth)
{
    km_native *n = km__calloc(1, sizeof *n);
    if (!n)
        return -ENOMEM;
    n->store = s;
    n->hub = h;
    n->auth = auth;
    *out = n;
    return 0;
}

void km_native_free(km_native *n)
{
    km__free(n);
}

int km_native_routes(km_native *n, km_http_router *rt)
{
    static const struct { const char *method, *path; km_http_handler *h; } routes[] = {
        { "GET", "/api/v1/kv/*key", kv_get },
        { "PUT", "/api/v1/kv/*key", kv_put },
        { "DELETE", "/api/v1/kv/*key", kv_delete },
        { "GET", "/api/v1/kv/", kv_get },
        { "DELETE", "/api/v1/kv/", kv_delete },
        { "GET", "/api/v1/watch", km__native_watch },
        { "DELETE", "/api/v1/auth/token", logout },
        { "GET", "/healthz", healthz },
        { "GET", "/readyz", readyz },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = km_http_route(rt, routes[i].method, routes[i].path, routes[i].h, n);
        if (rc < 0)
            return rc;
    }
    return km__native_session_routes(n, rt);
}
