/* SPDX-License-Identifier: MIT */
/* Pool metrics: one set of families per registry, a series per pool; gauges read at scrape time, counters and the latency histogram updated where things happen. */
#include "pool/pool-int.h"
#include <string.h>

struct km_pool_metrics {
    km_metrics *reg;
    km_metric  *open, *idle, *in_use, *waiting;
    km_metric  *acquire, *timeouts, *created, *open_errors, *closed, *leaks;
    km__lock    lock;           /* pools; taken before a pool's lock */
    km_pool    *pools;
};

/* Microseconds (an idle resource) to tens of seconds (a pool exhausted
 * until its acquire timeout): the Prometheus defaults start at 5 ms. */
static const double default_buckets[] = {
    0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30,
};

/* Gauges at scrape time: nothing on the acquire path. */
static void collect(km_metrics *r, void *ud)
{
    km_pool_metrics *pm = ud;
    km__lock_acquire(&pm->lock);
    for (km_pool *p = pm->pools; p; p = p->pm_next) {
        km_pool_stats st;
        km_pool_stats_read(p, &st);
        km_gauge_set(p->m_open, st.open);
        km_gauge_set(p->m_idle, st.idle);
        km_gauge_set(p->m_inuse, st.in_use);
        km_gauge_set(p->m_waiting, st.waiting);
    }
    km__lock_release(&pm->lock);
}

int km_pool_metrics_new(km_pool_metrics **out, km_metrics *r, const double *buckets, size_t nbuckets)
{
    if (!out || !r)
        return -EINVAL;
    km_pool_metrics *pm = km__calloc(1, sizeof *pm);
    if (!pm)
        return -ENOMEM;
    pm->reg = r;
    if (!buckets) {
        buckets = default_buckets;
        nbuckets = sizeof default_buckets / sizeof default_buckets[0];
    }
    int rc;
    /* The first one tells whether r has them already (-EEXIST) before
     * anything is registered. */
    if ((rc = km_gauge_new(r, &pm->open, "kumo_pool_open",
                           "Resources open (idle and in use), by pool.", "pool")) ||
        (rc = km_gauge_new(r, &pm->idle, "kumo_pool_idle",
                           "Idle resources, by pool.", "pool")) ||
        (rc = km_gauge_new(r, &pm->in_use, "kumo_pool_in_use",
                           "Resources on loan, by pool.", "pool")) ||
        (rc = km_gauge_new(r, &pm->waiting, "kumo_pool_waiting",
                           "Acquires waiting for a resource, by pool.", "pool")) ||
        (rc = km_histogram_new(r, &pm->acquire, "kumo_pool_acquire_seconds",
                               "Time to acquire a resource (successful acquires), by pool.",
                               "pool", buckets, nbuckets)) ||
        (rc = km_counter_new(r, &pm->timeouts, "kumo_pool_acquire_timeouts_total",
                             "Acquires that timed out, by pool.", "pool")) ||
        (rc = km_counter_new(r, &pm->created, "kumo_pool_created_total",
                             "Resources opened, by pool.", "pool")) ||
        (rc = km_counter_new(r, &pm->open_errors, "kumo_pool_open_errors_total",
                             "Failed opens, by pool.", "pool")) ||
        (rc = km_counter_new(r, &pm->closed, "kumo_pool_closed_total",
                             "Resources closed, by pool and reason.", "pool,reason")) ||
        (rc = km_counter_new(r, &pm->leaks, "kumo_pool_leaks_total",
                             "Resources reported held past the leak threshold, by pool.", "pool")) ||
        (rc = km_metrics_on_collect(r, collect, pm))) {
        km__free(pm);
        return rc;
    }
    *out = pm;
    return 0;
}

void km_pool_metrics_free(km_pool_metrics *pm)
{
    if (!pm)
        return;
    km_metrics_off_collect(pm->reg, collect, pm);
    km__free(pm);
}

int km__pool_metrics_attach(km_pool_metrics *pm, km_pool *p)
{
    const char *n = p->name;
    p->m_open = km_metric_with(pm->open, n);
    p->m_idle = km_metric_with(pm->idle, n);
    p->m_inuse = km_metric_with(pm->in_use, n);
    p->m_waiting = km_metric_with(pm->waiting, n);
    p->m_acquire = km_metric_with(pm->acquire, n);
    p->m_timeouts = km_metric_with(pm->timeouts, n);
    p->m_created = km_metric_with(pm->created, n);
    p->m_open_errors = km_metric_with(pm->open_errors, n);
    p->m_leaks = km_metric_with(pm->leaks, n);
    bool ok = p->m_open && p->m_idle && p->m_inuse && p->m_waiting && p->m_acquire &&
              p->m_timeouts && p->m_created && p->m_open_errors && p->m_leaks;
    for (int i = 0; i < KM_POOL_NREASONS; i++)
        ok &= (p->m_closed[i] = km_metric_with(pm->closed, n, km_pool_reason_name(i))) != NULL;
    if (!ok)
        return -ENOMEM;
    int rc = 0;
    km__lock_acquire(&pm->lock);
    for (km_pool *q = pm->pools; q && !rc; q = q->pm_next)
        if (!strcmp(q->name, n))
            rc = -EEXIST;       /* two pools would write one series */
    if (!rc) {
        p->pm = pm;
        p->pm_next = pm->pools;
        pm->pools = p;
    }
    km__lock_release(&pm->lock);
    return rc;
}

void km__pool_metrics_detach(km_pool_metrics *pm, km_pool *p)
{
    km__lock_acquire(&pm->lock);
    for (km_pool **q = &pm->pools; *q; q = &(*q)->pm_next) {
        if (*q == p) {
            *q = p->pm_next;
            break;
        }
    }
    km__lock_release(&pm->lock);
}
