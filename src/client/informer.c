/* SPDX-License-Identifier: MIT */
/* The informer: list a prefix, watch from the next revision, keep an immutable
 * view readers take without waiting, call handlers in order, re-list on
 * compaction, and fall back to (and keep) a local snapshot file. */
#include <stdlib.h>
#include <string.h>
#include <kumo/group.h>
#include <kumo/sync.h>
#include "client/client-int.h"
#include "rt/rt-int.h"

#define SEC 1000000000LL
#define MS  1000000LL

enum { CH_ADD, CH_UPDATE, CH_DELETE };
typedef struct { int type; km__entry *old, *cur; } change;

struct km_informer {
    km_client           *c;
    char                *prefix;
    km_informer_handlers h;
    char                *snap_path;
    int64_t              snap_interval, idle_timeout, retry;
    /* Guards only the load-and-reference of cur (a few instructions):
     * readers never wait behind anything longer. */
    atomic_flag          lock;
    km_informer_view    *cur;
    atomic_bool          synced, from_snap;
    atomic_llong         relists;
    km_group            *g;
    km_mutex            *save_mu;
    bool                 dirty, snap_loaded;
    int64_t              last_save;
    change              *ch;
    size_t               nch, chcap;
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

km_informer_view *km_informer_current(km_informer *inf)
{
    spin_lock(&inf->lock);
    km_informer_view *v = inf->cur;
    atomic_fetch_add(&v->refs, 1);
    atomic_flag_clear_explicit(&inf->lock, memory_order_release);
    return v;
}

static void publish(km_informer *inf, km_informer_view *v)
{
    spin_lock(&inf->lock);
    km_informer_view *old = inf->cur;
    inf->cur = v;
    atomic_flag_clear_explicit(&inf->lock, memory_order_release);
    km_informer_view_release(old);
}

bool km_informer_has_synced(const km_informer *inf) { return atomic_load(&inf->synced); }
bool km_informer_from_snapshot(const km_informer *inf) { return atomic_load(&inf->from_snap); }
int64_t km_informer_relists(const km_informer *inf) { return atomic_load(&inf->relists); }

int km_informer_wait_synced(km_informer *inf, bool allow_snapshot, int64_t deadline)
{
    while (!atomic_load(&inf->synced) && !(allow_snapshot && atomic_load(&inf->from_snap))) {
        if (deadline != KM_FOREVER && km_now() >= deadline)
            return -ETIMEDOUT;
        if (km_sleep(2 * MS) < 0)
            return -ECANCELED;
    }
    return 0;
}

static int record(km_informer *inf, int type, km__entry *old, km__entry *cur)
{
    if (inf->nch == inf->chcap) {
        size_t nc = inf->chcap ? inf->chcap * 2 : 64;
        change *n = km__malloc(nc * sizeof *n);
        if (!n) {
            /* The references handed over go with the failed record. */
            km__entry_unref(old);
            km__entry_unref(cur);
            return -ENOMEM;
        }
        if (inf->nch)
            memcpy(n, inf->ch, inf->nch * sizeof *n);
        km__free(inf->ch);
        inf->ch = n;
        inf->chcap = nc;
    }
    inf->ch[inf->nch++] = (change){ type, old, cur };
    return 0;
}

/* Calls the handlers for the recorded changes and drops their references. */
static void run_handlers(km_informer *inf)
{
    const km_informer_handlers *h = &inf->h;
    for (size_t i = 0; i < inf->nch; i++) {
        change *c = &inf->ch[i];
        if (c->type == CH_ADD && h->on_add)
            h->on_add(h->ud, &c->cur->kv);
        else if (c->type == CH_UPDATE && h->on_update)
            h->on_update(h->ud, &c->old->kv, &c->cur->kv);
        else if (c->type == CH_DELETE && h->on_delete)
            h->on_delete(h->ud, &c->old->kv);
        km__entry_unref(c->old);
        km__entry_unref(c->cur);
    }
    inf->nch = 0;
    if (inf->snap_path)
        inf->dirty = true;
}

static void drop_changes(km_informer *inf)
{
    for (size_t i = 0; i < inf->nch; i++) {
        km__entry_unref(inf->ch[i].old);
        km__entry_unref(inf->ch[i].cur);
    }
    inf->nch = 0;
}

/* Ends an update built into v: on success publishes it and calls the
 * handlers for its changes; on failure drops both and returns rc. */
static int settle(km_informer *inf, km_informer_view *v, int rc)
{
    if (rc) {
        drop_changes(inf);
        km_informer_view_release(v);
        return rc;
    }
    publish(inf, v);
    run_handlers(inf);
    return 0;
}

/* Applies one batch of watch events to a copy of the view, publishes it,
 * then runs the handlers. */
static int apply(km_informer *inf, const km_client_event *ev, size_t n)
{
    km_informer_view *v = km__view_copy(inf->cur);
    if (!v)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const km_client_kv *kv = &ev[i].kv;
        if (ev[i].type == KM_CLIENT_DELETE) {
            km__entry *old = km__view_del(v, kv->key, kv->key_len);
            if (old)
                rc = record(inf, CH_DELETE, old, NULL);
        } else {
            km__entry *e = km__entry_new(kv);
            if (!e) {
                rc = -ENOMEM;
                break;
            }
            km__entry *old = km__view_set(v, e, &rc);
            if (rc) {
                km__entry_unref(e);
                break;
            }
            rc = record(inf, old ? CH_UPDATE : CH_ADD, old, km__entry_ref(e));
        }
        v->rev = kv->mod_revision;
    }
    return settle(inf, v, rc);
}

static bool same_kv(const km_client_kv *a, const km_client_kv *b)
{
    return a->mod_revision == b->mod_revision && a->value_len == b->value_len &&
           !memcmp(a->value, b->value, a->value_len);
}

/* Replaces the view with the listed kvs, emitting the differences. */
static int replace(km_informer *inf, const km_client_range *r)
{
    km_informer_view *v = km__view_copy(NULL);
    if (!v)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->n; i++) {
        km__entry *e = km__entry_new(&r->kvs[i]);
        if (!e) {
            rc = -ENOMEM;
            break;
        }
        km__entry *dup = km__view_set(v, e, &rc);
        km__entry_unref(rc ? e : dup);
    }
    v->rev = r->revision;
    /* Merge walk of two sorted arrays. */
    const km_informer_view *o = inf->cur;
    size_t i = 0, j = 0;
    while (!rc && (i < o->n || j < v->n)) {
        int c = i == o->n ? 1 : j == v->n ? -1 :
                km__key_cmp(o->e[i]->kv.key, o->e[i]->kv.key_len, v->e[j]->kv.key, v->e[j]->kv.key_len);
        if (c < 0) {
            rc = record(inf, CH_DELETE, km__entry_ref(o->e[i]), NULL);
            i++;
        } else if (c > 0) {
            rc = record(inf, CH_ADD, NULL, km__entry_ref(v->e[j]));
            j++;
        } else {
            if (!same_kv(&o->e[i]->kv, &v->e[j]->kv))
                rc = record(inf, CH_UPDATE, km__entry_ref(o->e[i]), km__entry_ref(v->e[j]));
            i++;
            j++;
        }
    }
    return settle(inf, v, rc);
}

int km_informer_save(km_informer *inf)
{
    if (!inf->snap_path)
        return -EINVAL;
    km_informer_view *v = km_informer_current(inf);
    km_client_kv *kvs = km__malloc((v->n ? v->n : 1) * sizeof *kvs);
    int rc = kvs ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < v->n; i++)
        kvs[i] = v->e[i]->kv;
    if (!rc) {
        km_mutex_lock(inf->save_mu);
        rc = km_client_snapshot_write(inf->snap_path, v->rev, kvs, v->n);
        km_mutex_unlock(inf->save_mu);
    }
    km__free(kvs);
    km_informer_view_release(v);
    return rc;
}

static void maybe_save(km_informer *inf, bool force)
{
    if (!inf->snap_path || !inf->dirty)
        return;
    int64_t now = km_now();
    if (!force && now - inf->last_save < inf->snap_interval)
        return;
    if (km_informer_save(inf) == 0)
        inf->dirty = false;
    inf->last_save = now;
}

static void synced(km_informer *inf, bool from_snapshot)
{
    if (from_snapshot) {
        atomic_store(&inf->from_snap, true);
    } else {
        atomic_store(&inf->from_snap, false);
        atomic_store(&inf->synced, true);
    }
    if (inf->h.on_synced)
        inf->h.on_synced(inf->h.ud, from_snapshot);
}

/* Lists the prefix and watches it until the watch says the history it
 * needs is gone (then returns 0 to re-list) or the informer stops. */
static int list_and_watch(km_informer *inf)
{
    km_client_range r;
    int rc = km_client_range_prefix(inf->c, inf->prefix, 0, km_now() + 5 * SEC, &r);
    if (rc) {
        km_client_range_free(&r);
        return rc;
    }
    rc = replace(inf, &r);
    km_client_range_free(&r);
    if (rc)
        return rc;
    synced(inf, false);
    maybe_save(inf, true);
    km_client_watch_opts wo = { .key = inf->prefix, .prefix = true,
                                .start_revision = inf->cur->rev + 1,
                                .idle_timeout = inf->idle_timeout };
    km_client_watch *w;
    if ((rc = km_client_watch_open(inf->c, &wo, &w)))
        return rc;
    for (;;) {
        const km_client_event *ev;
        size_t n;
        int64_t crev = 0;
        int64_t dl = inf->dirty ? inf->last_save + inf->snap_interval : KM_FOREVER;
        rc = km_client_watch_next(w, dl, &ev, &n, &crev);
        if (rc == 0) {
            if ((rc = apply(inf, ev, n)))
                break;
            maybe_save(inf, false);
        } else if (rc == -ETIMEDOUT) {
            maybe_save(inf, false);
        } else {
            if (rc == -ENODATA) {
                atomic_fetch_add(&inf->relists, 1);
                rc = 0;
            }
            break;
        }
    }
    km_client_watch_close(w);
    return rc;
}

static void load_snapshot(km_informer *inf)
{
    km_client_range r;
    inf->snap_loaded = true;
    if (km_client_snapshot_read(inf->snap_path, &r) == 0) {
        if (replace(inf, &r) == 0)
            synced(inf, true);
        km_client_range_free(&r);
    }
}

static void run(void *arg)
{
    km_informer *inf = arg;
    for (;;) {
        int rc = list_and_watch(inf);
        if (rc == -ECANCELED || km_group_err(inf->g))
            break;
        if (rc == 0)
            continue;               /* compacted: re-list at once */
        /* Nothing answers: serve what the snapshot remembers meanwhile. */
        if (inf->snap_path && !inf->snap_loaded && !atomic_load(&inf->synced))
            load_snapshot(inf);
        if (km_sleep(inf->retry) < 0)
            break;
    }
}

int km_informer_start(km_client *c, const km_informer_config *cfg, km_informer **out)
{
    *out = NULL;
    if (!c || !cfg || !cfg->prefix)
        return -EINVAL;
    km_informer *inf = km__calloc(1, sizeof *inf);
    if (!inf)
        return -ENOMEM;
    inf->c = c;
    inf->h = cfg->handlers;
    inf->snap_interval = cfg->snapshot_interval > 0 ? cfg->snapshot_interval : SEC;
    inf->idle_timeout = cfg->idle_timeout;
    inf->retry = cfg->retry_interval > 0 ? cfg->retry_interval : 200 * MS;
    atomic_flag_clear(&inf->lock);
    size_t pl = strlen(cfg->prefix);
    inf->prefix = km__malloc(pl + 1);
    if (inf->prefix)
        memcpy(inf->prefix, cfg->prefix, pl + 1);
    if (cfg->snapshot_path) {
        size_t sl = strlen(cfg->snapshot_path);
        inf->snap_path = km__malloc(sl + 1);
        if (inf->snap_path)
            memcpy(inf->snap_path, cfg->snapshot_path, sl + 1);
    }
    inf->cur = km__view_copy(NULL);
    int rc = inf->prefix && inf->cur && (!cfg->snapshot_path || inf->snap_path) ? 0 : -ENOMEM;
    if (!rc)
        rc = km_mutex_new(&inf->save_mu);
    if (!rc)
        rc = km_group_new(&inf->g, NULL, KM_FOREVER);
    if (!rc)
        rc = km_group_go(inf->g, run, inf);
    if (rc) {
        if (inf->g)
            km_group_free(inf->g);
        if (inf->save_mu)
            km_mutex_free(inf->save_mu);
        km_informer_view_release(inf->cur);
        km__free(inf->prefix);
        km__free(inf->snap_path);
        km__free(inf);
        return rc;
    }
    *out = inf;
    return 0;
}

void km_informer_stop(km_informer *inf)
{
    if (!inf)
        return;
    km_group_cancel(inf->g);
    km_group_wait(inf->g, KM_FOREVER);
    km_group_free(inf->g);
    maybe_save(inf, true);
    km_mutex_free(inf->save_mu);
    km_informer_view_release(inf->cur);
    km__free(inf->ch);
    km__free(inf->prefix);
    km__free(inf->snap_path);
    km__free(inf);
}
