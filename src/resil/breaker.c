/* SPDX-License-Identifier: MIT */
/* Client-side adaptive throttling (Google SRE): reject locally as accepts fall behind requests. */
#include "resil/resil-int.h"

struct km_breaker {
    km__window   requests;      /* every allow(), rejected ones included */
    km__window   accepts;       /* done(true) */
    double       k;
    int          min_requests;
    km__clock    clock;
    km_rand_fn  *rand;
    void        *rand_ud;
};

int km_breaker_new(km_breaker **out, const km_breaker_config *cfg)
{
    static const km_breaker_config none;
    if (!out)
        return -EINVAL;
    if (!cfg)
        cfg = &none;
    if (!(cfg->k >= 0) || cfg->min_requests < 0)
        return -EINVAL;
    km_breaker *b = km__calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int64_t span = cfg->window ? cfg->window : 10 * KM__SEC;
    int n = cfg->buckets ? cfg->buckets : 10;
    if (km__win_init(&b->requests, span, n) || km__win_init(&b->accepts, span, n)) {
        km__free(b);
        return -EINVAL;
    }
    b->k = cfg->k ? cfg->k : 2.0;
    b->min_requests = cfg->min_requests;
    b->clock = (km__clock){ cfg->clock, cfg->clock_ud };
    b->rand = cfg->rand;
    b->rand_ud = cfg->rand_ud;
    *out = b;
    return 0;
}

void km_breaker_free(km_breaker *b)
{
    km__free(b);
}

static double prob(km_breaker *b, int64_t now)
{
    double req = (double)km__win_sum(&b->requests, now);
    double acc = (double)km__win_sum(&b->accepts, now);
    if (req < b->min_requests)
        return 0;
    double p = (req - b->k * acc) / (req + 1);
    return p > 0 ? p : 0;
}

int km_breaker_allow(km_breaker *b)
{
    int64_t now = km__clock_now(&b->clock);
    double p = prob(b, now);
    /* The request counts before the draw, rejected or not: the SRE rule's
     * `requests` includes local rejections, which is what lets the reject
     * probability climb towards 1 while the backend stays down. */
    km__win_add(&b->requests, now, 1);
    if (p > 0 && km__rand01(b->rand, b->rand_ud) < p)
        return -ECONNREFUSED;
    return 0;
}

void km_breaker_done(km_breaker *b, bool ok)
{
    if (ok)
        km__win_add(&b->accepts, km__clock_now(&b->clock), 1);
}

double km_breaker_reject_prob(km_breaker *b)
{
    return prob(b, km__clock_now(&b->clock));
}
