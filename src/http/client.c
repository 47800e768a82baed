/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 client with keep-alive connection pools per host. */
#include <kumo/net.h>
#include <kumo/sync.h>
#include "parse.h"
#include "rt/rt-int.h"
#include "tls/tls-int.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000000LL
#define MAX_RESP_HDRS 64

typedef struct pconn {
    int           fd;
    km__tls_conn *tls;          /* NULL: plain TCP */
    int64_t       created, last_used;
    struct pconn *next;
} pconn;

typedef struct host {
    char         key[280];      /* "host:port", also the dial address */
    bool         tls;           /* https: a pool apart from http's to the same port */
    int          open;          /* busy + idle */
    int          nidle;
    pconn       *idle;          /* most recently used first */
    struct host *next;
} host;

struct km_http_client {
    km_http_client_config cfg;
    km_mutex *mu;
    km_cond  *freed;            /* a connection slot came free */
    host     *hosts;
};

struct km_http_response {
    km__resp_head h;
    km__hdr       hdrs[MAX_RESP_HDRS];
    char         *buf;
    km_str        body;
};

int km_http_client_new(km_http_client **out, const km_http_client_config *cfg)
{
    if (!out)
        return -EINVAL;
    km_http_client *c = km__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    if (cfg)
        c->cfg = *cfg;
    if (c->cfg.max_idle_per_host <= 0) c->cfg.max_idle_per_host = 16;
    if (c->cfg.max_per_host <= 0) c->cfg.max_per_host = 64;
    if (c->cfg.connect_timeout <= 0) c->cfg.connect_timeout = 5 * SEC;
    if (c->cfg.idle_timeout <= 0) c->cfg.idle_timeout = 90 * SEC;
    if (!c->cfg.max_response_bytes) c->cfg.max_response_bytes = 8 << 20;
    if (km_mutex_new(&c->mu) || km_cond_new(&c->freed)) {
        km_mutex_free(c->mu);
        km__free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

static void conn_close(pconn *p)
{
    km__tls_close_notify(p->tls, km_now() + SEC / 10);
    km_close(p->fd);
    km__tls_free(p->tls);
    km__free(p);
}

void km_http_client_free(km_http_client *c)
{
    if (!c)
        return;
    for (host *h = c->hosts, *hn; h; h = hn) {
        hn = h->next;
        for (pconn *p = h->idle, *pn; p; p = pn) {
            pn = p->next;
            conn_close(p);
        }
        km__free(h);
    }
    km_cond_free(c->freed);
    km_mutex_free(c->mu);
    km__free(c);
}

static host *host_get(km_http_client *c, const char *key, bool tls)
{
    for (host *h = c->hosts; h; h = h->next)
        if (!strcmp(h->key, key) && h->tls == tls)
            return h;
    host *h = km__calloc(1, sizeof *h);
    if (!h)
        return NULL;
    snprintf(h->key, sizeof h->key, "%s", key);
    h->tls = tls;
    h->next = c->hosts;
    c->hosts = h;
    return h;
}

static bool stale(km_http_client *c, pconn *p, int64_t now)
{
    return now - p->last_used > c->cfg.idle_timeout ||
           (c->cfg.max_lifetime > 0 && now - p->created > c->cfg.max_lifetime);
}

/* A connection to h: an idle one (*reused), or a new one within
 * max_per_host, waiting for a free slot until deadline. */
static int acquire(km_http_client *c, host *h, int64_t deadline, pconn **out, bool *reused)
{
    km_mutex_lock(c->mu);
    for (;;) {
        int64_t now = km_now();
        while (h->idle) {
            pconn *p = h->idle;
            h->idle = p->next;
            h->nidle--;
            if (!stale(c, p, now)) {
                km_mutex_unlock(c->mu);
                *out = p;
                *reused = true;
                return 0;
            }
            h->open--;
            conn_close(p);
        }
        if (h->open < c->cfg.max_per_host)
            break;
        int rc = km_cond_wait_dl(c->freed, c->mu, deadline);
        if (rc) {
            km_mutex_unlock(c->mu);
            return rc;
        }
    }
    h->open++;
    km_mutex_unlock(c->mu);
    pconn *p = km__calloc(1, sizeof *p);
    int64_t dl = km_now() + c->cfg.connect_timeout;
    if (deadline != KM_FOREVER && deadline < dl)
        dl = deadline;
    int fd = p ? km_dial(h->key, dl) : -ENOMEM;
    if (fd >= 0 && h->tls) {
        /* The certificate must name the host, without its port. */
        char name[280];
        snprintf(name, sizeof name, "%s", h->key);
        char *colon = strrchr(name, ':');
        if (colon)
            *colon = '\0';
        char *n = name;
        if (*n == '[' && colon && colon[-1] == ']') {
            n++;
            colon[-1] = '\0';
        }
        int rc = km__tls_connect(c->cfg.tls, fd, n, false, dl, &p->tls);
        if (rc) {
            km_close(fd);
            fd = rc;
        }
    }
    if (fd < 0) {
        km__free(p);
        km_mutex_lock(c->mu);
        h->open--;
        km_cond_signal(c->freed);
        km_mutex_unlock(c->mu);
        return fd;
    }
    p->fd = fd;
    p->created = p->last_used = km_now();
    *out = p;
    *reused = false;
    return 0;
}

static void release(km_http_client *c, host *h, pconn *p, bool reusable, int64_t since)
{
    int64_t now = km_now();
    if (c->cfg.leak_threshold > 0 && now - since > c->cfg.leak_threshold)
        fprintf(stderr, "kumo: http client: a request held a connection to %s for %.1f s\n",
                h->key, (double)(now - since) / 1e9);
    km_mutex_lock(c->mu);
    if (reusable && h->nidle < c->cfg.max_idle_per_host && !stale(c, p, now)) {
        p->last_used = now;
        p->next = h->idle;
        h->idle = p;
        h->nidle++;
        p = NULL;
    } else {
        h->open--;
    }
    km_cond_signal(c->freed);
    km_mutex_unlock(c->mu);
    if (p)
        conn_close(p);
}

/* Formats the request head into a new buffer followed by the body. */
static char *format_request(const char *method, km_str hostport, km_str path,
                            const km_http_kv *hdrs, size_t nh, const void *body,
                            size_t n, size_t *len)
{
    size_t cap = strlen(method) + hostport.n + path.n + n + 128;
    for (size_t i = 0; i < nh; i++) {
        if (!hdrs[i].name || !hdrs[i].value || !*hdrs[i].name ||
            strpbrk(hdrs[i].name, "\r\n: ") || strpbrk(hdrs[i].value, "\r\n"))
            return NULL;
        cap += strlen(hdrs[i].name) + strlen(hdrs[i].value) + 4;
    }
    char *b = km__malloc(cap);
    if (!b)
        return NULL;
    int o = snprintf(b, cap, "%s %s%.*s HTTP/1.1\r\nHost: %.*s\r\nUser-Agent: kumo\r\n",
                     method, path.p[0] == '?' ? "/" : "", (int)path.n, path.p,
                     (int)hostport.n, hostport.p);
    for (size_t i = 0; i < nh; i++)
        o += snprintf(b + o, cap - (size_t)o, "%s: %s\r\n", hdrs[i].name, hdrs[i].value);
    if (n || (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "DELETE") &&
              strcmp(method, "OPTIONS")))
        o += snprintf(b + o, cap - (size_t)o, "Content-Length: %zu\r\n", n);
    o += snprintf(b + o, cap - (size_t)o, "\r\n");
    if (n)
        memcpy(b + o, body, n);
    *len = (size_t)o + n;
    return b;
}

/* Moves the response into a buffer of nc bytes; the parsed header
 * strings move with it. 0 or -ENOMEM. */
static int regrow(km_http_response *r, size_t len, size_t nc)
{
    char *nb = km__malloc(nc);
    if (!nb)
        return -ENOMEM;
    memcpy(nb, r->buf, len);
    for (size_t i = 0; i < r->h.nhdrs; i++) {
        r->hdrs[i].name.p = nb + (r->hdrs[i].name.p - r->buf);
        r->hdrs[i].value.p = nb + (r->hdrs[i].value.p - r->buf);
    }
    km__free(r->buf);
    r->buf = nb;
    return 0;
}

/* Reads one response into r. Returns 0 (*reusable says whether the
 * connection can carry another request), or -errno; *got_bytes tells
 * whether any response byte arrived (for the retry rule). */
static int read_response(km_http_client *c, pconn *p, bool head_req, int64_t deadline,
                         km_http_response *r, bool *reusable, bool *got_bytes)
{
    size_t cap = 4096, len = 0, max = c->cfg.max_response_bytes + 65536;
    r->buf = km__malloc(cap);
    if (!r->buf)
        return -ENOMEM;
    *got_bytes = false;
    int hl;
    for (;;) {
        size_t scanned = 0;
        for (;;) {
            hl = km__http_parse_resp_head(r->buf, len, &scanned, &r->h, r->hdrs,
                                          MAX_RESP_HDRS, 65536);
            if (hl < 0)     /* -431: a head over the limits */
                return hl == -431 ? -EMSGSIZE : -EBADMSG;
            if (hl > 0)
                break;
            if (len == cap) {
                char *nb = km__malloc(cap * 2);
                if (!nb)
                    return -ENOMEM;
                memcpy(nb, r->buf, len);
                km__free(r->buf);
                r->buf = nb;
                cap *= 2;
            }
            ssize_t n = km__io_read(p->fd, p->tls, r->buf + len, cap - len, deadline);
            if (n <= 0)
                return n == 0 ? -ECONNRESET : (int)n;
            *got_bytes = true;
            len += (size_t)n;
        }
        if (r->h.status >= 200)
            break;
        /* 1xx: drop the interim head and read on */
        memmove(r->buf, r->buf + hl, len - (size_t)hl);
        len -= (size_t)hl;
    }
    size_t body_start = (size_t)hl;
    bool no_body = head_req || r->h.status == 204 || r->h.status == 304;
    *reusable = r->h.keep_alive;
    size_t end;
    if (no_body) {
        end = body_start;
    } else if (r->h.chunked) {
        km__chunked d = { .rpos = body_start, .wpos = body_start };
        for (;;) {
            int rc = km__chunked_decode(&d, r->buf, len, body_start + c->cfg.max_response_bytes);
            if (rc == 1)
                break;
            if (rc < 0)
                return rc == -413 ? -EMSGSIZE : -EBADMSG;
            if (len == cap) {
                if (cap >= max)
                    return -EMSGSIZE;
                size_t nc = cap * 2 < max ? cap * 2 : max;
                if (regrow(r, len, nc))
                    return -ENOMEM;
                cap = nc;
            }
            ssize_t n = km__io_read(p->fd, p->tls, r->buf + len, cap - len, deadline);
            if (n <= 0)
                return n == 0 ? -ECONNRESET : (int)n;
            len += (size_t)n;
        }
        r->body = (km_str){ r->buf + body_start, d.wpos - body_start };
        end = d.rpos;
    } else {
        bool until_close = r->h.content_length < 0;
        if (!until_close && (uint64_t)r->h.content_length > c->cfg.max_response_bytes)
            return -EMSGSIZE;
        size_t want = until_close ? SIZE_MAX : body_start + (size_t)r->h.content_length;
        while (len < want) {
            if (len == cap) {
                if (cap >= max)
                    return -EMSGSIZE;
                size_t nc = until_close ? cap * 2 : want;
                if (nc > max) nc = max;
                if (regrow(r, len, nc))
                    return -ENOMEM;
                cap = nc;
            }
            ssize_t n = km__io_read(p->fd, p->tls, r->buf + len, cap - len, deadline);
            if (n == 0 && until_close)
                break;
            if (n <= 0)
                return n == 0 ? -ECONNRESET : (int)n;
            len += (size_t)n;
        }
        if (until_close) {
            *reusable = false;
            want = len;
        }
        r->body = (km_str){ r->buf + body_start, want - body_start };
        end = want;
    }
    if (len != end)
        *reusable = false;      /* bytes we did not ask for: do not trust it */
    return 0;
}

static bool idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS") ||
           !strcmp(m, "PUT") || !strcmp(m, "DELETE");
}

int km_http_do(km_http_client *c, const char *method, const char *url,
               const km_http_kv *hdrs, size_t nhdrs, const void *body, size_t n,
               int64_t deadline, km_http_response **out)
{
    if (!c || !method || !*method || !out || (n && !body) || strpbrk(method, " \r\n"))
        return -EINVAL;
    km_str hs, path;
    int port;
    /* https: parsed as http, 443 by default, over c's TLS context. */
    bool tls = !strncasecmp(url, "https://", 8);
    char *plain = NULL;
    if (tls) {
        if (!c->cfg.tls)
            return -EPROTONOSUPPORT;
        if (!(plain = km__malloc(strlen(url))))
            return -ENOMEM;
        memcpy(plain, "http://", 7);
        strcpy(plain + 7, url + 8);
        url = plain;
    }
    int rc = km_http_url_parse(url, &hs, &port, &path);
    if (!rc && tls && hs.p[hs.n] != ':')
        port = 443;
    rc = rc ? rc : hs.n > 255 ? -EINVAL : 0;
    if (rc) {
        km__free(plain);
        return rc;
    }
    char key[280], hostport[280];
    snprintf(key, sizeof key, "%.*s:%d", (int)hs.n, hs.p, port);
    if (port == (tls ? 443 : 80))
        snprintf(hostport, sizeof hostport, "%.*s", (int)hs.n, hs.p);
    else
        snprintf(hostport, sizeof hostport, "%s", key);
    size_t reqlen;
    char *req = format_request(method, (km_str){ hostport, strlen(hostport) }, path,
                               hdrs, nhdrs, body, n, &reqlen);
    km__free(plain);
    if (!req)
        return nhdrs ? -EINVAL : -ENOMEM;
    km_mutex_lock(c->mu);
    host *h = host_get(c, key, tls);
    km_mutex_unlock(c->mu);
    if (!h) {
        km__free(req);
        return -ENOMEM;
    }
    km_http_response *r = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        pconn *p;
        bool reused, reusable = false, got = false;
        int64_t since = km_now();
        if ((rc = acquire(c, h, deadline, &p, &reused)))
            break;
        r = km__calloc(1, sizeof *r);
        if (!r) {
            release(c, h, p, false, since);
            rc = -ENOMEM;
            break;
        }
        ssize_t w = KM__FAULT_SOCKWRITE(km__io_write(p->fd, p->tls, req, reqlen, deadline));
        rc = w < 0 ? (int)w : read_response(c, p, !strcmp(method, "HEAD"), deadline,
                                            r, &reusable, &got);
        release(c, h, p, rc == 0 && reusable, since);
        if (rc == 0)
            break;
        km__free(r->buf);
        km__free(r);
        r = NULL;
        /* A kept-alive connection the server had closed: try a fresh one. */
        if (!(reused && !got && idempotent(method) &&
              (rc == -ECONNRESET || rc == -EPIPE)))
            break;
    }
    km__free(req);
    if (rc)
        return rc;
    *out = r;
    return 0;
}

int km_http_get(km_http_client *c, const char *url, int64_t deadline, km_http_response **out)
{
    return km_http_do(c, "GET", url, NULL, 0, NULL, 0, deadline, out);
}

int km_http_response_status(const km_http_response *r) { return r ? r->h.status : 0; }
km_str km_http_response_body(const km_http_response *r) { return r ? r->body : (km_str){ NULL, 0 }; }

km_str km_http_response_header(const km_http_response *r, const char *name)
{
    return r ? km__hdr_find(r->hdrs, r->h.nhdrs, name) : (km_str){ NULL, 0 };
}

void km_http_response_free(km_http_response *r)
{
    if (!r)
        return;
    km__free(r->buf);
    km__free(r);
}
