/* SPDX-License-Identifier: MIT */
/* Pool lifetime: settings, creation, close (waiters, idle and returned resources, the housekeeper), free, statistics. */
#include "pool/pool-int.h"
#include <string.h>

#define MS  1000000LL
#define SEC (1000 * MS)

const char *km_pool_reason_name(int reason)
{
    static const char *const names[KM_POOL_NREASONS] = {
        "idle", "lifetime", "broken", "validation", "shutdown",
    };
    return reason >= 0 && reason < KM_POOL_NREASONS ? names[reason] : "?";
}

/* A duration setting: 0 gives def; KM_FOREVER stays (off); other
 * negatives are invalid. */
static int dur(int64_t v, int64_t def, int64_t *out)
{
    if (v == 0)
        v = def;
    if (v < 0 && v != KM_FOREVER)
        return -EINVAL;
    *out = v;
    return 0;
}

static int settings(km_pool *p, const km_pool_config *c)
{
    p->max_size = c->max_size ? c->max_size : 10;
    p->min_idle = c->min_idle;
    if (p->max_size < 1 || p->max_size > (1 << 20) || p->min_idle < 0 || p->min_idle > p->max_size)
        return -EINVAL;
    int rc = 0;
    rc |= dur(c->acquire_timeout, 30 * SEC, &p->acquire_timeout);
    rc |= dur(c->open_timeout, 30 * SEC, &p->open_timeout);
    rc |= dur(c->validation_timeout, 5 * SEC, &p->validation_timeout);
    rc |= dur(c->alive_bypass, 500 * MS, &p->alive_bypass);
    rc |= dur(c->max_lifetime, 30 * 60 * SEC, &p->max_lifetime);
    rc |= dur(c->idle_timeout, 10 * 60 * SEC, &p->idle_timeout);
    rc |= dur(c->keepalive, KM_FOREVER, &p->keepalive);
    rc |= dur(c->leak_threshold, KM_FOREVER, &p->leak_threshold);
    rc |= dur(c->backoff_min, 50 * MS, &p->backoff_min);
    rc |= dur(c->backoff_max, 5 * SEC, &p->backoff_max);
    if (rc || p->backoff_min == KM_FOREVER || p->backoff_max == KM_FOREVER)
        return -EINVAL;
    if (p->backoff_max < p->backoff_min)
        p->backoff_max = p->backoff_min;
    if (p->max_lifetime == KM_FOREVER || c->lifetime_jitter < 0)
        p->lifetime_jitter = 0;
    else if (c->lifetime_jitter == 0)
        p->lifetime_jitter = p->max_lifetime / 40;
    else if (c->lifetime_jitter >= p->max_lifetime)
        return -EINVAL;
    else
        p->lifetime_jitter = c->lifetime_jitter;
    return 0;
}

static void pool_destroy(km_pool *p)
{
    if (p->hk_group)
        km_group_free(p->hk_group);
    if (p->pm)
        km__pool_metrics_detach(p->pm, p);
    for (int i = 0; i < p->nchans; i++)
        km_chan_free(p->chans[i]);
    km__free(p->chans);
    if (p->hk_wake)
        km_chan_free(p->hk_wake);
    if (p->drained)
        km_chan_free(p->drained);
    km__free(p->slots);
    km__free(p->name);
    km__free(p);
}

int km_pool_new(km_pool **out, const km_pool_ops *ops, const km_pool_config *cfg)
{
    if (!out || !ops || !ops->open || !ops->close)
        return -EINVAL;
    km_pool_config zero = { 0 };
    if (!cfg)
        cfg = &zero;
    km_pool *p = km__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    int rc = settings(p, cfg);
    if (rc) {
        km__free(p);
        return rc;
    }
    p->ops = *ops;
    p->on_leak = cfg->on_leak;
    p->leak_ud = cfg->leak_ud;
    p->log = cfg->log;
    p->hk_next = INT64_MIN;     /* it is about to look */
    p->backoff = p->backoff_min;
    p->rng = ((uint64_t)km_now() * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)(uintptr_t)p;
    if (!p->rng)
        p->rng = 1;
    p->name = km__strdup(cfg->name ? cfg->name : "pool");
    p->slots = km__calloc((size_t)p->max_size, sizeof *p->slots);
    if (!p->name || !p->slots) {
        rc = -ENOMEM;
        goto fail;
    }
    for (int i = p->max_size - 1; i >= 0; i--) {
        p->slots[i].next = p->free;
        p->free = &p->slots[i];
    }
    if ((rc = km_chan_new(&p->hk_wake, 1, 1)) || (rc = km_chan_new(&p->drained, 1, 0)))
        goto fail;
    if (cfg->metrics && (rc = km__pool_metrics_attach(cfg->metrics, p)))
        goto fail;
    if (p->leak_threshold != KM_FOREVER) {
        /* The first backtrace() loads the unwinder (dlopen): do it now
         * rather than inside somebody's acquire. */
        void *pcs[KM__POOL_PCS];
        (void)km__pool_leak_capture(pcs);
    }
    /* The housekeeper gets a group of its own: the creator's cancellation
     * must not stop it, and km_pool_close's must. */
    if ((rc = km_group_new(&p->hk_group, NULL, KM_FOREVER)))
        goto fail;
    if ((rc = km_group_go(p->hk_group, km__pool_housekeeper, p)))
        goto fail;
    *out = p;
    return 0;
fail:
    pool_destroy(p);
    return rc;
}

int km_pool_close(km_pool *p, int64_t deadline)
{
    if (!p)
        return -EINVAL;
    km_pool_res *doomed = NULL;
    bool drained = false;
    km__pool_lock(p);
    if (!p->closed) {
        p->closed = true;
        /* Waiters leave with -ESHUTDOWN: a NULL hand-off, sent under the
         * lock (their channels have room) since they are on our list. */
        for (km__pool_waiter *w; (w = p->wq_head);) {
            w->queued = false;
            p->wq_head = w->next;
            p->n_waiting--;
            km_pool_res *none = NULL;
            (void)km_chan_send_dl(w->ch, &none, 0);
        }
        p->wq_tail = NULL;
        for (km_pool_res *s; (s = p->idle_head);) {
            km__pool_idle_unlink(p, s);
            p->n_idle--;
            s->state = KM__PS_CLOSING;
            p->n_closing++;
            s->next = doomed;
            doomed = s;
        }
        drained = km__pool_drained_now(p);
    }
    km_chan *d = p->drained;
    km__pool_unlock(p);
    km_group_cancel(p->hk_group);
    while (doomed) {
        km_pool_res *s = doomed;
        doomed = s->next;
        km__pool_close_res(p, s, KM_POOL_SHUTDOWN);
    }
    if (drained)
        km_chan_close(d);
    int rc = km_group_wait(p->hk_group, deadline);
    if (rc)
        return rc;
    char c;
    rc = km_chan_recv_dl(p->drained, &c, deadline);
    return rc == -EPIPE ? 0 : rc;
}

int km_pool_free(km_pool *p)
{
    if (!p)
        return 0;
    km__pool_lock(p);
    bool closed = p->closed;
    km__pool_unlock(p);
    char c;
    /* Drained means the channel is closed: whoever closed it may still be
     * inside km_chan_close, which the channel's lifetime rule allows. */
    if (!closed || km_chan_recv_dl(p->drained, &c, 0) != -EPIPE ||
        km_group_wait(p->hk_group, 0) != 0)
        return -EBUSY;
    pool_destroy(p);
    return 0;
}

int km_pool_stats_read(km_pool *p, km_pool_stats *out)
{
    if (!p || !out)
        return -EINVAL;
    km__pool_lock(p);
    out->max_size = p->max_size;
    out->idle = p->n_idle + p->n_checking;
    out->in_use = p->n_inuse;
    out->open = out->idle + out->in_use;
    out->waiting = p->n_waiting;
    out->opening = p->n_opening;
    out->closing = p->n_closing;
    out->acquires = p->acquires;
    out->timeouts = p->timeouts;
    out->created = p->created;
    out->open_errors = p->open_errors;
    out->leaks = p->leaks;
    memcpy(out->closed, p->closed_n, sizeof out->closed);
    km__pool_unlock(p);
    return 0;
}
