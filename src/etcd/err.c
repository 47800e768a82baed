/* SPDX-License-Identifier: MIT */
/* etcd's error answers (status, gRPC code, message), the method and size
 * checks every endpoint makes, and sending a finished body. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <kumo/auth.h>
#include "etcd/etcd-int.h"

/* gRPC codes as etcd gives them, HTTP statuses as its gateway maps those. */
static km__etcd_err auth_err(int err)
{
    const char *m = km_auth_strerror(err);
    switch (err) {
    case KM_EAUTH_DENIED:
        return (km__etcd_err){ 403, 7, m };
    case KM_EAUTH_TOKEN:
        return (km__etcd_err){ 401, 16, m };
    case KM_EAUTH_THROTTLED:
        return (km__etcd_err){ 429, 8, m };
    case KM_EAUTH_FAILED:
    case KM_EAUTH_USER_EMPTY:
    case KM_EAUTH_ROLE_EMPTY:
    case KM_EAUTH_BAD_MGMT:
        return (km__etcd_err){ 400, 3, m };
    default:
        return (km__etcd_err){ 412, 9, m };
    }
}

km__etcd_err km__etcd_errinfo(int err)
{
    if (err >= KM_EAUTH_MIN && err <= KM_EAUTH_MAX)
        return auth_err(err);
    switch (err) {
    case -ERANGE:
        return (km__etcd_err){ 400, 11, "etcdserver: mvcc: required revision is a future revision" };
    case -ENODATA:
        return (km__etcd_err){ 400, 11, "etcdserver: mvcc: required revision has been compacted" };
    case -ENOTUNIQ:
        return (km__etcd_err){ 400, 3, "etcdserver: duplicate key given in txn request" };
    case -ENOENT:
        return (km__etcd_err){ 404, 5, "etcdserver: requested lease not found" };
    case -ENOKEY:   /* ignore_value / ignore_lease on a missing key */
        return (km__etcd_err){ 400, 3, "etcdserver: key not found" };
    case -EINVAL:
        return (km__etcd_err){ 400, 3, "etcdserver: key is not provided" };
    case -EMSGSIZE:
        return (km__etcd_err){ 400, 3, "etcdserver: request is too large" };
    case -E2BIG:
        return (km__etcd_err){ 400, 3, "etcdserver: too many operations in txn request" };
    case -EFBIG:
        return (km__etcd_err){ 400, 11, "etcdserver: too large lease TTL" };
    case -EIO:      /* the commit (write or fsync) failed: nothing acknowledged */
        return (km__etcd_err){ 500, 2, "etcdserver: write to disk failed (input/output error)" };
    case -EEXIST:
        return (km__etcd_err){ 412, 9, "etcdserver: lease already exists" };
    case -ENOSPC:
        return (km__etcd_err){ 429, 8, "etcdserver: mvcc: database space exceeded" };
    case -ECANCELED:
        return (km__etcd_err){ 408, 1, "context canceled" };
    case -ETIMEDOUT:
        return (km__etcd_err){ 503, 14, "etcdserver: request timed out" };
    case -ESHUTDOWN:
        return (km__etcd_err){ 503, 14, "etcdserver: server stopped" };
    case -EOPNOTSUPP:   /* users and roles on a server that keeps none */
        return (km__etcd_err){ 501, 12, "kumo: users and roles need the embedded store, or "
                               "--backend etcd:// with a --backend-user holding etcd's root role" };
    case -EACCES:       /* the etcd backend's cluster refused kumo's own user */
        return (km__etcd_err){ 403, 7, "etcdserver: permission denied" };
    case -ENOMEM:   /* nothing done: the client may retry */
    case -EAGAIN:   /* no thread for the blocking call */
        return (km__etcd_err){ 503, 8, "etcdserver: out of memory" };
    default:
        return (km__etcd_err){ 500, 2, km_strerror(err) };
    }
}

int km__etcd_http_status(int code)
{
    /* grpc-gateway's table (runtime.HTTPStatusFromCode), as etcd 3.4's */
    static const int by_code[] = { 200, 408, 500, 400, 504, 404, 409, 403, 429, 412, 409, 400,
                                   501, 500, 503, 500, 401 };
    return code >= 0 && code < (int)(sizeof by_code / sizeof by_code[0]) ? by_code[code] : 500;
}

void km__etcd_err_text(int err, char *buf, size_t n)
{
    static const char *const names[] = {
        "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
        "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
        "Unauthenticated",
    };
    km__etcd_err x = km__etcd_errinfo(err);
    const char *name = x.code >= 0 && x.code < (int)(sizeof names / sizeof names[0])
                       ? names[x.code] : "Unknown";
    snprintf(buf, n, "rpc error: code = %s desc = %s", name, x.msg);
}

void km__etcd_errbody(km__jbuf *b, int code, const char *msg)
{
    size_t n = strlen(msg);
    km__jbuf_puts(b, "{\"error\":");
    km__jbuf_str(b, msg, n);
    km__jbuf_puts(b, ",\"message\":");
    km__jbuf_str(b, msg, n);
    km__jbuf_puts(b, ",\"code\":");
    km__jbuf_int(b, code);
    km__jbuf_putc(b, '}');
}

void km__etcd_fail_msg(km_http_resp *w, int status, int code, const char *msg)
{
    km__jbuf b = KM__JBUF_INIT;
    km__etcd_errbody(&b, code, msg);
    if (b.err) {
        static const char oom[] = "{\"error\":\"out of memory\",\"message\":\"out of memory\",\"code\":8}";
        km_http_send(w, 503, "application/json", oom, sizeof oom - 1);
    } else {
        km_http_send(w, status, "application/json", b.p, b.n);
    }
    km__jbuf_free(&b);
}

void km__etcd_fail(km_http_resp *w, int err)
{
    km__etcd_err e = km__etcd_errinfo(err);
    km__etcd_fail_msg(w, e.status, e.code, e.msg);
}

void km__etcd_send(km_http_resp *w, km__jbuf *b)
{
    if (b->err)
        km__etcd_fail(w, b->err);
    else
        km_http_send(w, 200, "application/json", b->p, b->n);
    km__jbuf_free(b);
}

static bool is(km_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

int km__etcd_read(const km_etcd *e, km_http_req *r, km_http_resp *w, km_str *body)
{
    km_str m = km_http_method(r);
    if (!is(m, "POST")) {
        /* the gateway's mux: CORS preflight passes, other methods get Go's 405 */
        if (is(m, "OPTIONS"))
            km_http_send(w, 200, NULL, "", 0);
        else {
            km_http_set_header(w, "X-Content-Type-Options", "nosniff");
            km_http_send(w, 405, "text/plain; charset=utf-8", "Method Not Allowed\n", 19);
        }
        return -EINVAL;
    }
    int64_t cl = km_http_content_length(r);
    if (cl > 0 && (uint64_t)cl > e->max_request_bytes) {
        km__etcd_fail(w, -EMSGSIZE);
        return -EMSGSIZE;
    }
    int rc = km_http_body(r, body);
    if (rc == 0 && body->n > e->max_request_bytes)
        rc = -EMSGSIZE;
    if (rc) {
        if (rc == -EMSGSIZE)
            km__etcd_fail(w, rc);
        else if (rc == -EBADMSG)
            km__etcd_fail_msg(w, 400, 3, "unexpected EOF");
        /* timeouts and resets: the server answers or the peer is gone */
        return rc;
    }
    return 0;
}

int km__etcd_begin(const km_etcd *e, km_http_req *r, km_http_resp *w, km__arena **a,
                   json_t **o)
{
    *a = NULL;
    *o = NULL;
    km_str body;
    if (km__etcd_read(e, r, w, &body))
        return -EINVAL;
    *a = km__arena_new();
    if (!*a) {
        km__etcd_fail(w, -ENOMEM);
        return -ENOMEM;
    }
    const char *msg = NULL;
    *o = km__etcd_parse(body.p, body.n, *a, &msg);
    if (!*o) {
        if (msg)
            km__etcd_fail_msg(w, 400, 3, msg);
        else
            km__etcd_fail(w, -ENOMEM);
        km__arena_free(*a);
        *a = NULL;
        return -EINVAL;
    }
    return 0;
}

void km__etcd_end(km__arena *a, json_t *o)
{
    if (o)
        json_decref(o);
    km__arena_free(a);
}
