/* SPDX-License-Identifier: MIT */
/* Leases: grant, keep-alive (once, or from a keeper goroutine), revoke. */
#include "client/client-int.h"
#include "rt/rt-int.h"
#include <kumo/chan.h>

#define SEC 1000000000LL

int km_client_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                          int64_t *granted_ttl)
{
    json_t *req = json_pack("{s:I}", "TTL", (json_int_t)ttl), *resp;
    int rc = km__client_call(c, "/v3/lease/grant", req, deadline, &resp);
    if (rc)
        return rc;
    if (id)
        *id = km__etcd_json_i64(resp, "ID");
    if (granted_ttl)
        *granted_ttl = km__etcd_json_i64(resp, "TTL");
    json_decref(resp);
    return 0;
}

int km_client_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl)
{
    json_t *req = json_pack("{s:I}", "ID", (json_int_t)id), *resp;
    int rc = km__client_call(c, "/v3/lease/keepalive", req, deadline, &resp);
    if (rc)
        return rc;
    /* The gateway wraps the answer in "result"; an expired lease has no TTL. */
    json_t *res = json_object_get(resp, "result");
    if (!res)
        res = resp;
    int64_t t = km__etcd_json_i64(res, "TTL");
    json_decref(resp);
    if (t <= 0)
        return -ENOENT;
    if (ttl)
        *ttl = t;
    return 0;
}

int km_client_lease_revoke(km_client *c, int64_t id, int64_t deadline)
{
    json_t *req = json_pack("{s:I}", "ID", (json_int_t)id), *resp;
    int rc = km__client_call(c, "/v3/lease/revoke", req, deadline, &resp);
    if (!rc)
        json_decref(resp);
    return rc;
}

struct km_client_lease_keeper {
    km_client *c;
    int64_t    id, ttl;
    km_chan   *stop;        /* closed by stop */
    km_chan   *done;        /* closed by the keeper when it returns */
    int        rc;
};

static void keeper(void *arg)
{
    km_client_lease_keeper *k = arg;
    int64_t every = k->ttl * SEC / 3;
    if (every < SEC / 10)
        every = SEC / 10;
    for (;;) {
        km_case cs = { .chan = k->stop, .op = KM_RECV };
        int rc = km_select(&cs, 1, km_now() + every);
        if (rc != -ETIMEDOUT)
            break;                      /* stopped (or cancelled) */
        rc = km_client_lease_keepalive(k->c, k->id, km_now() + every, NULL);
        if (rc == -ENOENT) {
            k->rc = rc;
            break;
        }
        /* Other errors: the next round tries again (on another endpoint). */
    }
    km_chan_close(k->done);
}

int km_client_lease_keeper_start(km_client *c, int64_t id, int64_t ttl,
                                 km_client_lease_keeper **out)
{
    km_client_lease_keeper *k = km__calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    k->c = c;
    k->id = id;
    k->ttl = ttl > 0 ? ttl : 1;
    int rc = km_chan_new(&k->stop, 0, 0);
    if (!rc)
        rc = km_chan_new(&k->done, 0, 0);
    if (!rc)
        rc = km_go(keeper, k);
    if (rc) {
        if (k->stop)
            km_chan_free(k->stop);
        if (k->done)
            km_chan_free(k->done);
        km__free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int km_client_lease_keeper_stop(km_client_lease_keeper *k)
{
    km_chan_close(k->stop);
    km_chan_recv(k->done, NULL);
    int rc = k->rc;
    km_chan_free(k->stop);
    km_chan_free(k->done);
    km__free(k);
    return rc;
}
