/* SPDX-License-Identifier: MIT */
/* Blocking-call offload: a bounded pool of helper threads that run calls
 * which would otherwise stall a worker (file I/O, fsync, getaddrinfo). */
#include <kumo/net.h>
#include "sched-int.h"
#include <stdlib.h>

enum { QUEUED, RUNNING, DONE, ABANDONED };

typedef struct job {
    km_fn      *fn;
    void       *arg;
    km__g      *g;
    struct job *next, *prev;
    int         state;          /* under pool.mu */
} job;

/* Why pthread mutex and condvar here (not a spinlock): helper threads are
 * plain threads that really sleep while the queue is empty. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    job            *head, *tail;
    int             nthreads, nidle, max;
    bool            stop;
    pthread_t      *threads;
    atomic_long     queued;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void unlink_job(job *j)
{
    if (j->prev) j->prev->next = j->next; else pool.head = j->next;
    if (j->next) j->next->prev = j->prev; else pool.tail = j->prev;
    atomic_fetch_sub(&pool.queued, 1);
}

static void *helper(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.head && !pool.stop) {
            pool.nidle++;
            pthread_cond_wait(&pool.cv, &pool.mu);
            pool.nidle--;
        }
        if (pool.stop)
            break;
        job *j = pool.head;
        unlink_job(j);
        j->state = RUNNING;
        pthread_mutex_unlock(&pool.mu);
        j->fn(j->arg);
        pthread_mutex_lock(&pool.mu);
        if (j->state == ABANDONED) {
            km__free(j);
            continue;
        }
        j->state = DONE;
        km__g *g = j->g;
        bool won = km__claim(g, KM__WAKE_SIGNAL);
        pthread_mutex_unlock(&pool.mu);
        if (won)
            km__ready(g);   /* from a plain thread: global queue + wake */
        pthread_mutex_lock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

int km__offload_init(void)
{
    const char *s = getenv("KM_BLOCKING_THREADS");
    int max = s && *s ? atoi(s) : 64;
    if (max < 1 || max > 4096)
        return -EINVAL;
    pool.threads = km__calloc((size_t)max, sizeof *pool.threads);
    if (!pool.threads)
        return -ENOMEM;
    pool.max = max;
    pool.stop = false;
    pool.nthreads = pool.nidle = 0;
    return 0;
}

void km__offload_fini(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.nthreads; i++)
        pthread_join(pool.threads[i], NULL);
    /* Jobs never started belong to abandoned goroutines. */
    while (pool.head) {
        job *j = pool.head;
        unlink_job(j);
        km__free(j);
    }
    km__free(pool.threads);
    pool.threads = NULL;
    pool.nthreads = 0;
}

long km__offload_queued(void) { return atomic_load(&pool.queued); }
int  km__offload_threads(void) { return pool.nthreads; }

int km__blocking(km_fn *fn, void *arg, bool cancellable)
{
    if (!fn)
        return -EINVAL;
    if (!atomic_load(&km__s.running))
        return -ESRCH;
    km__g *g = km__curg();
    if (!g) {           /* a plain thread may block: just call */
        fn(arg);
        return 0;
    }
    /* On the heap: a cancelled caller may leave while fn still runs. */
    job *j = km__malloc(sizeof *j);
    if (!j)
        return -ENOMEM;
    *j = (job){ .fn = fn, .arg = arg, .g = g, .state = QUEUED };
    km__park_arm(g, "blocking call", (const void *)fn, cancellable);
    pthread_mutex_lock(&pool.mu);
    if (pool.stop) {
        pthread_mutex_unlock(&pool.mu);
        km__free(j);
        km__claim(g, KM__WAKE_CANCEL);
        atomic_store(&g->wake, KM__WAKE_IDLE);
        return -ESRCH;
    }
    j->prev = pool.tail;
    if (pool.tail) pool.tail->next = j; else pool.head = j;
    pool.tail = j;
    atomic_fetch_add(&pool.queued, 1);
    int e = 0;
    if (pool.nidle == 0 && pool.nthreads < pool.max &&
        (e = pthread_create(&pool.threads[pool.nthreads], NULL, helper, NULL)) == 0)
        pool.nthreads++;
    else
        pthread_cond_signal(&pool.cv);
    if (e && pool.nthreads == 0) {
        /* No thread (out of memory): nobody would ever run the job. */
        unlink_job(j);
        pthread_mutex_unlock(&pool.mu);
        km__free(j);
        km__claim(g, KM__WAKE_CANCEL);
        atomic_store(&g->wake, KM__WAKE_IDLE);
        return -e;
    }
    pthread_mutex_unlock(&pool.mu);

    int tok = km__park(g, KM_FOREVER, cancellable);
    pthread_mutex_lock(&pool.mu);
    int rc = 0;
    if (tok == KM__WAKE_SIGNAL || j->state == DONE) {
        km__free(j);
    } else if (j->state == QUEUED) {
        unlink_job(j);          /* never started, never will */
        km__free(j);
        rc = -ECANCELED;
    } else {
        j->state = ABANDONED;   /* the helper frees it when fn returns */
        rc = -ECANCELED;
    }
    pthread_mutex_unlock(&pool.mu);
    return rc;
}

int km_blocking(km_fn *fn, void *arg)
{
    return km__blocking(fn, arg, true);
}
