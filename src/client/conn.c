/* SPDX-License-Identifier: MIT */
/* The client object: endpoints, failover and JSON calls over the pooled HTTP client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/client-int.h"
#include "enc/b64.h"
#include "rt/rt-int.h"

#define SEC 1000000000LL

int km_client_new(km_client **out, const km_client_config *cfg)
{
    *out = NULL;
    if (!cfg || !cfg->nendpoints || !cfg->endpoints)
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
    int rc = c->eps ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < cfg->nendpoints; i++) {
        const char *e = cfg->endpoints[i];
        if (!strncmp(e, "http://", 7))
            e += 7;
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
    if (!rc)
        rc = km_http_client_new(&c->http, &hc);
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

int km__client_err(int status, json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(body, "error"));
    int64_t code = km__etcd_json_i64(body, "code");
    if (msg && strstr(msg, "compacted"))
        return -ENODATA;
    if (msg && strstr(msg, "future revision"))
        return -ERANGE;
    switch (code) {
    case 3: return -EINVAL;
    case 5: return -ENOENT;
    case 6: case 9: return -EEXIST;
    case 8: return -ENOSPC;
    case 14: return -EAGAIN;
    }
    if (status == 503)
        return -EAGAIN;
    if (status == 404)
        return -ENOENT;
    if (status >= 400 && status < 500)
        return -EINVAL;
    return -EIO;
}

/* One attempt against one endpoint. */
static int call_once(km_client *c, const char *ep, const char *path, const char *body,
                     int64_t deadline, json_t **out)
{
    char url[320];
    if ((size_t)snprintf(url, sizeof url, "http://%s%s", ep, path) >= sizeof url)
        return -EINVAL;
    km_http_kv h[] = { { "Content-Type", "application/json" } };
    km_http_response *r;
    int rc = km_http_do(c->http, "POST", url, h, 1, body, strlen(body), deadline, &r);
    if (rc)
        return rc;
    int st = km_http_response_status(r);
    km_str b = km_http_response_body(r);
    json_error_t je;
    json_t *j = json_loadb(b.p, b.n, 0, &je);
    km_http_response_free(r);
    if (st == 200 && json_is_object(j) && !json_object_get(j, "error")) {
        *out = j;
        return 0;
    }
    rc = j ? km__client_err(st, j) : (st == 200 ? -EBADMSG : km__client_err(st, NULL));
    json_decref(j);
    return rc;
}

int km__client_call(km_client *c, const char *path, json_t *req, int64_t deadline,
                    json_t **out)
{
    *out = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return -ENOMEM;
    int rc = -ECONNREFUSED;
    /* Each endpoint once, then again while the deadline allows: a server
     * restarting answers again within a second or two. */
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
        rc = call_once(c, ep, path, body, dl, out);
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
    free(body);
    return rc;
}

