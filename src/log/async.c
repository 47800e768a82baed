/* SPDX-License-Identifier: MIT */
/* Buffered log writing: records are copied into a buffer under a spinlock
 * and a thread of the logger writes them out, so a goroutine logging a
 * request pays a copy, not a system call, and never waits on a slow disk
 * or pipe unless the buffer is full. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "log-int.h"
#include "rt/lock.h"
#include "rt/rt-int.h"

/* Two of these per logger. At a few hundred thousand records a second the
 * writer then wakes a few hundred times a second, not thousands. */
#define BUF (1024 * 1024)

typedef struct km__log_async {
    /* A record's copy takes the spinlock only: a few dozen instructions,
     * where a mutex's lock and unlock cost as much again. The mutex is for
     * sleeping: the flusher's, and a writer's on a full buffer. */
    km__lock        lock;           /* cur, spare and n */
    pthread_mutex_t mu;             /* kicked, stop */
    pthread_cond_t  cv;             /* kicked / stop */
    pthread_cond_t  space;          /* the buffer was swapped out */
    pthread_t       thread;
    char           *cur, *spare;    /* records arrive in cur; spare is being written */
    _Atomic size_t  n;              /* set under lock; read without it as a hint */
    bool            kicked, stop;
    int64_t         interval;
} async;

static size_t used(async *a) { return atomic_load_explicit(&a->n, memory_order_relaxed); }

/* The slow paths are out of line and marked cold, so that the copy's path
 * stays a few cache lines of code: it runs once per request record. */
static __attribute__((cold, noinline)) void kick(async *a)
{
    pthread_mutex_lock(&a->mu);
    a->kicked = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

static void *flusher(void *arg)
{
    km_logger *root = arg;
    async *a = root->async;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        /* Idle: asleep until a record arrives (no timer ticking). */
        while (!a->kicked && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        a->kicked = false;
        /* Let records gather for one interval (one write for many), unless
         * the buffer passes half full first. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = until.tv_nsec + a->interval;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!a->stop && used(a) <= BUF / 2 &&
               pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
            ;
        /* Swap, then write outside both locks: writers keep appending. */
        km__lock_acquire(&a->lock);
        char *p = a->cur;
        size_t n = used(a);
        a->cur = a->spare;
        a->spare = p;
        atomic_store_explicit(&a->n, 0, memory_order_relaxed);
        km__lock_release(&a->lock);
        pthread_cond_broadcast(&a->space);
        if (!n && a->stop)
            break;                          /* stopping, all written */
        pthread_mutex_unlock(&a->mu);
        if (n)
            km__log_write_fd(root, p, n);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

int km__log_async_start(km_logger *root, int64_t interval)
{
    async *a = km__calloc(1, sizeof *a);
    if (!a || !(a->cur = km__malloc(BUF)) || !(a->spare = km__malloc(BUF))) {
        if (a) {
            km__free(a->cur);
            km__free(a);
        }
        return -ENOMEM;
    }
    a->interval = interval;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* the gather deadline */
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&a->space, NULL);
    root->async = a;
    int rc = pthread_create(&a->thread, NULL, flusher, root);
    if (rc) {
        root->async = NULL;
        km__free(a->cur);
        km__free(a->spare);
        km__free(a);
        return -rc;
    }
    return 0;
}

static __attribute__((cold, noinline)) void lock_contended(async *a)
{
    km__lock_acquire(&a->lock);
}

/* Full: the disk is behind. Waiting (rather than writing around the
 * buffer) keeps each writer's records in order. The check is under the
 * mutex that the flusher's broadcast takes, so a swap cannot slip between
 * it and the wait. */
static __attribute__((cold, noinline)) void wait_room(async *a, size_t n)
{
    pthread_mutex_lock(&a->mu);
    a->kicked = true;
    pthread_cond_signal(&a->cv);
    while (used(a) + n > BUF)
        pthread_cond_wait(&a->space, &a->mu);
    pthread_mutex_unlock(&a->mu);
}

/* Asks for the buffer's next lines, up to AHEAD bytes past end, before the
 * next records are copied into them. The two buffers cycle through more
 * memory than the caches keep, so each record would otherwise store into
 * lines that must come from memory, and the first locked instruction after
 * it waits for those stores to land. On kumo serve ranges with an access
 * log: about 0.8% less CPU per request (docs/BENCHMARKS.md). */
#define AHEAD 512

static inline void ahead(char *buf, size_t at, size_t end)
{
    if (end + AHEAD > BUF)
        return;                 /* the buffer's end: the next swap is near */
    /* The previous record asked for the lines up to at + AHEAD. */
    for (size_t i = (at + AHEAD) & ~(size_t)63; i < end + AHEAD; i += 64)
        __builtin_prefetch(buf + i, 1, 3);
}

bool km__log_async_put(km_logger *root, const char *p, size_t n)
{
    if (n > BUF)
        return false;           /* a giant record goes out on its own */
    async *a = root->async;
    if (!km__lock_try(&a->lock))
        lock_contended(a);
    size_t at;
    while ((at = used(a)) + n > BUF) {
        km__lock_release(&a->lock);
        wait_room(a, n);
        km__lock_acquire(&a->lock);
    }
    char *buf = a->cur;
    memcpy(buf + at, p, n);
    atomic_store_explicit(&a->n, at + n, memory_order_relaxed);
    km__lock_release(&a->lock);
    ahead(buf, at, at + n);
    /* The flusher is woken twice per buffer: by its first record (to start
     * the gathering interval) and when it passes half full. */
    if (at == 0 || (at <= BUF / 2 && at + n > BUF / 2))
        kick(a);
    return true;
}

void km__log_async_stop(km_logger *root)
{
    async *a = root->async;
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    pthread_cond_destroy(&a->space);
    km__free(a->cur);
    km__free(a->spare);
    km__free(a);
    root->async = NULL;
}
