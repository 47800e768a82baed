/* SPDX-License-Identifier: MIT */
/* Watch fan-out over etcd's gRPC API: many watches multiplexed on a few streams, one put, and how long each watcher takes to see it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <kumo.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "endpoints.h"

/* usage: grpc_watch HOST:PORT[,HOST:PORT...] WATCHERS CONNS [HOLD_MS [LINGER_MS [PUT_HOST:PORT]]]
 * Opens CONNS connections (spread over the servers listed) with one Watch
 * stream each and creates
 * WATCHERS/CONNS watches on key "fanout" on every stream (as clientv3
 * multiplexes a program's watches), prints "ready N" once every watch is
 * created, waits HOLD_MS (the caller reads the server's memory), then puts
 * the key once and measures, per watcher, the time from just before the
 * put is sent to the moment its event is read. Prints:
 *   fanout: watchers=N connect_ms=... p50_ms=... p99_ms=... all_ms=... missed=M failed=F client_cpu_ms=C
 * (C: this program's own CPU from the put until every event was read, to
 * tell a client-bound fan-out from a server-bound one).
 * Exits 1 if a watcher missed the event within 60 s or a stream failed;
 * waits LINGER_MS first with every stream still open (for profiling the
 * server's fan-out apart from its teardown). The put goes to PUT_HOST:PORT
 * when given (a proxy or caching tier is then measured on a write made on
 * the cluster behind it), else to HOST:PORT. */

#define KEY "fanout"

typedef struct {
    km_grpc_channel *ch;
    km_grpc_stream  *st;
    long             first, n;     /* watchers first..first+n-1 */
    km_wg           *wg;
    int64_t         *id;           /* open addressing: the ids the server gave, +1 (0: free) */
    long            *at;           /* the watcher (0..n-1) of each id */
    size_t           cap;
} conn;

static const char *target, *put_target;
static long nwatch;
static int nconn;
static int64_t *lat;               /* per watcher, ns; -1: missed */
static atomic_long created, seen, failed;
static atomic_int put_sent;
static int64_t t_put, give_up;

/* What the fan-out needs of a WatchResponse. */
typedef struct {
    int64_t watch_id;
    bool    created, canceled;
    size_t  events;
} wresp;

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int s = 0; s < 64 && *p < end; s += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* Reads the top-level fields of a WatchResponse by hand rather than with
 * protobuf-c: unpacking every one of 100,000 responses (allocating their
 * events) cost this one-core client more CPU than the server spent
 * sending them, and the client's cost is not what is measured. Fields:
 * 2 watch_id, 3 created, 4 canceled (varints), 11 events (one per field),
 * the rest skipped; -EBADMSG for a response that does not parse. */
static int scan(km_str m, wresp *r)
{
    const uint8_t *p = (const uint8_t *)m.p, *end = p + m.n;
    memset(r, 0, sizeof *r);
    while (p < end) {
        uint64_t key, v;
        if (!varint(&p, end, &key))
            return -EBADMSG;
        if ((key & 7) == 0) {
            if (!varint(&p, end, &v))
                return -EBADMSG;
            if (key >> 3 == 2) r->watch_id = (int64_t)v;
            if (key >> 3 == 3) r->created = v != 0;
            if (key >> 3 == 4) r->canceled = v != 0;
        } else if ((key & 7) == 2) {
            if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
                return -EBADMSG;
            p += v;
            if (key >> 3 == 11)
                r->events++;
        } else {
            return -EBADMSG;
        }
    }
    return 0;
}

static int recv_one(km_grpc_stream *st, wresp *r, int64_t dl)
{
    km_str m;
    int rc = km_grpc_stream_recv(st, &m, dl);
    if (rc == 1 && scan(m, r) < 0)
        rc = -EBADMSG;
    return rc;
}

/* The slot of watch id `id` on stream c: the one holding it, else the free
 * one where it goes. The server's ids, not the ones asked for: etcd and
 * kumo take the client's watch_id, etcd's grpc-proxy numbers a stream's
 * watches itself from 0. */
static size_t slot(const conn *c, int64_t id)
{
    size_t i = (size_t)id * 0x9e3779b97f4a7c15ULL & (c->cap - 1);
    while (c->id[i] && c->id[i] != id + 1)
        i = (i + 1) & (c->cap - 1);
    return i;
}

/* One stream: create its watches (ids first..), wait for every "created",
 * then read events until each of its watchers has the put. A stream's
 * creates are answered in the order sent, so its k-th "created" names the
 * id of its k-th watcher. */
static void stream_main(void *arg)
{
    conn *c = arg;
    int64_t dl = give_up;
    int rc = km_grpc_stream_open(c->ch, "/etcdserverpb.Watch/Watch", NULL, 0, KM_FOREVER, &c->st);
    for (long i = 0; rc == 0 && i < c->n; i++) {
        Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
        cr.key = (ProtobufCBinaryData){ sizeof KEY - 1, (uint8_t *)KEY };
        cr.watch_id = c->first + i + 1;      /* 0 would let the server choose */
        Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
        req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
        req.create_request = &cr;
        rc = km_grpc_stream_send_pb(c->st, &req.base, false, dl);
    }
    long got_created = 0, got_events = 0;
    while (rc == 0 && (got_created < c->n || got_events < c->n)) {
        wresp r;
        int n = recv_one(c->st, &r, dl);
        if (n != 1) {
            rc = n < 0 ? n : -EPIPE;
            break;
        }
        int64_t now = km_now();
        size_t i = slot(c, r.watch_id);
        long w = c->id[i] ? c->at[i] : -1;
        if (r.created && !c->id[i] && got_created < c->n) {
            c->id[i] = r.watch_id + 1;
            c->at[i] = got_created++;
            atomic_fetch_add(&created, 1);
        } else if (r.events > 0 && w >= 0 && atomic_load(&put_sent)) {
            if (lat[c->first + w] < 0) {
                lat[c->first + w] = now - t_put;
                got_events++;
                atomic_fetch_add(&seen, 1);
            }
        } else if (r.canceled) {
            rc = -ECANCELED;
        }
    }
    if (rc) {
        fprintf(stderr, "grpc_watch: stream %ld: %s\n", c->first / (c->n ? c->n : 1),
                km_strerror(rc));
        atomic_fetch_add(&failed, 1);
    }
    km_wg_done(c->wg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static long hold_ms, linger_ms;

static double cpu_ms(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static void main_fn(void *arg)
{
    (void)arg;
    conn *cs = calloc((size_t)nconn, sizeof *cs);
    lat = malloc((size_t)nwatch * sizeof *lat);
    km_wg *wg;
    if (!cs || !lat || km_wg_new(&wg))
        exit(1);
    for (long i = 0; i < nwatch; i++)
        lat[i] = -1;
    give_up = km_now() + 120 * 1000000000LL;
    int64_t t0 = km_now();
    km_wg_add(wg, nconn);
    long per = nwatch / nconn, extra = nwatch % nconn, first = 0;
    for (int i = 0; i < nconn; i++) {
        km_grpc_channel_config cfg = { .target = bench_endpoint(target, i), .max_conns = 1 };
        cs[i].n = per + (i < extra);
        cs[i].first = first;
        cs[i].wg = wg;
        for (cs[i].cap = 16; cs[i].cap < 2 * (size_t)cs[i].n;)
            cs[i].cap *= 2;
        cs[i].id = calloc(cs[i].cap, sizeof *cs[i].id);
        cs[i].at = malloc(cs[i].cap * sizeof *cs[i].at);
        if (!cs[i].id || !cs[i].at)
            exit(1);
        first += cs[i].n;
        if (km_grpc_channel_new(&cs[i].ch, &cfg) || km_go(stream_main, &cs[i]))
            exit(1);
    }
    while (atomic_load(&created) + atomic_load(&failed) * per < nwatch && km_now() < give_up)
        km_sleep(1000000);
    double connect_ms = (double)(km_now() - t0) / 1e6;
    printf("ready %ld\n", atomic_load(&created));
    fflush(stdout);
    km_sleep(hold_ms * 1000000);

    km_grpc_channel *pch;
    km_grpc_channel_config pcfg = { .target = put_target, .max_conns = 1 };
    if (km_grpc_channel_new(&pch, &pcfg))
        exit(1);
    Etcdserverpb__PutRequest put = ETCDSERVERPB__PUT_REQUEST__INIT;
    put.key = (ProtobufCBinaryData){ sizeof KEY - 1, (uint8_t *)KEY };
    put.value = (ProtobufCBinaryData){ 5, (uint8_t *)"value" };
    km_grpc_stream *pst;
    ProtobufCMessage *prep;
    double cpu0 = cpu_ms();
    t_put = km_now();
    atomic_store(&put_sent, 1);
    int rc = km_grpc_unary_pb(pch, "/etcdserverpb.KV/Put", NULL, 0, &put.base,
                              &etcdserverpb__put_response__descriptor, km_now() + 10000000000LL,
                              &pst, &prep);
    if (rc)
        fprintf(stderr, "grpc_watch: put: %s\n", km_strerror(rc));
    else
        km_grpc_pb_free(prep);
    km_grpc_stream_free(pst);
    give_up = km_now() + 60 * 1000000000LL;
    while (atomic_load(&seen) < atomic_load(&created) && atomic_load(&failed) == 0 &&
           km_now() < give_up)
        km_sleep(1000000);
    double cpu = cpu_ms() - cpu0;
    km_sleep(linger_ms * 1000000);
    /* Streams end by cancelling: every watcher has its event or never will. */
    for (int i = 0; i < nconn; i++)
        if (cs[i].st)
            km_grpc_stream_cancel(cs[i].st);
    km_wg_wait(wg);
    long missed = 0;
    size_t k = 0;
    for (long i = 0; i < nwatch; i++) {
        if (lat[i] < 0)
            missed++;
        else
            lat[k++] = lat[i];
    }
    qsort(lat, k, sizeof *lat, cmp_i64);
    printf("fanout: watchers=%ld connect_ms=%.1f p50_ms=%.3f p99_ms=%.3f all_ms=%.3f missed=%ld failed=%ld"
           " client_cpu_ms=%.1f\n",
           nwatch, connect_ms, k ? (double)lat[k / 2] / 1e6 : -1.0,
           k ? (double)lat[k * 99 / 100] / 1e6 : -1.0, k ? (double)lat[k - 1] / 1e6 : -1.0,
           missed, atomic_load(&failed), cpu);
    for (int i = 0; i < nconn; i++) {
        km_grpc_stream_free(cs[i].st);
        km_grpc_channel_free(cs[i].ch);
        free(cs[i].id);
        free(cs[i].at);
    }
    km_grpc_channel_free(pch);
    km_wg_free(wg);
    exit(missed || rc ? 1 : 0);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: grpc_watch HOST:PORT[,...] WATCHERS CONNS [HOLD_MS [LINGER_MS [PUT_HOST:PORT]]]\n");
        return 2;
    }
    target = argv[1];
    nwatch = atol(argv[2]);
    nconn = atoi(argv[3]);
    hold_ms = argc > 4 ? atol(argv[4]) : 1000;
    linger_ms = argc > 5 ? atol(argv[5]) : 0;
    put_target = argc > 6 ? argv[6] : bench_endpoint(target, 0);
    if (nwatch < 1 || nconn < 1 || nconn > nwatch) {
        fprintf(stderr, "grpc_watch: need 1 <= CONNS <= WATCHERS\n");
        return 2;
    }
    return km_main(main_fn, NULL);
}
