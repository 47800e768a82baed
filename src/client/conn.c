/* SPDX-License-Identifier: MIT */
/* The client object: endpoints, the transport in use, failover between
 * endpoints and the mapping of server errors, the same for every transport. */
#include <string.h>
#include "client/client-int.h"
#include "client/grpc-int.h"
#include "etcd/wire.h"
#include "rt/alloc.h"

#define SEC 1000000000LL

int km_client_new(km_client **out, const km_client_config *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->nendpoints || !cfg->endpoints ||
        (unsigned)cfg->transport > KM_CLIENT_JSON ||
        (cfg->tls && cfg->transport == KM_CLIENT_JSON))
        return -EINVAL;
    for (size_t i = 0; i < cfg->nendpoints; i++) {
        const char *e = cfg->endpoints[i];
        if (!e || !strchr(e, ':'))
            return -EINVAL;
    }
    km_client *c = km__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->eps = km__calloc(cfg->nendpoints, sizeof *c->eps);
    c->dial_timeout = cfg->dial_timeout > 0 ? cfg->dial_timeout : 2 * SEC;
    c->tls = cfg->tls;
    /* Over TLS only gRPC: the HTTP/1.1 client has no TLS. */
    c->auto_tp = cfg->transport == KM_CLIENT_AUTO && !cfg->tls;
    atomic_init(&c->tp, cfg->transport == KM_CLIENT_JSON ? &km__client_json_tp
                                                         : &km__client_grpc_tp);
    int rc = c->eps ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < cfg->nendpoints; i++) {
        const char *e = cfg->endpoints[i];
        if (!strncmp(e, "http://", 7))
            e += 7;
        else if (cfg->tls && !strncmp(e, "https://", 8))
            e += 8;
        if (!(c->eps[i] = km__strdup(e)))
            rc = -ENOMEM;
        else
            c->neps = i + 1;
    }
    km_http_client_config hc = {
        .max_per_host = cfg->max_conns > 0 ? cfg->max_conns : 16,
        .max_idle_per_host = cfg->max_conns > 0 ? cfg->max_conns : 16,
        .connect_timeout = c->dial_timeout,
        /* A big prefix listed whole. */
        .max_response_bytes = 256u << 20,
    };
    /* An AUTO client keeps the JSON side ready for its fallback; neither
     * side dials before its first call. */
    if (!rc && cfg->transport != KM_CLIENT_GRPC && !cfg->tls)
        rc = km_http_client_new(&c->http, &hc);
    if (!rc && cfg->transport != KM_CLIENT_JSON)
        rc = km__client_grpc_new(c, cfg);
    if (rc) {
        km_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void km_client_free(km_client *c)
{
    if (!c)
        return;
    km__client_grpc_free(c);
    if (c->http)
        km_http_client_free(c->http);
    for (size_t i = 0; i < c->neps; i++)
        km__free(c->eps[i]);
    km__free(c->eps);
    km__free(c);
}

size_t km__client_ep(km_client *c, const char **ep)
{
    size_t i = atomic_load(&c->cur);
    *ep = c->eps[i % c->neps];
    return i;
}

const char *km_client_endpoint(const km_client *c)
{
    return c->eps[atomic_load(&((km_client *)c)->cur) % c->neps];
}

void km__client_failover(km_client *c, size_t seen)
{
    atomic_compare_exchange_strong(&c->cur, &seen, seen + 1);
}

const km__client_tp *km__client_transport(km_client *c)
{
    return atomic_load(&c->tp);
}

km_client_transport km_client_transport_in_use(const km_client *c)
{
    return atomic_load(&((km_client *)c)->tp)->kind;
}

bool km__client_fallback(km_client *c, const km__client_tp *t, int rc)
{
    if (rc != -EPROTONOSUPPORT || !c->auto_tp || t == &km__client_json_tp)
        return false;
    /* For good: a server that answered so will not start speaking gRPC
     * to this client, and the calls in flight end up here as well. */
    atomic_store(&c->tp, &km__client_json_tp);
    return true;
}

bool km__client_transport_err(int rc)
{
    switch (rc) {
    case -ECONNREFUSED: case -ECONNRESET: case -ECONNABORTED: case -EPIPE:
    case -EHOSTUNREACH: case -ENETUNREACH: case -ENOTCONN: case -EBADMSG:
    case -ETIMEDOUT: case -EAGAIN: case -EADDRNOTAVAIL:
        return true;
    }
    return false;
}

int km__client_errno(int64_t code, const char *msg, size_t n)
{
    /* etcd's clients test the message for these two (both OUT_OF_RANGE). */
    if (msg && memmem(msg, n, "compacted", 9))
        return -ENODATA;
    if (msg && memmem(msg, n, "future revision", 15))
        return -ERANGE;
    switch (code) {
    case 3: return -EINVAL;                 /* INVALID_ARGUMENT */
    case 5: return -ENOENT;                 /* NOT_FOUND */
    case 6: case 9: return -EEXIST;         /* ALREADY_EXISTS, FAILED_PRECONDITION */
    case 8: return -ENOSPC;                 /* RESOURCE_EXHAUSTED */
    case 14: return -EAGAIN;                /* UNAVAILABLE */
    }
    return 0;
}

int km__client_retry(km_client *c, int64_t deadline, km__client_once *once, void *arg)
{
    int rc = -ECONNREFUSED;
    for (size_t tries = 0;; tries++) {
        const char *ep;
        size_t seen = km__client_ep(c, &ep);
        int64_t dl = deadline;
        if (c->neps > 1) {
            /* Leave time for the others when one hangs. */
            int64_t per = km_now() + c->dial_timeout;
            if (dl == KM_FOREVER || per < dl)
                dl = per;
        }
        rc = once(c, seen % c->neps, dl, arg);
        if (!rc || rc == -ECANCELED || !km__client_transport_err(rc))
            break;
        km__client_failover(c, seen);
        if (deadline != KM_FOREVER && km_now() >= deadline)
            break;
        if ((tries + 1) % c->neps == 0 &&
            km_sleep(tries / c->neps < 5 ? 50000000LL << (tries / c->neps) : SEC) < 0) {
            rc = -ECANCELED;
            break;
        }
    }
    return rc;
}

int km__client_span(const char *key, bool prefix, km__span *s)
{
    size_t kn = strlen(key);
    *s = (km__span){ .key = kn ? key : "\0", .key_len = kn ? kn : 1 };
    if (!prefix)
        return 0;
    char *end = km__malloc(kn + 2);
    if (!end)
        return -ENOMEM;
    s->end = end;
    s->end_len = km__etcd_prefix_end(end, key, kn);
    return 0;
}

void km__client_span_free(km__span *s)
{
    km__free((char *)s->end);
    s->end = NULL;
}

int km__kvmem_put(km__kvmem *m, const void *src, size_t n, const char **out)
{
    if (m->left < n + 1)
        return -EBADMSG;
    if (n)
        memcpy(m->p, src, n);
    m->p[n] = 0;
    *out = m->p;
    m->p += n + 1;
    m->left -= n + 1;
    return 0;
}
