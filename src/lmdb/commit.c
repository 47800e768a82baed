/* SPDX-License-Identifier: MIT */
/* The committer: one goroutine batches queued writes into one LMDB commit (one fsync). */
#include <string.h>
#include <unistd.h>
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

typedef struct {
    km__lmdb  *s;
    km__wreq  *head;
    km__arena *eva;
    bool       listen;
    bool       visible;     /* committed but not synced: readers see it */
} batch;

/* The environment is opened with MDB_NOMETASYNC: a commit syncs the data
 * pages, then writes the meta page that points at them without syncing it.
 * This sync of the meta page makes the commit durable, as LMDB's own second
 * sync would, and lets the store time it apart (its fsync histogram). A
 * failed sync is final: LMDB marks its environment unusable after one, and
 * the kernel may already have dropped the pages it could not write. */
static int sync_commit(km__lmdb *s)
{
    if (s->replica)
        return 0;   /* a cache, rebuilt at every start: nothing to make durable */
    int rc = KM__FAULT(KM__F_FSYNC) ? -EIO : km__mdb_err(mdb_env_sync(s->env, 1));
    if (rc)
        atomic_store(&s->failed, rc);
    return rc;
}

/* Runs on the offload pool: LMDB's write lock is a thread's, so the whole
 * batch, begin to commit, stays on one thread. */
static void batch_fn(void *arg)
{
    batch *b = arg;
    km__lmdb *s = b->s;
    int64_t rev = atomic_load(&s->revision), compact = atomic_load(&s->compact);
    MDB_txn *parent = NULL;
    int rc = atomic_load(&s->failed);
    if (!rc)
        rc = km__mdb_err(mdb_txn_begin(s->env, NULL, 0, &parent));
    bool changed = false;
    for (km__wreq *w = b->head; w; w = w->next) {
        w->applied = false;
        if (rc) {
            w->rc = rc;
            continue;
        }
        MDB_txn *child;
        int wrc = km__mdb_err(mdb_txn_begin(s->env, parent, 0, &child));
        if (wrc) {
            w->rc = wrc;
            continue;
        }
        km__xc x = {
            .s = s, .txn = child, .a = w->res ? w->res->arena : b->eva,
            .rev = rev, .compact = compact, .write = true,
            .w = b->listen ? w : NULL, .eva = b->eva,
        };
        bool mine = w->kind != KM__W_TXN;
        switch (w->kind) {
        case KM__W_TXN:
            wrc = km__txn_exec(&x, w->req, &w->res->txn);
            break;
        case KM__W_GRANT:
            wrc = km__grant(&x, w->id, w->ttl);
            break;
        case KM__W_REVOKE:
            wrc = km__revoke(&x, w->id);
            break;
        case KM__W_COMPACT:
            if (w->rev > rev)
                wrc = -ERANGE;
            else if (w->rev <= compact)
                wrc = -ENODATA;
            else
                wrc = km__compact_apply(&x, w->rev, true, w->ckey, &w->ckn, &w->cmore);
            break;
        case KM__W_LOAD:
            wrc = km__replica_load_page(&x, w);
            break;
        case KM__W_APPLY:
            /* a replica follows its source revision for revision */
            wrc = w->rev != rev + 1 ? -ERANGE : km__replica_apply_rev(&x, w);
            break;
        default:
            wrc = km__compact_apply(&x, w->rev, false, w->ckey, &w->ckn, &w->cmore);
            break;
        }
        if (!wrc && x.sub > 0)
            wrc = km__meta_set(s, child, "rev", rev + 1);
        if (!wrc)
            wrc = km__mdb_err(mdb_txn_commit(child));
        else
            mdb_txn_abort(child);
        w->applied = !wrc;
        if (wrc) {
            w->nev = 0;
        } else {
            if (x.sub > 0)
                rev++;
            if (w->kind == KM__W_COMPACT)
                compact = w->rev;
            if (w->kind == KM__W_LOAD && w->last)
                rev = compact = w->rev;
            changed |= mine || x.sub > 0;
        }
        w->rc = wrc;
        w->out_rev = rev;
    }
    if (rc)
        return;
    if (!changed) {
        mdb_txn_abort(parent);
        return;
    }
    int64_t t0 = km_now(), txn = (int64_t)mdb_txn_id(parent);
    /* an injected failure ends the batch the way a failed commit does */
    if (KM__FAULT(KM__F_COMMIT)) {
        mdb_txn_abort(parent);
        rc = -EIO;
    } else {
        rc = km__mdb_err(mdb_txn_commit(parent));
    }
    int64_t t1 = km_now();
    if (!rc) {
        km__stamp(s, txn, rev, compact);   /* readers may see this commit now */
        rc = sync_commit(s);
        b->visible = rc != 0;
    }
    atomic_fetch_add(&s->commits, 1);
    int64_t t2 = km_now();
    if (s->on_commit && !rc)
        s->on_commit(s->on_commit_ud, t2 - t0, t2 - t1);
    if (rc) {
        /* nothing of the batch is durable: fail every request in it */
        for (km__wreq *w = b->head; w; w = w->next) {
            w->rc = rc;
            w->nev = 0;
        }
        return;
    }
    atomic_store(&s->revision, rev);
    atomic_store(&s->compact, compact);
}

static void nap_fn(void *arg)
{
    usleep((useconds_t)(intptr_t)arg * 1000);
}

void km__nap(int ms)
{
    km__blocking(nap_fn, (void *)(intptr_t)ms, false);
}

static void committer(void *arg)
{
    km__lmdb *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->qlock);
        km__wreq *head = s->qhead, *tail = NULL;
        int n = 0;
        for (km__wreq *w = head; w && n < s->max_batch; w = w->next, n++) {
            w->taken = true;
            tail = w;
        }
        if (tail) {
            s->qhead = tail->next;
            if (!s->qhead)
                s->qtail = NULL;
            tail->next = NULL;
        }
        bool closing = s->closing;
        pthread_mutex_unlock(&s->qlock);
        if (!tail) {
            if (closing)
                break;
            if (km_chan_recv(s->wake, NULL) == -ECANCELED)
                km__nap(1);   /* our group was cancelled: keep serving, polling */
            continue;
        }
        /* Events are kept even with nobody subscribed: one may subscribe
         * while this batch runs and must not miss its revisions. */
        batch b = { s, head, km__arena_new(), true, false };
        /* without event memory the feed would miss revisions: refuse */
        int brc = b.eva ? km__blocking(batch_fn, &b, false) : -ENOMEM;
        for (km__wreq *w = head; brc && w; w = w->next) {
            w->rc = brc;     /* the batch never ran */
            w->nev = 0;
        }
        atomic_fetch_add(&s->writes, n);
        /* The lease timers follow the leases readers see: after a failed
         * sync, those of the batch that went in (not durable, but there). */
        for (km__wreq *w = head; w; w = w->next) {
            bool in = w->rc == 0 || (b.visible && w->applied);
            if (in && w->kind == KM__W_GRANT)
                km__lease_mem_add(s, w->id, w->ttl);
            if ((in || w->rc == -ENOENT) && w->kind == KM__W_REVOKE)
                km__lease_mem_del(s, w->id);
        }
        for (km__wreq *w = head; w; w = w->next)
            if (w->rc == 0 && w->nev)
                km__feed_publish(&s->base, w->ev_rev, w->ev, w->nev);
        km__arena_free(b.eva);
        for (km__wreq *w = head, *nx; w; w = nx) {
            nx = w->next;
            km__free(w->ev);
            w->ev = NULL;
            km_chan *done = w->done;
            /* the last touch of w: its owner may return at once */
            km_chan_send(done, NULL);
        }
    }
    km_chan_send(s->committer_done, NULL);
}

int km__submit(km__lmdb *s, km__wreq *w)
{
    int rc = km_chan_new(&w->done, 0, 1);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->qlock);
    if (s->closing) {
        pthread_mutex_unlock(&s->qlock);
        km_chan_free(w->done);
        return -ESHUTDOWN;
    }
    w->next = NULL;
    if (s->qtail)
        s->qtail->next = w;
    else
        s->qhead = w;
    s->qtail = w;
    pthread_mutex_unlock(&s->qlock);
    km_chan_send_dl(s->wake, NULL, 0);
    rc = km_chan_recv(w->done, NULL);
    if (rc == -ECANCELED) {
        pthread_mutex_lock(&s->qlock);
        if (!w->taken) {
            km__wreq **pp = &s->qhead, *prev = NULL;
            while (*pp != w) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            *pp = w->next;
            if (s->qtail == w)
                s->qtail = prev;
            pthread_mutex_unlock(&s->qlock);
            km_chan_free(w->done);
            return -ECANCELED;
        }
        pthread_mutex_unlock(&s->qlock);
        /* In flight: the write may become durable, so wait for its outcome.
         * A receive that need not park still works in a cancelled group. */
        while (km_chan_recv_dl(w->done, NULL, 0) != 0)
            km_yield();
    }
    km_chan_free(w->done);
    return w->rc;
}

int km__commit_start(km__lmdb *s)
{
    int rc = km_chan_new(&s->wake, 0, 1);
    if (!rc)
        rc = km_chan_new(&s->committer_done, 0, 1);
    if (!rc)
        rc = km_go(committer, s);
    if (rc) {
        km_chan_free(s->wake);
        km_chan_free(s->committer_done);
        s->wake = s->committer_done = NULL;
    }
    return rc;
}

void km__commit_stop(km__lmdb *s)
{
    pthread_mutex_lock(&s->qlock);
    s->closing = true;
    pthread_mutex_unlock(&s->qlock);
    km_chan_send_dl(s->wake, NULL, 0);
    /* the queued writes are finished before the committer leaves */
    while (km_chan_recv(s->committer_done, NULL) == -ECANCELED)
        km_yield();
    km_chan_free(s->wake);
    km_chan_free(s->committer_done);
}
