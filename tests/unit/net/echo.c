/* SPDX-License-Identifier: MIT */
/* Loopback echo at scale: a kumo server process and a kumo client process, 10,000 connections of verified round trips. */
#include "util.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define CONNS 1500      /* TSan caps live threads + fibers near 8,000 */
#elif defined(__SANITIZE_ADDRESS__)
#define CONNS 3000
#else
#define CONNS 10000
#endif
#define ROUNDS  100
#define MSG     64
#define BACKLOG 8192
#define SEC     1000000000LL

/* The fd hard limit (20,000 here) covers 10,000 sockets per process only
 * once the soft limit is raised to it. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- server (child process; reports through its exit status) ---- */

typedef struct {
    int         wfd;            /* pipe to the parent: the port */
    km_wg      *conns;
    atomic_long echoed, errors;
    atomic_int  first_err;
} server_t;

static void server_fail(server_t *s, int rc)
{
    int zero = 0;
    atomic_compare_exchange_strong(&s->first_err, &zero, rc);
    atomic_fetch_add(&s->errors, 1);
}

typedef struct { server_t *s; int fd; } conn_arg;

static void server_conn(void *arg)
{
    conn_arg a = *(conn_arg *)arg;
    free(arg);
    char buf[4096];
    for (;;) {
        ssize_t n = km_read(a.fd, buf, sizeof buf, KM_FOREVER);
        if (n == 0)
            break;
        if (n < 0) { server_fail(a.s, (int)n); break; }
        ssize_t w = km_write(a.fd, buf, (size_t)n, KM_FOREVER);
        if (w != n) { server_fail(a.s, w < 0 ? (int)w : -EIO); break; }
        atomic_fetch_add(&a.s->echoed, n);
    }
    int rc = km_close(a.fd);
    if (rc) server_fail(a.s, rc);
    km_wg_done(a.s->conns);
}

static void server_main(void *arg)
{
    server_t *s = arg;
    int lfd = km_listen("127.0.0.1:0", BACKLOG);
    if (lfd < 0) { server_fail(s, lfd); close(s->wfd); return; }
    int port = km_local_port(lfd);
    if (port <= 0 || write(s->wfd, &port, sizeof port) != sizeof port) {
        server_fail(s, port <= 0 ? port : -EIO);
        close(s->wfd);
        km_close(lfd);
        return;
    }
    close(s->wfd);
    if (km_wg_new(&s->conns)) { server_fail(s, -ENOMEM); km_close(lfd); return; }
    /* The client makes exactly CONNS connections; a generous deadline keeps
     * a broken client from leaving this process behind. */
    int64_t dl = km_now() + 600 * SEC;
    for (int i = 0; i < CONNS; i++) {
        int fd = km_accept(lfd, dl);
        if (fd < 0) { server_fail(s, fd); break; }
        conn_arg *a = malloc(sizeof *a);
        a->s = s;
        a->fd = fd;
        km_wg_add(s->conns, 1);
        int rc = km_go(server_conn, a);
        if (rc) { server_fail(s, rc); km_wg_done(s->conns); km_close(fd); free(a); }
    }
    km_wg_wait(s->conns);
    km_wg_free(s->conns);
    km_close(lfd);
}

static int run_server(int wfd, int procs)
{
    raise_nofile();
    t_procs(procs);
    static server_t s;
    s.wfd = wfd;
    int rc = km_main(server_main, &s);
    long want = (long)CONNS * ROUNDS * MSG;
    if (rc || atomic_load(&s.errors) || atomic_load(&s.echoed) != want) {
        fprintf(stderr, "echo server: km_main %s, %ld errors (first: %s), echoed %ld of %ld bytes\n",
                km_strerror(rc), atomic_load(&s.errors), km_strerror(atomic_load(&s.first_err)),
                atomic_load(&s.echoed), want);
        return 1;
    }
    return 0;
}

/* ---- clients (the test process) ---- */

typedef struct {
    int         port;
    km_wg      *done;
    atomic_int  next_id;
    atomic_long verified, dial_retries, errors;
    atomic_int  first_err, first_err_where;
} client_t;
static client_t cl;

static void client_fail(int rc, int where)
{
    int zero = 0;
    if (atomic_compare_exchange_strong(&cl.first_err, &zero, rc))
        atomic_store(&cl.first_err_where, where);
    atomic_fetch_add(&cl.errors, 1);
}

/* Content unique to (connection, round, byte), so a byte delivered to the
 * wrong connection or out of order is caught. */
static void fill(uint8_t *m, uint32_t id, uint32_t round)
{
    memcpy(m, &id, 4);
    memcpy(m + 4, &round, 4);
    for (int j = 8; j < MSG; j++)
        m[j] = (uint8_t)(id * 131u + round * 31u + (uint32_t)j * 7u);
}

static void client_conn(void *arg)
{
    (void)arg;
    uint32_t id = (uint32_t)atomic_fetch_add(&cl.next_id, 1);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", cl.port);
    int fd = -1;
    /* A full accept queue makes the kernel drop SYNs (the dial just takes
     * longer); refusals and EAGAIN are retried a few times. */
    for (int attempt = 0; attempt < 8; attempt++) {
        fd = km_dial(addr, KM_FOREVER);
        if (fd != -ECONNREFUSED && fd != -EAGAIN)
            break;
        atomic_fetch_add(&cl.dial_retries, 1);
        km_sleep((attempt + 1) * 10 * 1000000LL);
    }
    if (fd < 0) { client_fail(fd, 1); goto out; }
    uint8_t out[MSG], in[MSG];
    for (uint32_t r = 0; r < ROUNDS; r++) {
        fill(out, id, r);
        ssize_t w = km_write(fd, out, MSG, KM_FOREVER);
        if (w != MSG) { client_fail(w < 0 ? (int)w : -EIO, 2); break; }
        size_t got = 0;
        while (got < MSG) {
            ssize_t n = km_read(fd, in + got, MSG - got, KM_FOREVER);
            if (n <= 0) { client_fail(n < 0 ? (int)n : -ENODATA, 3); goto close; }
            got += (size_t)n;
        }
        if (memcmp(in, out, MSG)) { client_fail(-EBADMSG, 4); break; }
        atomic_fetch_add(&cl.verified, MSG);
    }
close:;
    int rc = km_close(fd);
    if (rc) client_fail(rc, 5);
out:
    km_wg_done(cl.done);
}

static void clients_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(km_wg_new(&cl.done), 0);
    km_wg_add(cl.done, CONNS);
    for (int i = 0; i < CONNS; i++)
        ck_assert_int_eq(km_go(client_conn, NULL), 0);
    ck_assert_int_eq(km_wg_wait(cl.done), 0);
    km_wg_free(cl.done);
    ck_assert_msg(atomic_load(&cl.errors) == 0,
                  "%ld client errors, first %s at step %d (1 dial, 2 write, 3 read, 4 verify, 5 close)",
                  atomic_load(&cl.errors), km_strerror(atomic_load(&cl.first_err)),
                  atomic_load(&cl.first_err_where));
    ck_assert_int_eq(atomic_load(&cl.verified), (long)CONNS * ROUNDS * MSG);
}

START_TEST(echo_10k_connections)
{
    int procs = _i + 1;
    raise_nofile();
    signal(SIGPIPE, SIG_DFL);   /* kumo must not rely on it being ignored */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    /* fork before any km_main: the runtime's threads do not survive fork */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a failed parent takes us along */
        if (getppid() == 1)
            _exit(3);
        _exit(run_server(p[1], procs));
    }
    close(p[1]);
    int port = 0;
    ssize_t n = read(p[0], &port, sizeof port);
    close(p[0]);
    if (n != sizeof port) {
        int st;
        waitpid(pid, &st, 0);
        ck_abort_msg("server did not start (exit status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    memset(&cl, 0, sizeof cl);
    cl.port = port;
    t_procs(procs);
    t_run(clients_main, NULL);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "server process failed (status 0x%x; see its stderr)", st);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("net/echo");
    TCase *tc = tcase_create("echo");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, echo_10k_connections, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
