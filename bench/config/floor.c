/* SPDX-License-Identifier: MIT */
/* The kernel's floor for a watch fan-out over loopback TCP: what delivering
 * one small message to each of N connections costs when the sender does
 * nothing but write(2) in a loop. No runtime, no HTTP, no JSON: on this
 * machine no server's fan-out can be faster.
 *
 * usage: floor WATCHERS [SENDER_CPU RECEIVER_CPU [BYTES [ROUNDS]]]
 * A receiver process pinned to RECEIVER_CPU (default 1) opens WATCHERS
 * connections and waits on them with epoll; the sender, pinned to
 * SENDER_CPU (default 0) as the servers are in bench/config, writes BYTES
 * (default 120, about an etcd watch event) to each accepted connection in
 * turn. Per round it prints the time from the first write to each
 * message's arrival (p50, p99, all) and the sender's CPU time per write.
 * Two processes, so that each needs only WATCHERS open files. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int n, bytes = 120, rounds = 3;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set))
        fprintf(stderr, "floor: cannot pin to cpu %d\n", cpu);
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void xfer(int fd, void *p, size_t len, int out)
{
    ssize_t r = out ? write(fd, p, len) : read(fd, p, len);
    if (r != (ssize_t)len)
        die(out ? "pipe write" : "pipe read");
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Connects, then per round stamps every message's arrival and sends back
 * p50, p99 and the last, measured from the sender's t0. */
static void receiver(int cpu, const struct sockaddr_in *sa, int in, int out)
{
    pin(cpu);
    int *fd = calloc((size_t)n, sizeof *fd);
    int64_t *lat = calloc((size_t)n, sizeof *lat);
    int ep = epoll_create1(0);
    if (!fd || !lat || ep < 0)
        die("receiver setup");
    for (int i = 0; i < n; i++) {
        if ((fd[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
            connect(fd[i], (const struct sockaddr *)sa, sizeof *sa))
            die("connect");
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev))
            die("epoll_ctl");
    }
    char ok = 1, buf[4096];
    xfer(out, &ok, 1, 1);
    struct epoll_event evs[512];
    for (int r = 0; r < rounds; r++) {
        for (int got = 0; got < n;) {
            int k = epoll_wait(ep, evs, 512, 10000);
            if (k <= 0) {
                fprintf(stderr, "floor: %d of %d messages arrived\n", got, n);
                exit(1);
            }
            int64_t t = clock_ns(CLOCK_MONOTONIC);
            for (int j = 0; j < k; j++, got++) {
                int i = (int)evs[j].data.u32;
                if (read(fd[i], buf, sizeof buf) <= 0)
                    die("read");
                lat[i] = t;
            }
        }
        int64_t t0, res[3];
        xfer(in, &t0, sizeof t0, 0);
        for (int i = 0; i < n; i++)
            lat[i] -= t0;
        qsort(lat, (size_t)n, sizeof *lat, cmp64);
        res[0] = lat[n / 2];
        res[1] = lat[(n * 99 + 99) / 100 - 1];     /* nearest rank */
        res[2] = lat[n - 1];
        xfer(out, res, sizeof res, 1);
    }
    exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (n = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: floor WATCHERS [SENDER_CPU RECEIVER_CPU [BYTES [ROUNDS]]]\n");
        return 2;
    }
    int sender_cpu = argc > 3 ? atoi(argv[2]) : 0;
    int receiver_cpu = argc > 3 ? atoi(argv[3]) : 1;
    if (argc > 4) bytes = atoi(argv[4]);
    if (argc > 5) rounds = atoi(argv[5]);
    if (bytes <= 0 || bytes > 4096 || rounds <= 0)
        return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < (rlim_t)n + 64) {
        fprintf(stderr, "floor: need %d open files, the limit is %lu\n", n + 64,
                (unsigned long)rl.rlim_cur);
        return 1;
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl))
        die("listen");
    int to_rcv[2], from_rcv[2];
    if (pipe(to_rcv) || pipe(from_rcv))
        die("pipe");
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(lfd);
        receiver(receiver_cpu, &sa, to_rcv[0], from_rcv[1]);
    }
    pin(sender_cpu);
    int *fd = calloc((size_t)n, sizeof *fd);
    char *msg = malloc((size_t)bytes);
    if (!fd || !msg)
        die("calloc");
    memset(msg, 'x', (size_t)bytes);
    int one = 1;
    for (int i = 0; i < n; i++) {
        if ((fd[i] = accept(lfd, NULL, NULL)) < 0)
            die("accept");
        setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    char ok;
    xfer(from_rcv[0], &ok, 1, 0);
    for (int r = 1; r <= rounds; r++) {
        usleep(200000);                     /* both sides idle before the burst */
        int64_t c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        int64_t t0 = clock_ns(CLOCK_MONOTONIC);
        for (int i = 0; i < n; i++)
            if (write(fd[i], msg, (size_t)bytes) != bytes)
                die("write");
        int64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
        int64_t res[3];
        xfer(to_rcv[1], &t0, sizeof t0, 1);
        xfer(from_rcv[0], res, sizeof res, 0);
        printf("floor: watchers=%d bytes=%d round=%d p50_ms=%.3f p99_ms=%.3f all_ms=%.3f "
               "sender_cpu_ms=%.3f us_per_write=%.2f\n",
               n, bytes, r, res[0] / 1e6, res[1] / 1e6, res[2] / 1e6, cpu / 1e6, cpu / 1e3 / n);
        fflush(stdout);
    }
    int st;
    waitpid(child, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
