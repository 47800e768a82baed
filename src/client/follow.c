/* SPDX-License-Identifier: MIT */
/* The config follower: an instance's effective configuration of a
 * namespace, kept from the server's Server-Sent Events stream (the SDK's
 * streamed-response reader underneath) and swapped whole for readers. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <kumo/group.h>
#include <kumo/net.h>
#include <kumo/resil.h>
#include <kumo/sync.h>
#include "client/follow-int.h"
#include "client/json-int.h"
#include "rt/alloc.h"
#include "tls/tls-int.h"

#define SEC 1000000000LL
#define MS  1000000LL

struct km_ns_follower {
    km_client     *c;
    char          *ns;
    char          *path;        /* the watch's path and query */
    char          *token;       /* NULL: none */
    void         (*on_change)(void *ud, const km_ns_config *cfg);
    void          *ud;
    int64_t        idle_timeout;
    /* Guards only the load-and-reference of cur (a few instructions), as
     * the informer's view: readers never wait behind anything longer. */
    atomic_flag    lock;
    km_ns_config  *cur;         /* the follower's reference; NULL: none yet */
    /* Waiters sleep on cv; a switch and the end broadcast under mu. */
    km_mutex      *mu;
    km_cond       *cv;
    int            dead;        /* under mu: the error that ended the follower */
    atomic_llong   streams;
    int            failures;    /* in a row, for the backoff */
    km_group      *g;
};

static void spin_lock(atomic_flag *f)
{
    while (atomic_flag_test_and_set_explicit(f, memory_order_acquire))
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#else
        ;
#endif
}

const km_ns_config *km_ns_follower_current(km_ns_follower *f)
{
    spin_lock(&f->lock);
    km_ns_config *c = f->cur;
    if (c)
        km_ns_config_ref(c);
    atomic_flag_clear_explicit(&f->lock, memory_order_release);
    return c;
}

int64_t km_ns_follower_streams(const km_ns_follower *f)
{
    return atomic_load(&((km_ns_follower *)f)->streams);
}

/* Whether the held config is release (any, for 0). */
static bool holds(km_ns_follower *f, int64_t release)
{
    const km_ns_config *c = km_ns_follower_current(f);
    bool ok = c && (!release || c->release == release);
    km_ns_config_release(c);
    return ok;
}

int km_ns_follower_wait(km_ns_follower *f, int64_t release, int64_t deadline)
{
    int rc = 0;
    km_mutex_lock(f->mu);
    /* Checked under mu, which a switch broadcasts under: none is missed. */
    while (!holds(f, release)) {
        if (f->dead) {
            rc = f->dead;
            break;
        }
        if ((rc = km_cond_wait_dl(f->cv, f->mu, deadline)) < 0)
            break;
    }
    km_mutex_unlock(f->mu);
    return rc;
}

/* Takes cfg (its reference) if it is another version than the one held. */
static void apply(km_ns_follower *f, km_ns_config *cfg)
{
    km_ns_config *old = f->cur;     /* only this goroutine writes cur */
    if (old && old->release == cfg->release) {
        /* The same version again: a reopened stream starts with it. */
        km_ns_config_release(cfg);
        return;
    }
    spin_lock(&f->lock);
    f->cur = cfg;
    atomic_flag_clear_explicit(&f->lock, memory_order_release);
    km_mutex_lock(f->mu);
    km_cond_broadcast(f->cv);
    km_mutex_unlock(f->mu);
    km_ns_config_release(old);
    if (f->on_change)
        f->on_change(f->ud, cfg);
}

/* What an answer other than 200 means: retried, or the end. */
static int status_err(int status)
{
    if (status == 404)
        return -ENOENT;             /* no such namespace yet: asked again */
    if (status == 401 || status == 403)
        return -EACCES;
    if (status >= 400 && status < 500 && status != 408 && status != 429)
        return -EINVAL;
    return -EAGAIN;
}

/* The endpoint's host (without the port and an IPv6 address's brackets)
 * into buf, for the TLS server name. */
static void host_of(const char *ep, char *buf, size_t n)
{
    const char *end = strrchr(ep, ':');
    size_t hl = end ? (size_t)(end - ep) : strlen(ep);
    if (hl >= 2 && ep[0] == '[' && ep[hl - 1] == ']')
        ep++, hl -= 2;
    snprintf(buf, n, "%.*s", (int)hl, ep);
}

/* Opens the stream to endpoint ep: 0 with the head read (status 200), or
 * -errno (a transport error, or status_err's). */
static int open_stream(km_ns_follower *f, const char *ep, km__stream *s)
{
    int64_t dl = km_now() + f->c->dial_timeout;
    int fd = km_dial(ep, dl);
    if (fd < 0)
        return fd;
    s->fd = fd;
    int rc = 0;
    if (f->c->tls) {
        char host[256];
        host_of(ep, host, sizeof host);
        if ((rc = km__tls_connect(f->c->tls, fd, host, false, dl, &s->tls)) < 0)
            return rc;
    }
    char *req = km__malloc(strlen(f->path) + strlen(ep) + (f->token ? strlen(f->token) : 0) + 160);
    if (!req)
        return -ENOMEM;
    int n = sprintf(req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n%s%s%s\r\n",
                    f->path, ep, f->token ? "Authorization: " : "", f->token ? f->token : "",
                    f->token ? "\r\n" : "");
    ssize_t wn = KM__FAULT_SOCKWRITE(km__io_write(fd, s->tls, req, (size_t)n, dl));
    km__free(req);
    if (wn < 0)
        return (int)wn;
    rc = km__stream_begin(s, dl);
    if (s->status && s->status != 200)
        return status_err(s->status);
    return rc;
}

/* One stream: opened, then read until it breaks. What ended it. */
static int stream_once(km_ns_follower *f)
{
    const char *ep;
    size_t seen = km__client_ep(f->c, &ep);
    km__stream s = { .fd = -1, .max_body = KM__SSE_MAX_DATA + 65536 };
    km__sse sse = { .id = -1 };
    int rc = open_stream(f, ep, &s);
    int64_t opened = km_now();
    bool got = false;
    if (!rc)
        atomic_fetch_add(&f->streams, 1);
    while (!rc) {
        char *line;
        size_t n;
        if ((rc = km__stream_line(&s, km_now() + f->idle_timeout, &line, &n)))
            break;              /* ended, broken, or silent past idle_timeout */
        km__sse_ev ev;
        int r = km__sse_line(&sse, line, n, &ev);
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == 0 || !ev.config)
            continue;
        km_ns_config *cfg;
        if ((rc = km__ns_config_parse(ev.data, ev.n, &cfg)))
            break;
        if (strcmp(cfg->ns, f->ns)) {
            km_ns_config_release(cfg);
            rc = -EBADMSG;
            break;
        }
        got = true;
        apply(f, cfg);
    }
    km__sse_free(&sse);
    km__stream_close(&s);
    /* A stream that lived or delivered was no failure: the next opens at
     * once; one that keeps failing backs off further each time. */
    if (got || km_now() - opened > SEC)
        f->failures = 0;
    if (km__client_transport_err(rc))
        km__client_failover(f->c, seen);
    return rc;
}

static void finish(km_ns_follower *f, int err)
{
    km_mutex_lock(f->mu);
    f->dead = err;
    km_cond_broadcast(f->cv);
    km_mutex_unlock(f->mu);
}

static void run(void *arg)
{
    km_ns_follower *f = arg;
    /* The client's own pace (50 ms doubling to 1 s), with full jitter:
     * the instances a restarted server dropped all at once come back
     * spread over the interval, not together. */
    km_retry_policy pol = { .base = 50 * MS, .max_backoff = SEC };
    for (;;) {
        int rc = stream_once(f);
        if (rc == -ECANCELED || km_group_err(f->g))
            break;
        if (rc == -EINVAL || rc == -EACCES) {
            finish(f, rc);          /* asking again would be refused again */
            break;
        }
        if (km_sleep(km_retry_backoff(&pol, ++f->failures)) < 0)
            break;
    }
}

/* Appends s percent-encoded (all but RFC 3986's unreserved characters). */
static char *pct(char *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            *p++ = (char)ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 15];
        }
    }
    return p;
}

/* APP/NAME, each part 1-64 of A-Z a-z 0-9 . _ - (the server's rule). */
static bool ns_valid(const char *ns)
{
    const char *slash = strchr(ns, '/');
    if (!slash)
        return false;
    size_t a = (size_t)(slash - ns), b = strlen(slash + 1);
    if (a < 1 || a > 64 || b < 1 || b > 64)
        return false;
    for (const char *p = ns; *p; p++)
        if (p != slash && !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789._-", *p))
            return false;
    return true;
}

static void follower_free(km_ns_follower *f)
{
    if (f->cv)
        km_cond_free(f->cv);
    if (f->mu)
        km_mutex_free(f->mu);
    km_ns_config_release(f->cur);
    km__free(f->ns);
    km__free(f->path);
    km__free(f->token);
    km__free(f);
}

int km_ns_follow(km_client *c, const km_ns_follow_config *cfg, km_ns_follower **out)
{
    *out = NULL;
    if (!c || !cfg || !cfg->ns || !ns_valid(cfg->ns))
        return -EINVAL;
    const char *lab = cfg->labels ? cfg->labels : "", *ip = cfg->ip;
    /* The server's bounds: labels under 1 KiB, an address under 64 bytes;
     * a token is one header line. */
    if (strlen(lab) >= 1024 || (ip && strlen(ip) >= 64) ||
        (cfg->token && strpbrk(cfg->token, "\r\n")))
        return -EINVAL;
    km_ns_follower *f = km__calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->c = c;
    f->on_change = cfg->on_change;
    f->ud = cfg->ud;
    f->idle_timeout = cfg->idle_timeout > 0 ? cfg->idle_timeout : 45 * SEC;
    atomic_flag_clear(&f->lock);
    f->ns = km__strdup(cfg->ns);
    f->path = km__malloc(strlen(cfg->ns) + 3 * (strlen(lab) + (ip ? strlen(ip) : 0)) + 64);
    if (cfg->token)
        f->token = km__strdup(cfg->token);
    int rc = f->ns && f->path && (!cfg->token || f->token) ? 0 : -ENOMEM;
    if (!rc) {
        char *p = f->path + sprintf(f->path, "/api/v1/ns/%s/config/watch?labels=", cfg->ns);
        p = pct(p, lab);
        if (ip) {
            p = stpcpy(p, "&ip=");
            p = pct(p, ip);
        }
        *p = 0;
        rc = km_mutex_new(&f->mu);
    }
    if (!rc)
        rc = km_cond_new(&f->cv);
    if (!rc)
        rc = km_group_new(&f->g, NULL, KM_FOREVER);
    if (!rc)
        rc = km_group_go(f->g, run, f);
    if (rc) {
        if (f->g)
            km_group_free(f->g);
        follower_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void km_ns_follower_stop(km_ns_follower *f)
{
    if (!f)
        return;
    km_group_cancel(f->g);
    km_group_wait(f->g, KM_FOREVER);
    km_group_free(f->g);
    follower_free(f);
}
