/* SPDX-License-Identifier: MIT */
/* /metrics for `kumo serve`: HTTP, runtime and process families, and the
 * store's and watch hub's statistics copied into gauges at each scrape. */
#include <errno.h>
#include "serve/serve-int.h"

static const struct { const char *name, *help; bool counter; } families[STORE_SERIES] = {
    { "kumo_store_revision", "Current revision of the store.", false },
    { "kumo_store_compact_revision", "Revision of the last compaction (0: never).", false },
    { "kumo_store_db_size_bytes", "Bytes of the data file.", false },
    { "kumo_store_db_size_in_use_bytes", "Bytes of the data file's pages in use.", false },
    { "kumo_store_keys", "Live keys.", false },
    { "kumo_store_leases", "Live leases.", false },
    { "kumo_store_commits_total", "Commits (one fsync each) since the store opened.", true },
    { "kumo_store_writes_total", "Write requests those commits carried.", true },
    { "kumo_watch_watchers", "Open watches.", false },
    { "kumo_watch_groups", "Distinct watched ranges and options.", false },
    { "kumo_watch_catching_up", "Watches reading history (new in the past, or slow).", false },
    { "kumo_watch_fell_behind_total", "Times a watcher's queue overflowed.", true },
};

static void collect(km_metrics *r, void *ud)
{
    (void)r;
    km_serve *s = ud;
    km_store_stat st;
    km_hub_stat hs;
    double v[STORE_SERIES] = { 0 };
    bool have_store = km_store_stat_read(s->store, &st) == 0;
    if (have_store) {
        v[0] = (double)st.revision;
        v[1] = (double)st.compact_revision;
        v[2] = (double)st.db_size;
        v[3] = (double)st.db_size_in_use;
        v[4] = (double)st.keys;
        v[5] = (double)st.leases;
        v[6] = (double)st.commits;
        v[7] = (double)st.writes;
    }
    km_hub_stat_read(s->hub, &hs);
    v[8] = (double)hs.watchers;
    v[9] = (double)hs.groups;
    v[10] = (double)hs.catching_up;
    v[11] = (double)hs.fell_behind;
    for (int i = 0; i < STORE_SERIES; i++) {
        if (i < 8 && !have_store)
            continue;
        if (families[i].counter)
            km_counter_set(s->st[i], v[i]);
        else
            km_gauge_set(s->st[i], v[i]);
    }
}

int km__serve_metrics_start(km_serve *s)
{
    int rc;
    if ((rc = km_metrics_new(&s->metrics)) < 0 ||
        (rc = km_metrics_runtime(s->metrics)) < 0 ||
        (rc = km_metrics_http_new(&s->mhttp, s->metrics, NULL)) < 0)
        return rc;
    for (int i = 0; i < STORE_SERIES; i++) {
        km_metric *m;
        rc = families[i].counter
                 ? km_counter_new(s->metrics, &m, families[i].name, families[i].help, NULL)
                 : km_gauge_new(s->metrics, &m, families[i].name, families[i].help, NULL);
        if (rc < 0)
            return rc;
        if (!(s->st[i] = km_metric_with(m)))
            return -ENOMEM;
    }
    if ((rc = km_metrics_on_collect(s->metrics, collect, s)) < 0)
        return rc;
    s->mw[s->nmw++] = (km_http_mw){ km_metrics_mw, s->mhttp };
    return km_http_route(s->router, "GET", "/metrics", km_metrics_handler, s->metrics);
}

void km__serve_metrics_stop(km_serve *s)
{
    km_metrics_http_free(s->mhttp);
    km_metrics_free(s->metrics);
    s->mhttp = NULL;
    s->metrics = NULL;
}
