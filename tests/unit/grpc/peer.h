/* SPDX-License-Identifier: MIT */
/* Test helpers for gRPC: a real peer process (the grpc-go Echo server, or any command printing its port), Echo messages. */
#ifndef KUMO_TEST_GRPC_PEER_H
#define KUMO_TEST_GRPC_PEER_H

#include "util.h"
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <protobuf-c/protobuf-c.h>
#include "kumo/test/echo.pb-c.h"

#define SEC 1000000000LL
#define MS  1000000LL

extern char **environ;

typedef struct {
    pid_t pid;
    int   port;
    char  addr[32];
} peer;

/* Starts argv (which must print its port alone on its first line of
 * stdout) and waits for the port. A peer that is missing or does not
 * start fails the test: it is the point of the test, never skipped. */
static inline void peer_start(peer *p, char *const argv[])
{
    int fds[2];
    ck_assert(pipe(fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    int rc = posix_spawn(&p->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    ck_assert_msg(rc == 0, "cannot start %s (make interop): %s", argv[0], strerror(rc));
    char line[32];
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = read(fds[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    close(fds[0]);
    line[n] = 0;
    p->port = atoi(line);
    ck_assert_msg(p->port > 0, "%s did not print its port", argv[0]);
    snprintf(p->addr, sizeof p->addr, "127.0.0.1:%d", p->port);
}

static inline void peer_stop(peer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
}

/* The grpc-go Echo server (tests/interop/go/echo_server.go). */
static inline void go_server_start(peer *p)
{
    char *argv[] = { GO_ECHO_SERVER, "--listen", "127.0.0.1:0", NULL };
    peer_start(p, argv);
}

static inline bool str_eq(km_str s, const char *want)
{
    return s.p && s.n == strlen(want) && !memcmp(s.p, want, s.n);
}

static inline bool bytes_eq(km_str s, const void *want, size_t n)
{
    return s.n == n && (!n || !memcmp(s.p, want, n));
}

#endif
