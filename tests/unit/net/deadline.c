/* SPDX-License-Identifier: MIT */
/* Socket deadlines: accept, read, write, dial and fd waits time out no earlier than asked and leave the socket usable. */
#include "util.h"
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS  1000000LL
#define SEC 1000000000LL

static void addr_of(char *buf, size_t n, int port)
{
    snprintf(buf, n, "127.0.0.1:%d", port);
}

/* A connected loopback TCP pair; the listener is closed again. */
static void tcp_pair(int *a, int *b)
{
    int l = km_listen("127.0.0.1:0", 16);
    ck_assert_msg(l >= 0, "km_listen: %s", km_strerror(l));
    char addr[64];
    addr_of(addr, sizeof addr, km_local_port(l));
    *a = km_dial(addr, km_now() + 10 * SEC);
    ck_assert_msg(*a >= 0, "km_dial: %s", km_strerror(*a));
    *b = km_accept(l, km_now() + 10 * SEC);
    ck_assert_msg(*b >= 0, "km_accept: %s", km_strerror(*b));
    ck_assert_int_eq(km_close(l), 0);
}

static void assert_timed_out(long rc, int64_t dl, const char *what)
{
    int64_t now = km_now();
    ck_assert_msg(rc == -ETIMEDOUT, "%s: expected ETIMEDOUT, got %s", what,
                  rc < 0 ? km_strerror((int)rc) : "success");
    ck_assert_msg(now >= dl, "%s timed out %lld ns early", what, (long long)(dl - now));
}

/* ---- accept ---- */

static void accept_body(void *arg)
{
    (void)arg;
    int l = km_listen("127.0.0.1:0", 16);
    ck_assert_int_ge(l, 0);
    int64_t dl = km_now() + 50 * MS;
    assert_timed_out(km_accept(l, dl), dl, "km_accept");
    /* a past deadline never blocks */
    assert_timed_out(km_accept(l, 0), 0, "km_accept(deadline 0)");
    /* still listening: the next connection is accepted, even with deadline 0
     * once it sits in the accept queue */
    char addr[64];
    addr_of(addr, sizeof addr, km_local_port(l));
    int c = km_dial(addr, km_now() + 10 * SEC);
    ck_assert_int_ge(c, 0);
    int s = km_accept(l, km_now() + 10 * SEC);
    ck_assert_msg(s >= 0, "km_accept after a timeout: %s", km_strerror(s));
    ck_assert_int_eq(km_close(s), 0);
    int c2 = km_dial(addr, km_now() + 10 * SEC);
    ck_assert_int_ge(c2, 0);
    int s2 = -1;
    for (int i = 0; i < 1000 && s2 < 0; i++) {   /* the handshake may still be in flight */
        s2 = km_accept(l, 0);
        if (s2 < 0) {
            ck_assert_int_eq(s2, -ETIMEDOUT);
            km_sleep(1 * MS);
        }
    }
    ck_assert_int_ge(s2, 0);
    ck_assert_int_eq(km_close(s2), 0);
    ck_assert_int_eq(km_close(c2), 0);
    ck_assert_int_eq(km_close(c), 0);
    ck_assert_int_eq(km_close(l), 0);
}

START_TEST(accept_deadline)
{
    t_run(accept_body, NULL);
}
END_TEST

/* ---- read ---- */

/* raw: plain write(2), for fds that kumo did not create */
typedef struct { int fd; int raw; int64_t delay; const char *msg; long rc; km_wg *done; } late_writer;

static void write_later(void *arg)
{
    late_writer *w = arg;
    km_sleep(w->delay);
    size_t n = strlen(w->msg);
    w->rc = w->raw ? write(w->fd, w->msg, n) : km_write(w->fd, w->msg, n, km_now() + 10 * SEC);
    km_wg_done(w->done);
}

static void start_late_writer(late_writer *w)
{
    ck_assert_int_eq(km_wg_new(&w->done), 0);
    km_wg_add(w->done, 1);
    ck_assert_int_eq(km_go(write_later, w), 0);
}

static long join_late_writer(late_writer *w)
{
    ck_assert_int_eq(km_wg_wait(w->done), 0);
    km_wg_free(w->done);
    return w->rc;
}

static void read_body(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[64];
    static const int64_t waits[] = { 1 * MS, 20 * MS, 50 * MS };
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        int64_t dl = km_now() + waits[i];
        assert_timed_out(km_read(a, buf, sizeof buf, dl), dl, "km_read");
    }
    assert_timed_out(km_read(a, buf, sizeof buf, 0), 0, "km_read(deadline 0)");

    /* the socket still works: data that arrives later is read */
    late_writer w = { b, 0, 20 * MS, "hello", 0, NULL };
    start_late_writer(&w);
    ssize_t n = km_read(a, buf, sizeof buf, km_now() + 10 * SEC);
    ck_assert_int_eq(n, 5);
    ck_assert(memcmp(buf, "hello", 5) == 0);
    ck_assert_int_eq(join_late_writer(&w), 5);

    /* data already there is read even with a past deadline */
    ck_assert_int_eq(km_write(b, "again", 5, km_now() + 10 * SEC), 5);
    n = -1;
    for (int i = 0; i < 1000 && n < 0; i++) {   /* loopback delivery is near-instant */
        n = km_read(a, buf, sizeof buf, 0);
        if (n < 0) {
            ck_assert_int_eq(n, -ETIMEDOUT);
            km_sleep(1 * MS);
        }
    }
    ck_assert_int_eq(n, 5);
    ck_assert(memcmp(buf, "again", 5) == 0);

    /* a timeout in one direction does not disturb the other */
    int64_t dl = km_now() + 10 * MS;
    assert_timed_out(km_read(b, buf, sizeof buf, dl), dl, "km_read(b)");
    ck_assert_int_eq(km_write(b, "x", 1, km_now() + 10 * SEC), 1);
    ck_assert_int_eq(km_read(a, buf, sizeof buf, km_now() + 10 * SEC), 1);

    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(read_deadline)
{
    t_procs(_i + 1);
    t_run(read_body, NULL);
}
END_TEST

/* ---- write ---- */

typedef struct { int fd; long total; long rc; km_wg *done; } drainer;

static void drain(void *arg)
{
    drainer *d = arg;
    static char buf[65536];
    for (;;) {
        ssize_t n = km_read(d->fd, buf, sizeof buf, km_now() + 30 * SEC);
        if (n <= 0) { d->rc = n; break; }
        d->total += n;
    }
    km_wg_done(d->done);
}

static void write_body(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    static char chunk[65536];
    memset(chunk, 'w', sizeof chunk);
    /* b never reads, so a's send buffer and b's receive buffer fill up */
    long sent = 0;
    int64_t dl = 0;
    ssize_t rc = 0;
    for (int i = 0; i < 10000; i++) {
        dl = km_now() + 100 * MS;
        rc = km_write(a, chunk, sizeof chunk, dl);
        if (rc != (ssize_t)sizeof chunk)
            break;
        sent += rc;
    }
    assert_timed_out(rc, dl, "km_write");
    ck_assert_int_gt(sent, 0);
    /* with the buffers full a past deadline fails at once (space may still
     * open up as the kernel moves data from a's buffer to b's: retry) */
    for (int i = 0; i < 1000; i++) {
        rc = km_write(a, chunk, sizeof chunk, 0);
        if (rc != (ssize_t)sizeof chunk)
            break;
        sent += rc;
    }
    assert_timed_out(rc, 0, "km_write(deadline 0)");

    /* still usable: once b drains, a small write goes through, and b sees
     * everything sent plus at most the unsent remainders of the two timed-out
     * writes */
    drainer d = { b, 0, 1, NULL };
    ck_assert_int_eq(km_wg_new(&d.done), 0);
    km_wg_add(d.done, 1);
    ck_assert_int_eq(km_go(drain, &d), 0);
    ck_assert_int_eq(km_write(a, "tail", 4, km_now() + 30 * SEC), 4);
    ck_assert_int_eq(km_shutdown(a, SHUT_WR), 0);
    ck_assert_int_eq(km_wg_wait(d.done), 0);
    km_wg_free(d.done);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_ge(d.total, sent + 4);
    ck_assert_int_le(d.total, sent + 4 + 2 * (long)sizeof chunk);
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(write_deadline)
{
    t_procs(_i + 1);
    t_run(write_body, NULL);
}
END_TEST

/* ---- dial ---- */

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

enum { MAX_FILL = 256 };

static void dial_body(void *arg)
{
    (void)arg;
    /* Linux drops SYNs while a listener's accept queue is full, so once a
     * never-accepting listener with a tiny backlog has its queue filled,
     * further dials hang until their deadline. */
    int l = km_listen("127.0.0.1:0", 1);
    ck_assert_int_ge(l, 0);
    char addr[64];
    addr_of(addr, sizeof addr, km_local_port(l));
    int fds_before = count_fds();
    int filled[MAX_FILL], nfilled = 0, rc = 0;
    int64_t dl = 0;
    while (nfilled < MAX_FILL) {
        dl = km_now() + 200 * MS;
        rc = km_dial(addr, dl);
        if (rc < 0)
            break;
        filled[nfilled++] = rc;
    }
    assert_timed_out(rc, dl, "km_dial");
    ck_assert_int_gt(nfilled, 0);
    /* the queue stays full: a second timed dial times out too */
    dl = km_now() + 50 * MS;
    assert_timed_out(km_dial(addr, dl), dl, "second km_dial");
    /* a past deadline never blocks, even for a connect in progress */
    assert_timed_out(km_dial(addr, 0), 0, "km_dial(deadline 0)");

    /* dialling elsewhere still works */
    int l2 = km_listen("127.0.0.1:0", 16);
    ck_assert_int_ge(l2, 0);
    char addr2[64];
    addr_of(addr2, sizeof addr2, km_local_port(l2));
    int c = km_dial(addr2, km_now() + 10 * SEC);
    ck_assert_msg(c >= 0, "km_dial after timeouts: %s", km_strerror(c));
    int s = km_accept(l2, km_now() + 10 * SEC);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(km_write(c, "ok", 2, km_now() + 10 * SEC), 2);
    char buf[4];
    ck_assert_int_eq(km_read(s, buf, sizeof buf, km_now() + 10 * SEC), 2);
    ck_assert_int_eq(km_close(s), 0);
    ck_assert_int_eq(km_close(c), 0);
    ck_assert_int_eq(km_close(l2), 0);

    /* timed-out dials closed their sockets */
    for (int i = 0; i < nfilled; i++)
        ck_assert_int_eq(km_close(filled[i]), 0);
    ck_assert_int_eq(count_fds(), fds_before);
    ck_assert_int_eq(km_close(l), 0);
}

START_TEST(dial_deadline)
{
    t_run(dial_body, NULL);
}
END_TEST

/* ---- fd wait ---- */

static void fd_wait_body(void *arg)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int64_t dl = km_now() + 30 * MS;
    assert_timed_out(km_fd_wait(sv[0], KM_FD_READ, dl), dl, "km_fd_wait");
    assert_timed_out(km_fd_wait(sv[0], KM_FD_READ, 0), 0, "km_fd_wait(deadline 0)");
    /* writable at once */
    ck_assert_int_eq(km_fd_wait(sv[0], KM_FD_WRITE, km_now() + 10 * SEC), 0);
    late_writer w = { sv[1], 1, 10 * MS, "z", 0, NULL };
    start_late_writer(&w);
    ck_assert_int_eq(km_fd_wait(sv[0], KM_FD_READ, km_now() + 10 * SEC), 0);
    char c;
    ck_assert_int_eq(read(sv[0], &c, 1), 1);
    ck_assert_int_eq(c, 'z');
    ck_assert_int_eq(join_late_writer(&w), 1);
    ck_assert_int_eq(km_close(sv[0]), 0);
    ck_assert_int_eq(km_close(sv[1]), 0);
}

START_TEST(fd_wait_deadline)
{
    t_run(fd_wait_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net/deadline");
    TCase *tc = tcase_create("deadline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, accept_deadline);
    tcase_add_loop_test(tc, read_deadline, 0, 2);
    tcase_add_loop_test(tc, write_deadline, 0, 2);
    tcase_add_test(tc, dial_deadline);
    tcase_add_test(tc, fd_wait_deadline);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
