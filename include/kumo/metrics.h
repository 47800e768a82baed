/* SPDX-License-Identifier: MIT */
/* Prometheus metrics: a registry of counters, gauges and histograms, the text exposition, HTTP and runtime metrics. */
#ifndef KUMO_METRICS_H
#define KUMO_METRICS_H

#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A registry: the metrics one /metrics endpoint exposes. Safe to share
 * between goroutines and threads. */
typedef struct km_metrics km_metrics;
/* A metric family: name, help, type and label names. */
typedef struct km_metric km_metric;
/* One time series of a family: a set of label values. Series live as long
 * as their registry; a program may keep the pointer and update it without
 * any lookup (the fastest path). */
typedef struct km_series km_series;

/* 0, -ENOMEM. */
int  km_metrics_new(km_metrics **out);
/* Frees the registry, its families and series. Nothing may use them any
 * more, and no scrape may be in progress. */
void km_metrics_free(km_metrics *r);

/* Registers a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*, unique in r. help:
 * any text (escaped on output). labels: NULL or "" for none, else label
 * names separated by commas, e.g. "method,route,code" (each
 * [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"; "le" is reserved for
 * histograms). Strings are copied. The family belongs to r.
 * 0; -EINVAL (bad name, label or buckets); -EEXIST (name taken); -ENOMEM. */
int km_counter_new(km_metrics *r, km_metric **out, const char *name,
                   const char *help, const char *labels);
int km_gauge_new(km_metrics *r, km_metric **out, const char *name,
                 const char *help, const char *labels);
/* buckets: upper bounds, strictly increasing and finite (+Inf is implied);
 * NULL: the Prometheus defaults (KM_METRICS_DEFAULT_BUCKETS). */
int km_histogram_new(km_metrics *r, km_metric **out, const char *name,
                     const char *help, const char *labels,
                     const double *buckets, size_t nbuckets);
/* .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 (seconds, for latencies). */
extern const double KM_METRICS_DEFAULT_BUCKETS[11];

/* A metric computed when scraped: fn(ud) gives its value. No labels. A
 * counter function must return a value that never decreases. Same errors
 * as km_counter_new. fn runs in the scraping goroutine, under no lock. */
typedef double km_metric_fn(void *ud);
int km_gauge_func_new(km_metrics *r, const char *name, const char *help,
                      km_metric_fn *fn, void *ud);
int km_counter_func_new(km_metrics *r, const char *name, const char *help,
                        km_metric_fn *fn, void *ud);

/* A hook run at the start of every scrape of r, in registration order,
 * under no lock: it reads statistics kept elsewhere once and copies them
 * into ordinary gauges and counters (km_gauge_set, km_counter_set), e.g.
 * store or runtime statistics. 0, -ENOMEM. */
typedef void km_metrics_hook(km_metrics *r, void *ud);
int  km_metrics_on_collect(km_metrics *r, km_metrics_hook *fn, void *ud);
/* Removes the hook registered with the same fn and ud (before what it
 * reads goes away). 0, or -ENOENT. */
int  km_metrics_off_collect(km_metrics *r, km_metrics_hook *fn, void *ud);

/* The series of m with these label values, one const char * per label name,
 * in order (none for a family without labels); values are copied and may
 * be any UTF-8. The first call for a set of values creates the series; later
 * calls find it without taking a lock. NULL only when out of memory (the
 * update functions ignore NULL). */
km_series *km_metric_with(km_metric *m, ...);
/* The same with an array of m's label count; NULL also for a NULL value. */
km_series *km_metric_withv(km_metric *m, const char *const *values);

/* Updates. They take no lock and touch only a cache line of the calling
 * worker thread's own (merged when scraped). Each ignores NULL and series
 * of another type. */
void km_counter_inc(km_series *s);
/* v >= 0 (negative values and NaN are ignored: counters only go up). */
void km_counter_add(km_series *s, double v);
/* Sets a counter mirrored from a cumulative count kept elsewhere (in a
 * collect hook). Racing increments of the same series may be lost. */
void km_counter_set(km_series *s, double v);
void km_gauge_set(km_series *s, double v);
void km_gauge_add(km_series *s, double v);
void km_gauge_inc(km_series *s);
void km_gauge_dec(km_series *s);
void km_histogram_observe(km_series *s, double v);

/* The current value of a counter or gauge, or the sum of a histogram's
 * observations (NaN for NULL). */
double   km_series_value(const km_series *s);
/* Observations of a histogram (0 for other types). */
uint64_t km_histogram_count(const km_series *s);

/* ---- exposition ---- */

/* Renders r in the Prometheus text format 0.0.4 (after running the collect
 * hooks): families sorted by name, series by label values. *out is
 * NUL-terminated, *len excludes the NUL; free it with km_metrics_text_free.
 * Families with labels and no series yet are left out. 0, -ENOMEM. */
int  km_metrics_text(km_metrics *r, char **out, size_t *len);
void km_metrics_text_free(char *text);

/* The content type of that format. */
#define KM_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A handler serving km_metrics_text of the registry passed as ud (route it
 * at GET /metrics). 500 when out of memory. */
void km_metrics_handler(km_http_req *r, km_http_resp *w, void *registry);

/* ---- HTTP server metrics ---- */

/* Registers, in r:
 *   http_requests_total{method,route,code}           counter
 *   http_request_duration_seconds{method,route}      histogram
 *   http_requests_in_flight                          gauge
 * and serves as ud of km_metrics_mw. The duration covers the middleware
 * chain after this one and the handler (not the flush of the response). */
typedef struct km_metrics_http km_metrics_http;
typedef struct {
    /* The route label is the pattern of the route that matched, when a
     * km_http_router handled the request. Otherwise: the first of these
     * patterns (the router's syntax: ":name" one segment, "*" "name" the
     * rest) that the path matches, else "unmatched"; NULL or 0:
     * km_metrics_route_default. Copied. */
    const char *const *routes;
    size_t             nroutes;
    const double      *buckets;    /* durations; NULL: the defaults */
    size_t             nbuckets;
} km_metrics_http_config;

/* cfg may be NULL. 0; -EEXIST (r already has these metrics); -EINVAL (bad
 * pattern or buckets); -ENOMEM. */
int  km_metrics_http_new(km_metrics_http **out, km_metrics *r, const km_metrics_http_config *cfg);
/* Frees h (its metrics stay in the registry); no request may be using it. */
void km_metrics_http_free(km_metrics_http *h);
/* The middleware (ud: a km_metrics_http). Methods outside the standard
 * ones are counted as "OTHER" so that clients cannot grow the series. */
void km_metrics_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);

/* The default route label for a path answered with status: the fixed
 * paths of the etcd API (under /v3/) and other short paths as they are,
 * any key under /api/v1/kv/ as the pattern "/api/v1/kv/" "*key", any 404
 * outside those as
 * "unmatched", anything long or unusual as "other". Writes a NUL-terminated
 * label into out (cap >= 16) and returns its length. */
size_t km_metrics_route_default(km_str path, int status, char *out, size_t cap);

/* ---- runtime and process metrics ---- */

/* Registers the runtime's and the process's metrics in r, read at every
 * scrape from km_stats_read, getrusage and /proc:
 *   kumo_goroutines, kumo_goroutines_state{state="running|runnable|waiting"},
 *   kumo_procs, kumo_procs_idle, kumo_procs_spinning,
 *   kumo_sched_global_queue_length, kumo_sched_local_queue_length,
 *   kumo_netpoll_waiters, kumo_offload_queue_length, kumo_offload_threads,
 *   kumo_goroutines_spawned_total, kumo_goroutines_exited_total,
 *   kumo_sched_{steals,parks,readies,polls,switches}_total;
 *   process_resident_memory_bytes, process_virtual_memory_bytes,
 *   process_cpu_seconds_total, process_open_fds, process_max_fds,
 *   process_start_time_seconds (named as Go's collectors name them).
 * 0; -EEXIST (already registered); -ENOMEM. */
int km_metrics_runtime(km_metrics *r);

#ifdef __cplusplus
}
#endif
#endif
