/* SPDX-License-Identifier: MIT */
/* Socket error paths and address forms: close while parked, refused, reset, half-close, EPIPE without SIGPIPE, bad and unusual addresses. */
#include "util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS  1000000LL
#define SEC 1000000000LL

static int64_t soon(void) { return km_now() + 10 * SEC; }

/* A connected pair through a fresh listener on addr ("HOST:0" or unix:). */
static void pair_on(const char *laddr, const char *dial_host, int *a, int *b)
{
    int l = km_listen(laddr, 16);
    ck_assert_msg(l >= 0, "km_listen(%s): %s", laddr, km_strerror(l));
    char addr[256];
    if (dial_host) {
        int port = km_local_port(l);
        ck_assert_int_gt(port, 0);
        snprintf(addr, sizeof addr, "%s:%d", dial_host, port);
    } else {
        snprintf(addr, sizeof addr, "%s", laddr);
    }
    *a = km_dial(addr, soon());
    ck_assert_msg(*a >= 0, "km_dial(%s): %s", addr, km_strerror(*a));
    *b = km_accept(l, soon());
    ck_assert_msg(*b >= 0, "km_accept: %s", km_strerror(*b));
    ck_assert_int_eq(km_close(l), 0);
}

static void tcp_pair(int *a, int *b) { pair_on("127.0.0.1:0", "127.0.0.1", a, b); }

/* Both directions carry a message. */
static void exchange(int a, int b)
{
    char buf[16];
    ck_assert_int_eq(km_write(a, "ping", 4, soon()), 4);
    ck_assert_int_eq(km_read(b, buf, sizeof buf, soon()), 4);
    ck_assert(memcmp(buf, "ping", 4) == 0);
    ck_assert_int_eq(km_write(b, "pong!", 5, soon()), 5);
    ck_assert_int_eq(km_read(a, buf, sizeof buf, soon()), 5);
    ck_assert(memcmp(buf, "pong!", 5) == 0);
}

/* SIGPIPE's default action kills; kumo must not depend on it being ignored. */
static void run(km_fn *fn)
{
    signal(SIGPIPE, SIG_DFL);
    t_run(fn, NULL);
}

/* ---- km_close wakes a parked reader ---- */

typedef struct { int fd; long rc; km_wg *done; } parked_reader;

static void park_read(void *arg)
{
    parked_reader *p = arg;
    char c;
    p->rc = km_read(p->fd, &c, 1, KM_FOREVER);
    km_wg_done(p->done);
}

static void close_wakes_body(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    parked_reader p = { a, 1, NULL };
    ck_assert_int_eq(km_wg_new(&p.done), 0);
    km_wg_add(p.done, 1);
    ck_assert_int_eq(km_go(park_read, &p), 0);
    km_sleep(20 * MS);                      /* let it park */
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_wg_wait_dl(p.done, km_now() + 10 * SEC), 0);
    km_wg_free(p.done);
    ck_assert_msg(p.rc == -EBADF, "parked km_read returned %ld (%s), want EBADF",
                  p.rc, km_strerror((int)p.rc));
    /* the peer sees the close as end of stream */
    char c;
    ck_assert_int_eq(km_read(b, &c, 1, soon()), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(close_wakes_parked_reader)
{
    t_procs(_i + 1);
    run(close_wakes_body);
}
END_TEST

/* ---- refused ---- */

static void refused_body(void *arg)
{
    (void)arg;
    int l = km_listen("127.0.0.1:0", 16);
    ck_assert_int_ge(l, 0);
    int port = km_local_port(l);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(km_close(l), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int rc = km_dial(addr, soon());
    if (rc >= 0)
        km_close(rc);
    ck_assert_msg(rc == -ECONNREFUSED, "dial of a closed port: %s", km_strerror(rc));
}

START_TEST(connection_refused)
{
    run(refused_body);
}
END_TEST

/* ---- reset ---- */

static void reset_by(int victim)
{
    struct linger lg = { 1, 0 };           /* close sends RST, not FIN */
    ck_assert_int_eq(setsockopt(victim, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    ck_assert_int_eq(km_close(victim), 0);
}

static void reset_body(void *arg)
{
    (void)arg;
    int a, b;
    /* a reader parked before the reset */
    tcp_pair(&a, &b);
    parked_reader p = { a, 1, NULL };
    ck_assert_int_eq(km_wg_new(&p.done), 0);
    km_wg_add(p.done, 1);
    ck_assert_int_eq(km_go(park_read, &p), 0);
    km_sleep(20 * MS);
    reset_by(b);
    ck_assert_int_eq(km_wg_wait_dl(p.done, km_now() + 10 * SEC), 0);
    km_wg_free(p.done);
    ck_assert_msg(p.rc == -ECONNRESET, "parked read after RST: %ld (%s)", p.rc,
                  km_strerror((int)p.rc));
    /* writing afterwards fails too, without SIGPIPE */
    long w = km_write(a, "x", 1, soon());
    ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "write after RST: %ld (%s)", w,
                  km_strerror((int)w));
    ck_assert_int_eq(km_close(a), 0);

    /* a read that starts after the reset arrived */
    tcp_pair(&a, &b);
    reset_by(b);
    km_sleep(10 * MS);
    char c;
    long r = km_read(a, &c, 1, soon());
    ck_assert_msg(r == -ECONNRESET, "read after RST: %ld (%s)", r, km_strerror((int)r));
    ck_assert_int_eq(km_close(a), 0);

    /* a write that starts after the reset arrived */
    tcp_pair(&a, &b);
    reset_by(b);
    km_sleep(10 * MS);
    w = km_write(a, "x", 1, soon());
    ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "write after RST: %ld (%s)", w,
                  km_strerror((int)w));
    ck_assert_int_eq(km_close(a), 0);
}

START_TEST(connection_reset)
{
    run(reset_body);
}
END_TEST

/* ---- half-close ---- */

static void half_close_body(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    ck_assert_int_eq(km_write(a, "last", 4, soon()), 4);
    ck_assert_int_eq(km_shutdown(a, SHUT_WR), 0);
    char buf[16];
    ck_assert_int_eq(km_read(b, buf, sizeof buf, soon()), 4);
    ck_assert_int_eq(km_read(b, buf, sizeof buf, soon()), 0);   /* EOF */
    ck_assert_int_eq(km_read(b, buf, sizeof buf, soon()), 0);   /* and stays so */
    /* the other direction still works */
    ck_assert_int_eq(km_write(b, "reply", 5, soon()), 5);
    ck_assert_int_eq(km_read(a, buf, sizeof buf, soon()), 5);
    ck_assert(memcmp(buf, "reply", 5) == 0);
    ck_assert_int_eq(km_shutdown(b, SHUT_WR), 0);
    ck_assert_int_eq(km_read(a, buf, sizeof buf, soon()), 0);
    ck_assert_int_eq(km_shutdown(a, 12345), -EINVAL);
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(half_close)
{
    run(half_close_body);
}
END_TEST

/* ---- the last bytes and the hang-up in one edge ---- */

/* From a plain thread, so that both reach the socket before the poller
 * looks at it: one readiness edge for the bytes and the FIN. */
static void *send_then_shut(void *arg)
{
    int fd = *(int *)arg;
    usleep(20000);
    ck_assert(send(fd, "last", 4, MSG_NOSIGNAL) == 4);
    shutdown(fd, SHUT_WR);
    return NULL;
}

static void hangup_edge_body(void *arg)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int a, b;
        tcp_pair(&a, &b);
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, send_then_shut, &b), 0);
        ck_assert_int_eq(km_fd_wait(a, KM_FD_READ, soon()), 0);
        char buf[16];
        ck_assert_int_eq(km_read(a, buf, sizeof buf, soon()), 4);
        /* The read stopped short and the FIN is pending: waiting for more
         * must see the hang-up now, not sleep until the deadline. */
        int64_t t0 = km_now();
        ck_assert_int_eq(km_fd_wait(a, KM_FD_READ, t0 + 2 * SEC), 0);
        ck_assert(km_now() - t0 < SEC);
        ck_assert_int_eq(km_read(a, buf, sizeof buf, soon()), 0);
        pthread_join(t, NULL);
        ck_assert_int_eq(km_close(a), 0);
        ck_assert_int_eq(km_close(b), 0);
    }
}

START_TEST(hangup_with_last_bytes)
{
    run(hangup_edge_body);
}
END_TEST

/* ---- writing to a closed peer ---- */

static void closed_peer_body(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    ck_assert_int_eq(km_close(b), 0);
    static char chunk[16384];
    long w = 0;
    int i;
    /* the first writes may still be accepted; the peer answers them with RST */
    for (i = 0; i < 1000; i++) {
        w = km_write(a, chunk, sizeof chunk, soon());
        if (w < 0)
            break;
        km_sleep(1 * MS);
    }
    ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "write to a closed peer: %ld (%s) after %d writes",
                  w, km_strerror((int)w), i);
    /* and again: the socket stays failed, the process stays alive */
    w = km_write(a, chunk, sizeof chunk, soon());
    ck_assert_msg(w == -EPIPE || w == -ECONNRESET, "second write: %ld (%s)", w,
                  km_strerror((int)w));
    ck_assert_int_eq(km_close(a), 0);
}

START_TEST(write_to_closed_peer)
{
    run(closed_peer_body);
}
END_TEST

/* ---- bad addresses ---- */

static void bad_addr_body(void *arg)
{
    (void)arg;
    static const char *bad[] = {
        "", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:12ab",
        "127.0.0.1:99999999999999999999", "[::1", "[::1]80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = km_listen(bad[i], 16);
        if (rc >= 0) km_close(rc);
        ck_assert_msg(rc == -EINVAL, "km_listen(\"%s\") = %d (%s)", bad[i], rc, km_strerror(rc));
        rc = km_dial(bad[i], soon());
        if (rc >= 0) km_close(rc);
        ck_assert_msg(rc == -EINVAL, "km_dial(\"%s\") = %d (%s)", bad[i], rc, km_strerror(rc));
    }
    /* a unix path longer than sun_path */
    char longpath[300] = "unix:/tmp/";
    memset(longpath + 10, 'p', sizeof longpath - 11);
    longpath[sizeof longpath - 1] = '\0';
    int rc = km_listen(longpath, 16);
    if (rc >= 0) km_close(rc);
    ck_assert_msg(rc == -EINVAL || rc == -ENAMETOOLONG, "km_listen(long unix path) = %s",
                  km_strerror(rc));
    rc = km_dial(longpath, soon());
    ck_assert_msg(rc == -EINVAL || rc == -ENAMETOOLONG, "km_dial(long unix path) = %s",
                  km_strerror(rc));
    /* not a socket: operations on a bad fd */
    char c;
    ck_assert_int_eq(km_read(-1, &c, 1, soon()), -EBADF);
    ck_assert_int_eq(km_write(-1, &c, 1, soon()), -EBADF);
    ck_assert_int_eq(km_accept(-1, soon()), -EBADF);
    ck_assert_int_eq(km_close(-1), -EBADF);
}

START_TEST(bad_addresses)
{
    run(bad_addr_body);
}
END_TEST

/* ---- address forms ---- */

static char unix_dir[64];

static void unix_body(void *arg)
{
    (void)arg;
    char addr[128];
    snprintf(addr, sizeof addr, "unix:%s/sock", unix_dir);
    int a, b;
    pair_on(addr, NULL, &a, &b);
    exchange(a, b);
    ck_assert_int_eq(km_shutdown(a, SHUT_WR), 0);
    char c;
    ck_assert_int_eq(km_read(b, &c, 1, soon()), 0);
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(unix_sockets)
{
    strcpy(unix_dir, "/tmp/kumo-net-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(unix_dir));
    run(unix_body);
    char path[128];
    snprintf(path, sizeof path, "%s/sock", unix_dir);
    unlink(path);
    ck_assert_int_eq(rmdir(unix_dir), 0);
}
END_TEST

/* A deferring listener hands over a connection only once its first bytes
 * are in, and then the first read needs no wait. */
static void defer_body(void *arg)
{
    (void)arg;
    int l = km_listen_ex("127.0.0.1:0", 16, KM_LISTEN_DEFER_ACCEPT);
    ck_assert_int_ge(l, 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_local_port(l));
    int c = km_dial(addr, soon());
    ck_assert_int_ge(c, 0);
    int early = km_accept(l, km_now() + 300 * MS);
    ck_assert_msg(early == -ETIMEDOUT, "accepted before any byte came: %d", early);
    ck_assert_int_eq(km_write(c, "x", 1, soon()), 1);
    int a = km_accept(l, soon());
    ck_assert_int_ge(a, 0);
    char b;
    ck_assert_int_eq(km_read(a, &b, 1, km_now()), 1);   /* already there */
    ck_assert_int_eq(b, 'x');
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(c), 0);
    ck_assert_int_eq(km_close(l), 0);
}

START_TEST(deferred_accept)
{
    run(defer_body);
}
END_TEST

/* Whether this host can bind ::1 at all (containers often cannot). */
static int have_ipv6_loopback(void)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s < 0)
        return 0;
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int ok = bind(s, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(s);
    return ok;
}

static void ipv6_body(void *arg)
{
    (void)arg;
    int a, b;
    pair_on("[::1]:0", "[::1]", &a, &b);
    exchange(a, b);
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(ipv6_loopback)
{
    if (!have_ipv6_loopback()) {
        fprintf(stderr, "net/errors: no IPv6 loopback here, ipv6_loopback skipped\n");
        return;
    }
    run(ipv6_body);
}
END_TEST

static void any_and_localhost_body(void *arg)
{
    (void)arg;
    /* ":0" listens on every interface; km_local_port says which port */
    int l = km_listen(":0", 16);
    ck_assert_msg(l >= 0, "km_listen(\":0\"): %s", km_strerror(l));
    int port = km_local_port(l);
    ck_assert_int_gt(port, 0);
    ck_assert_int_lt(port, 65536);
    const char *hosts[] = { "localhost", "127.0.0.1", "[::1]" };
    int nhosts = have_ipv6_loopback() ? 3 : 2;
    for (int i = 0; i < nhosts; i++) {
        char addr[64];
        snprintf(addr, sizeof addr, "%s:%d", hosts[i], port);
        int a = km_dial(addr, soon());
        ck_assert_msg(a >= 0, "km_dial(%s): %s", addr, km_strerror(a));
        int b = km_accept(l, soon());
        ck_assert_int_ge(b, 0);
        exchange(a, b);
        ck_assert_int_eq(km_close(a), 0);
        ck_assert_int_eq(km_close(b), 0);
    }
    ck_assert_int_eq(km_close(l), 0);

    /* km_local_port of a dialled socket is its ephemeral port */
    int a, b;
    tcp_pair(&a, &b);
    ck_assert_int_gt(km_local_port(a), 0);
    ck_assert_int_eq(km_local_port(-1), -EBADF);
    ck_assert_int_eq(km_close(a), 0);
    ck_assert_int_eq(km_close(b), 0);
}

START_TEST(any_address_and_localhost)
{
    run(any_and_localhost_body);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net/errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, close_wakes_parked_reader, 0, 2);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, connection_reset);
    tcase_add_test(tc, half_close);
    tcase_add_test(tc, hangup_with_last_bytes);
    tcase_add_test(tc, write_to_closed_peer);
    tcase_add_test(tc, bad_addresses);
    tcase_add_test(tc, unix_sockets);
    tcase_add_test(tc, deferred_accept);
    tcase_add_test(tc, ipv6_loopback);
    tcase_add_test(tc, any_address_and_localhost);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
