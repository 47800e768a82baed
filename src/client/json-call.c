/* SPDX-License-Identifier: MIT */
/* The JSON gateway transport: POSTs over the pooled HTTP/1.1 client, error
 * answers mapped to -errno, and its table of operations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client/json-int.h"

const km__client_tp km__client_json_tp = {
    .kind = KM_CLIENT_JSON,
    .range = km__json_range,
    .put = km__json_put,
    .del = km__json_del,
    .txn = km__json_txn,
    .compact = km__json_compact,
    .lease_grant = km__json_lease_grant,
    .lease_keepalive = km__json_lease_keepalive,
    .lease_revoke = km__json_lease_revoke,
    .watch_open = km__json_watch_open,
    .watch_next = km__json_watch_next,
    .watch_close = km__json_watch_close,
};

int km__client_err(int status, json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(body, "error"));
    int rc = km__client_errno(km__etcd_json_i64(body, "code"), msg, msg ? strlen(msg) : 0);
    if (rc)
        return rc;
    if (status == 503)
        return -EAGAIN;
    if (status == 404)
        return -ENOENT;
    if (status >= 400 && status < 500)
        return -EINVAL;
    return -EIO;
}

typedef struct {
    const char *path;
    const char *body;
    json_t     *out;
} call_arg;

/* One attempt against one endpoint. */
static int call_once(km_client *c, size_t ep, int64_t deadline, void *arg)
{
    call_arg *a = arg;
    char url[320];
    if ((size_t)snprintf(url, sizeof url, "http://%s%s", c->eps[ep], a->path) >= sizeof url)
        return -EINVAL;
    km_http_kv h[] = { { "Content-Type", "application/json" } };
    km_http_response *r;
    int rc = km_http_do(c->http, "POST", url, h, 1, a->body, strlen(a->body), deadline, &r);
    if (rc)
        return rc;
    int st = km_http_response_status(r);
    km_str b = km_http_response_body(r);
    json_error_t je;
    json_t *j = json_loadb(b.p, b.n, 0, &je);
    km_http_response_free(r);
    if (st == 200 && json_is_object(j) && !json_object_get(j, "error")) {
        a->out = j;
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
    call_arg a = { path, body, NULL };
    int rc = km__client_retry(c, deadline, call_once, &a);
    free(body);
    *out = a.out;
    return rc;
}
