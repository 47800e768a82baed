/* SPDX-License-Identifier: MIT */
/* Leases over the JSON gateway: grant, one keep-alive, revoke. */
#include "client/json-int.h"

int km__json_lease_grant(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
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

int km__json_lease_keepalive(km_client *c, int64_t id, int64_t deadline, int64_t *ttl)
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

int km__json_lease_revoke(km_client *c, int64_t id, int64_t deadline)
{
    json_t *req = json_pack("{s:I}", "ID", (json_int_t)id), *resp;
    int rc = km__client_call(c, "/v3/lease/revoke", req, deadline, &resp);
    if (!rc)
        json_decref(resp);
    return rc;
}
