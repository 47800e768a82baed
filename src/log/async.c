/* SPDX-License-Identifier: MIT */
/* Buffered log writing: records are copied into a buffer under a short lock
 * and a thread of the logger writes them out, so a goroutine logging a
 * request pays a copy, not a system call, and never waits on a slow disk
 * or pipe unless the buffer is full. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "log-int.h"
#include "rt/rt-int.h"

/* Two of these per logger. At a few hundred thousand records a second the
 * writer then wakes a few hundred times a second, not thousands. */
#define BUF (1024 * 1024)

typedef struct km__log_async {
    pthread_mutex_t mu;
    pthread_cond_t  cv;             /* records arrived / stop */
    pthread_cond_t  space;          /* the buffer was swapped out */
    pthread_t       thread;
    char           *cur, *spare;    /* records arrive in cur; spare is being written */
    size_t          n;
    bool            stop;
    int64_t         interval;
} async;

static void *flusher(void *arg)
{
    km_logger *root = arg;
    async *a = root->async;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        /* Idle: asleep until a record arrives (no timer ticking). */
        while (!a->n && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (!a->n)
            break;                          /* stopping, all written */
        /* Let records gather for one interval (one write for many), unless
         * the buffer passes half full first. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        int64_t ns = until.tv_nsec + a->interval;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!a->stop && a->n <= BUF / 2 &&
               pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0)
            ;
        /* Swap, then write outside the lock: loggers keep appending. */
        char *p = a->cur;
        size_t n = a->n;
        a->cur = a->spare;
        a->spare = p;
        a->n = 0;
        pthread_cond_broadcast(&a->space);
        pthread_mutex_unlock(&a->mu);
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

bool km__log_async_put(km_logger *root, const char *p, size_t n)
{
    if (n > BUF)
        return false;           /* a giant record goes out on its own */
    async *a = root->async;
    pthread_mutex_lock(&a->mu);
    /* Full: the disk is behind. Waiting here (rather than writing around
     * the buffer) keeps each writer's records in order. */
    while (a->n + n > BUF) {
        pthread_cond_signal(&a->cv);
        pthread_cond_wait(&a->space, &a->mu);
    }
    /* The flusher is woken twice per buffer: by its first record (to start
     * the gathering interval) and when it passes half full. After the
     * unlock, so that on a shared core the woken flusher does not at once
     * block on the lock the signaller still holds. */
    bool kick = a->n == 0 || (a->n <= BUF / 2 && a->n + n > BUF / 2);
    memcpy(a->cur + a->n, p, n);
    a->n += n;
    pthread_mutex_unlock(&a->mu);
    if (kick)
        pthread_cond_signal(&a->cv);
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
