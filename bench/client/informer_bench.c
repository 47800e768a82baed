/* SPDX-License-Identifier: MIT */
/* Informer benchmark: cache memory per key (one informer over KEYS keys
 * under "bench/"), and put-to-handler delay with INFORMERS informers on the
 * prefix "hot/" (each its own watch stream).
 * Usage: informer_bench ENDPOINT INFORMERS KEYS [grpc|json] (default: the
 * client's own choice, gRPC where the server speaks it). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kumo.h>
#include <kumo/client.h>

static const char *ep;
static int ninf, nkeys;
static km_client_transport transport = KM_CLIENT_AUTO;
static atomic_llong sum_ns, max_ns, seen;
static atomic_llong t_put;

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f && fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = 0;
    if (f)
        fclose(f);
    return res * 4;
}

static void on_update(void *ud, const km_client_kv *o, const km_client_kv *n)
{
    (void)ud;
    (void)o;
    (void)n;
    long long d = km_now() - atomic_load(&t_put);
    atomic_fetch_add(&sum_ns, d);
    long long m = atomic_load(&max_ns);
    while (d > m && !atomic_compare_exchange_weak(&max_ns, &m, d))
        ;
    atomic_fetch_add(&seen, 1);
}

typedef struct { km_client *c; int from, to; km_wg *wg; } loader;

/* Writers in parallel, so the server's group commit takes them together. */
static void load(void *arg)
{
    loader *l = arg;
    char k[64], v[128];
    memset(v, 'v', 100);
    for (int i = l->from; i < l->to; i++) {
        snprintf(k, sizeof k, "bench/k%06d", i);
        km_client_put(l->c, k, strlen(k), v, 100, 0, KM_FOREVER, NULL);
    }
    km_wg_done(l->wg);
}

static void run(void *arg)
{
    (void)arg;
    const char *eps[] = { ep };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1, .max_conns = 64,
                            .transport = transport };
    km_client *c;
    if (km_client_new(&c, &cc))
        return;
    enum { WRITERS = 32 };
    loader ld[WRITERS];
    km_wg *wg;
    km_wg_new(&wg);
    km_wg_add(wg, WRITERS);
    for (int w = 0; w < WRITERS; w++) {
        ld[w] = (loader){ c, nkeys * w / WRITERS, nkeys * (w + 1) / WRITERS, wg };
        km_go(load, &ld[w]);
    }
    km_wg_wait(wg);
    km_wg_free(wg);
    char v[32];
    km_client_put(c, "hot/x", 5, "0", 1, 0, KM_FOREVER, NULL);
    /* memory: one informer over nkeys keys (100-byte values, 12-byte keys) */
    long r0 = rss_kb();
    km_informer_config big = { .prefix = "bench/" };
    km_informer *one;
    km_informer_start(c, &big, &one);
    km_informer_wait_synced(one, false, KM_FOREVER);
    long r1 = rss_kb();
    printf("memory: %d keys, RSS +%ld KiB = %.0f bytes per cached key (100 B value, 12 B key)\n",
           nkeys, r1 - r0, (double)(r1 - r0) * 1024 / nkeys);
    km_informer_stop(one);
    /* delay: ninf informers on a small prefix, one put */
    km_informer_config ic = { .prefix = "hot/", .handlers = { .on_update = on_update } };
    km_informer **inf = calloc((size_t)ninf, sizeof *inf);
    int64_t t0 = km_now();
    for (int i = 0; i < ninf; i++)
        km_informer_start(c, &ic, &inf[i]);
    for (int i = 0; i < ninf; i++)
        km_informer_wait_synced(inf[i], false, KM_FOREVER);
    printf("%d informers synced in %.2f s, RSS %ld MiB\n", ninf, (km_now() - t0) / 1e9, rss_kb() / 1024);
    km_sleep(500000000LL);
    for (int round = 0; round < 5; round++) {
        atomic_store(&sum_ns, 0);
        atomic_store(&max_ns, 0);
        atomic_store(&seen, 0);
        atomic_store(&t_put, km_now());
        snprintf(v, sizeof v, "%d", round + 1);
        km_client_put(c, "hot/x", 5, v, strlen(v), 0, KM_FOREVER, NULL);
        int64_t dl = km_now() + 10000000000LL;
        while (atomic_load(&seen) < ninf && km_now() < dl)
            km_sleep(1000000);
        printf("put -> handler: %lld/%d informers, mean %.2f ms, last %.2f ms\n",
               (long long)atomic_load(&seen), ninf,
               atomic_load(&sum_ns) / 1e6 / (atomic_load(&seen) ? atomic_load(&seen) : 1),
               atomic_load(&max_ns) / 1e6);
    }
    for (int i = 0; i < ninf; i++)
        km_informer_stop(inf[i]);
    free(inf);
    km_client_free(c);
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    ep = argv[1];
    ninf = atoi(argv[2]);
    nkeys = atoi(argv[3]);
    if (argc > 4)
        transport = !strcmp(argv[4], "grpc") ? KM_CLIENT_GRPC
                  : !strcmp(argv[4], "json") ? KM_CLIENT_JSON : KM_CLIENT_AUTO;
    return km_main(run, NULL);
}
