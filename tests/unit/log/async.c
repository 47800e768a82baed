/* SPDX-License-Identifier: MIT */
/* Buffered logging: every record arrives whole, each writer's in order, by
 * the time the logger is freed; nothing is written while idle. */
#include "util.h"
#include <kumo/log.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WRITERS = 8, EACH = 3000 };

typedef struct { km_logger *l; int id; } writer;

static void write_records(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < EACH; i++)
        km_info(w->l, "rec", km_lf_int("w", w->id), km_lf_int("i", i));
}

/* n goroutines running fn, each as writer i of l; returns when all are done. */
static void run_writers(km_logger *l, int n, km_fn *fn)
{
    writer w[WRITERS];
    REQUIRE(n <= WRITERS);
    for (int i = 0; i < n; i++)
        w[i] = (writer){ l, i };
    t_go_all(n, fn, w, sizeof w[0]);
}

static void body(void *arg)
{
    (void)arg;
    char path[] = "/tmp/kumo-log-async-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    km_logger *l;
    km_log_config cfg = { .fd = fd, .flush_interval = 20 * 1000000LL };
    REQUIRE_EQ(km_log_new(&l, &cfg), 0);
    km_info(l, "first", km_lf_int("n", 1));
    REQUIRE_EQ(lseek(fd, 0, SEEK_END), 0);          /* gathered, not written yet */
    km_sleep(100 * 1000000LL);
    REQUIRE(lseek(fd, 0, SEEK_END) > 0);            /* written within the interval */
    run_writers(l, WRITERS, write_records);
    km_log_free(l);                                 /* writes what is left */
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    int next[WRITERS] = { 0 }, lines = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        lines++;
        REQUIRE(line[strlen(line) - 1] == '\n');
        const char *p = strstr(line, "\"w\":");
        if (!p)
            continue;                               /* the first record */
        int id, i;
        REQUIRE(sscanf(p, "\"w\":%d,\"i\":%d", &id, &i) == 2);
        REQUIRE(id >= 0 && id < WRITERS);
        REQUIRE_EQ(i, next[id]);
        next[id]++;
    }
    fclose(f);
    REQUIRE_EQ(lines, 1 + WRITERS * EACH);
    close(fd);
    unlink(path);
}

START_TEST(buffered) { t_procs(2); t_run(body, NULL); }
END_TEST

/* A sink slower than the writers: a pipe nobody reads for a while. The
 * buffer fills, writers wait for room, and still every record arrives
 * whole and in each writer's order. */
enum { SLOW_WRITERS = 4, SLOW_EACH = 3000 };
typedef struct { int fd; char *buf; size_t n, cap; } drain_arg;

static void *drain_later(void *arg)
{
    drain_arg *d = arg;
    usleep(300 * 1000);
    ssize_t r;
    while (d->n < d->cap && (r = read(d->fd, d->buf + d->n, d->cap - d->n)) > 0)
        d->n += (size_t)r;
    return NULL;
}

static void slow_writer(void *arg)
{
    writer *w = arg;
    static char pad[201];
    memset(pad, 'p', sizeof pad - 1);
    for (int i = 0; i < SLOW_EACH; i++)
        km_info(w->l, "rec", km_lf_int("w", w->id), km_lf_int("i", i), km_lf_str("pad", pad));
}

static void slow_body(void *arg)
{
    (void)arg;
    int p[2];
    REQUIRE_EQ(pipe2(p, O_CLOEXEC), 0);
    drain_arg d = { p[0], NULL, 0, 8u << 20 };
    REQUIRE((d.buf = malloc(d.cap)) != NULL);
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, drain_later, &d), 0);
    km_logger *l;
    km_log_config cfg = { .fd = p[1], .flush_interval = 10 * 1000000LL };
    REQUIRE_EQ(km_log_new(&l, &cfg), 0);
    run_writers(l, SLOW_WRITERS, slow_writer);
    km_log_free(l);
    close(p[1]);                                    /* the reader sees the end */
    pthread_join(th, NULL);
    close(p[0]);
    REQUIRE(d.n > 2u << 20);                        /* more than both buffers */
    int next[SLOW_WRITERS] = { 0 }, lines = 0;
    for (char *s = d.buf, *e; s < d.buf + d.n; s = e + 1) {
        REQUIRE((e = memchr(s, '\n', (size_t)(d.buf + d.n - s))) != NULL);
        int id, i;
        const char *f = memmem(s, (size_t)(e - s), "\"w\":", 4);
        REQUIRE(f && sscanf(f, "\"w\":%d,\"i\":%d", &id, &i) == 2);
        REQUIRE(id >= 0 && id < SLOW_WRITERS);
        REQUIRE_EQ(i, next[id]);
        next[id]++;
        lines++;
    }
    REQUIRE_EQ(lines, SLOW_WRITERS * SLOW_EACH);
    free(d.buf);
}

START_TEST(slow_sink) { t_procs(2); t_run(slow_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log/async");
    TCase *tc = tcase_create("async");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, buffered);
    tcase_add_test(tc, slow_sink);
    suite_add_tcase(s, tc);
    return s;
}
T_MAIN(suite)
