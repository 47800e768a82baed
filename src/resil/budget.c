/* SPDX-License-Identifier: MIT */
/* Retry budget: retries may add a fraction of the first attempts plus a floor per second. */
#include "resil/resil-int.h"

struct km_retry_budget {
    km__window requests;        /* first attempts */
    km__window retries;         /* retries granted */
    double     ratio;
    double     floor;           /* min_per_sec * window seconds */
    km__clock  clock;
};

int km_retry_budget_new(km_retry_budget **out, const km_retry_budget_config *cfg)
{
    static const km_retry_budget_config dflt = { .ratio = 0.1, .min_per_sec = 10 };
    if (!out)
        return -EINVAL;
    if (!cfg)
        cfg = &dflt;
    if (!(cfg->ratio >= 0) || !(cfg->min_per_sec >= 0) || cfg->window < 0)
        return -EINVAL;
    km_retry_budget *b = km__calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int64_t span = cfg->window ? cfg->window : 10 * KM__SEC;
    if (km__win_init(&b->requests, span, 10) || km__win_init(&b->retries, span, 10)) {
        km__free(b);
        return -EINVAL;
    }
    b->ratio = cfg->ratio;
    b->floor = cfg->min_per_sec * ((double)span / KM__SEC);
    b->clock = (km__clock){ cfg->clock, cfg->clock_ud };
    *out = b;
    return 0;
}

void km_retry_budget_free(km_retry_budget *b)
{
    km__free(b);
}

void km_retry_budget_request(km_retry_budget *b)
{
    km__win_add(&b->requests, km__clock_now(&b->clock), 1);
}

int km_retry_budget_take(km_retry_budget *b)
{
    int64_t now = km__clock_now(&b->clock);
    /* Count first, then check, and take it back if over: concurrent takers
     * cannot all pass on the same last token. */
    km__win_add(&b->retries, now, 1);
    double used = (double)km__win_sum(&b->retries, now);
    double allowed = b->ratio * (double)km__win_sum(&b->requests, now) + b->floor;
    if (used > allowed) {
        km__win_add(&b->retries, now, -1);
        return -EAGAIN;
    }
    return 0;
}
