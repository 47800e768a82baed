/* SPDX-License-Identifier: MIT */
/* Metrics internals: registry, families, series and their per-worker shards. */
#ifndef KM_METRICS_INT_H
#define KM_METRICS_INT_H

#include <kumo/metrics.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include "rt/rt-int.h"

/* Index of the calling worker thread (its P), 0..procs-1, or -1 on a
 * thread that is not a worker (src/rt/worker_index.c). */
int km__worker_index(void);

/* Shards per series: one per worker, up to this many, plus one shared by
 * everybody else (foreign threads, workers beyond the limit). */
#define KM__SHARDS_MAX 16
#define KM__LINE 64

enum { KM__COUNTER = 1, KM__GAUGE, KM__HISTOGRAM };

/* The open-addressing index of a family's series. Readers find series
 * without a lock; a full table is replaced by a bigger copy, and the old one
 * is kept (readers may still be in it) until the family is freed. */
typedef struct km__stab {
    struct km__stab   *retired;     /* older tables */
    size_t             mask;
    _Atomic(km_series *) slot[];
} km__stab;

struct km_series {
    km_metric   *m;
    int          kind;
    int          nown;          /* shards owned by one worker each */
    size_t       stride;        /* bytes per shard (a multiple of KM__LINE) */
    uint64_t     hash;
    /* Cells: nown + 1 shards of stride bytes, each one worker's. Counter:
     * a double (as bits) for fractional adds, then an integer count for
     * whole ones. Gauge: the sum of whole-number adds (two's complement).
     * Histogram: the sum (double bits), then one count per bucket, +Inf
     * last (not cumulative). */
    char        *cells;
    void        *cells_mem;     /* unaligned allocation */
    _Atomic uint64_t value;     /* double bits: gauge: set value less shards, plus fractional adds;
                                   counter: a base set by km_counter_set */
    km_series   *next;          /* the family's series, newest first */
    const char  *values[];      /* label values, strings follow */
};

struct km_metric {
    km_metrics   *reg;
    int           kind;
    char         *name, *help;
    char        **labels;
    size_t        nlabels;
    double       *bounds;       /* histograms */
    size_t        nbounds;
    km_metric_fn *fn;           /* computed at scrape time, no series */
    void         *fn_ud;
    km__lock      lock;         /* adding series */
    _Atomic(km__stab *) tab;
    km_series    *all;
    size_t        nseries;
};

typedef struct { km_metrics_hook *fn; void *ud; void (*free_ud)(void *); } km__hook;

struct km_metrics {
    km__lock     lock;          /* families and hooks lists */
    km_metric  **fams;
    size_t       nfams, capfams;
    km__hook    *hooks;
    size_t       nhooks, caphooks;
    int          nown;          /* worker-owned shards per series */
};

static inline double km__bits2d(uint64_t b) { double d; memcpy(&d, &b, sizeof d); return d; }
static inline uint64_t km__d2bits(double d) { uint64_t b; memcpy(&b, &d, sizeof b); return b; }

/* Sum of every shard's word at byte offset off, as doubles or integers. */
double   km__shards_sumd(const km_series *s, size_t off);
uint64_t km__shards_sumu(const km_series *s, size_t off);
/* A counter's shards merged (without the base set by km_counter_set). */
double   km__counter_shards(const km_series *s);

/* The end of an HTTP request, with one shard lookup for its three
 * updates: in_flight (a gauge) down by one, requests (a counter) up by
 * one, secs observed in duration (a histogram). */
void km__request_done(km_series *in_flight, km_series *requests, km_series *duration, double secs);

/* Checks a metric or label name. */
bool km__metric_name_ok(const char *s);
bool km__label_name_ok(const char *s, size_t n);

/* Adds a family to r; takes ownership of m on success, frees it otherwise. */
int  km__family_add(km_metrics *r, km_metric *m);
void km__family_free(km_metric *m);
/* Creates the one series of a family without labels. 0 or -ENOMEM. */
int  km__series_init(km_metric *m);
void km__series_free_all(km_metric *m);

/* A collect hook whose ud the registry frees with free_ud. 0, -ENOMEM. */
int  km__metrics_on_collect_owned(km_metrics *r, km_metrics_hook *fn, void *ud,
                                  void (*free_ud)(void *));
/* The family called name, or NULL. */
km_metric *km__family_find(km_metrics *r, const char *name);
/* A family of this kind and label names ("a,b"), created or found:
 * 0, -EEXIST (the name has another shape), -EINVAL, -ENOMEM. */
int km__family_get(km_metrics *r, km_metric **out, int kind, const char *name,
                   const char *help, const char *labels,
                   const double *buckets, size_t nbuckets);

/* A growable output buffer; err sticks at -ENOMEM. */
typedef struct { char *p; size_t n, cap; int err; } km__mbuf;
void km__mbuf_put(km__mbuf *b, const char *s, size_t n);
static inline void km__mbuf_puts(km__mbuf *b, const char *s) { km__mbuf_put(b, s, strlen(s)); }
/* A float as Prometheus reads it: +Inf, -Inf, NaN, integers without an
 * exponent, otherwise the shortest form that reads back the same. */
#define KM__FLOAT_MAX 40
void km__fmt_float(char out[KM__FLOAT_MAX], double v);
void km__mbuf_float(km__mbuf *b, double v);

#endif
