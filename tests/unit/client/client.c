/* SPDX-License-Identifier: MIT */
/* The client SDK against an in-process server and against a real etcd,
 * over gRPC and over the JSON gateway: KV calls, a watch that resumes
 * across dropped connections, the informer, compaction and snapshots. */
#include "util.h"
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include <kumo/client.h>
#include <kumo/grpc.h>
#include <kumo/http.h>
#include <kumo/serve.h>

#define SEC 1000000000LL
#define MS  1000000LL

/* A TCP proxy between client and server: cutting it drops every stream
 * (as a failing network or a restarted server would) and "down" refuses
 * new connections, while the server itself keeps running. */
typedef struct {
    int        lfd;
    char       target[32], addr[32];
    atomic_int down;
    km_mutex  *mu;
    int        fds[256];
    int        nfds;
    km_wg     *wg;
} proxy;

typedef struct { proxy *p; int from, to; atomic_int *left; } pump_arg;

static void pump(void *arg)
{
    pump_arg *a = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = km_read(a->from, buf, sizeof buf, KM_FOREVER);
        if (n <= 0 || km_write(a->to, buf, (size_t)n, km_now() + 5 * SEC) < 0)
            break;
    }
    km_shutdown(a->from, SHUT_RDWR);
    km_shutdown(a->to, SHUT_RDWR);
    if (atomic_fetch_sub(a->left, 1) == 1) {
        km_mutex_lock(a->p->mu);
        for (int i = 0; i < a->p->nfds; i++)
            if (a->p->fds[i] == a->from || a->p->fds[i] == a->to)
                a->p->fds[i] = -1;
        km_mutex_unlock(a->p->mu);
        km_close(a->from);
        km_close(a->to);
        free(a->left);
    }
    km_wg_done(a->p->wg);
    free(a);
}

static void acceptor(void *arg)
{
    proxy *p = arg;
    for (;;) {
        int fd = km_accept(p->lfd, KM_FOREVER);
        if (fd < 0)
            break;
        int up_fd = atomic_load(&p->down) ? -1 : km_dial(p->target, km_now() + SEC);
        if (up_fd < 0) {
            km_close(fd);
            continue;
        }
        km_mutex_lock(p->mu);
        /* Went down while dialling: a cut already happened, and missed it. */
        if (atomic_load(&p->down)) {
            km_mutex_unlock(p->mu);
            km_close(fd);
            km_close(up_fd);
            continue;
        }
        int slot = -1;
        for (int i = 0; i + 1 < 256 && slot < 0; i += 2)
            if (i >= p->nfds || (p->fds[i] < 0 && p->fds[i + 1] < 0))
                slot = i;
        p->fds[slot] = fd;
        p->fds[slot + 1] = up_fd;
        if (slot >= p->nfds)
            p->nfds = slot + 2;
        km_mutex_unlock(p->mu);
        atomic_int *left = malloc(sizeof *left);
        pump_arg *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        REQUIRE(left && a && b);
        atomic_init(left, 2);
        *a = (pump_arg){ p, fd, up_fd, left };
        *b = (pump_arg){ p, up_fd, fd, left };
        km_wg_add(p->wg, 2);
        REQUIRE_EQ(km_go(pump, a), 0);
        REQUIRE_EQ(km_go(pump, b), 0);
    }
    km_wg_done(p->wg);
}

static void proxy_start(proxy *p, const char *target)
{
    memset(p, 0, sizeof *p);
    snprintf(p->target, sizeof p->target, "%s", target);
    p->lfd = km_listen("127.0.0.1:0", 64);
    ck_assert_int_ge(p->lfd, 0);
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", km_local_port(p->lfd));
    ck_assert_int_eq(km_mutex_new(&p->mu), 0);
    ck_assert_int_eq(km_wg_new(&p->wg), 0);
    km_wg_add(p->wg, 1);
    ck_assert_int_eq(km_go(acceptor, p), 0);
}

/* Drops every connection going through. */
static void proxy_cut(proxy *p)
{
    km_mutex_lock(p->mu);
    for (int i = 0; i < p->nfds; i++)
        if (p->fds[i] >= 0)
            km_shutdown(p->fds[i], SHUT_RDWR);
    km_mutex_unlock(p->mu);
}

static void proxy_stop(proxy *p)
{
    km_close(p->lfd);
    proxy_cut(p);
    km_wg_wait(p->wg);
    km_wg_free(p->wg);
    km_mutex_free(p->mu);
}

/* The server and transport a test runs with: every server test runs once
 * per mode. */
typedef struct {
    const char         *name;
    bool                etcd;       /* a real etcd process, else kumo in-process */
    km_client_transport transport;
} mode;

static const mode MODES[] = {
    { "kumo-json", false, KM_CLIENT_JSON },
    { "kumo-grpc", false, KM_CLIENT_GRPC },
    { "etcd-grpc", true,  KM_CLIENT_GRPC },
    { "etcd-json", true,  KM_CLIENT_JSON },
};
#define NMODES (sizeof MODES / sizeof MODES[0])

typedef struct {
    const mode *m;
    char       dir[64];
    char       listen[32];
    char       ep[32];
    km_serve  *srv;
    pid_t      etcd;
    km_client *c;       /* through the proxy */
    km_client *direct;  /* to the server */
    proxy      px;
} fx;

static void srv_start(fx *f)
{
    km_serve_config sc = { .listen = f->listen, .data_dir = f->dir, .map_size = 64 << 20,
                           .progress_interval = 200 * MS, .no_metrics = true };
    int rc = -1;
    /* The port of a server just stopped may linger a moment. */
    for (int i = 0; i < 50 && rc; i++)
        if ((rc = km_serve_start(&f->srv, &sc)))
            km_sleep(20 * MS);
    ck_assert_msg(rc == 0, "serve: %s", km_strerror(rc));
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", km_serve_port(f->srv));
}

/* A port free a moment ago. */
static int free_port(void)
{
    int fd = km_listen("127.0.0.1:0", 1);
    ck_assert_int_ge(fd, 0);
    int port = km_local_port(fd);
    km_close(fd);
    return port;
}

/* Starts /usr/bin/etcd on free ports with a data dir of its own, its
 * output in etcd.log beside it, and waits until it answers. A test that
 * cannot start it fails. */
static void etcd_start(fx *f)
{
    int cport = free_port(), pport = free_port();
    char client[64], peer[64], cluster[80], log[96];
    snprintf(client, sizeof client, "http://127.0.0.1:%d", cport);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", pport);
    snprintf(cluster, sizeof cluster, "t=%s", peer);
    snprintf(log, sizeof log, "%.*s/etcd.log", (int)strlen(f->dir) - 2, f->dir);
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", cport);
    char *argv[] = {
        "/usr/bin/etcd", "--name", "t", "--data-dir", f->dir,
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", cluster,
        /* As kumo's --progress-interval above: an idle watch hears from
         * the server within its idle timeout. */
        "--experimental-watch-progress-notify-interval", "200ms",
        NULL,
    };
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Dies with the test, whichever way the test ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    f->etcd = pid;
    km_client *c;
    const char *eps[] = { f->listen };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1, .transport = KM_CLIENT_JSON };
    ck_assert_int_eq(km_client_new(&c, &cc), 0);
    int64_t dl = km_now() + 20 * SEC;
    int rc, st;
    for (;;) {
        km_client_range r;
        rc = km_client_get(c, "ready?", km_now() + SEC, &r);
        km_client_range_free(&r);
        if (rc == 0 || km_now() > dl || waitpid(pid, &st, WNOHANG) == pid)
            break;
        km_sleep(50 * MS);
    }
    km_client_free(c);
    ck_assert_msg(rc == 0, "etcd did not start on %s (%s); see %s", f->listen,
                  km_strerror(rc), log);
}

static void etcd_stop(fx *f)
{
    kill(f->etcd, SIGTERM);
    int st;
    waitpid(f->etcd, &st, 0);
    f->etcd = 0;
}

static void up(fx *f, const void *arg)
{
    memset(f, 0, sizeof *f);
    f->m = &MODES[*(const int *)arg];
    strcpy(f->dir, "/tmp/kumo-client-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    strcat(f->dir, "/d");
    strcpy(f->listen, "127.0.0.1:0");
    if (f->m->etcd)
        etcd_start(f);
    else
        srv_start(f);
    proxy_start(&f->px, f->listen);
    strcpy(f->ep, f->px.addr);
    const char *eps[] = { f->ep }, *deps[] = { f->listen };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1, .dial_timeout = SEC,
                            .transport = f->m->transport };
    ck_assert_int_eq(km_client_new(&f->c, &cc), 0);
    cc.endpoints = deps;
    ck_assert_int_eq(km_client_new(&f->direct, &cc), 0);
}

/* The server unreachable (down) or back, as the client sees it. */
static void net_down(fx *f)
{
    atomic_store(&f->px.down, 1);
    proxy_cut(&f->px);
}
static void net_up(fx *f) { atomic_store(&f->px.down, 0); }

static void srv_stop(fx *f)
{
    km_serve_stop(f->srv, km_now() + 2 * SEC);
    f->srv = NULL;
}

static void down(fx *f)
{
    /* Nothing fell back behind the test's back. */
    ck_assert_int_eq(km_client_transport_in_use(f->c), f->m->transport);
    km_client_free(f->c);
    km_client_free(f->direct);
    proxy_stop(&f->px);
    if (f->srv)
        srv_stop(f);
    if (f->etcd)
        etcd_stop(f);
    char cmd[128];
    f->dir[strlen(f->dir) - 2] = 0;
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void put(fx *f, const char *k, const char *v)
{
    int rc = km_client_put(f->direct, k, strlen(k), v, strlen(v), 0, km_now() + 5 * SEC, NULL);
    ck_assert_msg(rc == 0, "put %s: %s", k, km_strerror(rc));
}

/* ---- KV ---- */

static void kv_body(void *arg)
{
    fx f;
    up(&f, arg);
    int64_t rev = 0;
    ck_assert_int_eq(km_client_put(f.c, "a/1", 3, "one", 3, 0, km_now() + SEC, &rev), 0);
    ck_assert_int_eq(rev, 2);
    put(&f, "a/2", "two");
    put(&f, "b/1", "bee");
    km_client_range r;
    ck_assert_int_eq(km_client_get(f.c, "a/1", km_now() + SEC, &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(r.revision, 4);
    ck_assert(r.kvs[0].value_len == 3 && !memcmp(r.kvs[0].value, "one", 3));
    ck_assert_int_eq(r.kvs[0].mod_revision, 2);
    km_client_range_free(&r);
    ck_assert_int_eq(km_client_range_prefix(f.c, "a/", 0, km_now() + SEC, &r), 0);
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(r.kvs[1].key, "a/2");
    km_client_range_free(&r);
    ck_assert_int_eq(km_client_range_prefix(f.c, "a/", 2, km_now() + SEC, &r), 0);
    ck_assert_int_eq(r.n, 1);
    km_client_range_free(&r);
    ck_assert_int_eq(km_client_get(f.c, "nope", km_now() + SEC, &r), 0);
    ck_assert_int_eq(r.n, 0);
    km_client_range_free(&r);

    /* txn: compare the value, then put, else delete */
    km_client_cmp cmp = { .key = "a/1", .op = KM_CLIENT_CMP_EQUAL, .target = KM_CLIENT_TGT_VALUE, .value = "one" };
    km_client_op then = { .type = KM_CLIENT_OP_PUT, .key = "a/1", .value = "uno", .value_len = 3 };
    km_client_op els = { .type = KM_CLIENT_OP_DELETE, .key = "a/1" };
    bool ok = false;
    ck_assert_int_eq(km_client_txn(f.c, &cmp, 1, &then, 1, &els, 1, km_now() + SEC, &ok, &rev), 0);
    ck_assert(ok);
    ck_assert_int_eq(rev, 5);
    ck_assert_int_eq(km_client_txn(f.c, &cmp, 1, &then, 1, &els, 1, km_now() + SEC, &ok, &rev), 0);
    ck_assert(!ok);
    ck_assert_int_eq(km_client_get(f.c, "a/1", km_now() + SEC, &r), 0);
    ck_assert_int_eq(r.n, 0);
    km_client_range_free(&r);

    int64_t deleted = 0;
    ck_assert_int_eq(km_client_delete(f.c, "a/", true, km_now() + SEC, &deleted, NULL), 0);
    ck_assert_int_eq(deleted, 1);

    /* leases */
    int64_t id = 0, ttl = 0;
    ck_assert_int_eq(km_client_lease_grant(f.c, 30, km_now() + SEC, &id, &ttl), 0);
    ck_assert(id != 0 && ttl == 30);
    ck_assert_int_eq(km_client_put(f.c, "l", 1, "x", 1, id, km_now() + SEC, NULL), 0);
    ck_assert_int_eq(km_client_lease_keepalive(f.c, id, km_now() + SEC, &ttl), 0);
    km_client_lease_keeper *k;
    ck_assert_int_eq(km_client_lease_keeper_start(f.c, id, 1, &k), 0);
    km_sleep(50 * MS);
    ck_assert_int_eq(km_client_lease_keeper_stop(k), 0);
    ck_assert_int_eq(km_client_lease_revoke(f.c, id, km_now() + SEC), 0);
    ck_assert_int_eq(km_client_get(f.c, "l", km_now() + SEC, &r), 0);
    ck_assert_int_eq(r.n, 0);
    km_client_range_free(&r);
    ck_assert_int_eq(km_client_lease_keepalive(f.c, id, km_now() + SEC, NULL), -ENOENT);

    /* errors: compacted and future revisions */
    ck_assert_int_eq(km_client_compact(f.c, 5, km_now() + SEC), 0);
    ck_assert_int_eq(km_client_range_prefix(f.c, "a/", 2, km_now() + SEC, &r), -ENODATA);
    km_client_range_free(&r);
    ck_assert_int_eq(km_client_range_prefix(f.c, "a/", 999, km_now() + SEC, &r), -ERANGE);
    km_client_range_free(&r);
    down(&f);
}

START_TEST(kv) { t_run(kv_body, &_i); }
END_TEST

/* ---- failover: a dead endpoint first ---- */

static void failover_body(void *arg)
{
    fx f;
    up(&f, arg);
    km_client *c;
    const char *eps[] = { "127.0.0.1:1", f.ep };
    km_client_config cc = { .endpoints = eps, .nendpoints = 2, .dial_timeout = SEC,
                            .transport = f.m->transport };
    ck_assert_int_eq(km_client_new(&c, &cc), 0);
    ck_assert_int_eq(km_client_put(c, "k", 1, "v", 1, 0, km_now() + 5 * SEC, NULL), 0);
    ck_assert_str_eq(km_client_endpoint(c), f.ep);
    km_client_free(c);
    down(&f);
}

START_TEST(failover) { t_run(failover_body, &_i); }
END_TEST

/* ---- watch: in order, exactly once across a server restart ---- */

static void watch_body(void *arg)
{
    fx f;
    up(&f, arg);
    km_client_watch *w;
    km_client_watch_opts wo = { .key = "w/", .prefix = true, .start_revision = 1,
                                .idle_timeout = SEC };
    ck_assert_int_eq(km_client_watch_open(f.c, &wo, &w), 0);
    char k[16], v[16];
    int64_t want = 2;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 20; i++) {
            snprintf(k, sizeof k, "w/%d", i % 5);
            snprintf(v, sizeof v, "%d", round * 20 + i);
            put(&f, k, v);
        }
        put(&f, "other", "x");
        while (want < 2 + (round + 1) * 21) {
            const km_client_event *ev;
            size_t n;
            int rc = km_client_watch_next(w, km_now() + 10 * SEC, &ev, &n, NULL);
            ck_assert_msg(rc == 0, "next: %s", km_strerror(rc));
            for (size_t i = 0; i < n; i++) {
                ck_assert_int_eq(ev[i].kv.mod_revision, want);
                ck_assert_int_eq(ev[i].type, KM_CLIENT_PUT);
                want++;
                if ((want - 2) % 21 == 20)
                    want++;     /* "other" is not ours */
            }
        }
        /* The connection drops between rounds: the watch resumes. */
        proxy_cut(&f.px);
    }
    ck_assert_int_ge(km_client_watch_streams(w), 3);
    /* A delete too. */
    ck_assert_int_eq(km_client_delete(f.c, "w/0", false, km_now() + SEC, NULL, NULL), 0);
    const km_client_event *ev;
    size_t n;
    ck_assert_int_eq(km_client_watch_next(w, km_now() + 10 * SEC, &ev, &n, NULL), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ev[0].type, KM_CLIENT_DELETE);
    ck_assert_str_eq(ev[0].kv.key, "w/0");
    /* Quiet: the caller's deadline returns, the watch keeps its place. */
    ck_assert_int_eq(km_client_watch_next(w, km_now() + 300 * MS, &ev, &n, NULL), -ETIMEDOUT);
    put(&f, "w/9", "late");
    ck_assert_int_eq(km_client_watch_next(w, km_now() + 10 * SEC, &ev, &n, NULL), 0);
    ck_assert_str_eq(ev[0].kv.value, "late");
    km_client_watch_close(w);

    /* Compacted history is reported with its revision. */
    int64_t rev;
    put(&f, "w/x", "1");
    ck_assert_int_eq(km_client_put(f.c, "w/x", 3, "2", 1, 0, km_now() + SEC, &rev), 0);
    ck_assert_int_eq(km_client_compact(f.c, rev, km_now() + SEC), 0);
    wo.start_revision = 2;
    ck_assert_int_eq(km_client_watch_open(f.c, &wo, &w), 0);
    int64_t crev = 0;
    ck_assert_int_eq(km_client_watch_next(w, km_now() + 5 * SEC, &ev, &n, &crev), -ENODATA);
    ck_assert_int_eq(crev, rev);
    km_client_watch_close(w);
    down(&f);
}

START_TEST(watch_resume) { t_run(watch_body, &_i); }
END_TEST

/* ---- informer ---- */

/* Written by the informer's goroutine, read by the test's: under a lock. */
typedef struct {
    pthread_mutex_t mu;
    char    log[4096];
    int     synced, synced_snap;
} recorder;

#define RECORDER { .mu = PTHREAD_MUTEX_INITIALIZER, .log = "" }

static void rec(recorder *r, const char *fmt, const km_client_kv *a, const km_client_kv *b)
{
    pthread_mutex_lock(&r->mu);
    size_t l = strlen(r->log);
    snprintf(r->log + l, sizeof r->log - l, fmt, a->key, b ? b->value : a->value);
    pthread_mutex_unlock(&r->mu);
}
static void on_add(void *ud, const km_client_kv *kv) { rec(ud, "+%s=%s ", kv, NULL); }
static void on_update(void *ud, const km_client_kv *o, const km_client_kv *n) { rec(ud, "~%s=%s ", o, n); }
static void on_delete(void *ud, const km_client_kv *kv) { rec(ud, "-%s(%s) ", kv, NULL); }
static void on_synced(void *ud, bool snap)
{
    recorder *r = ud;
    pthread_mutex_lock(&r->mu);
    if (snap)
        r->synced_snap++;
    else
        r->synced++;
    pthread_mutex_unlock(&r->mu);
}

static void wait_log(recorder *r, const char *want)
{
    int64_t dl = km_now() + 5 * SEC;
    char got[4096];
    for (;;) {
        pthread_mutex_lock(&r->mu);
        snprintf(got, sizeof got, "%s", r->log);
        bool done = !strcmp(got, want) || km_now() >= dl;
        if (done)
            r->log[0] = 0;
        pthread_mutex_unlock(&r->mu);
        if (done)
            break;
        km_sleep(5 * MS);
    }
    ck_assert_str_eq(got, want);
}

/* The sync callback runs after the handlers of the same list: wait for it. */
static void wait_synced(recorder *r, int want, bool snap)
{
    int64_t dl = km_now() + 5 * SEC;
    int got;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        got = snap ? r->synced_snap : r->synced;
        pthread_mutex_unlock(&r->mu);
        if (got >= want || km_now() >= dl)
            break;
        km_sleep(5 * MS);
    }
    ck_assert_int_eq(got, want);
}

static void view_is(km_informer *inf, const char *want)
{
    char got[512] = "";
    km_informer_view *v = km_informer_current(inf);
    for (size_t i = 0; i < km_informer_view_len(v); i++) {
        const km_client_kv *kv = km_informer_view_at(v, i);
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s=%s ", kv->key, kv->value);
    }
    km_informer_view_release(v);
    ck_assert_str_eq(got, want);
}

static void informer_body(void *arg)
{
    fx f;
    up(&f, arg);
    char snap[96];
    snprintf(snap, sizeof snap, "%.*s/snap", (int)strlen(f.dir) - 2, f.dir);
    put(&f, "cfg/a", "1");
    put(&f, "cfg/b", "2");
    put(&f, "zzz", "no");
    recorder r = RECORDER;
    km_informer_config ic = {
        .prefix = "cfg/", .snapshot_path = snap, .snapshot_interval = 50 * MS,
        .idle_timeout = SEC, .retry_interval = 50 * MS,
        .handlers = { on_add, on_update, on_delete, on_synced, &r },
    };
    km_informer *inf;
    ck_assert_int_eq(km_informer_start(f.c, &ic, &inf), 0);
    ck_assert_int_eq(km_informer_wait_synced(inf, false, km_now() + 5 * SEC), 0);
    wait_log(&r, "+cfg/a=1 +cfg/b=2 ");
    wait_synced(&r, 1, false);
    put(&f, "cfg/a", "10");
    put(&f, "cfg/c", "3");
    ck_assert_int_eq(km_client_delete(f.c, "cfg/b", false, km_now() + SEC, NULL, NULL), 0);
    wait_log(&r, "~cfg/a=10 +cfg/c=3 -cfg/b(2) ");
    view_is(inf, "cfg/a=10 cfg/c=3 ");
    km_informer_view *v = km_informer_current(inf);
    ck_assert_ptr_nonnull(km_informer_view_get(v, "cfg/c", 5));
    ck_assert_ptr_null(km_informer_view_get(v, "cfg/b", 5));
    int64_t vrev = km_informer_view_revision(v);
    km_informer_view_release(v);
    ck_assert_int_eq(vrev, 7);

    /* Compaction while the informer is away: it re-lists and emits the
     * differences. */
    net_down(&f);
    int64_t rev;
    put(&f, "cfg/d", "4");
    ck_assert_int_eq(km_client_delete(f.direct, "cfg/c", false, km_now() + SEC, NULL, &rev), 0);
    ck_assert_int_eq(km_client_compact(f.direct, rev, km_now() + SEC), 0);
    net_up(&f);
    wait_log(&r, "-cfg/c(3) +cfg/d=4 ");   /* a re-list reports in key order */
    ck_assert_int_eq(km_informer_relists(inf), 1);
    view_is(inf, "cfg/a=10 cfg/d=4 ");
    km_informer_stop(inf);

    /* A new informer with the server unreachable starts from the snapshot. */
    net_down(&f);
    recorder r2 = RECORDER;
    ic.handlers.ud = &r2;
    ck_assert_int_eq(km_informer_start(f.c, &ic, &inf), 0);
    ck_assert_int_eq(km_informer_wait_synced(inf, true, km_now() + 10 * SEC), 0);
    ck_assert(km_informer_from_snapshot(inf));
    ck_assert(!km_informer_has_synced(inf));
    wait_synced(&r2, 1, true);
    wait_log(&r2, "+cfg/a=10 +cfg/d=4 ");
    view_is(inf, "cfg/a=10 cfg/d=4 ");
    /* Changes made meanwhile; then the server is reachable again. */
    put(&f, "cfg/a", "11");
    ck_assert_int_eq(km_client_delete(f.direct, "cfg/d", false, km_now() + SEC, NULL, NULL), 0);
    put(&f, "cfg/e", "5");
    net_up(&f);
    ck_assert_int_eq(km_informer_wait_synced(inf, false, km_now() + 10 * SEC), 0);
    int64_t dl = km_now() + 5 * SEC;
    for (;;) {
        km_informer_view *cv = km_informer_current(inf);
        bool done = km_informer_view_len(cv) == 2 && km_informer_view_get(cv, "cfg/e", 5);
        km_informer_view_release(cv);
        if (done || km_now() > dl)
            break;
        km_sleep(5 * MS);
    }
    view_is(inf, "cfg/a=11 cfg/e=5 ");
    ck_assert(!km_informer_from_snapshot(inf));
    km_informer_stop(inf);
    down(&f);
}

START_TEST(informer) { t_run(informer_body, &_i); }
END_TEST

/* ---- re-list after compaction, deterministic ---- */

static void relist_body(void *arg)
{
    fx f;
    up(&f, arg);
    put(&f, "p/a", "1");
    recorder r = RECORDER;
    km_informer_config ic = { .prefix = "p/", .idle_timeout = SEC,
                              .handlers = { on_add, on_update, on_delete, on_synced, &r } };
    km_informer *inf;
    ck_assert_int_eq(km_informer_start(f.c, &ic, &inf), 0);
    wait_log(&r, "+p/a=1 ");
    wait_synced(&r, 1, false);
    net_down(&f);
    int64_t rev;
    put(&f, "p/b", "2");
    put(&f, "p/a", "9");
    put(&f, "p/c", "3");
    ck_assert_int_eq(km_client_delete(f.direct, "p/c", false, km_now() + SEC, NULL, NULL), 0);
    ck_assert_int_eq(km_client_put(f.direct, "x", 1, "x", 1, 0, km_now() + SEC, &rev), 0);
    ck_assert_int_eq(km_client_compact(f.direct, rev, km_now() + SEC), 0);
    net_up(&f);
    wait_log(&r, "~p/a=9 +p/b=2 ");
    ck_assert_int_eq(km_informer_relists(inf), 1);
    wait_synced(&r, 2, false);
    view_is(inf, "p/a=9 p/b=2 ");
    km_informer_stop(inf);
    down(&f);
}

START_TEST(relist) { t_run(relist_body, &_i); }
END_TEST

/* ---- snapshot file ---- */

static void snapshot_body(void *arg)
{
    char path[] = "/tmp/kumo-snap-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    km_client_kv kvs[] = {
        { .key = "a", .key_len = 1, .value = "x\ny", .value_len = 3, .mod_revision = 4, .version = 2 },
        { .key = "b\0c", .key_len = 3, .value = "", .value_len = 0, .mod_revision = 5, .lease = 7 },
    };
    ck_assert_int_eq(km_client_snapshot_write(path, 9, kvs, 2), 0);
    km_client_range r;
    ck_assert_int_eq(km_client_snapshot_read(path, &r), 0);
    ck_assert_int_eq(r.revision, 9);
    ck_assert_int_eq(r.n, 2);
    ck_assert(r.kvs[0].value_len == 3 && !memcmp(r.kvs[0].value, "x\ny", 3));
    ck_assert(r.kvs[1].key_len == 3 && !memcmp(r.kvs[1].key, "b\0c", 3));
    ck_assert_int_eq(r.kvs[1].lease, 7);
    ck_assert_int_eq(r.kvs[0].version, 2);
    km_client_range_free(&r);
    /* A torn file is refused. */
    ck_assert_int_eq(truncate(path, 40), 0);
    ck_assert_int_eq(km_client_snapshot_read(path, &r), -EBADMSG);
    unlink(path);
    ck_assert_int_eq(km_client_snapshot_read(path, &r), -ENOENT);
}

START_TEST(snapshot) { t_run(snapshot_body, NULL); }
END_TEST

/* ---- AUTO: gRPC where the server speaks it, else the JSON gateway ---- */

/* A server of etcd's JSON gateway in miniature: every range is empty, at
 * revision 7. */
static void gateway(km_http_req *r, km_http_resp *w, void *ud)
{
    static const char body[] = "{\"header\":{\"revision\":\"7\"},\"count\":\"0\"}";
    km_str p = km_http_path(r);
    if (p.n == 12 && !memcmp(p.p, "/v3/kv/range", 12))
        km_http_send(w, 200, "application/json", body, sizeof body - 1);
    else
        km_http_send(w, 404, "application/json", "{}", 2);
}

/* One client per transport against a server that does not speak etcd's
 * gRPC API: HTTP/1.1 only (h1_only), or HTTP/2 with gRPC but none of
 * etcd's services. */
static void auto_body(void *arg)
{
    bool h1_only = *(int *)arg == 0;
    km_grpc_server *gs;
    ck_assert_int_eq(km_grpc_server_new(&gs, NULL), 0);
    km_grpc_server_fallback(gs, gateway, NULL);
    km_http_config hc = { .addr = "127.0.0.1:0", .h1_only = h1_only,
                          .handler = h1_only ? gateway : km_grpc_serve_http,
                          .ud = h1_only ? NULL : gs };
    km_http_server *hs;
    ck_assert_int_eq(km_http_serve(&hs, &hc), 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", km_http_server_port(hs));
    const char *eps[] = { ep };
    static const km_client_transport tps[] = { KM_CLIENT_AUTO, KM_CLIENT_GRPC, KM_CLIENT_JSON };
    for (size_t i = 0; i < 3; i++) {
        km_client_config cc = { .endpoints = eps, .nendpoints = 1, .dial_timeout = SEC,
                                .transport = tps[i] };
        km_client *c;
        km_client_range r;
        ck_assert_int_eq(km_client_new(&c, &cc), 0);
        ck_assert_int_eq(km_client_transport_in_use(c),
                         tps[i] == KM_CLIENT_JSON ? KM_CLIENT_JSON : KM_CLIENT_GRPC);
        int rc = km_client_get(c, "k", km_now() + 5 * SEC, &r);
        if (tps[i] == KM_CLIENT_GRPC) {
            ck_assert_msg(rc == -EPROTONOSUPPORT, "grpc: %s", km_strerror(rc));
        } else {
            ck_assert_msg(rc == 0, "get: %s", km_strerror(rc));
            ck_assert_int_eq(r.revision, 7);
            ck_assert_int_eq(km_client_transport_in_use(c), KM_CLIENT_JSON);
        }
        km_client_range_free(&r);
        km_client_free(c);
    }
    km_http_shutdown(hs, km_now() + SEC);
    km_grpc_server_free(gs);
}

START_TEST(auto_fallback) { t_run(auto_body, &_i); }
END_TEST

/* An AUTO client (the default) against kumo and etcd, which both speak
 * gRPC on their one port: it stays on gRPC, a watch included. */
static void auto_grpc_body(void *arg)
{
    fx f;
    int m = *(int *)arg ? 3 : 0;     /* etcd's or kumo's JSON mode: its server */
    up(&f, &m);
    km_client *c;
    const char *eps[] = { f.ep };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1, .dial_timeout = SEC };
    ck_assert_int_eq(km_client_new(&c, &cc), 0);
    km_client_watch *w;
    km_client_watch_opts wo = { .key = "a", .idle_timeout = SEC };
    ck_assert_int_eq(km_client_watch_open(c, &wo, &w), 0);
    const km_client_event *ev;
    size_t n;
    ck_assert_int_eq(km_client_watch_next(w, km_now() + 100 * MS, &ev, &n, NULL), -ETIMEDOUT);
    ck_assert_int_eq(km_client_put(c, "a", 1, "1", 1, 0, km_now() + 5 * SEC, NULL), 0);
    ck_assert_int_eq(km_client_watch_next(w, km_now() + 5 * SEC, &ev, &n, NULL), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(ev[0].kv.mod_revision, 2);
    ck_assert_int_eq(km_client_transport_in_use(c), KM_CLIENT_GRPC);
    km_client_watch_close(w);
    km_client_free(c);
    down(&f);
}

START_TEST(auto_grpc) { t_run(auto_grpc_body, &_i); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("client");
    /* Each server test once per mode, in a test case named after it. */
    for (int i = 0; i < (int)NMODES; i++) {
        TCase *tc = tcase_create(MODES[i].name);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, kv, i, i + 1);
        tcase_add_loop_test(tc, failover, i, i + 1);
        tcase_add_loop_test(tc, watch_resume, i, i + 1);
        tcase_add_loop_test(tc, informer, i, i + 1);
        tcase_add_loop_test(tc, relist, i, i + 1);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, auto_fallback, 0, 2);   /* HTTP/1.1 only; gRPC without etcd */
    tcase_add_loop_test(tc, auto_grpc, 0, 2);       /* kumo; etcd */
    tcase_add_test(tc, snapshot);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
