/* SPDX-License-Identifier: MIT */
/* etcd's Auth service behind the JSON gateway (POST /v3/auth/...): each
 * request decoded into the shared form (authz.h), run, and its answer
 * written as the gateway's jsonpb writes it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd/authz.h"

/* The gateway's paths (etcd 3.4's rpc.proto), in km__auth_op order. */
static const char *const paths[] = {
    "/v3/auth/enable", "/v3/auth/disable", "/v3/auth/authenticate",
    "/v3/auth/user/add", "/v3/auth/user/get", "/v3/auth/user/list", "/v3/auth/user/delete",
    "/v3/auth/user/changepw", "/v3/auth/user/grant", "/v3/auth/user/revoke",
    "/v3/auth/role/add", "/v3/auth/role/get", "/v3/auth/role/list", "/v3/auth/role/delete",
    "/v3/auth/role/grant", "/v3/auth/role/revoke",
};


/* A message made in the arena (Go's texts quote what they refuse). */
static int fail(km__arena *a, const char **msg, const char *fmt, const char *x)
{
    char tmp[200];
    int n = snprintf(tmp, sizeof tmp, fmt, x);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof tmp)
        n = sizeof tmp - 1;
    char *m = km__arena_alloc(a, (size_t)n + 1);
    if (!m)
        return -ENOMEM;
    memcpy(m, tmp, (size_t)n);
    m[n] = 0;
    *msg = m;
    return -EINVAL;
}

/* A string field (absent or null: ""). jansson refuses \u0000 when it
 * parses, so the C string is the whole value. */
static int dec_str(json_t *o, const char *name, const char **v, km__arena *a, const char **msg)
{
    json_t *f = json_object_get(o, name);
    *v = "";
    if (!f || json_is_null(f))
        return 0;
    if (!json_is_string(f))
        return fail(a, msg, "json: cannot unmarshal %s into Go value of type string",
            km__etcd_json_kind(f));
    *v = json_string_value(f);
    return 0;
}

/* A nested message: *sub NULL when absent or null. */
static int dec_obj(json_t *o, const char *name, json_t **sub, km__arena *a, const char **msg)
{
    json_t *f = json_object_get(o, name);
    *sub = NULL;
    if (!f || json_is_null(f))
        return 0;
    if (!json_is_object(f))
        return fail(a, msg, "json: cannot unmarshal %s into Go value of type "
                    "map[string]json.RawMessage", km__etcd_json_kind(f));
    *sub = f;
    return 0;
}

#define PERM_TYPE "authpb.Permission_Type"

/* permType by name or number, as jsonpb reads an enum. Numbers outside
 * the three types pass (etcd stores them); the auth module refuses them. */
static int dec_perm_type(json_t *p, km_perm_type *t, km__arena *a, const char **msg)
{
    static const char *const names[] = { "READ", "WRITE", "READWRITE" };
    json_t *f = json_object_get(p, "permType");
    *t = KM_PERM_READ;
    if (!f || json_is_null(f))
        return 0;
    if (json_is_string(f)) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(json_string_value(f), names[i]) &&
                json_string_length(f) == strlen(names[i])) {
                *t = (km_perm_type)i;
                return 0;
            }
        char q[80];
        snprintf(q, sizeof q, "%.64s", json_string_value(f));
        return fail(a, msg, "unknown value \"%s\" for enum " PERM_TYPE, q);
    }
    char num[40];
    if (json_is_integer(f)) {
        json_int_t x = json_integer_value(f);
        if (x >= INT32_MIN && x <= INT32_MAX) {
            *t = (km_perm_type)x;
            return 0;
        }
        snprintf(num, sizeof num, "%lld", (long long)x);
    } else if (json_is_real(f)) {
        /* Go quotes the literal; the shortest text that reads back is near */
        double d = json_real_value(f);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, d);
            if (strtod(num, NULL) == d)
                break;
        }
    } else {
        return fail(a, msg, "json: cannot unmarshal %s into Go value of type " PERM_TYPE,
                    km__etcd_json_kind(f));
    }
    return fail(a, msg, "json: cannot unmarshal number %s into Go value of type " PERM_TYPE, num);
}

/* The body's fields into q (strings point into o); *has_perm says whether
 * a grant came with its permission. */
static int decode(json_t *o, km__arena *a, km__auth_req *q, bool *has_perm, const char **msg)
{
    json_t *sub;
    int rc = 0;
    *has_perm = false;
    switch (q->op) {
    case KM__AUTH_AUTHENTICATE:
    case KM__AUTH_USER_PASSWD:
        if (!(rc = dec_str(o, "name", &q->name, a, msg)))
            rc = dec_str(o, "password", &q->password, a, msg);
        break;
    case KM__AUTH_USER_ADD:
        if (!(rc = dec_str(o, "name", &q->name, a, msg)) &&
            !(rc = dec_str(o, "password", &q->password, a, msg)) &&
            !(rc = dec_obj(o, "options", &sub, a, msg)) && sub)
            rc = km__etcd_dec_bool(sub, "no_password", &q->no_password, msg);
        break;
    case KM__AUTH_USER_GET:
    case KM__AUTH_USER_DELETE:
    case KM__AUTH_ROLE_ADD:
        rc = dec_str(o, "name", &q->name, a, msg);
        break;
    case KM__AUTH_USER_GRANT:
        if (!(rc = dec_str(o, "user", &q->name, a, msg)))
            rc = dec_str(o, "role", &q->role, a, msg);
        break;
    case KM__AUTH_USER_REVOKE:
        if (!(rc = dec_str(o, "name", &q->name, a, msg)))
            rc = dec_str(o, "role", &q->role, a, msg);
        break;
    case KM__AUTH_ROLE_GET:
    case KM__AUTH_ROLE_DELETE:
        rc = dec_str(o, "role", &q->name, a, msg);
        break;
    case KM__AUTH_ROLE_GRANT:
        if (!(rc = dec_str(o, "name", &q->name, a, msg)) &&
            !(rc = dec_obj(o, "perm", &sub, a, msg)) && sub) {
            *has_perm = true;
            if (!(rc = dec_perm_type(sub, &q->perm.type, a, msg)) &&
                !(rc = km__etcd_dec_bytes(sub, "key", a, &q->perm.key, msg)))
                rc = km__etcd_dec_bytes(sub, "range_end", a, &q->perm.end, msg);
        }
        break;
    case KM__AUTH_ROLE_REVOKE:
        if (!(rc = dec_str(o, "role", &q->name, a, msg)) &&
            !(rc = km__etcd_dec_bytes(o, "key", a, &q->perm.key, msg)))
            rc = km__etcd_dec_bytes(o, "range_end", a, &q->perm.end, msg);
        break;
    default:
        break;      /* enable, disable and the lists take nothing */
    }
    return rc;
}

static void names(km__jbuf *b, const char *member, const km_auth_list *l)
{
    if (!l || !l->n)
        return;     /* jsonpb leaves an empty list out */
    km__jbuf_key(b, member);
    km__jbuf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        km__jbuf_sep(b);
        km__jbuf_str(b, l->names[i], strlen(l->names[i]));
    }
    km__jbuf_putc(b, ']');
}

/* authpb.Permission: READ is the zero value, so it is left out. */
static void perms(km__jbuf *b, const km_auth_list *l)
{
    static const char *const types[] = { NULL, "\"WRITE\"", "\"READWRITE\"" };
    if (!l || !l->n)
        return;
    km__jbuf_key(b, "perm");
    km__jbuf_putc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        const km_auth_perm *p = &l->perms[i];
        km__jbuf_sep(b);
        km__jbuf_putc(b, '{');
        if (p->type != KM_PERM_READ) {
            km__jbuf_key(b, "permType");
            if ((unsigned)p->type <= KM_PERM_READWRITE)
                km__jbuf_puts(b, types[p->type]);
            else
                km__jbuf_int(b, (long)p->type);
        }
        if (p->key.n) {
            km__jbuf_key(b, "key");
            km__jbuf_b64(b, p->key.p, p->key.n);
        }
        if (p->end.n) {
            km__jbuf_key(b, "range_end");
            km__jbuf_b64(b, p->end.p, p->end.n);
        }
        km__jbuf_putc(b, '}');
    }
    km__jbuf_putc(b, ']');
}

static void answer(km_http_resp *w, km_etcd *e, km__auth_op op, const km__auth_res *res)
{
    km__jbuf b = KM__JBUF_INIT;
    km__jbuf_puts(&b, "{\"header\":");
    km__etcd_header(&b, e, km_store_revision(e->store));
    switch (op) {
    case KM__AUTH_AUTHENTICATE:
        if (res->token[0]) {
            km__jbuf_key(&b, "token");
            km__jbuf_str(&b, res->token, strlen(res->token));
        }
        break;
    case KM__AUTH_USER_GET:
    case KM__AUTH_ROLE_LIST:
        names(&b, "roles", res->list);
        break;
    case KM__AUTH_USER_LIST:
        names(&b, "users", res->list);
        break;
    case KM__AUTH_ROLE_GET:
        perms(&b, res->list);
        break;
    default:
        break;      /* every other answer is the header alone */
    }
    km__jbuf_putc(&b, '}');
    if (b.err) {
        km__etcd_fail(w, b.err);
    } else {
        km_http_send(w, 200, "application/json", b.p, b.n);
        /* a token must not linger in freed memory (the response has its copy) */
        if (op == KM__AUTH_AUTHENTICATE)
            memset(b.p, 0, b.n);
    }
    km__jbuf_free(&b);
}

void km__etcd_auth(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km_str route = km_http_route_pattern(r);
    size_t op = 0;
    while (op < sizeof paths / sizeof paths[0] &&
           !(route.n == strlen(paths[op]) && !memcmp(route.p, paths[op], route.n)))
        op++;
    km__arena *a;
    json_t *o;
    if (km__etcd_begin(e, r, w, &a, &o))
        return;
    if (op == sizeof paths / sizeof paths[0]) {
        km__etcd_fail(w, -EINVAL);      /* routed here by mistake: not reachable */
        km__etcd_end(a, o);
        return;
    }
    km__auth_req q = { .op = (km__auth_op)op, .name = "", .password = "", .role = "" };
    const char *msg = NULL;
    bool has_perm;
    int rc = decode(o, a, &q, &has_perm, &msg);
    km_auth_id id = { .any = true };
    if (rc) {
        msg ? km__etcd_fail_msg(w, 400, 3, msg) : km__etcd_fail(w, rc);
    } else if (q.op == KM__AUTH_ROLE_GRANT && !has_perm) {
        /* etcd 3.4 crashes here; 3.5 answers this */
        km__etcd_fail_msg(w, 400, 3, "etcdserver: permission not given");
    } else if (q.op == KM__AUTH_ROLE_GRANT && (unsigned)q.perm.type > KM_PERM_READWRITE) {
        km__etcd_fail_msg(w, 400, 3, "kumo: permType must be READ, WRITE or READWRITE");
    } else if (q.op != KM__AUTH_AUTHENTICATE && (rc = km__etcd_http_who(e, r, &id))) {
        /* a login ignores whatever token came with it: clients send their
         * old one when they log in again */
        km__etcd_fail(w, rc);
    } else {
        char peer[64];
        km__etcd_peer_ip(r, peer, sizeof peer);
        km__auth_res res;
        if ((rc = km__etcd_auth_do(e, &id, peer, &q, &res)) == -EREMOTEIO && res.up.code > 0)
            km__etcd_fail_msg(w, km__etcd_http_status(res.up.code), res.up.code,
                              res.up.message);      /* etcd's own refusal */
        else if (rc)
            km__etcd_fail(w, rc);
        else
            answer(w, e, q.op, &res);
        if (res.list)
            km_auth_list_free(res.list);
        memset(res.token, 0, sizeof res.token);
    }
    km__etcd_end(a, o);
}
