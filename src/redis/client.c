/* SPDX-License-Identifier: MIT */
/* The pooled Redis client: km_pool of connections (open = connect + AUTH + SELECT, validate = PING). */
#include "redis/conn-int.h"
#include "rt/alloc.h"
#include <errno.h>
#include <string.h>

struct km_redis_client {
    km_redis_config cfg;
    char           *addr, *user, *password;    /* cfg's strings, owned */
    km_pool        *pool;
};

static int open_cb(void *ud, int64_t deadline, void **out)
{
    km_redis_client *cl = ud;
    km_redis *c;
    int rc = km_redis_connect(&c, &cl->cfg, deadline);
    if (rc == 0)
        *out = c;
    return rc;
}

static int validate_cb(void *ud, void *res, int64_t deadline)
{
    km_redis_reply *r;
    int rc = km_redis_do(res, 1, (const char *[]){ "PING" }, NULL, deadline, &r);
    km_redis_reply_free(r);
    return rc;
}

static void close_cb(void *ud, void *res, int reason)
{
    km_redis_close(res);
}

static void client_free_mem(km_redis_client *cl)
{
    km__free(cl->addr);
    km__free(cl->user);
    km__free(cl->password);
    km__free(cl);
}

int km_redis_client_new(km_redis_client **out, const km_redis_config *cfg,
                        const km_pool_config *pool)
{
    if (!out || !cfg || !cfg->addr)
        return -EINVAL;
    km_redis_client *cl = km__calloc(1, sizeof *cl);
    if (!cl)
        return -ENOMEM;
    cl->cfg = *cfg;
    cl->addr = km__strdup(cfg->addr);
    cl->user = cfg->user ? km__strdup(cfg->user) : NULL;
    cl->password = cfg->password ? km__strdup(cfg->password) : NULL;
    if (!cl->addr || (cfg->user && !cl->user) || (cfg->password && !cl->password)) {
        client_free_mem(cl);
        return -ENOMEM;
    }
    cl->cfg.addr = cl->addr;
    cl->cfg.user = cl->user;
    cl->cfg.password = cl->password;
    km_pool_config pc = pool ? *pool : (km_pool_config){ 0 };
    if (!pc.name)
        pc.name = "redis";
    km_pool_ops ops = { open_cb, validate_cb, close_cb, cl };
    int rc = km_pool_new(&cl->pool, &ops, &pc);
    if (rc) {
        client_free_mem(cl);
        return rc;
    }
    *out = cl;
    return 0;
}

int km_redis_client_free(km_redis_client *cl, int64_t deadline)
{
    if (!cl)
        return 0;
    int rc = km_pool_close(cl->pool, deadline);
    if (rc)
        return rc;
    rc = km_pool_free(cl->pool);
    if (rc)
        return rc;
    client_free_mem(cl);
    return 0;
}

km_pool *km_redis_client_pool(km_redis_client *cl)
{
    return cl->pool;
}

int km_redis_client_do(km_redis_client *cl, int argc, const char *const *argv,
                       const size_t *argvlen, int64_t deadline, km_redis_reply **reply)
{
    if (!reply)
        return -EINVAL;
    *reply = NULL;
    km_pool_res *res;
    km_redis *c;
    for (;;) {
        int rc = km_pool_acquire(cl->pool, deadline, &res);
        if (rc)
            return rc;
        c = km_pool_res_value(res);
        if (!km_redis_broken(c))
            break;
        /* it died while idle (within alive_bypass, so not validated): no
         * call of ours failed on it, evict it and take another */
        km_pool_release(cl->pool, res, true);
    }
    int rc;
    rc = km_redis_do(c, argc, argv, argvlen, deadline, reply);
    km_pool_release(cl->pool, res, km_redis_broken(c));
    return rc;
}
