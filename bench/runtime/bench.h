/* SPDX-License-Identifier: MIT */
/* Helpers shared by the runtime benchmarks: arguments, /proc readings, result lines. */
#ifndef KUMO_BENCH_H
#define KUMO_BENCH_H

#include <kumo.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Aborts the benchmark on any unexpected return code: a number measured
 * over failed calls would be meaningless. */
#define BENCH_CHECK(expr)                                                    \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ != 0) {                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,    \
                    km_strerror(rc_));                                       \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static inline void bench_die(const char *msg)
{
    fprintf(stderr, "bench: %s\n", msg);
    exit(1);
}

/* argv[i] as a positive integer, def when absent; the Go programs read the
 * same positions with the same defaults. */
static inline long bench_arg(int argc, char **argv, int i, long def)
{
    if (i >= argc)
        return def;
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (*end != '\0' || v < 0)
        bench_die("arguments must be non-negative integers");
    return v;
}

/* A "Vm...:" field of /proc/self/status in KiB (VmRSS, VmHWM). */
static inline long bench_status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        bench_die("cannot open /proc/self/status");
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0) {
            kb = strtol(line + len, NULL, 10);
            break;
        }
    }
    fclose(f);
    if (kb < 0)
        bench_die("field missing from /proc/self/status");
    return kb;
}

/* One machine-readable result line, the same format the Go programs print. */
static inline void bench_metric(const char *name, double value, const char *unit)
{
    printf("metric=%s value=%.3f unit=%s\n", name, value, unit);
    fflush(stdout);
}

/* Runs body under km_main (worker count from KM_PROCS). */
static inline int bench_run(km_fn *body, void *arg)
{
    int rc = km_main(body, arg);
    if (rc != 0) {
        fprintf(stderr, "km_main: %s\n", km_strerror(rc));
        return 1;
    }
    return 0;
}

#endif
