/* SPDX-License-Identifier: MIT */
/* Load generator for the network benchmarks: C connections each doing R verified round trips of S bytes; rate and CPU per message. */
#include "../runtime/bench.h"
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

static long port, conns, rounds, size, server_pid;
static km_wg *ready, *done;
static km_chan *start;
static char addr[64];

/* utime + stime of a process in ns, from /proc/PID/stat (clock ticks). */
static int64_t proc_cpu_ns(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        bench_die("cannot open the server's /proc/PID/stat");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');   /* the command name may contain spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        bench_die("cannot parse /proc/PID/stat");
    return (int64_t)(ut + st) * (1000000000LL / sysconf(_SC_CLK_TCK));
}

static int64_t self_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static void client(void *arg)
{
    long id = (long)(intptr_t)arg;
    int fd = -1;
    for (int attempt = 0; attempt < 10; attempt++) {
        fd = km_dial(addr, KM_FOREVER);
        if (fd != -ECONNREFUSED && fd != -EAGAIN)
            break;
        km_sleep(10000000);
    }
    if (fd < 0) {
        fprintf(stderr, "km_dial(%s): %s\n", addr, km_strerror(fd));
        exit(1);
    }
    km_wg_done(ready);
    km_chan_recv(start, NULL);                  /* -EPIPE once the timer starts */
    uint8_t *out = malloc((size_t)size), *in = malloc((size_t)size);
    for (long r = 0; r < rounds; r++) {
        for (long j = 0; j < size; j++)
            out[j] = (uint8_t)(id + r + j);
        if (km_write(fd, out, (size_t)size, KM_FOREVER) != size)
            bench_die("write failed");
        for (long got = 0; got < size;) {
            ssize_t n = km_read(fd, in + got, (size_t)(size - got), KM_FOREVER);
            if (n <= 0)
                bench_die("read failed or the server hung up");
            got += n;
        }
        if (memcmp(in, out, (size_t)size))
            bench_die("the echo differs from what was sent");
    }
    free(out);
    free(in);
    km_close(fd);
    km_wg_done(done);
}

static void body(void *unused)
{
    BENCH_CHECK(km_wg_new(&ready));
    BENCH_CHECK(km_wg_new(&done));
    BENCH_CHECK(km_chan_new(&start, 0, 0));
    km_wg_add(ready, (int)conns);
    km_wg_add(done, (int)conns);
    for (long i = 0; i < conns; i++)
        BENCH_CHECK(km_go(client, (void *)(intptr_t)i));
    BENCH_CHECK(km_wg_wait(ready));             /* every connection is up */

    int64_t s0 = server_pid ? proc_cpu_ns(server_pid) : 0, c0 = self_cpu_ns();
    int64_t t0 = km_now();
    BENCH_CHECK(km_chan_close(start));
    BENCH_CHECK(km_wg_wait(done));
    int64_t dt = km_now() - t0;
    int64_t s1 = server_pid ? proc_cpu_ns(server_pid) : 0, c1 = self_cpu_ns();

    double msgs = (double)conns * (double)rounds;
    printf("info procs=%d conns=%ld round_trips=%ld size=%ld elapsed_ms=%.1f\n", km_procs(), conns,
           rounds, size, (double)dt / 1e6);
    if (conns == 1)
        bench_metric("roundtrips", msgs / ((double)dt / 1e9), "rt/s");
    else
        bench_metric("messages", msgs / ((double)dt / 1e9), "msgs/s");
    if (server_pid)
        bench_metric("server_cpu", (double)(s1 - s0) / msgs, "ns/msg");
    bench_metric("client_cpu", (double)(c1 - c0) / msgs, "ns/msg");
    km_chan_free(start);
    km_wg_free(ready);
    km_wg_free(done);
}

int main(int argc, char **argv)
{
    port = bench_arg(argc, argv, 1, 0);
    conns = bench_arg(argc, argv, 2, 1);
    rounds = bench_arg(argc, argv, 3, 100000);
    size = bench_arg(argc, argv, 4, 1);
    server_pid = bench_arg(argc, argv, 5, 0);
    if (port < 1 || port > 65535 || conns < 1 || conns > 100000 || rounds < 1 || size < 1)
        bench_die("usage: client PORT [CONNS [ROUND_TRIPS [SIZE [SERVER_PID]]]]");
    snprintf(addr, sizeof addr, "127.0.0.1:%ld", port);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return bench_run(body, NULL);
}
