/* SPDX-License-Identifier: MIT */
/* /metrics for `kumo serve`: HTTP, runtime and process families, the
 * store's commit histograms, and the store's, watch hub's and HTTP
 * server's statistics copied into gauges and counters at each scrape. */
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

static const struct { const char *name, *help; bool counter; } http_families[HTTP_SERIES] = {
    { "kumo_http_connections", "HTTP connections open.", false },
    { "kumo_http_connections_total", "HTTP connections served since start.", true },
    { "kumo_http_received_bytes_total", "Bytes read from HTTP connections.", true },
    { "kumo_http_sent_bytes_total", "Bytes written to HTTP connections.", true },
    { "kumo_http_connections_refused_total",
      "HTTP connections refused with a 503 (over the limit, or out of memory).", true },
};

/* Commits take from a fraction of a millisecond (cached disk) to seconds (a
 * stalled one): doubling from 0.5 ms, as etcd's disk histograms do. */
static const double commit_buckets[] = { 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,
                                         0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192 };

void km__serve_on_commit(void *ud, int64_t commit_ns, int64_t sync_ns)
{
    km_serve *s = ud;
    km_histogram_observe(s->commit_dur, (double)commit_ns / 1e9);
    km_histogram_observe(s->sync_dur, (double)sync_ns / 1e9);
}

static void collect_http(km_serve *s)
{
    km_http_server *h = atomic_load(&s->http_up);
    if (!h)
        return;
    km_http_server_stat st;
    km_http_server_stat_read(h, &st);
    km_gauge_set(s->hs[0], (double)st.conns_open);
    km_counter_set(s->hs[1], (double)st.conns_total);
    km_counter_set(s->hs[2], (double)st.bytes_read);
    km_counter_set(s->hs[3], (double)st.bytes_written);
    km_counter_set(s->hs[4], (double)st.conns_refused);
}

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
    collect_http(s);
}

/* One unlabelled series of a new gauge or counter into *out. */
static int plain_series(km_metrics *r, km_series **out, const char *name, const char *help,
                        bool counter)
{
    km_metric *m;
    int rc = counter ? km_counter_new(r, &m, name, help, NULL) : km_gauge_new(r, &m, name, help, NULL);
    if (rc < 0)
        return rc;
    return (*out = km_metric_with(m)) ? 0 : -ENOMEM;
}

int km__serve_metrics_new(km_serve *s)
{
    km_metric *c, *f;
    int rc;
    if ((rc = km_metrics_new(&s->metrics)) < 0 ||
        (rc = km_histogram_new(s->metrics, &c, "kumo_store_commit_duration_seconds",
                               "Time of a store commit (one batch of writes), its sync included.",
                               NULL, commit_buckets, sizeof commit_buckets / sizeof *commit_buckets)) < 0 ||
        (rc = km_histogram_new(s->metrics, &f, "kumo_store_fsync_duration_seconds",
                               "Time of the sync that makes a store commit durable.",
                               NULL, commit_buckets, sizeof commit_buckets / sizeof *commit_buckets)) < 0)
        return rc;
    s->commit_dur = km_metric_with(c);
    s->sync_dur = km_metric_with(f);
    return s->commit_dur && s->sync_dur ? 0 : -ENOMEM;
}

int km__serve_metrics_start(km_serve *s)
{
    int rc;
    if ((rc = km_metrics_runtime(s->metrics)) < 0 ||
        (rc = km_metrics_http_new(&s->mhttp, s->metrics, NULL)) < 0)
        return rc;
    for (int i = 0; i < STORE_SERIES; i++)
        if ((rc = plain_series(s->metrics, &s->st[i], families[i].name, families[i].help,
                               families[i].counter)) < 0)
            return rc;
    for (int i = 0; i < HTTP_SERIES; i++)
        if ((rc = plain_series(s->metrics, &s->hs[i], http_families[i].name,
                               http_families[i].help, http_families[i].counter)) < 0)
            return rc;
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
