/* SPDX-License-Identifier: MIT */
/* The watch hub alone, without sockets: N goroutines each watching one key
 * (100,000 by default, past this machine's open-file limit for real
 * connections), one put, and the time until every watcher has it; then the
 * same with the watchers spread over 1,000 keys (one revision). Also
 * the memory each watcher costs (goroutine, watch, queue).
 *
 * usage: hub [WATCHERS] */
#include <kumo.h>
#include <kumo/hub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    km_hub  *hub;
    long     n;
    km_wg   *ready, *done;
    int64_t *lat;          /* per watcher: ns from the put to the event */
    int64_t  t_put;
    int      keys;         /* watchers spread over this many keys */
} bench;

typedef struct { bench *b; long i; } job;

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

static void watcher(void *arg)
{
    job *j = arg;
    bench *b = j->b;
    char key[32];
    snprintf(key, sizeof key, "k%ld", j->i % b->keys);
    km_watch_opts o = { .key = { (const uint8_t *)key, strlen(key) } };
    km_watch *w;
    int64_t created, crev;
    if (km_watch_new(b->hub, &o, &w, &created) < 0) {
        fprintf(stderr, "watch failed\n");
        exit(1);
    }
    km_wg_done(b->ready);
    km_watch_msg *m;
    int rc = km_watch_next(w, KM_FOREVER, &m, &crev);
    b->lat[j->i] = rc == 0 ? km_now() - b->t_put : -1;
    if (rc == 0)
        km_watch_msg_release(m);
    km_watch_free(w);
    km_wg_done(b->done);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void run(km_store *s, km_hub *h, long n, int keys, job *jobs, int64_t *lat)
{
    bench b = { .hub = h, .n = n, .lat = lat, .keys = keys };
    km_wg_new(&b.ready);
    km_wg_new(&b.done);
    km_wg_add(b.ready, (int)n);
    km_wg_add(b.done, (int)n);
    long rss0 = rss_kb();
    for (long i = 0; i < n; i++) {
        jobs[i] = (job){ &b, i };
        km_go(watcher, &jobs[i]);
    }
    km_wg_wait(b.ready);
    long rss1 = rss_kb();
    /* One txn touching every key the watchers use: one revision. */
    km_op *ops = calloc((size_t)keys, sizeof *ops);
    char (*names)[32] = calloc((size_t)keys, 32);
    for (int k = 0; k < keys; k++) {
        snprintf(names[k], 32, "k%d", k);
        ops[k].type = KM_OP_PUT;
        ops[k].put.key = (km_bytes){ (const uint8_t *)names[k], strlen(names[k]) };
        ops[k].put.value = (km_bytes){ (const uint8_t *)"v", 1 };
    }
    b.t_put = km_now();
    for (int k = 0; k < keys; k += 128) {       /* etcd's limit of 128 ops per txn */
        km_txn_req t = { .success = ops + k, .nsuccess = (size_t)(keys - k < 128 ? keys - k : 128) };
        km_store_res res;
        if (km_store_txn(s, &t, &res) < 0) {
            fprintf(stderr, "put failed\n");
            exit(1);
        }
        km_store_res_free(&res);
    }
    km_wg_wait(b.done);
    int64_t all = km_now() - b.t_put;
    qsort(lat, (size_t)n, sizeof *lat, cmp64);
    long missed = 0;
    for (long i = 0; i < n; i++)
        missed += lat[i] < 0;
    printf("hub: watchers=%ld keys=%d p50_ms=%.2f p99_ms=%.2f all_ms=%.2f missed=%ld "
           "rss_per_watcher_bytes=%.0f\n", n, keys, lat[n / 2] / 1e6, lat[n * 99 / 100] / 1e6,
           all / 1e6, missed, (rss1 - rss0) * 1024.0 / (double)n);
    free(ops);
    free(names);
    km_wg_free(b.ready);
    km_wg_free(b.done);
}

typedef struct { long n; } args;

static void main_g(void *arg)
{
    args *a = arg;
    char dir[] = "/tmp/kumo-hub-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    km_store_config sc = { .dir = dir };
    km_store *s;
    km_hub *h;
    km_hub_config hc = { 0 };
    if (km_store_open(&s, &sc) < 0 || km_hub_new(&h, s, &hc) < 0) {
        fprintf(stderr, "open failed\n");
        exit(1);
    }
    job *jobs = calloc((size_t)a->n, sizeof *jobs);
    int64_t *lat = calloc((size_t)a->n, sizeof *lat);
    run(s, h, a->n, 1, jobs, lat);
    run(s, h, a->n, 1000, jobs, lat);
    free(jobs);
    free(lat);
    km_hub_free(h);
    km_store_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    args a = { argc > 1 ? atol(argv[1]) : 100000 };
    if (a.n < 100) {
        fprintf(stderr, "usage: hub [WATCHERS >= 100]\n");
        return 2;
    }
    return km_main(main_g, &a) == 0 ? 0 : 1;
}
