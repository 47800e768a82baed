/* SPDX-License-Identifier: MIT */
/* Echo server for the network benchmarks: one goroutine per connection echoes whatever it reads. */
#include "../runtime/bench.h"

static const char *addr;

static void conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = km_read(fd, buf, sizeof buf, KM_FOREVER);
        if (n <= 0)
            break;          /* EOF or a reset: the client is gone */
        if (km_write(fd, buf, (size_t)n, KM_FOREVER) != n)
            break;
    }
    km_close(fd);
}

static void body(void *unused)
{
    int lfd = km_listen(addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "km_listen(%s): %s\n", addr, km_strerror(lfd));
        exit(1);
    }
    /* run.sh waits for this line */
    printf("port=%d\n", km_local_port(lfd));
    fflush(stdout);
    for (;;) {
        int fd = km_accept(lfd, KM_FOREVER);
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE || fd == -ECONNABORTED) {
                km_sleep(1000000);
                continue;
            }
            fprintf(stderr, "km_accept: %s\n", km_strerror(fd));
            exit(1);
        }
        BENCH_CHECK(km_go(conn, (void *)(intptr_t)fd));
    }
}

int main(int argc, char **argv)
{
    addr = argc > 1 ? argv[1] : "127.0.0.1:0";
    return bench_run(body, NULL);
}
