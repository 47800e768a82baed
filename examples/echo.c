/* SPDX-License-Identifier: MIT */
/* A TCP echo server: one goroutine per connection, blocking-style code. */
#include <kumo.h>
#include <stdio.h>
#include <stdlib.h>

static void serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    ssize_t n;
    /* An idle connection is dropped after 60 s. */
    while ((n = km_read(fd, buf, sizeof buf, km_now() + 60000000000LL)) > 0)
        if (km_write(fd, buf, (size_t)n, km_now() + 10000000000LL) < 0)
            break;
    km_close(fd);
}

static void serve(void *arg)
{
    const char *addr = arg;
    int lfd = km_listen(addr, 4096);
    if (lfd < 0) {
        fprintf(stderr, "echo: listen %s: %s\n", addr, km_strerror(lfd));
        return;
    }
    printf("echo: listening on port %d\n", km_local_port(lfd));
    fflush(stdout);
    for (;;) {
        int fd = km_accept(lfd, KM_FOREVER);
        if (fd < 0) {
            fprintf(stderr, "echo: accept: %s\n", km_strerror(fd));
            km_sleep(10000000);     /* e.g. out of fds: back off */
            continue;
        }
        if (km_go(serve_conn, (void *)(intptr_t)fd) < 0)
            km_close(fd);
    }
}

int main(int argc, char **argv)
{
    return km_main(serve, argc > 1 ? argv[1] : "127.0.0.1:7007") ? 1 : 0;
}
