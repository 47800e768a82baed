/* SPDX-License-Identifier: MIT */
/* Load for etcd's gRPC KV API on kumo's own gRPC client: single-key ranges (linearizable or serializable) or puts, every reply decoded and checked. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kumo.h>
#include <protobuf-c/protobuf-c.h>
#include "etcdserverpb/rpc.pb-c.h"
#include "endpoints.h"

/* Flags in the spirit of etcd's benchmark tool:
 *   grpc_load --endpoint HOST:PORT[,HOST:PORT...] --op range|range-s|put [--conns 1]
 *             [--clients 1] [--seconds 5] [--key-size 8] [--val-size 100]
 *             [--keys 1] [--cacert FILE] [--user NAME:PASSWORD | --token T]
 * range reads key 0 (which it first writes, val-size bytes); put writes
 * keys 0..keys-1 in turn. Each connection is a channel of its own, to the
 * servers listed in turn; the
 * clients (goroutines, one call in flight each) are spread over them.
 * With --user it logs in once and sends the token with every call (the
 * cost of authentication on the server); --token sends one obtained
 * before, so the login's password hashing is not in the measurement.
 * Prints requests/s, p50/p99 latency and errors; exits 1 on any error.
 * Run with KM_PROCS=1 under taskset for one core. */

enum { OP_RANGE, OP_RANGE_S, OP_PUT };

static const char *endpoint;
static km_tls *tls;                 /* --cacert: gRPC over TLS */
static const char *user;            /* --user NAME:PASSWORD */
static char token[2048];
static km_grpc_md md[1];            /* the token, once logged in */
static size_t nmd;
static int op = OP_RANGE, conns = 1, clients = 1, seconds = 5, keys = 1;
static size_t key_size = 8, val_size = 100;
static uint8_t *value;

typedef struct {
    km_grpc_channel *ch;
    int64_t  until;
    int      id;
    long     done, errors;
    int64_t *lat;           /* ns per call, up to cap */
    size_t   nlat, cap;
    km_wg   *wg;
} client;

static void key_of(char *k, long i)
{
    snprintf(k, key_size + 1, "%0*ld", (int)key_size, i);
}

/* One call; 0 when the reply is what the request asks for. */
static int call(km_grpc_channel *ch, long n)
{
    char k[256];
    key_of(k, op == OP_PUT ? n % keys : 0);
    ProtobufCBinaryData key = { key_size, (uint8_t *)k };
    km_grpc_stream *st = NULL;
    ProtobufCMessage *rep = NULL;
    int64_t dl = km_now() + 10000000000LL;
    int rc;
    if (op == OP_PUT) {
        Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
        req.key = key;
        req.value = (ProtobufCBinaryData){ val_size, value };
        rc = km_grpc_unary_pb(ch, "/etcdserverpb.KV/Put", md, nmd, &req.base,
                              &etcdserverpb__put_response__descriptor, dl, &st, &rep);
        if (rc == 0) {
            Etcdserverpb__PutResponse *r = (Etcdserverpb__PutResponse *)rep;
            if (!r->header || r->header->revision < 2)
                rc = -EBADMSG;
        }
    } else {
        Etcdserverpb__RangeRequest req = ETCDSERVERPB__RANGE_REQUEST__INIT;
        req.key = key;
        req.serializable = op == OP_RANGE_S;
        rc = km_grpc_unary_pb(ch, "/etcdserverpb.KV/Range", md, nmd, &req.base,
                              &etcdserverpb__range_response__descriptor, dl, &st, &rep);
        if (rc == 0) {
            Etcdserverpb__RangeResponse *r = (Etcdserverpb__RangeResponse *)rep;
            if (!r->header || r->n_kvs != 1 || r->kvs[0]->value.len != val_size ||
                r->kvs[0]->key.len != key_size || memcmp(r->kvs[0]->key.data, k, key_size))
                rc = -EBADMSG;
        }
    }
    if (rc && rc != -EBADMSG && st) {
        km_grpc_status s = km_grpc_stream_status(st);
        fprintf(stderr, "grpc_load: %s (status %d %.*s)\n", km_strerror(rc), s.code,
                (int)s.message.n, s.message.p);
    }
    km_grpc_pb_free(rep);
    km_grpc_stream_free(st);
    return rc;
}

/* Authenticate as --user; the token goes with every call after. */
static int login(km_grpc_channel *ch)
{
    char name[256];
    const char *colon = strchr(user, ':');
    if (!colon || (size_t)(colon - user) >= sizeof name) {
        fprintf(stderr, "grpc_load: --user NAME:PASSWORD\n");
        return -1;
    }
    memcpy(name, user, (size_t)(colon - user));
    name[colon - user] = 0;
    Etcdserverpb__AuthenticateRequest req = ETCDSERVERPB__AUTHENTICATE_REQUEST__INIT;
    req.name = name;
    req.password = (char *)colon + 1;
    km_grpc_stream *st = NULL;
    ProtobufCMessage *rep = NULL;
    int rc = km_grpc_unary_pb(ch, "/etcdserverpb.Auth/Authenticate", NULL, 0, &req.base,
                              &etcdserverpb__authenticate_response__descriptor,
                              km_now() + 10000000000LL, &st, &rep);
    if (rc == 0)
        snprintf(token, sizeof token, "%s", ((Etcdserverpb__AuthenticateResponse *)rep)->token);
    else
        fprintf(stderr, "grpc_load: login failed: %s\n", km_strerror(rc));
    km_grpc_pb_free(rep);
    km_grpc_stream_free(st);
    md[0] = km_grpc_md_of("token", token, strlen(token));
    nmd = 1;
    return rc;
}

static void run(void *arg)
{
    client *c = arg;
    long n = c->id;
    while (km_now() < c->until) {
        int64_t t0 = km_now();
        if (call(c->ch, n)) {
            c->errors++;
        } else {
            c->done++;
            if (c->nlat < c->cap)
                c->lat[c->nlat++] = km_now() - t0;
        }
        n += clients;
    }
    km_wg_done(c->wg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void main_fn(void *arg)
{
    (void)arg;
    km_grpc_channel **ch = calloc((size_t)conns, sizeof *ch);
    client *c = calloc((size_t)clients, sizeof *c);
    km_wg *wg;
    if (!ch || !c || km_wg_new(&wg)) {
        fprintf(stderr, "grpc_load: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < conns; i++) {
        km_grpc_channel_config cfg = { .target = bench_endpoint(endpoint, i), .max_conns = 1,
                                       .tls = tls };
        if (km_grpc_channel_new(&ch[i], &cfg)) {
            fprintf(stderr, "grpc_load: channel: out of memory\n");
            exit(1);
        }
    }
    if (user && login(ch[0]) < 0)
        exit(1);
    if (token[0] && !user) {
        md[0] = km_grpc_md_of("token", token, strlen(token));
        nmd = 1;
    }
    /* The key a range reads exists first; every connection is up (one
     * call each) before the clock starts. */
    int saved = op;
    op = OP_PUT;
    if (call(ch[0], 0)) {
        fprintf(stderr, "grpc_load: the first put failed\n");
        exit(1);
    }
    op = saved;
    /* With several servers (a caching tier's nodes), the others see the
     * put a moment later: a warm-up call may be tried for 2 s. */
    int64_t warm_until = km_now() + 2000000000LL;
    for (int i = 0; i < conns; i++)
        while (call(ch[i], i)) {
            if (km_now() >= warm_until) {
                fprintf(stderr, "grpc_load: warm-up call failed\n");
                exit(1);
            }
            km_sleep(10000000);
        }
    int64_t t0 = km_now(), until = t0 + (int64_t)seconds * 1000000000LL;
    km_wg_add(wg, clients);
    for (int i = 0; i < clients; i++) {
        c[i] = (client){ .ch = ch[i % conns], .until = until, .id = i, .wg = wg,
                         .cap = 1 << 20 };
        c[i].lat = malloc(c[i].cap * sizeof *c[i].lat);
        if (!c[i].lat || km_go(run, &c[i])) {
            fprintf(stderr, "grpc_load: out of memory\n");
            exit(1);
        }
    }
    km_wg_wait(wg);
    double secs = (double)(km_now() - t0) / 1e9;
    long done = 0, errors = 0;
    size_t nlat = 0;
    for (int i = 0; i < clients; i++) {
        done += c[i].done;
        errors += c[i].errors;
        nlat += c[i].nlat;
    }
    int64_t *all = malloc((nlat ? nlat : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, c[i].lat, c[i].nlat * sizeof *all);
        k += c[i].nlat;
        free(c[i].lat);
    }
    qsort(all, nlat, sizeof *all, cmp_i64);
    double p50 = nlat ? (double)all[nlat / 2] / 1e3 : 0;
    double p99 = nlat ? (double)all[nlat * 99 / 100] / 1e3 : 0;
    printf("requests/s %.0f\nrequests %ld\nerrors %ld\np50_us %.1f\np99_us %.1f\n",
           (double)done / secs, done, errors, p50, p99);
    free(all);
    for (int i = 0; i < conns; i++)
        km_grpc_channel_free(ch[i]);
    km_wg_free(wg);
    free(c);
    free(ch);
    if (errors)
        exit(1);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "endpoint", required_argument, 0, 'e' }, { "op", required_argument, 0, 'o' },
        { "conns", required_argument, 0, 'c' },    { "clients", required_argument, 0, 'n' },
        { "seconds", required_argument, 0, 's' },  { "key-size", required_argument, 0, 'k' },
        { "val-size", required_argument, 0, 'v' }, { "keys", required_argument, 0, 'K' },
        { "cacert", required_argument, 0, 'C' },
        { "user", required_argument, 0, 'u' },
        { "token", required_argument, 0, 't' },
        { 0, 0, 0, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'e': endpoint = optarg; break;
        case 'o':
            op = !strcmp(optarg, "put") ? OP_PUT : !strcmp(optarg, "range-s") ? OP_RANGE_S
               : !strcmp(optarg, "range") ? OP_RANGE : -1;
            break;
        case 'c': conns = atoi(optarg); break;
        case 'n': clients = atoi(optarg); break;
        case 's': seconds = atoi(optarg); break;
        case 'k': key_size = (size_t)atol(optarg); break;
        case 'v': val_size = (size_t)atol(optarg); break;
        case 'K': keys = atoi(optarg); break;
        case 'u': user = optarg; break;
        case 't': snprintf(token, sizeof token, "%s", optarg); break;
        case 'C': {
            km_tls_config tc = { .trusted_ca_file = optarg };
            char err[256];
            if (km_tls_client_new(&tls, &tc, err, sizeof err)) {
                fprintf(stderr, "grpc_load: %s\n", err);
                return 2;
            }
            break;
        }
        default: op = -1;
        }
    }
    if (!endpoint || op < 0 || conns < 1 || clients < conns || seconds < 1 || keys < 1 ||
        key_size < 1 || key_size > 255) {
        fprintf(stderr, "usage: grpc_load --endpoint HOST:PORT --op range|range-s|put [--conns N]"
                        " [--clients N>=conns] [--seconds S] [--key-size 1..255] [--val-size B]"
                        " [--keys N] [--cacert FILE (TLS)] [--user NAME:PASSWORD | --token T]\n");
        return 2;
    }
    value = malloc(val_size ? val_size : 1);
    memset(value, 'v', val_size);
    return km_main(main_fn, NULL);
}
