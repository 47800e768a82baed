/* SPDX-License-Identifier: MIT */
/* Redis connection: connect with AUTH, SELECT and HELLO 3; close; callers queued and parked until their replies come. */
#include "redis/conn-int.h"
#include "rt/alloc.h"
#include <kumo/net.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A cond for one request, from the conn's free list. Under c->mu. */
static km_cond *cond_get(km_redis *c)
{
    if (c->nconds)
        return c->conds[--c->nconds];
    km_cond *k;
    return km_cond_new(&k) ? NULL : k;
}

static void cond_put(km_redis *c, km_cond *k)
{
    if (c->nconds == c->capconds) {
        size_t cap = c->capconds ? c->capconds * 2 : 8;
        km_cond **n = km__malloc(cap * sizeof *n);
        if (!n) {
            km_cond_free(k);
            return;
        }
        if (c->nconds)
            memcpy(n, c->conds, c->nconds * sizeof *n);
        km__free(c->conds);
        c->conds = n;
        c->capconds = cap;
    }
    c->conds[c->nconds++] = k;
}

/* Removes req from the list at *head (tail fixed up). True if it was there. */
static bool unlink_req(km__redis_req **head, km__redis_req ***tail, km__redis_req *req)
{
    for (km__redis_req **pp = head; *pp; pp = &(*pp)->next)
        if (*pp == req) {
            *pp = req->next;
            if (*tail == &req->next)
                *tail = pp;
            return true;
        }
    return false;
}

int km__redis_submit(km_redis *c, km__redis_req *req, int64_t deadline)
{
    req->next = NULL;
    req->got = 0;
    req->done = false;
    req->rc = 0;
    /* Past already: not queued at all (waiting would hand the mutex to
     * the writer, which could send it, and then the connection is lost). */
    if (deadline != KM_FOREVER && deadline <= km_now())
        return -ETIMEDOUT;
    km_mutex_lock(c->mu);
    if (atomic_load(&c->broken)) {
        km_mutex_unlock(c->mu);
        return -ECONNABORTED;
    }
    req->cond = cond_get(c);
    if (!req->cond) {
        km_mutex_unlock(c->mu);
        return -ENOMEM;
    }
    c->calls++;
    bool wake = !c->sendq;
    *c->sendq_tail = req;
    c->sendq_tail = &req->next;
    if (wake)
        km_cond_signal(c->wcond);
    while (!req->done) {
        int rc = km_cond_wait_dl(req->cond, c->mu, deadline);
        if (rc == 0 || req->done)
            continue;
        /* Deadline (or cancellation). Not yet handed to the writer: just
         * leave. Written already: its reply would come to the next caller,
         * so the connection is given up (go-redis does the same). */
        if (!unlink_req(&c->sendq, &c->sendq_tail, req)) {
            unlink_req(&c->replyq, &c->replyq_tail, req);
            km__redis_break_locked(c, -ECONNABORTED);
        }
        req->rc = rc;
        req->done = true;
    }
    cond_put(c, req->cond);
    /* close frees the mutex once the last caller is out: it waits for
     * this signal, and the runtime never touches a mutex after handing
     * it over (the lifetime rule) */
    if (--c->calls == 0 && c->closing)
        km_cond_signal(c->idle);
    km_mutex_unlock(c->mu);
    if (req->rc)
        for (size_t i = 0; i < req->got; i++) {
            km_redis_reply_free(req->replies[i]);
            req->replies[i] = NULL;
        }
    return req->rc;
}

size_t km__redis_encode(char *out, int argc, const char *const *argv, const size_t *argvlen)
{
    char hdr[32];
    size_t n = 0;
    int h = snprintf(hdr, sizeof hdr, "*%d\r\n", argc);
    if (out)
        memcpy(out, hdr, (size_t)h);
    n += (size_t)h;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        h = snprintf(hdr, sizeof hdr, "$%zu\r\n", len);
        if (out) {
            memcpy(out + n, hdr, (size_t)h);
            memcpy(out + n + (size_t)h, argv[i], len);
            memcpy(out + n + (size_t)h + len, "\r\n", 2);
        }
        n += (size_t)h + len + 2;
    }
    return n;
}

int km_redis_pipeline(km_redis *c, const km_redis_cmd *cmds, size_t n,
                      int64_t deadline, km_redis_reply **replies)
{
    if (!c || (!cmds && n) || !replies)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        replies[i] = NULL;
        if (cmds[i].argc <= 0 || !cmds[i].argv)
            return -EINVAL;
    }
    if (n == 0)
        return 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += km__redis_encode(NULL, cmds[i].argc, cmds[i].argv, cmds[i].argvlen);
    char stackbuf[512];
    char *buf = len <= sizeof stackbuf ? stackbuf : km__malloc(len);
    if (!buf)
        return -ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        off += km__redis_encode(buf + off, cmds[i].argc, cmds[i].argv, cmds[i].argvlen);
    km__redis_req req = { .buf = buf, .len = len, .want = n, .replies = replies };
    int rc = km__redis_submit(c, &req, deadline);
    if (buf != stackbuf)
        km__free(buf);
    return rc;
}

int km_redis_do(km_redis *c, int argc, const char *const *argv, const size_t *argvlen,
                int64_t deadline, km_redis_reply **reply)
{
    if (!reply)
        return -EINVAL;
    km_redis_cmd cmd = { argc, argv, argvlen };
    int rc = km_redis_pipeline(c, &cmd, 1, deadline, reply);
    if (rc == 0 && (*reply)->type == KM_REDIS_ERROR)
        rc = KM_REDIS_ESERVER;
    return rc;
}

bool km_redis_broken(const km_redis *c)
{
    return atomic_load(&((km_redis *)c)->broken);
}

/* Runs a handshake command; an error reply is KM_REDIS_ESERVER. */
static int hs(km_redis *c, int argc, const char *const *argv, int64_t deadline)
{
    km_redis_reply *r;
    int rc = km_redis_do(c, argc, argv, NULL, deadline, &r);
    km_redis_reply_free(r);
    return rc;
}

static int handshake(km_redis *c, const km_redis_config *cfg, int64_t deadline)
{
    const char *user = cfg->user ? cfg->user : "default";
    int rc;
    if (cfg->resp3) {
        const char *hello[] = { "HELLO", "3", "AUTH", user, cfg->password };
        rc = hs(c, cfg->password ? 5 : 2, hello, deadline);
    } else if (cfg->password) {
        const char *auth[] = { "AUTH", user, cfg->password };
        rc = cfg->user ? hs(c, 3, auth, deadline) : hs(c, 2, (const char *[]){ "AUTH", cfg->password }, deadline);
    } else {
        rc = 0;
    }
    if (rc == 0 && cfg->db > 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", cfg->db);
        rc = hs(c, 2, (const char *[]){ "SELECT", db }, deadline);
    }
    return rc;
}

int km_redis_connect(km_redis **out, const km_redis_config *cfg, int64_t deadline)
{
    if (!out || !cfg || !cfg->addr || cfg->db < 0)
        return -EINVAL;
    *out = NULL;
    km_redis *c = km__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->fd = -1;
    c->sendq_tail = &c->sendq;
    c->replyq_tail = &c->replyq;
    int rc = km__resp_init(&c->parser, &cfg->limits);
    if (rc == 0 && (km_mutex_new(&c->mu) || km_cond_new(&c->wcond) || km_cond_new(&c->idle) ||
                    km_wg_new(&c->wg)))
        rc = -ENOMEM;
    if (rc == 0) {
        c->fd = km_dial(cfg->addr, deadline);
        if (c->fd < 0)
            rc = c->fd;
    }
    if (rc == 0)
        rc = km__redis_start(c);
    if (rc == 0)
        rc = handshake(c, cfg, deadline);
    if (rc) {
        km_redis_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

void km_redis_close(km_redis *c)
{
    if (!c)
        return;
    if (c->mu) {
        km_mutex_lock(c->mu);
        c->closing = true;
        if (c->fd >= 0)
            km__redis_break_locked(c, -ECONNABORTED);
        while (c->calls > 0 && c->idle)
            km_cond_wait(c->idle, c->mu);
        km_mutex_unlock(c->mu);
    }
    if (c->wg) {
        km_wg_wait(c->wg);
        km_wg_free(c->wg);
    }
    if (c->fd >= 0)
        km_close(c->fd);
    for (size_t i = 0; i < c->nconds; i++)
        km_cond_free(c->conds[i]);
    km__free(c->conds);
    if (c->wcond)
        km_cond_free(c->wcond);
    if (c->idle)
        km_cond_free(c->idle);
    if (c->mu)
        km_mutex_free(c->mu);
    km__free(c);
}
