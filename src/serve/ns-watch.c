/* SPDX-License-Identifier: MIT */
/* GET /api/v1/ns/APP/NAME/config/watch: an instance's effective
 * configuration as Server-Sent Events, now and each time the version it
 * sees changes (a publish, promotion, rollback, or a gray release that
 * starts or stops selecting it). The watchers of one instance identity
 * (namespace, labels, address) share the event they send: a change read,
 * decided and encoded once per identity, not once per watcher. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt/rt-int.h"
#include <kumo/hub.h>
#include "serve/ns-api.h"

/* A comment line this often keeps proxies from closing an idle stream. */
#define KEEPALIVE_NS (15 * 1000000000LL)

/* ---- the shared events ---- */

/* One "config" event, encoded whole; immutable, reference-counted. */
typedef struct {
    atomic_long refs;
    int64_t     release;        /* the version it carries (a gray release has its own id) */
    size_t      n;
    char        p[];
} event;

static void event_unref(event *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        km__free(e);
}

/* An instance identity and the newest event read for it. Watchers hold
 * it for as long as they stream; the last one frees it. The key names the
 * release service too: servers in one process never share. */
typedef struct slot {
    struct slot *next;          /* in its bucket */
    long         refs;          /* under tab_lock, as is all below */
    uint64_t     hash;
    int64_t      rev;           /* the store revision ev was read at */
    event       *ev;            /* NULL: none read yet */
    size_t       kn;
    char         key[];         /* rel pointer, ns, NUL, labels, NUL, ip */
} slot;

#define NBUCKETS 4096
static slot *buckets[NBUCKETS];
/* Guards the table and the slots' rev and ev: a lookup and a pointer swap
 * at most (reads and encoding happen outside), so a spin lock. */
static atomic_flag tab_lock = ATOMIC_FLAG_INIT;

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&tab_lock, memory_order_acquire))
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#else
        ;
#endif
}

static void unlock(void)
{
    atomic_flag_clear_explicit(&tab_lock, memory_order_release);
}

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* The slot of (rel, ns, labels, ip), made if new, with a reference. NULL:
 * out of memory. */
static slot *slot_get(const km_rel *rel, const char *ns, const char *lab, const char *ip)
{
    size_t a = strlen(ns) + 1, b = strlen(lab) + 1, c = strlen(ip ? ip : "") + 1;
    size_t kn = sizeof rel + a + b + c;
    char key[sizeof rel + 140 + 1024 + 64];
    if (kn > sizeof key)
        return NULL;
    memcpy(key, &rel, sizeof rel);
    memcpy(key + sizeof rel, ns, a);
    memcpy(key + sizeof rel + a, lab, b);
    memcpy(key + sizeof rel + a + b, ip ? ip : "", c);
    uint64_t h = fnv(key, kn);
    slot *fresh = NULL;
    for (;;) {
        lock();
        slot **pp = &buckets[h % NBUCKETS], *s;
        for (s = *pp; s; s = s->next)
            if (s->hash == h && s->kn == kn && !memcmp(s->key, key, kn))
                break;
        if (!s && fresh) {
            s = fresh;
            s->next = *pp;
            *pp = s;
            fresh = NULL;
        }
        if (s)
            s->refs++;
        unlock();
        if (s) {
            km__free(fresh);    /* another made it meanwhile */
            return s;
        }
        /* allocated outside the lock, then looked up again */
        if (!(fresh = km__calloc(1, sizeof *fresh + kn)))
            return NULL;
        fresh->hash = h;
        fresh->kn = kn;
        memcpy(fresh->key, key, kn);
    }
}

static void slot_put(slot *s)
{
    if (!s)
        return;
    lock();
    bool last = --s->refs == 0;
    if (last) {
        slot **pp = &buckets[s->hash % NBUCKETS];
        while (*pp != s)
            pp = &(*pp)->next;
        *pp = s->next;
    }
    unlock();
    if (last) {
        event_unref(s->ev);
        km__free(s);
    }
}

/* cfg as one event. NULL: out of memory. */
static event *encode(json_t *cfg)
{
    char *s = json_dumps(cfg, JSON_COMPACT);
    if (!s)
        return NULL;
    size_t sn = strlen(s);
    event *e = km__malloc(sizeof *e + sn + 64);
    if (e) {
        atomic_init(&e->refs, 1);
        e->release = json_integer_value(json_object_get(cfg, "release"));
        e->n = (size_t)sprintf(e->p, "event: config\ndata: %s\nid: %lld\n\n", s,
                               (long long)json_integer_value(json_object_get(cfg, "revision")));
    }
    free(s);
    return e;
}

/* The instance's event as of revision `at` or later: the slot's if it is
 * that new, else read (and kept there unless a newer one came meanwhile).
 * 0 and *out (a reference); -ENOENT before the first publish; -errno. */
static int current(km__nsapi *a, slot *sl, const char *ns, const char *lab, const char *ip,
                   int64_t at, event **out)
{
    *out = NULL;
    lock();
    if (sl->ev && sl->rev >= at) {
        atomic_fetch_add_explicit(&sl->ev->refs, 1, memory_order_relaxed);
        *out = sl->ev;
    }
    unlock();
    if (*out)
        return 0;
    km_rel_err err;
    json_t *cfg = NULL;
    int rc = km__rel_config(a->rel, ns, lab, ip, true, &cfg, &err);
    if (rc < 0)
        return rc;
    int64_t rev = json_integer_value(json_object_get(cfg, "revision"));
    event *e = encode(cfg);
    json_decref(cfg);
    if (!e)
        return -ENOMEM;
    event *drop = NULL;
    lock();
    if (!sl->ev || rev > sl->rev) {
        drop = sl->ev;
        sl->ev = e;
        sl->rev = rev;
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    }
    unlock();
    event_unref(drop);
    *out = e;
    return 0;
}

/* Sends e when its version differs from *last. */
static int send_event(km_http_resp *w, const event *e, int64_t *last)
{
    if (e->release == *last)
        return 0;
    int rc = km_http_write(w, e->p, e->n);
    if (!rc)
        rc = km_http_flush(w);
    if (!rc)
        *last = e->release;
    return rc;
}

void km__ns_config_watch(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    char ns[140], lab[1024], ipbuf[64];
    if (!km__ns_name(r, w, ns) || !km__ns_allowed(a, r, w, ns, KM__NS_READ))
        return;
    const char *addr;
    if (!km__ns_instance(r, w, lab, ipbuf, &addr))
        return;
    slot *sl = slot_get(a->rel, ns, lab, addr);
    if (!sl) {
        km__native_fail(w, 503, "out of memory");
        return;
    }
    lock();
    bool known = sl->ev != NULL;    /* labels and address were read fine before */
    unlock();
    int rc = 0;
    if (!known) {
        /* bad labels are a 400 now, not a stream that never says anything */
        json_t *probe = NULL;       /* left unset by a failure (-ENOENT before the first publish) */
        km_rel_err err;
        rc = km__rel_config(a->rel, ns, lab, addr, true, &probe, &err);
        json_decref(probe);
        if (rc < 0 && rc != -ENOENT) {
            slot_put(sl);
            km__ns_fail(w, rc, &err);
            return;
        }
    }
    /* Watch first, then read: a change between the two is seen twice at
     * worst, never missed. */
    char buf[640];
    km_watch_opts o = { 0 };
    km__rel_pub_range(ns, buf, sizeof buf, &o.key, &o.range_end);
    km_watch *wt;
    int64_t created;
    if ((rc = km_watch_new(a->nat->hub, &o, &wt, &created)) < 0) {
        slot_put(sl);
        km__native_fail_errno(w, rc);
        return;
    }
    km_http_set_header(w, "Content-Type", "text/event-stream");
    km_http_set_header(w, "Cache-Control", "no-cache");
    km_http_status(w, 200);
    int64_t last = -1;
    event *e;
    rc = km_http_write(w, ": effective configuration\n\n", 27);
    if (!rc)
        rc = km_http_flush(w);
    /* Any event read once the watch existed will do: what changes after
     * it comes as a message below. */
    if (!rc && current(a, sl, ns, lab, addr, created, &e) == 0) {
        rc = send_event(w, e, &last);
        event_unref(e);
    }
    if (!rc)
        km_http_stream_lean(r, w);
    while (!rc) {
        km_watch_msg *m;
        int64_t crev;
        int wr = km_watch_next(wt, km_now() + KEEPALIVE_NS, &m, &crev);
        if (wr == -ETIMEDOUT) {
            rc = km_http_write(w, ": keep-alive\n\n", 14);
            if (!rc)
                rc = km_http_flush(w);
            continue;
        }
        if (wr < 0)
            break;      /* the client left, the server stops, or history is gone */
        /* several revisions may be queued: decide once, after taking them
         * all, on an event read at the newest of them or later (the first
         * watcher of the identity to wake reads it, the others share it) */
        int64_t at = km_watch_msg_revision(m);
        km_watch_msg_release(m);
        while (km_watch_poll(wt, &m) == 0) {
            at = km_watch_msg_revision(m);
            km_watch_msg_release(m);
        }
        int cr = current(a, sl, ns, lab, addr, at, &e);
        if (cr == 0) {
            rc = send_event(w, e, &last);
            event_unref(e);
        } else if (cr != -ENOENT) {
            break;
        }
    }
    km_watch_free(wt);
    slot_put(sl);
}

/* ---- who is watching ---- */

/* GET /api/v1/ns/APP/NAME/instances: the instances following the
 * namespace now, one entry per identity: {"labels","ip","streams","release"}
 * (release 0: none sent yet), "streams" counting its open watches. */
void km__ns_instances(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    char ns[140];
    if (!km__ns_name(r, w, ns) || !km__ns_allowed(a, r, w, ns, KM__NS_READ))
        return;
    size_t nsl = strlen(ns) + 1, cap = 0, n = 0;
    struct seen { char *key; size_t kn; long streams; int64_t release; } *v = NULL;
    int rc = 0;
    /* copied under the lock, turned into JSON after it */
    for (bool again = true; again && !rc;) {
        again = false;
        lock();
        n = 0;
        for (size_t b = 0; b < NBUCKETS && !again; b++)
            for (slot *s = buckets[b]; s && !again; s = s->next) {
                if (memcmp(s->key, &a->rel, sizeof a->rel) ||
                    memcmp(s->key + sizeof a->rel, ns, nsl))
                    continue;
                if (n == cap) {
                    again = true;       /* grow outside the lock, then walk again */
                    break;
                }
                v[n++] = (struct seen){ NULL, s->kn, s->refs, s->ev ? s->ev->release : 0 };
                v[n - 1].key = km__malloc(s->kn);
                if (!v[n - 1].key)
                    rc = -ENOMEM, again = true;
                else
                    memcpy(v[n - 1].key, s->key, s->kn);
            }
        unlock();
        if (again) {
            for (size_t i = 0; i < n; i++)
                km__free(v[i].key);
            n = 0;
            cap = cap ? cap * 2 : 64;
            km__free(v);
            v = NULL;
            if (!rc && !(v = km__malloc(cap * sizeof *v)))
                rc = -ENOMEM;
        }
    }
    json_t *arr = rc ? NULL : json_array();
    for (size_t i = 0; i < n; i++) {
        const char *lab = v[i].key + sizeof a->rel + nsl, *ip = lab + strlen(lab) + 1;
        if (arr)
            json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I}", "labels", lab, "ip", ip,
                                                 "streams", (json_int_t)v[i].streams,
                                                 "release", (json_int_t)v[i].release));
        km__free(v[i].key);
    }
    km__free(v);
    json_t *out = arr ? json_pack("{s:o}", "instances", arr) : NULL;
    char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    if (!s)
        km__native_fail(w, 503, "out of memory");
    else
        km_http_send(w, 200, "application/json", s, strlen(s));
    free(s);
}
