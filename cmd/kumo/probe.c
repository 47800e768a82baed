/* SPDX-License-Identifier: MIT */
/* kumo probe: Go's classic "check 100,000 URLs with goroutines", with bounded
 * concurrency, deadlines, a summary and a failing exit code. */
#include <kumo.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"

typedef struct {
    char  **urls;
    size_t  n, cap;
    int     concurrency;
    int64_t timeout;
    bool    verbose;
    /* results */
    int64_t *lat;               /* per URL, ns; -1 failed */
    int     *status;            /* HTTP status, or negative errno */
    km_chan *slots;             /* a token per concurrent request */
    km_wg   *wg;
    km_http_client *client;
} probe;

typedef struct { probe *pr; size_t i; } job;

static int add_url(probe *pr, const char *u)
{
    if (pr->n == pr->cap) {
        size_t nc = pr->cap ? pr->cap * 2 : 1024;
        char **nu = realloc(pr->urls, nc * sizeof *nu);
        if (!nu)
            return -1;
        pr->urls = nu;
        pr->cap = nc;
    }
    if (!(pr->urls[pr->n] = strdup(u)))
        return -1;
    pr->n++;
    return 0;
}

static int read_file(probe *pr, const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        fprintf(stderr, "kumo probe: %s: %s\n", path, km_strerror(-errno));
        return -1;
    }
    char line[4096];
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        size_t l = strcspn(line, "\r\n");
        line[l] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s && *s != '#')
            rc = add_url(pr, s);
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

static void check(void *arg)
{
    job *j = arg;
    probe *pr = j->pr;
    int token = 0;
    km_chan_send(pr->slots, &token);            /* waits for a free slot */
    int64_t t0 = km_now();
    km_http_response *r;
    int rc = km_http_get(pr->client, pr->urls[j->i], t0 + pr->timeout, &r);
    if (rc == 0) {
        pr->status[j->i] = km_http_response_status(r);
        pr->lat[j->i] = km_now() - t0;
        km_http_response_free(r);
    } else {
        pr->status[j->i] = rc;
        pr->lat[j->i] = -1;
    }
    km_chan_recv(pr->slots, &token);
    km_wg_done(pr->wg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(void *arg)
{
    probe *pr = arg;
    job *jobs = calloc(pr->n, sizeof *jobs);
    km_http_client_config cc = { .max_per_host = pr->concurrency,
                                 .max_idle_per_host = pr->concurrency };
    if (!jobs || km_chan_new(&pr->slots, sizeof(int), (size_t)pr->concurrency) ||
        km_wg_new(&pr->wg) || km_http_client_new(&pr->client, &cc)) {
        fprintf(stderr, "kumo probe: out of memory\n");
        exit(1);
    }
    int64_t t0 = km_now();
    km_wg_add(pr->wg, (int)pr->n);
    for (size_t i = 0; i < pr->n; i++) {
        jobs[i] = (job){ pr, i };
        int rc = km_go(check, &jobs[i]);
        if (rc) {
            pr->status[i] = rc;
            pr->lat[i] = -1;
            km_wg_done(pr->wg);
        }
    }
    km_wg_wait(pr->wg);
    int64_t dt = km_now() - t0;

    size_t ok = 0, bad = 0, nlat = 0;
    size_t by_class[6] = { 0 };
    int64_t *lat = malloc(pr->n * sizeof *lat);
    for (size_t i = 0; i < pr->n; i++) {
        int s = pr->status[i];
        if (s >= 200 && s < 400) {
            ok++;
        } else {
            bad++;
            if (s > 0)
                by_class[s / 100 < 6 ? s / 100 : 5]++;
            if (pr->verbose)
                printf("FAIL %s: %s\n", pr->urls[i],
                       s > 0 ? km_http_reason(s) : km_strerror(s));
        }
        if (pr->lat[i] >= 0 && lat)
            lat[nlat++] = pr->lat[i];
    }
    printf("probed %zu URLs in %.2f s with %d at a time: %zu ok, %zu failed",
           pr->n, dt / 1e9, pr->concurrency, ok, bad);
    if (bad)
        printf(" (4xx %zu, 5xx %zu, errors %zu)", by_class[4], by_class[5],
               bad - by_class[4] - by_class[5]);
    printf("\n");
    if (nlat) {
        qsort(lat, nlat, sizeof *lat, cmp_i64);
        printf("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
               lat[nlat / 2] / 1e6, lat[nlat * 99 / 100] / 1e6, lat[nlat - 1] / 1e6);
    }
    free(lat);
    free(jobs);
    km_http_client_free(pr->client);
    km_chan_free(pr->slots);
    km_wg_free(pr->wg);
    pr->cap = bad ? 1 : 0;      /* exit status, read by kumo_probe */
}

static void probe_usage(FILE *f)
{
    fprintf(f, "usage: kumo probe [-c N] [-t MS] [-f FILE] [-v] [URL...]\n"
               "  -c N     requests in flight at once (default 1000)\n"
               "  -t MS    deadline per request in milliseconds (default 5000)\n"
               "  -f FILE  read URLs from FILE, one per line ('-' for stdin)\n"
               "  -v       print every failure\n"
               "Exit status: 0 if every URL answered 2xx or 3xx, 1 otherwise, 2 bad usage.\n");
}

int kumo_probe(int argc, char **argv)
{
    probe pr = { .concurrency = 1000, .timeout = 5000 * 1000000LL };
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "c:t:f:vh")) != -1) {
        char *end;
        long v;
        switch (opt) {
        case 'c':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 1000000) { probe_usage(stderr); return 2; }
            pr.concurrency = (int)v;
            break;
        case 't':
            v = strtol(optarg, &end, 10);
            if (*end || v < 1) { probe_usage(stderr); return 2; }
            pr.timeout = v * 1000000LL;
            break;
        case 'f':
            if (read_file(&pr, optarg)) return 2;
            break;
        case 'v':
            pr.verbose = true;
            break;
        case 'h':
            probe_usage(stdout);
            return 0;
        default:
            probe_usage(stderr);
            return 2;
        }
    }
    for (int i = optind; i < argc; i++)
        if (add_url(&pr, argv[i])) { fprintf(stderr, "kumo probe: out of memory\n"); return 1; }
    if (pr.n == 0) {
        probe_usage(stderr);
        return 2;
    }
    pr.lat = calloc(pr.n, sizeof *pr.lat);
    pr.status = calloc(pr.n, sizeof *pr.status);
    if (!pr.lat || !pr.status) {
        fprintf(stderr, "kumo probe: out of memory\n");
        return 1;
    }
    int rc = km_main(run, &pr);
    if (rc) {
        fprintf(stderr, "kumo probe: %s\n", km_strerror(rc));
        return 1;
    }
    for (size_t i = 0; i < pr.n; i++)
        free(pr.urls[i]);
    free(pr.urls);
    free(pr.lat);
    free(pr.status);
    return (int)pr.cap;
}
