/* SPDX-License-Identifier: MIT */
/* The HTTP/2 client's connections to its target: dial on demand, fill one before the next, drop failed ones, back off. */
#include <string.h>
#include <kumo/net.h>
#include "h2-client-int.h"
#include "rt/alloc.h"
#include "tls/tls-int.h"

#define MS  1000000LL
#define SEC 1000000000LL
/* A connection that dies between being picked and the stream being
 * queued is skipped; a target whose connections keep dying like that
 * fails the open after this many. */
#define OPEN_TRIES 4

/* A connection changed (a stream slot came free, GOAWAY, failure): wake
 * openers, if any wait. The count is raised before an opener looks at
 * the connections, so a change it did not see finds it counted. */
static void conn_changed(km__h2_conn *conn, void *ud)
{
    km_http2_client *c = ud;
    if (atomic_load(&c->waiting)) {
        km_mutex_lock(c->mu);
        km_cond_broadcast(c->cv);
        km_mutex_unlock(c->mu);
    }
}

/* Lets go of a slot's connection: a failed one is gone already; one that
 * cannot take new streams (GOAWAY, ids used up) finishes the ones it has.
 * Done once c->mu is released (unlock_pool): closing runs the
 * connection's hook, which takes c->mu. */
static void drop(km_http2_client *c, km__h2_slot *s, int why)
{
    c->gone[c->ngone++] = (km__h2_gone){ s->conn, why };
    s->conn = NULL;
    c->conns_lost++;
}

static void unlock_pool(km_http2_client *c)
{
    km__h2_gone gone[c->ngone ? c->ngone : 1];
    int n = c->ngone;
    memcpy(gone, c->gone, (size_t)n * sizeof *gone);
    c->ngone = 0;
    km_mutex_unlock(c->mu);
    for (int i = 0; i < n; i++) {
        if (gone[i].why == -EAGAIN)
            km__h2_conn_shutdown(gone[i].conn);
        else if (gone[i].why)
            km__h2_conn_close(gone[i].conn, gone[i].why);
        km__h2_conn_release(gone[i].conn);
    }
}

/* With TLS, the name the server's certificate must carry: as configured,
 * else addr's host ("[::1]:443" gives "::1"). NULL: no memory. */
static char *server_name(const km_http2_client_config *cfg)
{
    if (!cfg->tls)
        return NULL;
    if (cfg->server_name)
        return km__strdup(cfg->server_name);
    const char *a = cfg->addr;
    if (!strncmp(a, "unix:", 5))
        return km__strdup("localhost");
    const char *colon = strrchr(a, ':');
    size_t n = colon ? (size_t)(colon - a) : strlen(a);
    if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
        a++;
        n -= 2;
    }
    char *s = km__malloc(n + 1);
    if (s) {
        memcpy(s, a, n);
        s[n] = '\0';
    }
    return s;
}

int km_http2_client_new(km_http2_client **out, const km_http2_client_config *cfg)
{
    if (!out || !cfg || !cfg->addr || !*cfg->addr)
        return -EINVAL;
    km_http2_client *c = km__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    km_http2_client_config *k = &c->cfg;
    if (k->max_conns <= 0) k->max_conns = 4;
    if (k->connect_timeout <= 0) k->connect_timeout = 5 * SEC;
    if (k->backoff_base <= 0) k->backoff_base = 100 * MS;
    if (k->backoff_max <= 0) k->backoff_max = 10 * SEC;
    c->addr = km__strdup(cfg->addr);
    /* A unix socket's path is no authority. */
    c->authority = km__strdup(cfg->authority ? cfg->authority
                           : !strncmp(cfg->addr, "unix:", 5) ? "localhost" : cfg->addr);
    c->scheme = km__strdup(cfg->scheme ? cfg->scheme : cfg->tls ? "https" : "http");
    c->server_name = server_name(cfg);
    k->addr = c->addr;
    k->authority = c->authority;
    k->scheme = c->scheme;
    c->h2 = (km__h2_cfg){
        .role = KM__H2_CLIENT,
        .stream_window = k->stream_window,
        .conn_window = k->conn_window,
        .max_header_bytes = k->max_header_bytes,
        .send_buffer = k->send_buffer,
        .stream_size = sizeof(km_http2_stream),
        .keepalive_interval = k->keepalive_interval,
        .keepalive_timeout = k->keepalive_timeout,
        .keepalive_idle = k->keepalive_idle,
        .write_timeout = k->write_timeout,
        .hooks = { .changed = conn_changed, .ud = c },
    };
    km__h2_cfg_defaults(&c->h2);
    c->rng = (uint64_t)km_now() * 0x9e3779b97f4a7c15ull | 1;
    atomic_init(&c->waiting, 0);
    if (!c->addr || !c->authority || !c->scheme || (cfg->tls && !c->server_name) ||
        !(c->slots = km__calloc((size_t)k->max_conns, sizeof *c->slots)) ||
        !(c->gone = km__calloc((size_t)k->max_conns, sizeof *c->gone)) ||
        km_mutex_new(&c->mu) || km_cond_new(&c->cv) ||
        km_group_new(&c->grp, NULL, KM_FOREVER)) {
        km_http2_client_free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

void km_http2_client_free(km_http2_client *c)
{
    if (!c)
        return;
    if (c->mu && c->slots && c->gone) {
        km_mutex_lock(c->mu);
        for (int i = 0; i < c->cfg.max_conns; i++)
            if (c->slots[i].conn)
                drop(c, &c->slots[i], -ECONNABORTED);
        unlock_pool(c);
    }
    if (c->grp) {
        /* Connections dropped earlier (after GOAWAY) may still run. */
        km_group_cancel(c->grp);
        km_group_wait(c->grp, KM_FOREVER);
        km_group_free(c->grp);
    }
    km_cond_free(c->cv);
    km_mutex_free(c->mu);
    km__free(c->slots);
    km__free(c->gone);
    km__free(c->addr);
    km__free(c->authority);
    km__free(c->scheme);
    km__free(c->server_name);
    km__free(c);
}

/* The wait before the next dial after fails failures in a row: base x
 * 1.6^(fails-1), at most backoff_max, then ±20% (so that clients which
 * lost the same server do not come back in step). */
static int64_t backoff(km_http2_client *c)
{
    double d = (double)c->cfg.backoff_base;
    for (int i = 1; i < c->fails && d < (double)c->cfg.backoff_max; i++)
        d *= 1.6;
    if (d > (double)c->cfg.backoff_max)
        d = (double)c->cfg.backoff_max;
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    double u = (double)(c->rng >> 11) / (double)(1ull << 53);
    return (int64_t)(d * (0.8 + 0.4 * u));
}

static int dial(km_http2_client *c, int64_t deadline, km__h2_conn **out)
{
    int64_t dl = km_now() + c->cfg.connect_timeout;
    if (deadline != KM_FOREVER && deadline < dl)
        dl = deadline;
    int fd = km_dial(c->addr, dl);
    if (fd < 0)
        return fd;
    km__h2_cfg hc = c->h2;
    if (c->cfg.tls) {
        int trc = km__tls_connect(c->cfg.tls, fd, c->server_name, true, dl, &hc.tls);
        if (trc) {
            km_close(fd);
            return trc;
        }
    }
    km__h2_conn *conn;
    int rc = km__h2_conn_new(&conn, fd, &hc);
    if (rc)
        return rc;
    /* Used once the server's SETTINGS came, as gRPC does: its stream
     * limit is known then, and a server that does not speak HTTP/2 fails
     * the dial rather than a stream. */
    if ((rc = km__h2_conn_start(conn, c->grp)) || (rc = km__h2_conn_ready(conn, dl))) {
        km__h2_conn_close(conn, rc);
        km__h2_conn_release(conn);
        return rc;
    }
    *out = conn;
    return 0;
}

int km__h2_pool_open(km_http2_client *c, const nghttp2_nv *nv, size_t n, bool end,
                     int64_t deadline, km__h2_stream **out)
{
    int rc, tries = 0;
    km_mutex_lock(c->mu);
    for (;;) {
        atomic_fetch_add(&c->waiting, 1);
        km__h2_conn *pick = NULL;
        km__h2_slot *empty = NULL;
        bool dialing = false;
        for (int i = 0; i < c->cfg.max_conns; i++) {
            km__h2_slot *s = &c->slots[i];
            if (s->dialing) {
                dialing = true;
                continue;
            }
            int why = s->conn ? km__h2_conn_usable(s->conn) : 0;
            if (why)
                drop(c, s, why);
            if (!s->conn) {
                if (!empty)
                    empty = s;
                continue;
            }
            int active, limit;
            km__h2_conn_load(s->conn, &active, &limit);
            /* The first with room: fill one connection before using the
             * next, so that a light load keeps to one. */
            if (active < limit && !pick)
                pick = s->conn;
        }
        if (pick) {
            atomic_fetch_sub(&c->waiting, 1);
            km__h2_conn_ref(pick);
            unlock_pool(c);
            /* Deadline 0: it had room a moment ago; if another opener
             * took it, look again rather than wait on this one. */
            rc = km__h2_open(pick, nv, n, end, 0, out);
            km__h2_conn_release(pick);
            if (rc == 0 || rc == -EINVAL || rc == -ENOMEM || rc == -ECANCELED)
                return rc;
            if (rc != -ETIMEDOUT && rc != -EAGAIN && ++tries >= OPEN_TRIES)
                return rc;
            km_mutex_lock(c->mu);
            continue;
        }
        if (empty && !dialing) {
            atomic_fetch_sub(&c->waiting, 1);
            if (c->fails && km_now() < c->retry_at) {
                /* Backing off: fail now, as gRPC does for a target in
                 * transient failure, rather than hold the caller. */
                rc = c->last_err;
                break;
            }
            empty->dialing = true;
            c->dials++;
            unlock_pool(c);
            km__h2_conn *conn = NULL;
            int64_t start = km_now();
            rc = dial(c, deadline, &conn);
            km_mutex_lock(c->mu);
            empty->dialing = false;
            empty->conn = conn;
            km_cond_broadcast(c->cv);
            if (rc) {
                /* The caller's deadline or group cut it short: that says
                 * nothing about the target. */
                if (rc == -ECANCELED || (rc == -ETIMEDOUT && deadline != KM_FOREVER &&
                                         deadline < start + c->cfg.connect_timeout))
                    break;
                c->dial_failures++;
                c->fails++;
                c->last_err = rc;
                c->retry_at = km_now() + backoff(c);
                break;
            }
            c->fails = 0;
            continue;
        }
        if (c->ngone) {
            /* Dropped connections go before waiting: release, look again. */
            atomic_fetch_sub(&c->waiting, 1);
            unlock_pool(c);
            km_mutex_lock(c->mu);
            continue;
        }
        /* Every connection is full (or one is being dialled). */
        rc = km_cond_wait_dl(c->cv, c->mu, deadline);
        atomic_fetch_sub(&c->waiting, 1);
        if (rc)
            break;
    }
    unlock_pool(c);
    return rc;
}

void km_http2_client_stat_read(km_http2_client *c, km_http2_client_stat *st)
{
    *st = (km_http2_client_stat){ 0 };
    km_mutex_lock(c->mu);
    for (int i = 0; i < c->cfg.max_conns; i++) {
        km__h2_conn *conn = c->slots[i].conn;
        if (!conn || km__h2_conn_usable(conn))
            continue;
        int active, limit;
        km__h2_conn_load(conn, &active, &limit);
        st->conns++;
        st->streams += active;
    }
    st->dials = c->dials;
    st->dial_failures = c->dial_failures;
    st->conns_lost = c->conns_lost;
    km_mutex_unlock(c->mu);
}
