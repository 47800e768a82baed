/* SPDX-License-Identifier: MIT */
/* The registry: families (counters, gauges, histograms, functions) and collect hooks. */
#include "metrics-int.h"
#include <math.h>

const double KM_METRICS_DEFAULT_BUCKETS[11] = {
    .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
};

int km_metrics_new(km_metrics **out)
{
    if (!out)
        return -EINVAL;
    km_metrics *r = km__calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    /* One shard per worker of the running runtime; a registry made before
     * km_main assumes a few. Workers beyond share the last shard. */
    int procs = km_procs();
    r->nown = procs > 0 ? procs : 4;
    if (r->nown > KM__SHARDS_MAX)
        r->nown = KM__SHARDS_MAX;
    *out = r;
    return 0;
}

void km_metrics_free(km_metrics *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nhooks; i++)
        if (r->hooks[i].free_ud)
            r->hooks[i].free_ud(r->hooks[i].ud);
    for (size_t i = 0; i < r->nfams; i++)
        km__family_free(r->fams[i]);
    km__free(r->fams);
    km__free(r->hooks);
    km__free(r);
}

bool km__metric_name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p > s && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

bool km__label_name_ok(const char *s, size_t n)
{
    if (n == 0 || (n >= 2 && s[0] == '_' && s[1] == '_'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

void km__family_free(km_metric *m)
{
    if (!m)
        return;
    km__series_free_all(m);
    for (size_t i = 0; i < m->nlabels; i++)
        km__free(m->labels[i]);
    km__free(m->labels);
    km__free(m->bounds);
    km__free(m->name);
    km__free(m->help);
    km__free(m);
}

/* Splits "a,b,c" into copied names. */
static int parse_labels(km_metric *m, const char *labels, bool histogram)
{
    if (!labels || !*labels)
        return 0;
    size_t n = 1;
    for (const char *p = labels; *p; p++)
        n += *p == ',';
    m->labels = km__calloc(n, sizeof *m->labels);
    if (!m->labels)
        return -ENOMEM;
    const char *p = labels;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!km__label_name_ok(p, len) || (histogram && len == 2 && !memcmp(p, "le", 2)))
            return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strlen(m->labels[j]) == len && !memcmp(m->labels[j], p, len))
                return -EINVAL;
        if (!(m->labels[i] = km__malloc(len + 1)))
            return -ENOMEM;
        memcpy(m->labels[i], p, len);
        m->labels[i][len] = 0;
        m->nlabels = i + 1;
        p += len + 1;
    }
    return 0;
}

static int family_new(km_metrics *r, km_metric **out, int kind, const char *name,
                      const char *help, const char *labels,
                      const double *buckets, size_t nbuckets)
{
    if (!r || !km__metric_name_ok(name))
        return -EINVAL;
    km_metric *m = km__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->reg = r;
    m->kind = kind;
    int rc = 0;
    if (!(m->name = km__strdup(name)) || !(m->help = km__strdup(help ? help : "")))
        rc = -ENOMEM;
    if (!rc)
        rc = parse_labels(m, labels, kind == KM__HISTOGRAM);
    if (!rc && kind == KM__HISTOGRAM) {
        if (!buckets) {
            buckets = KM_METRICS_DEFAULT_BUCKETS;
            nbuckets = sizeof KM_METRICS_DEFAULT_BUCKETS / sizeof *buckets;
        }
        for (size_t i = 0; i < nbuckets && !rc; i++)
            if (!isfinite(buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
                rc = -EINVAL;
        if (!rc && nbuckets && !(m->bounds = km__malloc(nbuckets * sizeof *m->bounds)))
            rc = -ENOMEM;
        if (!rc) {
            memcpy(m->bounds, buckets, nbuckets * sizeof *m->bounds);
            m->nbounds = nbuckets;
        }
    }
    if (!rc && m->nlabels == 0)
        rc = km__series_init(m);
    if (rc) {
        km__family_free(m);
        return rc;
    }
    if ((rc = km__family_add(r, m)) < 0)
        return rc;
    if (out)
        *out = m;
    return 0;
}

int km__family_add(km_metrics *r, km_metric *m)
{
    int rc = 0;
    km__lock_acquire(&r->lock);
    for (size_t i = 0; i < r->nfams && !rc; i++)
        if (!strcmp(r->fams[i]->name, m->name))
            rc = -EEXIST;
    if (!rc && r->nfams == r->capfams) {
        size_t cap = r->capfams ? r->capfams * 2 : 16;
        km_metric **f = km__malloc(cap * sizeof *f);
        if (f) {
            if (r->nfams)
                memcpy(f, r->fams, r->nfams * sizeof *f);
            km__free(r->fams);
            r->fams = f;
            r->capfams = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (!rc)
        r->fams[r->nfams++] = m;
    km__lock_release(&r->lock);
    if (rc)
        km__family_free(m);
    return rc;
}

int km_counter_new(km_metrics *r, km_metric **out, const char *name,
                   const char *help, const char *labels)
{
    return family_new(r, out, KM__COUNTER, name, help, labels, NULL, 0);
}

int km_gauge_new(km_metrics *r, km_metric **out, const char *name,
                 const char *help, const char *labels)
{
    return family_new(r, out, KM__GAUGE, name, help, labels, NULL, 0);
}

int km_histogram_new(km_metrics *r, km_metric **out, const char *name,
                     const char *help, const char *labels,
                     const double *buckets, size_t nbuckets)
{
    if (buckets && nbuckets == 0)
        return -EINVAL;
    return family_new(r, out, KM__HISTOGRAM, name, help, labels, buckets, nbuckets);
}

static int func_new(km_metrics *r, int kind, const char *name, const char *help,
                    km_metric_fn *fn, void *ud)
{
    if (!r || !fn || !km__metric_name_ok(name))
        return -EINVAL;
    km_metric *m = km__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->reg = r;
    m->kind = kind;
    m->fn = fn;
    m->fn_ud = ud;
    if (!(m->name = km__strdup(name)) || !(m->help = km__strdup(help ? help : ""))) {
        km__family_free(m);
        return -ENOMEM;
    }
    return km__family_add(r, m);
}

int km_gauge_func_new(km_metrics *r, const char *name, const char *help,
                      km_metric_fn *fn, void *ud)
{
    return func_new(r, KM__GAUGE, name, help, fn, ud);
}

int km_counter_func_new(km_metrics *r, const char *name, const char *help,
                        km_metric_fn *fn, void *ud)
{
    return func_new(r, KM__COUNTER, name, help, fn, ud);
}

int km_metrics_on_collect(km_metrics *r, km_metrics_hook *fn, void *ud)
{
    return km__metrics_on_collect_owned(r, fn, ud, NULL);
}

int km__metrics_on_collect_owned(km_metrics *r, km_metrics_hook *fn, void *ud,
                                 void (*free_ud)(void *))
{
    if (!r || !fn)
        return -EINVAL;
    int rc = 0;
    km__lock_acquire(&r->lock);
    if (r->nhooks == r->caphooks) {
        size_t cap = r->caphooks ? r->caphooks * 2 : 4;
        km__hook *h = km__malloc(cap * sizeof *h);
        if (h) {
            if (r->nhooks)
                memcpy(h, r->hooks, r->nhooks * sizeof *h);
            km__free(r->hooks);
            r->hooks = h;
            r->caphooks = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (!rc)
        r->hooks[r->nhooks++] = (km__hook){ fn, ud, free_ud };
    km__lock_release(&r->lock);
    return rc;
}

int km_metrics_off_collect(km_metrics *r, km_metrics_hook *fn, void *ud)
{
    if (!r)
        return -EINVAL;
    int rc = -ENOENT;
    km__lock_acquire(&r->lock);
    for (size_t i = 0; i < r->nhooks; i++) {
        if (r->hooks[i].fn == fn && r->hooks[i].ud == ud) {
            if (r->hooks[i].free_ud)
                r->hooks[i].free_ud(ud);
            memmove(&r->hooks[i], &r->hooks[i + 1], (r->nhooks - i - 1) * sizeof *r->hooks);
            r->nhooks--;
            rc = 0;
            break;
        }
    }
    km__lock_release(&r->lock);
    return rc;
}

km_metric *km__family_find(km_metrics *r, const char *name)
{
    km_metric *m = NULL;
    km__lock_acquire(&r->lock);
    for (size_t i = 0; i < r->nfams && !m; i++)
        if (!strcmp(r->fams[i]->name, name))
            m = r->fams[i];
    km__lock_release(&r->lock);
    return m;
}

/* True if m has exactly the label names of the list "a,b". */
static bool same_labels(const km_metric *m, const char *labels)
{
    const char *p = labels ? labels : "";
    for (size_t i = 0; i < m->nlabels; i++) {
        size_t len = strlen(m->labels[i]);
        if (strncmp(p, m->labels[i], len) || (p[len] != ',' && p[len] != 0))
            return false;
        p += len + (p[len] == ',');
    }
    return *p == 0;
}

int km__family_get(km_metrics *r, km_metric **out, int kind, const char *name,
                   const char *help, const char *labels,
                   const double *buckets, size_t nbuckets)
{
    int rc = kind == KM__HISTOGRAM
           ? km_histogram_new(r, out, name, help, labels, buckets, nbuckets)
           : family_new(r, out, kind, name, help, labels, NULL, 0);
    if (rc != -EEXIST)
        return rc;
    km_metric *m = km__family_find(r, name);
    if (!m || m->kind != kind || m->fn || !same_labels(m, labels))
        return -EEXIST;
    *out = m;
    return 0;
}
