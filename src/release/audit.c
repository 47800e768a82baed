/* SPDX-License-Identifier: MIT */
/* The audit trail: records are keyed by time under /kumo/audit/, so a
 * query reads backwards from its "until" and filters by namespace and user. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "release/rel-int.h"

/* Records read per store call while filtering. */
#define PAGE 256

static bool wanted(const json_t *rec, const km_rel_audit_q *q)
{
    if (!json_is_object(rec))
        return false;
    const char *ns = json_string_value(json_object_get(rec, "ns"));
    const char *user = json_string_value(json_object_get(rec, "user"));
    return (!q->ns || (ns && !strcmp(ns, q->ns))) && (!q->user || (user && !strcmp(user, q->user)));
}

int km__rel_audit(km_rel *r, const km_rel_audit_q *q, json_t **out, km_rel_err *err)
{
    if (q->ns && !km__rel_ns_valid(q->ns, NULL))
        return km__rel_fail(err, -EINVAL, "namespace \"%.140s\" is not APP/NAME", q->ns);
    if (q->since < 0 || q->until < 0 || q->limit < 0)
        return km__rel_fail(err, -EINVAL, "since, until and limit are not negative");
    int64_t limit = q->limit ? q->limit : 100;
    if (limit > 1000)
        limit = 1000;
    char lo[64], hi[64];
    snprintf(lo, sizeof lo, "/kumo/audit/%020lld", (long long)q->since);
    if (q->until)
        snprintf(hi, sizeof hi, "/kumo/audit/%020lld", (long long)q->until);
    else
        snprintf(hi, sizeof hi, "/kumo/audit0");
    json_t *arr = json_array();
    if (!arr)
        return km__rel_fail(err, -ENOMEM, "out of memory");
    int rc = 0;
    int64_t rev = 0;        /* every page at the first page's revision */
    for (bool more = true; more && (int64_t)json_array_size(arr) < limit;) {
        km_op op = { .type = KM_OP_RANGE,
                     .range = { .key = { (const uint8_t *)lo, strlen(lo) },
                                .range_end = { (const uint8_t *)hi, strlen(hi) },
                                .limit = PAGE, .revision = rev,
                                .sort_order = KM_SORT_DESCEND, .sort_target = KM_SORT_KEY } };
        km_store_res res = { 0 };
        if ((rc = km_store_do(r->store, &op, &res)) < 0) {
            km_store_res_free(&res);
            rc = km__rel_store_fail(err, rc);
            break;
        }
        rev = res.revision;
        const km_range_resp *rr = &res.txn.resp[0].range;
        for (size_t i = 0; i < rr->nkvs && (int64_t)json_array_size(arr) < limit; i++) {
            json_t *rec = json_loadb((const char *)rr->kvs[i].value.p, rr->kvs[i].value.n, 0, NULL);
            if (wanted(rec, q))
                json_array_append(arr, rec);
            json_decref(rec);
        }
        more = rr->more && rr->nkvs;
        if (more) {
            /* the next page ends where this one's last key was */
            const km_kv *last = &rr->kvs[rr->nkvs - 1];
            size_t n = last->key.n < sizeof hi - 1 ? last->key.n : sizeof hi - 1;
            memcpy(hi, last->key.p, n);
            hi[n] = 0;
        }
        km_store_res_free(&res);
    }
    if (rc == 0 && !(*out = json_pack("{s:O}", "records", arr)))
        rc = km__rel_fail(err, -ENOMEM, "out of memory");
    json_decref(arr);
    return rc;
}

int km__rel_note(km_rel *r, const km_rel_who *who, const char *action, const char *ns,
                 json_t *detail, km_rel_err *err)
{
    km__rel_batch b = { 0 };
    km__rel_audit_put(&b, who, action, ns, detail);
    return km__rel_commit(r, &b, NULL, err);
}
