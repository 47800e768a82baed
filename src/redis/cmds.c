/* SPDX-License-Identifier: MIT */
/* Typed helpers for the most used commands: GET, SET (EX/PX/NX/XX), DEL, INCR, EXPIRE. */
#include <kumo/redis.h>
#include "rt/alloc.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SEC 1000000000LL

int km_redis_get(km_redis_client *cl, const char *key, char **val, size_t *len, int64_t deadline)
{
    if (!key || !val)
        return -EINVAL;
    *val = NULL;
    km_redis_reply *r;
    int rc = km_redis_client_do(cl, 2, (const char *[]){ "GET", key }, NULL, deadline, &r);
    if (rc == 0) {
        if (r->type == KM_REDIS_NIL)
            rc = -ENOENT;
        else if (r->type != KM_REDIS_STRING)
            rc = -EPROTO;
        else if (!(*val = km__malloc(r->len + 1)))
            rc = -ENOMEM;
        else {
            memcpy(*val, r->str, r->len + 1);
            if (len)
                *len = r->len;
        }
    }
    km_redis_reply_free(r);
    return rc;
}

void km_redis_free_str(char *s)
{
    km__free(s);
}

int km_redis_set(km_redis_client *cl, const char *key, const void *val, size_t len,
                 int64_t ttl, unsigned flags, int64_t deadline)
{
    if (!key || (!val && len) || ttl < 0 || flags > 2)
        return -EINVAL;
    const char *argv[6] = { "SET", key, val ? val : "" };
    size_t argvlen[6] = { 3, strlen(key), len };
    int argc = 3;
    char num[24];
    if (ttl > 0) {
        bool secs = ttl % SEC == 0;
        argv[argc] = secs ? "EX" : "PX";
        argvlen[argc++] = 2;
        /* PX rounds up: a TTL never ends early */
        int n = snprintf(num, sizeof num, "%lld", (long long)(secs ? ttl / SEC : (ttl + 999999) / 1000000));
        argv[argc] = num;
        argvlen[argc++] = (size_t)n;
    }
    if (flags) {
        argv[argc] = flags == KM_REDIS_NX ? "NX" : "XX";
        argvlen[argc++] = 2;
    }
    km_redis_reply *r;
    int rc = km_redis_client_do(cl, argc, argv, argvlen, deadline, &r);
    if (rc == 0 && r->type == KM_REDIS_NIL)
        rc = -EEXIST;
    km_redis_reply_free(r);
    return rc;
}

/* A command whose reply is an integer. */
static int int_cmd(km_redis_client *cl, int argc, const char *const *argv, long long *out, int64_t deadline)
{
    km_redis_reply *r;
    int rc = km_redis_client_do(cl, argc, argv, NULL, deadline, &r);
    if (rc == 0 && r->type != KM_REDIS_INTEGER)
        rc = -EPROTO;
    if (rc == 0 && out)
        *out = r->integer;
    km_redis_reply_free(r);
    return rc;
}

int km_redis_del(km_redis_client *cl, const char *key, long long *removed, int64_t deadline)
{
    if (!key)
        return -EINVAL;
    return int_cmd(cl, 2, (const char *[]){ "DEL", key }, removed, deadline);
}

int km_redis_incr(km_redis_client *cl, const char *key, long long *val, int64_t deadline)
{
    if (!key)
        return -EINVAL;
    return int_cmd(cl, 2, (const char *[]){ "INCR", key }, val, deadline);
}

int km_redis_expire(km_redis_client *cl, const char *key, int64_t ttl, int64_t deadline)
{
    if (!key || ttl <= 0)
        return -EINVAL;
    bool secs = ttl % SEC == 0;
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)(secs ? ttl / SEC : (ttl + 999999) / 1000000));
    long long set = 0;
    int rc = int_cmd(cl, 3, (const char *[]){ secs ? "EXPIRE" : "PEXPIRE", key, num }, &set, deadline);
    return rc == 0 && !set ? -ENOENT : rc;
}
