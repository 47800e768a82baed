/* SPDX-License-Identifier: MIT */
/* Retries with exponential backoff, full jitter, a deadline and a shared budget. */
#include "resil/resil-int.h"

bool km_retry_default_pred(int err, void *ud)
{
    switch (err) {
    case -EAGAIN: case -EBUSY: case -ECONNREFUSED: case -ECONNRESET: case -ECONNABORTED:
    case -EPIPE: case -ENETUNREACH: case -EHOSTUNREACH: case -ETIMEDOUT:
        return true;
    default:
        return false;
    }
}

static const km_retry_policy defaults;

int64_t km_retry_backoff(const km_retry_policy *p, int retry)
{
    if (!p)
        p = &defaults;
    int64_t base = p->base > 0 ? p->base : KM__SEC / 100;
    int64_t cap = p->max_backoff > 0 ? p->max_backoff : KM__SEC;
    int64_t top = base;
    for (int i = 1; i < retry && top < cap; i++)
        top = top > INT64_MAX / 2 ? INT64_MAX : top * 2;
    if (top > cap)
        top = cap;
    /* Full jitter: uniform over [0, top), spreading clients that failed
     * together across the whole interval. */
    return (int64_t)(km__rand01(p->rand, p->rand_ud) * (double)top);
}

static int do_sleep(const km_retry_policy *p, int64_t ns)
{
    return p->sleep ? p->sleep(ns, p->sleep_ud) : km_sleep(ns);
}

int km_retry_do(const km_retry_policy *p, km_retry_fn *fn, void *arg,
                int64_t deadline, int *attempts)
{
    if (!p)
        p = &defaults;
    int max = p->max_attempts > 0 ? p->max_attempts : 3;
    km_retry_pred *pred = p->retryable ? p->retryable : km_retry_default_pred;
    km__clock clock = { p->clock, p->clock_ud };
    int n = 0, rc;
    if (p->budget)
        km_retry_budget_request(p->budget);
    for (;;) {
        rc = fn(arg);
        n++;
        if (rc == 0 || rc == -ECANCELED || n >= max || !pred(rc, p->retryable_ud))
            break;
        int64_t wait = km_retry_backoff(p, n);
        /* An attempt that could not start before the deadline is pointless:
         * give up now rather than sleep first. */
        if (deadline != KM_FOREVER && km__clock_now(&clock) + wait >= deadline)
            break;
        if (p->budget && km_retry_budget_take(p->budget) < 0)
            break;
        int s = do_sleep(p, wait);
        if (s < 0) {
            rc = s;
            break;
        }
    }
    if (attempts)
        *attempts = n;
    return rc;
}
