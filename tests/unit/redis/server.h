/* SPDX-License-Identifier: MIT */
/* Test helper: a private redis-server on a free loopback port in a temporary directory; fails the test when redis-server is missing. */
#ifndef KUMO_TEST_REDIS_SERVER_H
#define KUMO_TEST_REDIS_SERVER_H

#include "util.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    pid_t pid;
    int   port;
    char  dir[64];
    char  addr[32];
    char  password[32];     /* "" : no requirepass */
} t_redis;

static int t_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* True once something accepts connections on the port. */
static int t_port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static void t_redis_stop(t_redis *r);

/* A failing check ends the forked test through exit(): the server and its
 * directory go with it. */
static t_redis *t_redis_current;
static void t_redis_atexit(void)
{
    if (t_redis_current && t_redis_current->dir[0])
        t_redis_stop(t_redis_current);
}

/* (Re)starts the server on r->port (0: a free one). Plain threads only
 * block here (posix_spawn, sleeps): call it before km_main or from a
 * goroutine through km_blocking. */
static void t_redis_start(t_redis *r)
{
    if (access("/usr/bin/redis-server", X_OK) != 0)
        ck_abort_msg("redis-server is missing: apt-get install redis-server");
    if (!t_redis_current) {
        t_redis_current = r;
        atexit(t_redis_atexit);
    }
    if (!r->dir[0]) {
        snprintf(r->dir, sizeof r->dir, "/tmp/kumo-redis-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(r->dir));
    }
    if (!r->port)
        r->port = t_free_port();
    snprintf(r->addr, sizeof r->addr, "127.0.0.1:%d", r->port);
    char port[16], logf[96];
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(logf, sizeof logf, "%s/redis.log", r->dir);
    const char *argv[24] = { "redis-server", "--port", port, "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--dir", r->dir, "--logfile", logf,
        "--daemonize", "no", "--enable-debug-command", "yes" };
    int argc = 17;
    if (r->password[0]) {
        argv[argc++] = "--requirepass";
        argv[argc++] = r->password;
    }
    argv[argc] = NULL;
    ck_assert_int_eq(posix_spawn(&r->pid, "/usr/bin/redis-server", NULL, NULL,
                                 (char *const *)argv, environ), 0);
    for (int i = 0; i < 500 && !t_port_open(r->port); i++)
        usleep(10000);
    ck_assert_msg(t_port_open(r->port), "redis-server did not start on %d", r->port);
}

static void t_redis_kill(t_redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
}

/* Stops the server and removes its directory. */
static void t_redis_stop(t_redis *r)
{
    t_redis_kill(r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", r->dir);
    r->dir[0] = '\0';
}

#endif
