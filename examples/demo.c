/* SPDX-License-Identifier: MIT */
/* Go's "100,000 goroutines" example: spawn, each sends its id, sum them. */
#include <kumo.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { km_chan *results; long id; } job;

static void worker(void *arg)
{
    job *j = arg;
    km_sleep(1000000);                   /* 1 ms: all of them are alive at once */
    long v = j->id;
    km_chan_send(j->results, &v);
}

static void start(void *arg)
{
    long n = *(long *)arg;
    km_chan *results;
    job *jobs = calloc((size_t)n, sizeof *jobs);
    if (!jobs || km_chan_new(&results, sizeof(long), 1024)) {
        fprintf(stderr, "out of memory\n");
        free(jobs);
        return;
    }
    int64_t t0 = km_now();
    for (long i = 0; i < n; i++) {
        jobs[i] = (job){ results, i + 1 };
        if (km_go(worker, &jobs[i]) != 0) {
            fprintf(stderr, "km_go failed at %ld\n", i);
            n = i;
            break;
        }
    }
    long sum = 0, v;
    for (long i = 0; i < n; i++) {
        km_chan_recv(results, &v);
        sum += v;
    }
    printf("%ld goroutines on %d workers: sum %ld (expected %ld) in %.1f ms\n",
           n, km_procs(), sum, n * (n + 1) / 2, (km_now() - t0) / 1e6);
    km_chan_free(results);
    free(jobs);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int rc = km_main(start, &n);
    if (rc) {
        fprintf(stderr, "km_main: %s\n", km_strerror(rc));
        return 1;
    }
    return 0;
}
