/* SPDX-License-Identifier: MIT */
/* The gRPC server as an HTTP handler: checks a request, finds its method, runs the handler under the call's deadline, sends the status. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "grpc/grpc-int.h"
#include "rt/alloc.h"

/* application/grpc, application/grpc+proto, application/grpc;... */
static bool grpc_type(km_str ct)
{
    return ct.p && ct.n >= 16 && !strncasecmp(ct.p, "application/grpc", 16) &&
           (ct.n == 16 || ct.p[16] == '+' || ct.p[16] == ';');
}

bool km_grpc_is_request(const km_http_req *r)
{
    return r && grpc_type(km_http_header(r, "content-type"));
}

static bool name_is(km_str n, const char *lit, size_t len)
{
    return n.n == len && !strncasecmp(n.p, lit, len);
}

/* The fields the server itself reads, in one pass over the request's. */
typedef struct {
    km_str ctype, timeout, encoding;
} grpc_fields;

static void scan(const km_http_req *r, grpc_fields *f)
{
    *f = (grpc_fields){ { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
    size_t n = km_http_header_count(r);
    for (size_t i = 0; i < n; i++) {
        km_str name, value;
        km_http_header_at(r, i, &name, &value);
        if (name_is(name, "content-type", 12)) {
            if (!f->ctype.p)
                f->ctype = value;
        } else if (name.n > 5 && !strncasecmp(name.p, "grpc-", 5)) {
            if (name_is(name, "grpc-timeout", 12) && !f->timeout.p)
                f->timeout = value;
            else if (name_is(name, "grpc-encoding", 13) && !f->encoding.p)
                f->encoding = value;
        }
    }
}

/* A request that is no gRPC call refused before its body is read (wrong
 * version, method or content type): over HTTP/1.1 the connection closes
 * after the answer rather than wait for a body nobody will read. */
static void refuse(km_http_resp *w, int status, const char *text)
{
    km_http_set_header(w, "Connection", "close");
    km_http_send(w, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* Sends grpc-status, grpc-message and the kept trailers with add (as
 * headers of a trailers-only answer, or as trailers). */
static void status_fields(km_http_resp *w, int (*add)(km_http_resp *, const char *, const char *),
                          int code, const char *msg, const km__grpc_fields *trailers)
{
    char num[24];
    km__grpc_utoa(num, (uint64_t)code);
    add(w, "grpc-status", num);
    if (msg && *msg) {
        size_t n = strlen(msg);
        char stack[512], *enc = stack;
        if (km__grpc_pct_room(n) > sizeof stack)
            enc = km__malloc(km__grpc_pct_room(n));
        /* A message that does not fit is dropped; the code still goes. */
        if (enc) {
            km__grpc_pct_encode(enc, msg, n);
            add(w, "grpc-message", enc);
        }
        if (enc != stack)
            km__free(enc);
    }
    for (size_t o = 0; trailers && o < trailers->len;) {
        const char *k = trailers->buf + o, *v = k + strlen(k) + 1;
        add(w, k, v);
        o = (size_t)(v + strlen(v) + 1 - trailers->buf);
    }
}

/* An answer before any message: one HEADERS frame, END_STREAM. */
static void trailers_only(km_http_resp *w, int code, const char *msg, const km__grpc_fields *trailers)
{
    status_fields(w, km_http_set_header, code, msg, trailers);
    km_http_send(w, 200, "application/grpc", NULL, 0);
}

void km__grpc_call_end(km_grpc_call *c)
{
    if (c->ended)
        return;
    c->ended = true;
    /* Messages the handler queued go before the status. */
    km__grpc_send_queued(c);
    int code = atomic_load_explicit(&c->finished, memory_order_acquire) ? c->code : KM_GRPC_OK;
    if (!c->head_sent && c->klen) {
        /* The kept message: head, message and status in one step. */
        status_fields(c->w, km_http_set_trailer, code, c->msg, &c->trailers);
        c->head_sent = true;
        km_http_send(c->w, 200, "application/grpc", c->kept, c->klen);
        c->klen = 0;
    } else if (!c->head_sent)
        trailers_only(c->w, code, c->msg, &c->trailers);
    else
        /* The HTTP layer ends the stream with them when the handler returns. */
        status_fields(c->w, km_http_set_trailer, code, c->msg, &c->trailers);
}

void km__grpc_call_free(km_grpc_call *c)
{
    km__grpc_rd_free(&c->rd);
    km__grpc_mdlist_free(&c->md);
    km__free(c->trailers.buf);
    km__free(c->msg);
    km__free(c->sbuf);
    km__free(c->qbuf);
}

static void run_handler(void *arg)
{
    km_grpc_call *c = arg;
    c->m->h(c, c->m->ud);
}

/* Runs the handler; with a deadline, in a group of its own that the
 * deadline cancels. Returns whether the deadline cut the call short. */
static bool run(km_grpc_call *c)
{
    if (c->deadline == KM_FOREVER) {
        run_handler(c);
        return false;
    }
    km_group *parent = km_group_current(), *g;
    if (km_group_new(&g, parent, c->deadline)) {
        km__grpc_call_fail(c, KM_GRPC_RESOURCE_EXHAUSTED, "grpc: out of memory");
        return false;
    }
    int err = km_group_run(g, run_handler, c);
    /* Goroutines the handler left behind end with the call, as a Go
     * handler's context is cancelled when it returns. */
    km_group_cancel(g);
    km_group_wait(g, KM_FOREVER);
    km_group_free(g);
    /* Cancelled, but not from above (the client's reset): the deadline. */
    return err && !(parent && km_group_err(parent));
}

static void unknown(km_http_resp *w, const km_grpc_server *s, km_str path)
{
    char msg[300];
    const char *slash = path.n > 1 ? memchr(path.p + 1, '/', path.n - 1) : NULL;
    int svc = slash ? (int)(slash - path.p - 1) : (int)(path.n ? path.n - 1 : 0);
    if (slash && km__grpc_has_service(s, path.p, path.n))
        snprintf(msg, sizeof msg, "unknown method %.*s for service %.*s",
                 (int)(path.p + path.n - slash - 1), slash + 1, svc, path.p + 1);
    else
        snprintf(msg, sizeof msg, "unknown service %.*s", svc, path.n ? path.p + 1 : "");
    trailers_only(w, KM_GRPC_UNIMPLEMENTED, msg, NULL);
}

void km_grpc_serve_http(km_http_req *r, km_http_resp *w, void *server)
{
    km_grpc_server *s = server;
    grpc_fields f;
    scan(r, &f);
    bool grpc = grpc_type(f.ctype);
    if (!grpc && s->fallback) {
        s->fallback(r, w, s->fallback_ud);
        return;
    }
    if (km_http_version(r) != 20) {
        refuse(w, 505, "gRPC requires HTTP/2: h2c with prior knowledge, or h2 over TLS\n");
        return;
    }
    km_str method = km_http_method(r);
    if (method.n != 4 || memcmp(method.p, "POST", 4)) {
        km_http_set_header(w, "allow", "POST");
        refuse(w, 405, "gRPC calls are POST requests\n");
        return;
    }
    if (!grpc) {
        refuse(w, 415, "gRPC requires content-type application/grpc\n");
        return;
    }
    km_str path = km_http_path(r);
    const km__grpc_method *m = km__grpc_lookup(s, path.p, path.n);
    if (!m) {
        unknown(w, s, path);
        return;
    }
    km_http_set_route(r, m->path);     /* the metrics' and logs' label */
    int64_t deadline = KM_FOREVER;
    if (f.timeout.p) {
        int64_t ns;
        if (km__grpc_timeout_parse(f.timeout.p, f.timeout.n, &ns)) {
            trailers_only(w, KM_GRPC_INTERNAL, "grpc: malformed grpc-timeout", NULL);
            return;
        }
        int64_t now = km_now();
        deadline = ns > INT64_MAX - now ? KM_FOREVER : now + ns;
        if (ns == 0) {
            /* Over before it began: the handler is not run. */
            trailers_only(w, KM_GRPC_DEADLINE_EXCEEDED, "deadline exceeded", NULL);
            return;
        }
    }
    /* The call lives on this goroutine's stack; its lent buffer is left
     * as it is (a kilobyte of zeros per call for nothing). */
    km_grpc_call c;
    memset(&c, 0, offsetof(km_grpc_call, lent));
    c.srv = s;
    c.m = m;
    c.r = r;
    c.w = w;
    c.deadline = deadline;
    c.encoded = f.encoding.p && !(f.encoding.n == 8 && !memcmp(f.encoding.p, "identity", 8));
    km__grpc_rd_init(&c.rd, c.lent, sizeof c.lent, s->cfg.max_recv_msg);
    if (run(&c)) {
        /* Whatever the handler said, the client has given up by now. */
        km__free(c.msg);
        c.msg = NULL;
        c.klen = 0;
        atomic_store_explicit(&c.finished, false, memory_order_relaxed);
        km_grpc_finish(&c, KM_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
    }
    km__grpc_call_end(&c);
    km__grpc_call_free(&c);
}
