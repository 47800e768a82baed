/* SPDX-License-Identifier: MIT */
/* The lease endpoints: grant, revoke, keepalive (a stream), timetolive,
 * leases; revoking needs write permission on the lease's keys, listing
 * them read permission. */
#include <errno.h>
#include <string.h>
#include "etcd/authz.h"

/* etcd's largest lease TTL (seconds) and the minimum it raises TTLs to
 * (1.5 election timeouts of its defaults, rounded up). */
#define MAX_LEASE_TTL 9000000000LL
#define MIN_LEASE_TTL 2

static int64_t current_rev(km_etcd *e)
{
    km_store_stat st;
    return km_store_stat_read(e->store, &st) == 0 ? st.revision : 0;
}

static void head(km__jbuf *b, km_etcd *e, int64_t rev)
{
    km__jbuf_puts(b, "{\"header\":");
    km__etcd_header(b, e, rev);
}

static void i64_field(km__jbuf *b, const char *name, int64_t v)
{
    if (v) {
        km__jbuf_key(b, name);
        km__jbuf_i64(b, v);
    }
}

/* Decodes the int64 fields names[0..n) of the body into v; 0, or the
 * answer was sent. */
static int body_i64(km_etcd *e, km_http_req *r, km_http_resp *w, const char *const *names,
                    int64_t *v, size_t n, bool *keys)
{
    km__arena *a;
    json_t *o;
    if (km__etcd_begin(e, r, w, &a, &o))
        return -EINVAL;
    const char *msg = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = km__etcd_dec_i64a(o, names[i], a, &v[i], &msg);
    if (!rc && keys)
        rc = km__etcd_dec_bool(o, "keys", keys, &msg);
    if (rc)
        msg ? km__etcd_fail_msg(w, 400, 3, msg) : km__etcd_fail(w, rc);
    km__etcd_end(a, o);
    return rc;
}

void km__etcd_lease_grant(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    static const char *const names[] = { "TTL", "ID" };
    int64_t v[2];
    if (body_i64(e, r, w, names, v, 2, NULL))
        return;
    int64_t ttl = v[0], id = v[1], rev = 0;
    if (ttl > MAX_LEASE_TTL) {
        km__etcd_fail_msg(w, 400, 11, "etcdserver: too large lease TTL");
        return;
    }
    /* anyone may grant, but etcd refuses a token that is not valid (it
     * resolves the token of every request it passes through raft) */
    km_auth_id who;
    int rc = km__etcd_http_who(e, r, &who);
    if (rc) {
        km__etcd_fail(w, rc);
        return;
    }
    rc = km_lease_grant(e->store, id, ttl, &id, &rev);
    if (rc) {
        km__etcd_fail(w, rc);
        return;
    }
    if (!rev)
        rev = current_rev(e);
    km__jbuf b = KM__JBUF_INIT;
    head(&b, e, rev);
    i64_field(&b, "ID", id);
    i64_field(&b, "TTL", ttl < MIN_LEASE_TTL ? MIN_LEASE_TTL : ttl);
    km__jbuf_putc(&b, '}');
    km__etcd_send(w, &b);
}

void km__etcd_lease_revoke(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    static const char *const names[] = { "ID" };
    int64_t id, rev = 0;
    if (body_i64(e, r, w, names, &id, 1, NULL))
        return;
    km_auth_id who;
    int rc = km__etcd_http_who(e, r, &who);
    if (!rc)
        rc = km__etcd_authz_revoke(e, &who, id);
    if (!rc)
        rc = km_lease_revoke(e->store, id, &rev);
    if (rc) {
        km__etcd_fail(w, rc);
        return;
    }
    if (!rev)
        rev = current_rev(e);
    km__jbuf b = KM__JBUF_INIT;
    head(&b, e, rev);
    km__jbuf_putc(&b, '}');
    km__etcd_send(w, &b);
}

void km__etcd_lease_ttl(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    static const char *const names[] = { "ID" };
    int64_t id;
    bool keys = false;
    if (body_i64(e, r, w, names, &id, 1, &keys))
        return;
    km_auth_id who;
    int denied = 0;
    if (keys && (denied = km__etcd_http_who(e, r, &who)) == 0)
        denied = km__etcd_authz_lease(e, &who, id, KM_PERM_READ);
    if (denied) {
        km__etcd_fail(w, denied);
        return;
    }
    km_lease_info li;
    memset(&li, 0, sizeof li);
    km_store_res res;
    memset(&res, 0, sizeof res);
    int rc = km_lease_ttl(e->store, id, keys, &li, &res);
    if (rc && rc != -ENOENT) {
        km_store_res_free(&res);
        km__etcd_fail(w, rc);
        return;
    }
    /* etcd answers an unknown lease with TTL -1, not an error */
    if (rc == -ENOENT) {
        memset(&li, 0, sizeof li);
        li.id = id;
        li.ttl = -1;
    }
    int64_t rev = res.revision ? res.revision : current_rev(e);
    km__jbuf b = KM__JBUF_INIT;
    head(&b, e, rev);
    i64_field(&b, "ID", li.id);
    i64_field(&b, "TTL", li.ttl);
    i64_field(&b, "grantedTTL", li.granted_ttl);
    if (li.nkeys) {
        km__jbuf_key(&b, "keys");
        km__jbuf_putc(&b, '[');
        for (size_t i = 0; i < li.nkeys; i++) {
            km__jbuf_sep(&b);
            km__jbuf_b64(&b, li.keys[i].p, li.keys[i].n);
        }
        km__jbuf_putc(&b, ']');
    }
    km__jbuf_putc(&b, '}');
    km_store_res_free(&res);
    km__etcd_send(w, &b);
}

void km__etcd_lease_leases(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    if (body_i64(e, r, w, NULL, NULL, 0, NULL))
        return;
    int64_t *ids = NULL;
    size_t n = 0;
    km_store_res res;
    memset(&res, 0, sizeof res);
    int rc = km_lease_list(e->store, &ids, &n, &res);
    if (rc) {
        km_store_res_free(&res);
        km__etcd_fail(w, rc);
        return;
    }
    int64_t rev = res.revision ? res.revision : current_rev(e);
    km__jbuf b = KM__JBUF_INIT;
    head(&b, e, rev);
    if (n) {
        km__jbuf_key(&b, "leases");
        km__jbuf_putc(&b, '[');
        for (size_t i = 0; i < n; i++) {
            km__jbuf_sep(&b);
            km__jbuf_putc(&b, '{');
            i64_field(&b, "ID", ids[i]);
            km__jbuf_putc(&b, '}');
        }
        km__jbuf_putc(&b, ']');
    }
    km__jbuf_putc(&b, '}');
    km_store_res_free(&res);
    km__etcd_send(w, &b);
}

/* The gateway reads a stream of requests from the body and answers each
 * with one {"result":...} line: an unknown lease gets no TTL, not an
 * error. A body that does not decode before any answer was written is a
 * 500 with code 2 (the stream's error); after one, the stream ends. */
void km__etcd_lease_keepalive(km_http_req *r, km_http_resp *w, void *etcd)
{
    km_etcd *e = etcd;
    km_str body;
    if (km__etcd_read(e, r, w, &body))
        return;
    km__arena *a = km__arena_new();
    if (!a) {
        km__etcd_fail(w, -ENOMEM);
        return;
    }
    bool started = false;
    size_t off = 0;
    for (;;) {
        while (off < body.n && (body.p[off] == ' ' || body.p[off] == '\n' ||
                                body.p[off] == '\r' || body.p[off] == '\t'))
            off++;
        if (off >= body.n)
            break;
        const char *msg = NULL;
        json_error_t jerr;
        json_t *o = NULL;
        size_t used = 0;
        /* one value at a time: the decoder says where it ended */
        o = km__etcd_parse(body.p + off, body.n - off, a, &msg);
        if (o) {
            json_t *probe = json_loadb(body.p + off, body.n - off,
                                       JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &jerr);
            used = probe ? (size_t)jerr.position : body.n - off;
            json_decref(probe);
        }
        int64_t id = 0;
        int rc = o ? km__etcd_dec_i64a(o, "ID", a, &id, &msg) : -EINVAL;
        if (o)
            json_decref(o);
        if (rc) {
            if (!started)
                km__etcd_fail_msg(w, 500, 2, msg ? msg : "invalid request");
            break;
        }
        off += used ? used : body.n - off;
        int64_t ttl = 0;
        rc = km_lease_keepalive(e->store, id, &ttl);
        if (rc && rc != -ENOENT) {
            if (!started)
                km__etcd_fail(w, rc);
            break;
        }
        km__jbuf b = KM__JBUF_INIT;
        km__jbuf_puts(&b, "{\"result\":");
        head(&b, e, current_rev(e));
        i64_field(&b, "ID", id);
        if (rc == 0)
            i64_field(&b, "TTL", ttl);
        km__jbuf_puts(&b, "}}\n");
        if (b.err) {
            km__jbuf_free(&b);
            if (!started)
                km__etcd_fail(w, -ENOMEM);
            break;
        }
        if (!started) {
            km_http_set_header(w, "Content-Type", "application/json");
            km_http_status(w, 200);
            started = true;
        }
        rc = km_http_write(w, b.p, b.n);
        km__jbuf_free(&b);
        if (rc)
            break;
    }
    if (!started) {
        /* an empty stream: 200 and an empty body, as the gateway answers */
        km_http_set_header(w, "Content-Type", "application/json");
        km_http_status(w, 200);
        km_http_write(w, "", 0);
    }
    km__arena_free(a);
}
