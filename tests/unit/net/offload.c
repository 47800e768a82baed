/* SPDX-License-Identifier: MIT */
/* The blocking-call offload pool: workers keep running goroutines while helpers block, and the file helpers on it. */
#include "util.h"
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MS  1000000LL
#define SEC 1000000000LL

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MIN_TICKS 250
#else
#define MIN_TICKS 500
#endif

/* ---- a worker is never held by a blocking call ---- */

enum { BLOCKERS = 4 };

typedef struct {
    atomic_int  stop;
    atomic_long ticks;
    km_wg      *ticker_done, *blockers_done;
    atomic_int  fn_done[BLOCKERS];
    int         rc[BLOCKERS], saw_done[BLOCKERS];
} tick_world;

typedef struct { tick_world *w; int i; } blocker_arg;

static void ticker(void *arg)
{
    tick_world *w = arg;
    while (!atomic_load(&w->stop)) {
        ck_assert_int_eq(km_sleep(1 * MS), 0);
        atomic_fetch_add(&w->ticks, 1);
    }
    km_wg_done(w->ticker_done);
}

static void sleep_one_second(void *arg)
{
    blocker_arg *b = arg;
    usleep(1000000);                /* holds this thread, as a blocking library would */
    atomic_store(&b->w->fn_done[b->i], 1);
}

static void blocker(void *arg)
{
    blocker_arg *b = arg;
    b->w->rc[b->i] = km_blocking(sleep_one_second, b);
    /* returns only after fn returned */
    b->w->saw_done[b->i] = atomic_load(&b->w->fn_done[b->i]);
    km_wg_done(b->w->blockers_done);
}

static void ticker_body(void *arg)
{
    (void)arg;
    tick_world w;
    memset(&w, 0, sizeof w);
    blocker_arg args[BLOCKERS];
    ck_assert_int_eq(km_wg_new(&w.ticker_done), 0);
    ck_assert_int_eq(km_wg_new(&w.blockers_done), 0);
    km_wg_add(w.ticker_done, 1);
    ck_assert_int_eq(km_go(ticker, &w), 0);
    km_sleep(5 * MS);

    long ticks0 = atomic_load(&w.ticks);
    int64_t t0 = km_now();
    km_wg_add(w.blockers_done, BLOCKERS);
    for (int i = 0; i < BLOCKERS; i++) {
        args[i].w = &w;
        args[i].i = i;
        ck_assert_int_eq(km_go(blocker, &args[i]), 0);
    }
    ck_assert_int_eq(km_wg_wait(w.blockers_done), 0);
    int64_t dt = km_now() - t0;
    long ticks = atomic_load(&w.ticks) - ticks0;

    atomic_store(&w.stop, 1);
    ck_assert_int_eq(km_wg_wait(w.ticker_done), 0);
    km_wg_free(w.ticker_done);
    km_wg_free(w.blockers_done);

    for (int i = 0; i < BLOCKERS; i++) {
        ck_assert_msg(w.rc[i] == 0, "km_blocking: %s", km_strerror(w.rc[i]));
        ck_assert_msg(w.saw_done[i], "km_blocking %d returned before fn returned", i);
    }
    ck_assert_int_ge(dt, 1 * SEC);
    /* four 1 s calls on a pool of 64 run side by side, not one after another */
    ck_assert_msg(dt < 3500 * MS, "4 concurrent 1 s blocking calls took %lld ms",
                  (long long)(dt / MS));
    ck_assert_msg(ticks >= MIN_TICKS, "the 1 ms ticker ran only %ld times in %lld ms",
                  ticks, (long long)(dt / MS));
}

START_TEST(ticker_keeps_running)
{
    t_procs(1);
    t_run(ticker_body, NULL);
}
END_TEST

/* ---- many short calls ---- */

typedef struct { atomic_long *counter; long seen; } short_arg;

static void bump(void *arg)
{
    short_arg *s = arg;
    s->seen = atomic_fetch_add(s->counter, 1) + 1;
}

typedef struct { atomic_long counter; atomic_long bad; km_wg *done; } many_world;

static void short_caller(void *arg)
{
    many_world *m = arg;
    for (int i = 0; i < 200; i++) {
        short_arg s = { &m->counter, 0 };
        int rc = km_blocking(bump, &s);
        /* fn's effects are visible once km_blocking returned */
        if (rc != 0 || s.seen == 0)
            atomic_fetch_add(&m->bad, 1);
    }
    km_wg_done(m->done);
}

static void many_body(void *arg)
{
    (void)arg;
    many_world m;
    memset(&m, 0, sizeof m);
    ck_assert_int_eq(km_wg_new(&m.done), 0);
    enum { CALLERS = 100 };
    km_wg_add(m.done, CALLERS);
    for (int i = 0; i < CALLERS; i++)
        ck_assert_int_eq(km_go(short_caller, &m), 0);
    ck_assert_int_eq(km_wg_wait(m.done), 0);
    km_wg_free(m.done);
    ck_assert_int_eq(atomic_load(&m.bad), 0);
    ck_assert_int_eq(atomic_load(&m.counter), CALLERS * 200);
}

START_TEST(many_short_calls)
{
    t_procs(_i + 1);
    t_run(many_body, NULL);
}
END_TEST

/* ---- wake-ups while a goroutine waits on an fd ---- */

/* With a goroutine parked on an fd an idle worker sleeps in epoll as the
 * poller. Each call's completion wakes an idle worker; when that is the
 * poller, a second worker going idle at the same moment must not take the
 * wake-up meant for it (that once left both asleep with the caller
 * runnable: this test hung within a few thousand calls). */
typedef struct { int fd; km_wg *done; int rc; } fd_waiter;

static void wait_readable(void *arg)
{
    fd_waiter *w = arg;
    w->rc = km_fd_wait(w->fd, KM_FD_READ, -1);
    km_wg_done(w->done);
}

static void wakeups_body(void *arg)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    fd_waiter w = { .fd = p[0] };
    ck_assert_int_eq(km_wg_new(&w.done), 0);
    km_wg_add(w.done, 1);
    ck_assert_int_eq(km_go(wait_readable, &w), 0);
    atomic_long counter = 0;
    for (int i = 0; i < 20000; i++) {
        short_arg s = { &counter, 0 };
        ck_assert_int_eq(km_blocking(bump, &s), 0);
    }
    ck_assert_int_eq(atomic_load(&counter), 20000);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(km_wg_wait(w.done), 0);
    ck_assert_int_eq(w.rc, 0);
    km_wg_free(w.done);
    ck_assert_int_eq(km_close(p[0]), 0);
    close(p[1]);
}

START_TEST(wakeups_beside_poller)
{
    t_procs(2);
    t_run(wakeups_body, NULL);
}
END_TEST

static void never(void *arg) { (void)arg; ck_abort_msg("ran outside the runtime"); }

START_TEST(outside_runtime)
{
    ck_assert_int_eq(km_blocking(never, NULL), -ESRCH);
}
END_TEST

/* ---- file helpers ---- */

static char dir[64];

static void file_body(void *arg)
{
    (void)arg;
    char path[128];
    snprintf(path, sizeof path, "%s/data", dir);
    int fd = km_file_open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_msg(fd >= 0, "km_file_open: %s", km_strerror(fd));

    enum { N = 200000 };
    static char out[N], in[N];
    for (int i = 0; i < N; i++)
        out[i] = (char)(i * 7 + i / 251);
    ck_assert_int_eq(km_file_write(fd, out, N, -1), N);      /* at the file position */
    ck_assert_int_eq(km_file_fsync(fd), 0);
    ck_assert_int_eq(km_file_read(fd, in, 10, -1), 0);       /* the position is at the end */
    ck_assert_int_eq(km_file_read(fd, in, N, 0), N);         /* positioned: whole file */
    ck_assert(memcmp(in, out, N) == 0);

    /* positioned writes do not move the file position */
    ck_assert_int_eq(km_file_write(fd, "abc", 3, 1000), 3);
    ck_assert_int_eq(km_file_read(fd, in, 10, 999), 10);
    ck_assert_int_eq(in[0], out[999]);
    ck_assert(memcmp(in + 1, "abc", 3) == 0);
    ck_assert_int_eq(in[4], out[1003]);
    ck_assert_int_eq(km_file_write(fd, "END", 3, -1), 3);    /* appended at N */
    ck_assert_int_eq(km_file_read(fd, in, 100, N - 2), 5);   /* short read at the end */
    ck_assert(memcmp(in + 2, "END", 3) == 0);
    ck_assert_int_eq(km_file_close(fd), 0);

    /* a fresh descriptor sees the fsync'd data */
    fd = km_file_open(path, O_RDONLY, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(km_file_read(fd, in, 5, -1), 5);
    ck_assert(memcmp(in, out, 5) == 0);
    ck_assert_int_eq(km_file_read(fd, in, 5, -1), 5);        /* the position advanced */
    ck_assert(memcmp(in, out + 5, 5) == 0);
    ck_assert_int_eq(km_file_write(fd, "x", 1, -1), -EBADF); /* opened read-only */
    ck_assert_int_eq(km_file_close(fd), 0);
    ck_assert_int_eq(unlink(path), 0);

    /* errors are negative errno values */
    snprintf(path, sizeof path, "%s/missing/file", dir);
    ck_assert_int_eq(km_file_open(path, O_RDONLY, 0), -ENOENT);
    snprintf(path, sizeof path, "%s/missing", dir);
    ck_assert_int_eq(km_file_open(path, O_RDONLY, 0), -ENOENT);
    ck_assert_int_eq(km_file_open(dir, O_WRONLY, 0), -EISDIR);
    char c;
    ck_assert_int_eq(km_file_read(-1, &c, 1, -1), -EBADF);
    ck_assert_int_eq(km_file_read(-1, &c, 1, 0), -EBADF);
    ck_assert_int_eq(km_file_write(-1, &c, 1, 0), -EBADF);
    ck_assert_int_eq(km_file_fsync(-1), -EBADF);
    ck_assert_int_eq(km_file_close(-1), -EBADF);
}

START_TEST(file_helpers)
{
    strcpy(dir, "/tmp/kumo-file-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    t_procs(_i + 1);
    t_run(file_body, NULL);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net/offload");
    TCase *tc = tcase_create("offload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ticker_keeps_running);
    tcase_add_loop_test(tc, many_short_calls, 0, 2);
    tcase_add_test(tc, wakeups_beside_poller);
    tcase_add_test(tc, outside_runtime);
    tcase_add_loop_test(tc, file_helpers, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
