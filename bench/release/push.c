/* SPDX-License-Identifier: MIT */
/* Release push load: N instances each holding a raw config-watch stream
 * (Server-Sent Events over HTTP/1.1, one goroutine each), then publish,
 * gray and promote through the REST API, and how long each instance takes
 * to hold the new release. */
#include <kumo.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* usage: push HOST:PORT INSTANCES [REPS [ITEMS [GRAY_FRACTION [SERVER_PID]]]]
 * Creates namespace bench/cfg (format properties, ITEMS items of 32
 * bytes, default 20), publishes it, opens INSTANCES watch streams (at most
 * BATCH connecting at once; instance i has labels grp=a when i is below
 * GRAY_FRACTION x INSTANCES, default 0.5, else grp=b) and waits until each
 * holds release 1 (printing "ready n=N gray=G connect_ms=.. server_rss_kb=..",
 * the RSS when SERVER_PID is given). Then REPS times (default 3): a publish (one item
 * changed), a gray release for grp=a, its promotion; each a REST call whose
 * return starts the clock, stopped per instance when its stream has
 * delivered the release it must now hold (every instance; grp=a only for
 * the gray release). One line per measurement:
 *   KIND rep=R n=N p50_ms=.. p99_ms=.. max_ms=.. call_ms=.. early=E server_cpu_ms=..
 * (early: instances that held it before the call returned, counted as 0;
 * server_cpu_ms: SERVER_PID's user+system time from the call's start to
 * the last delivery, when given). Exits 1 if an instance failed or missed
 * a release for 60 s.
 *
 * usage: push --floor INSTANCES REPS BYTES WRITER_CPU READER_CPU
 * The kernel's floor for the same push, no server and no runtime: one
 * process on WRITER_CPU write(2)s BYTES to each of INSTANCES loopback TCP
 * connections in turn, one on READER_CPU reads them with epoll
 * (the reader a process of its own: 20,000 descriptors would not fit one
 * process's limit); the time from before the first write to each
 * connection's bytes, as
 *   floor rep=R n=N p50_ms=.. p99_ms=.. max_ms=..
 * what any server pushing one event per watcher over loopback pays. */

#define BATCH 256
#define SEC   1000000000LL
#define NS    "bench/cfg"

static const char *addr;
static long n_inst, n_gray;
static int server_pid;

typedef struct {
    long           i;
    _Atomic int64_t want;       /* the release that completes it; 0: none */
    _Atomic int64_t held;       /* the release the stream delivered last */
    int64_t        at;          /* when want arrived */
} inst;

static inst *insts;
static atomic_long connected, pending, failed;
static km_http_client *http;

/* Where a stream's bytes are: skipping the head, then chunked framing. */
enum { HEAD, SIZE, SIZE_LF, DATA, DATA_CR, DATA_LF };
typedef struct {
    int     st;
    int     crlf;               /* HEAD: how many of "\r\n\r\n" were seen */
    size_t  left;               /* DATA: bytes of the chunk */
    size_t  size;
    int     match;              /* how much of PAT matched */
    bool    digits;             /* reading the number after PAT */
    int64_t num;
} reader;

static const char PAT[] = "\"release\":";

/* Feeds one body byte: a release id when one is complete, else 0. */
static int64_t body_byte(reader *r, char c)
{
    if (r->digits) {
        if (c >= '0' && c <= '9') {
            r->num = r->num * 10 + (c - '0');
            return 0;
        }
        r->digits = false;
        return r->num;
    }
    if (c == PAT[r->match]) {
        if (++r->match == (int)sizeof PAT - 1) {
            r->match = 0;
            r->digits = true;
            r->num = 0;
        }
    } else {
        r->match = c == PAT[0];
    }
    return 0;
}

/* Feeds bytes read from the socket; calls got() for each release id. */
static int feed(reader *r, inst *in, const char *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        char c = p[k];
        switch (r->st) {
        case HEAD:
            r->crlf = (c == (r->crlf % 2 ? '\n' : '\r')) ? r->crlf + 1 : (c == '\r');
            if (r->crlf == 4)
                r->st = SIZE;
            break;
        case SIZE:
            if (c == '\r')
                r->st = SIZE_LF;
            else if (c >= '0' && c <= '9')
                r->size = r->size * 16 + (size_t)(c - '0');
            else if ((c | 32) >= 'a' && (c | 32) <= 'f')
                r->size = r->size * 16 + (size_t)((c | 32) - 'a' + 10);
            else
                return -1;
            break;
        case SIZE_LF:
            if (c != '\n' || r->size == 0)
                return -1;              /* the end of the stream, or garbage */
            r->left = r->size;
            r->size = 0;
            r->st = DATA;
            break;
        case DATA: {
            int64_t rel = body_byte(r, c);
            if (rel) {
                atomic_store(&in->held, rel);
                int64_t w = rel;
                /* the instance or measure(), whichever sees it first */
                if (atomic_compare_exchange_strong(&in->want, &w, 0)) {
                    in->at = km_now();
                    atomic_fetch_sub(&pending, 1);
                }
            }
            if (--r->left == 0)
                r->st = DATA_CR;
            break;
        }
        case DATA_CR:
            if (c != '\r')
                return -1;
            r->st = DATA_LF;
            break;
        case DATA_LF:
            if (c != '\n')
                return -1;
            r->st = SIZE;
            break;
        }
    }
    return 0;
}

static void instance(void *arg)
{
    inst *in = arg;
    int fd = -1;
    for (int tries = 0; tries < 5 && fd < 0; tries++)
        if ((fd = km_dial(addr, km_now() + 10 * SEC)) < 0)
            km_sleep(100000000LL);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /api/v1/ns/" NS "/config/watch?labels=grp%%3D%s HTTP/1.1\r\n"
                     "Host: %s\r\n\r\n", in->i < n_gray ? "a" : "b", addr);
    if (fd < 0 || km_write(fd, req, (size_t)n, km_now() + 10 * SEC) != n) {
        fprintf(stderr, "push: instance %ld: cannot connect: %s\n", in->i, km_strerror(fd));
        atomic_fetch_add(&failed, 1);
        atomic_fetch_add(&connected, 1);
        if (fd >= 0)
            km_close(fd);
        return;
    }
    atomic_fetch_add(&connected, 1);
    reader r = { .st = HEAD };
    char buf[8192];
    for (;;) {
        ssize_t got = km_read(fd, buf, sizeof buf, KM_FOREVER);
        if (got <= 0 || feed(&r, in, buf, (size_t)got) < 0)
            break;
    }
    km_close(fd);
}

/* A REST call: 0 and the "id" of the answer (*id may be NULL). */
static int call(const char *method, const char *path, const char *body, int64_t *id)
{
    char url[256];
    snprintf(url, sizeof url, "http://%s/api/v1/ns/%s", addr, path);
    km_http_response *r;
    int rc = km_http_do(http, method, url, NULL, 0, body, body ? strlen(body) : 0,
                        km_now() + 30 * SEC, &r);
    if (rc) {
        fprintf(stderr, "push: %s %s: %s\n", method, path, km_strerror(rc));
        return rc;
    }
    int st = km_http_response_status(r);
    km_str b = km_http_response_body(r);
    if (st != 200 && st != 201) {
        fprintf(stderr, "push: %s %s: HTTP %d: %.*s\n", method, path, st, (int)b.n, b.p);
        km_http_response_free(r);
        return -EIO;
    }
    if (id) {
        const char *p = memmem(b.p, b.n, "\"id\":", 5);
        *id = p ? atoll(p + 5) : 0;
    }
    km_http_response_free(r);
    return 0;
}

/* The server's user+system CPU time in ns (0 without a pid). */
static int64_t server_cpu(void)
{
    if (!server_pid)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after the command: state, then fields 4..13, utime (14), stime (15) */
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (int64_t)(ut + st) * (SEC / sysconf(_SC_CLK_TCK));
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Arms the instances [0, upto) for release id, makes the change with fn,
 * waits, and prints the line. 0 or -1. */
static int measure(const char *kind, int rep, long upto, int (*fn)(int rep, int64_t *id))
{
    /* The id is known only from the answer: arm with a guess that cannot
     * match, then the real one as soon as it is known. An instance that
     * sees it before that is caught by held. */
    int64_t cpu0 = server_cpu(), t0 = km_now(), id = 0;
    atomic_store(&pending, upto);
    if (fn(rep, &id) || id <= 0)
        return -1;
    int64_t t1 = km_now();
    long early = 0;
    for (long i = 0; i < upto; i++) {
        atomic_store(&insts[i].want, id);
        if (atomic_load(&insts[i].held) == id) {      /* delivered before the call returned */
            int64_t w = id;
            if (atomic_compare_exchange_strong(&insts[i].want, &w, 0)) {
                insts[i].at = t1;
                early++;
                atomic_fetch_sub(&pending, 1);
            }
        }
    }
    int64_t give_up = km_now() + 60 * SEC;
    while (atomic_load(&pending) > 0 && km_now() < give_up)
        km_sleep(1000000);
    int64_t cpu1 = server_cpu();
    long missed = atomic_load(&pending);
    if (missed) {
        fprintf(stderr, "push: %s rep %d: %ld of %ld instances missed release %lld\n", kind,
                rep, missed, upto, (long long)id);
        return -1;
    }
    int64_t *lat = malloc((size_t)upto * sizeof *lat);
    if (!lat)
        return -1;
    for (long i = 0; i < upto; i++)
        lat[i] = insts[i].at > t1 ? insts[i].at - t1 : 0;
    qsort(lat, (size_t)upto, sizeof *lat, cmp64);
    printf("%s rep=%d n=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f call_ms=%.2f early=%ld "
           "server_cpu_ms=%.0f\n", kind, rep, upto, lat[upto / 2] / 1e6,
           lat[(upto * 99) / 100 < upto ? (upto * 99) / 100 : upto - 1] / 1e6,
           lat[upto - 1] / 1e6, (t1 - t0) / 1e6, early, (cpu1 - cpu0) / 1e6);
    fflush(stdout);
    free(lat);
    return 0;
}

static int do_publish(int rep, int64_t *id)
{
    char body[64];
    snprintf(body, sizeof body, "p%d-%08d", rep, rand());
    if (call("PUT", NS "/items/k00", body, NULL))
        return -1;
    snprintf(body, sizeof body, "{\"name\":\"p%d\"}", rep);
    return call("POST", NS "/publish", body, id);
}

static int do_gray(int rep, int64_t *id)
{
    char body[96];
    snprintf(body, sizeof body, "g%d-%08d", rep, rand());
    if (call("PUT", NS "/items/k01", body, NULL))
        return -1;
    snprintf(body, sizeof body, "{\"name\":\"g%d\",\"labels\":\"grp=a\"}", rep);
    return call("POST", NS "/gray", body, id);
}

static int do_promote(int rep, int64_t *id)
{
    char path[64];
    snprintf(path, sizeof path, NS "/gray/g%d/promote", rep);
    return call("POST", path, "{}", id);
}

typedef struct { int argc; char **argv; int rc; } args;

static void run(void *arg)
{
    args *a = arg;
    addr = a->argv[1];
    n_inst = atol(a->argv[2]);
    int reps = a->argc > 3 ? atoi(a->argv[3]) : 3, items = a->argc > 4 ? atoi(a->argv[4]) : 20;
    double frac = a->argc > 5 ? atof(a->argv[5]) : 0.5;
    server_pid = a->argc > 6 ? atoi(a->argv[6]) : 0;
    n_gray = (long)(frac * (double)n_inst);
    a->rc = 1;
    if (n_inst <= 0 || reps <= 0 || items < 2 || n_gray <= 0 || n_gray > n_inst) {
        fprintf(stderr, "push: bad arguments\n");
        return;
    }
    km_http_client_config hc = { .max_per_host = 4 };
    if (km_http_client_new(&http, &hc))
        return;
    if (call("POST", NS, "{\"format\":\"properties\"}", NULL))
        return;
    for (int k = 0; k < items; k++) {
        char path[64], v[48];
        snprintf(path, sizeof path, NS "/items/k%02d", k);
        snprintf(v, sizeof v, "v-%02d-%027d", k, k);     /* 32 bytes */
        if (call("PUT", path, v, NULL))
            return;
    }
    int64_t first;
    if (call("POST", NS "/publish", "{\"name\":\"p0\"}", &first))
        return;
    insts = calloc((size_t)n_inst, sizeof *insts);
    if (!insts)
        return;
    int64_t t0 = km_now();
    atomic_store(&pending, n_inst);
    for (long i = 0; i < n_inst; i++) {
        insts[i].i = i;
        atomic_store(&insts[i].want, first);
    }
    for (long i = 0; i < n_inst; i++) {
        while (i - atomic_load(&connected) >= BATCH)
            km_sleep(1000000);
        if (km_go(instance, &insts[i]))
            return;
    }
    int64_t give_up = km_now() + 120 * SEC;
    while ((atomic_load(&pending) > 0 || atomic_load(&connected) < n_inst) &&
           !atomic_load(&failed) && km_now() < give_up)
        km_sleep(1000000);
    if (atomic_load(&failed) || atomic_load(&pending)) {
        fprintf(stderr, "push: %ld failed, %ld never got release %lld\n", atomic_load(&failed),
                atomic_load(&pending), (long long)first);
        _exit(1);
    }
    long rss = 0;
    if (server_pid) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/%d/status", server_pid);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "VmRSS:", 6))
                rss = atol(line + 6);
        if (f)
            fclose(f);
    }
    printf("ready n=%ld gray=%ld connect_ms=%.0f server_rss_kb=%ld\n", n_inst, n_gray,
           (km_now() - t0) / 1e6, rss);
    fflush(stdout);
    for (int rep = 1; rep <= reps; rep++) {
        km_sleep(200000000LL);          /* let the previous push settle */
        if (measure("publish", rep, n_inst, do_publish) ||
            (km_sleep(200000000LL), measure("gray", rep, n_gray, do_gray)) ||
            (km_sleep(200000000LL), measure("promote", rep, n_inst, do_promote)))
            _exit(1);
    }
    /* The streams stay open; nothing else to wait for. */
    _exit(0);
}

/* ---- the kernel's floor ---- */

/* Shared by the writer and the reader process (each holds one end of every
 * connection: 20,000 descriptors would not fit one process's limit). */
typedef struct {
    atomic_long left;
    atomic_int  done, ready;
    int64_t     at[];           /* when connection i's bytes were all read */
} floor_shm;

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* The reader process: connects n times, then reads with epoll. */
static void floor_reader(floor_shm *sh, long n, size_t bytes, struct sockaddr_in *sa, int cpu)
{
    pin(cpu);
    int ep = epoll_create1(0);
    int *fds = calloc((size_t)n, sizeof *fds);
    size_t *got = calloc((size_t)n, sizeof *got);
    for (long i = 0; i < n; i++) {
        if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
            connect(fds[i], (struct sockaddr *)sa, sizeof *sa)) {
            perror("push: floor: connect");
            _exit(1);
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    atomic_store(&sh->ready, 1);
    struct epoll_event evs[256];
    char buf[65536];
    while (!atomic_load(&sh->done)) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int j = 0; j < k; j++) {
            long i = (long)evs[j].data.u64;
            ssize_t r = read(fds[i], buf, sizeof buf);
            if (r <= 0)
                continue;
            got[i] += (size_t)r;
            if (got[i] >= bytes) {
                got[i] -= bytes;
                sh->at[i] = mono();
                atomic_fetch_sub(&sh->left, 1);
            }
        }
    }
    _exit(0);
}

static int floor_main(int argc, char **argv)
{
    if (argc < 7)
        return 2;
    long n = atol(argv[2]);
    int reps = atoi(argv[3]);
    size_t bytes = (size_t)atol(argv[4]);
    int wcpu = atoi(argv[5]), rcpu = atoi(argv[6]);
    if (n <= 0 || reps <= 0 || !bytes)
        return 2;
    floor_shm *sh = mmap(NULL, sizeof *sh + (size_t)n * sizeof(int64_t), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *srv = calloc((size_t)n, sizeof *srv), one = 1;
    char *msg = malloc(bytes);
    if (sh == MAP_FAILED || !srv || !msg)
        return 1;
    memset(msg, 'x', bytes);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl))
        return 1;
    pid_t child = fork();
    if (child == 0)
        floor_reader(sh, n, bytes, &sa, rcpu);
    pin(wcpu);
    for (long i = 0; i < n; i++) {
        if ((srv[i] = accept(lfd, NULL, NULL)) < 0) {
            perror("push: floor: accept");
            return 1;
        }
        /* as kumo's server sockets */
        setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    while (!atomic_load(&sh->ready))
        usleep(1000);
    int rc = 0;
    for (int rep = 1; rep <= reps && !rc; rep++) {
        usleep(200000);
        atomic_store(&sh->left, n);
        int64_t t0 = mono();
        for (long i = 0; i < n && !rc; i++)
            if (write(srv[i], msg, bytes) != (ssize_t)bytes)
                rc = 1;
        int64_t give_up = mono() + 60 * SEC;
        while (!rc && atomic_load(&sh->left) > 0 && mono() < give_up)
            usleep(200);
        int64_t *lat = malloc((size_t)n * sizeof *lat);
        if (rc || !lat || atomic_load(&sh->left) > 0) {
            rc = 1;
            break;
        }
        for (long i = 0; i < n; i++)
            lat[i] = sh->at[i] - t0;
        qsort(lat, (size_t)n, sizeof *lat, cmp64);
        printf("floor rep=%d n=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", rep, n,
               lat[n / 2] / 1e6, lat[(n * 99) / 100] / 1e6, lat[n - 1] / 1e6);
        fflush(stdout);
        free(lat);
    }
    atomic_store(&sh->done, 1);
    waitpid(child, NULL, 0);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--floor")) {
        int rc = floor_main(argc, argv);
        if (rc == 2)
            fprintf(stderr, "usage: push --floor INSTANCES REPS BYTES WRITER_CPU READER_CPU\n");
        return rc;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: push HOST:PORT INSTANCES [REPS [ITEMS [GRAY_FRACTION [SERVER_PID]]]]\n");
        return 2;
    }
    args a = { argc, argv, 1 };
    int rc = km_main(run, &a);
    return rc ? 1 : a.rc;
}
