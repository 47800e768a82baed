/* SPDX-License-Identifier: MIT */
/* Watch fan-out load client: N open /v3/watch streams on one key, one put, and how long each watcher takes to see it. */
#include <kumo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* usage: fanout HOST:PORT WATCHERS [HOLD_MS [LINGER_MS]]
 * Opens WATCHERS watch streams on key "fanout" (at most BATCH connecting at
 * once, so neither side's listen backlog overflows), prints "ready N" once
 * every stream has its "created" message, waits HOLD_MS (the caller reads
 * the server's memory meanwhile), then puts the key once and measures, per
 * watcher, the time from just before the put request is written to the
 * moment the event arrives. Prints one result line:
 *   fanout: watchers=N connect_ms=... p50_ms=... p99_ms=... all_ms=... missed=M
 * Exits 1 if a watcher failed or missed the event (within 60 s); waits
 * LINGER_MS first with every stream still open (for profiling the server). */

#define BATCH 256
#define KEY_B64 "ZmFub3V0"                 /* "fanout" */

static const char *addr;
static long nwatch;
static int64_t *lat;                        /* per watcher, ns; -1: missed */
static atomic_long created, finished, failed;
static atomic_int go_put;                   /* after the put is sent */
static int64_t t_put;
static int64_t give_up;
static long linger_ms;

/* Finds needle in the last n bytes read, with the tail of the previous read
 * kept in front so a token split across reads is still seen. */
typedef struct { char buf[4096 + 64]; size_t keep; } scanner;

static int scan(scanner *s, const char *data, size_t n, const char *needle)
{
    size_t nl = strlen(needle);
    if (n > sizeof s->buf - s->keep)
        n = sizeof s->buf - s->keep;
    memcpy(s->buf + s->keep, data, n);
    size_t len = s->keep + n;
    int found = memmem(s->buf, len, needle, nl) != NULL;
    size_t keep = len < 32 ? len : 32;
    memmove(s->buf, s->buf + len - keep, keep);
    s->keep = keep;
    return found;
}

static void watcher(void *arg)
{
    long i = (long)(intptr_t)arg;
    lat[i] = -1;
    int fd = km_dial(addr, km_now() + 30000000000LL);
    if (fd < 0) {
        fprintf(stderr, "fanout: dial: %s\n", km_strerror(fd));
        atomic_fetch_add(&failed, 1);
        atomic_fetch_add(&created, 1);
        atomic_fetch_add(&finished, 1);
        return;
    }
    static const char body[] = "{\"create_request\":{\"key\":\"" KEY_B64 "\"}}";
    char req[512];
    int n = snprintf(req, sizeof req,
                     "POST /v3/watch HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", sizeof body - 1, body);
    char rbuf[4096];
    scanner sc = { .keep = 0 };
    int ok = km_write(fd, req, (size_t)n, km_now() + 30000000000LL) == n;
    int is_created = 0;
    while (ok && !is_created) {
        ssize_t r = km_read(fd, rbuf, sizeof rbuf, km_now() + 30000000000LL);
        if (r <= 0) { ok = 0; break; }
        is_created = scan(&sc, rbuf, (size_t)r, "\"created\"");
    }
    if (!ok)
        atomic_fetch_add(&failed, 1);
    atomic_fetch_add(&created, 1);
    /* The event can only come after the put; read until it does. */
    while (ok) {
        ssize_t r = km_read(fd, rbuf, sizeof rbuf, give_up ? give_up : km_now() + 120000000000LL);
        if (r <= 0) {
            if (r == -ETIMEDOUT && !atomic_load(&go_put))
                continue;
            break;
        }
        if (scan(&sc, rbuf, (size_t)r, "\"events\"")) {
            lat[i] = km_now() - t_put;
            /* Left open: closing now would charge both sides a connection
             * teardown while other watchers still wait for the event.
             * The process exits when every watcher is done. */
            atomic_fetch_add(&finished, 1);
            return;
        }
    }
    atomic_fetch_add(&finished, 1);
    km_close(fd);
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int put_once(void)
{
    static const char body[] = "{\"key\":\"" KEY_B64 "\",\"value\":\"Z28=\"}";
    char req[512], resp[4096];
    int n = snprintf(req, sizeof req,
                     "POST /v3/kv/put HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", sizeof body - 1, body);
    int fd = km_dial(addr, km_now() + 10000000000LL);
    if (fd < 0)
        return fd;
    t_put = km_now();
    atomic_store(&go_put, 1);
    int rc = (int)km_write(fd, req, (size_t)n, km_now() + 10000000000LL);
    if (rc == n)
        rc = (int)km_read(fd, resp, sizeof resp, km_now() + 10000000000LL);
    km_close(fd);
    return rc < 0 ? rc : 0;
}

static void run(void *arg)
{
    long hold_ms = *(long *)arg;
    int64_t t0 = km_now();
    km_go_opts o = { .stack_size = 32 * 1024, .name = "watcher" };
    for (long i = 0; i < nwatch; i++) {
        while (i - atomic_load(&created) >= BATCH)
            km_sleep(200000);
        if (km_go_opt(watcher, (void *)(intptr_t)i, &o) < 0) {
            fprintf(stderr, "fanout: out of memory at watcher %ld\n", i);
            exit(1);
        }
    }
    while (atomic_load(&created) < nwatch)
        km_sleep(1000000);
    int64_t connect = km_now() - t0;
    printf("ready %ld\n", nwatch - atomic_load(&failed));
    fflush(stdout);
    km_sleep(hold_ms * 1000000LL);
    give_up = km_now() + 60000000000LL;
    int rc = put_once();
    if (rc < 0)
        fprintf(stderr, "fanout: put: %s\n", km_strerror(rc));
    while (atomic_load(&finished) < nwatch && km_now() < give_up)
        km_sleep(1000000);
    qsort(lat, (size_t)nwatch, sizeof *lat, cmp64);
    long missed = 0;
    while (missed < nwatch && lat[missed] < 0)
        missed++;
    long got = nwatch - missed;
    double p50 = got ? lat[missed + got / 2] / 1e6 : -1;
    double p99 = got ? lat[missed + (got * 99 + 99) / 100 - 1] / 1e6 : -1;   /* nearest rank */
    double all = got ? lat[nwatch - 1] / 1e6 : -1;
    printf("fanout: watchers=%ld connect_ms=%.1f p50_ms=%.3f p99_ms=%.3f all_ms=%.3f missed=%ld failed=%ld\n",
           nwatch, connect / 1e6, p50, p99, all, missed, atomic_load(&failed));
    fflush(stdout);
    km_sleep(linger_ms * 1000000LL);
    _exit(missed || rc < 0 ? 1 : 0);    /* the watchers' goroutines need no teardown */
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fanout HOST:PORT WATCHERS [HOLD_MS [LINGER_MS]]\n");
        return 2;
    }
    addr = argv[1];
    nwatch = atol(argv[2]);
    long hold = argc > 3 ? atol(argv[3]) : 0;
    linger_ms = argc > 4 ? atol(argv[4]) : 0;
    if (nwatch <= 0)
        return 2;
    lat = calloc((size_t)nwatch, sizeof *lat);
    if (!lat)
        return 1;
    return km_main(run, &hold) ? 1 : 0;
}
