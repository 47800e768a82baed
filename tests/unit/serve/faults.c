/* SPDX-License-Identifier: MIT */
/* The native API's prefix delete under injected allocation failures: each
 * failing arena piece of the request refuses the delete and deletes
 * nothing; the failure of the range end's piece (src/serve/query.c) above
 * all never widens the delete to every later key. */
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <kumo/net.h>
#include <kumo/serve.h>
#include "rt/fault.h"

#define SEC 1000000000LL

/* One request on a connection of its own; the status, the body in out. */
static int call(int port, const char *method, const char *path, const char *body, char *out, size_t cap)
{
    char addr[32], req[512];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    int fd = km_dial(addr, km_now() + 5 * SEC);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s", method, path, strlen(body), body);
    ck_assert_int_eq(km_write(fd, req, (size_t)n, km_now() + 5 * SEC), n);
    size_t got = 0;
    for (;;) {
        ck_assert(got < cap - 1);
        ssize_t r = km_read(fd, out + got, cap - 1 - got, km_now() + 5 * SEC);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    out[got] = 0;
    km_close(fd);
    int status = 0;
    ck_assert_int_eq(sscanf(out, "HTTP/1.1 %d", &status), 1);
    return status;
}

static bool exists(int port, const char *key)
{
    char path[128], out[4096];
    snprintf(path, sizeof path, "/api/v1/kv/%s", key);
    int st = call(port, "GET", path, "", out, sizeof out);
    ck_assert(st == 200 || st == 404);
    return st == 200;
}

static void put(int port, const char *key)
{
    char path[128], out[4096];
    snprintf(path, sizeof path, "/api/v1/kv/%s", key);
    ck_assert_int_eq(call(port, "PUT", path, "v", out, sizeof out), 200);
}

static void prefix_delete_body(void *arg)
{
    char dir[] = "/dev/shm/kmservefaultsXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    km_serve *srv;
    km_serve_config sc = { .listen = "127.0.0.1:0", .data_dir = dir, .map_size = 64 << 20,
                           .no_metrics = true };
    ck_assert_int_eq(km_serve_start(&srv, &sc), 0);
    int port = km_serve_port(srv);
    char out[4096];
    bool reached = false;
    for (long nth = 1; nth < 1000; nth++) {
        put(port, "app/a");
        put(port, "app/b");
        put(port, "zzz");
        char spec[32];
        snprintf(spec, sizeof spec, "arena:%ld", nth);
        ck_assert_int_eq(km__fault_arm(spec), 0);
        int st = call(port, "DELETE", "/api/v1/kv/app/?prefix", "", out, sizeof out);
        km__fault_disarm();
        bool injected = km__fault_injected() > 0;
        const km__fault_site *site = km__fault_last();
        /* whatever happened, the key past the prefix is still there */
        ck_assert_msg(exists(port, "zzz"), "a prefix delete with %s reached past its prefix", spec);
        if (!injected) {
            ck_assert_int_eq(st, 200);
            ck_assert(!exists(port, "app/a") && !exists(port, "app/b"));
            break;
        }
        if (st == 200) {
            ck_assert(!exists(port, "app/a") && !exists(port, "app/b"));
            continue;
        }
        ck_assert_msg(st == 503, "status %d with %s failing at %s:%d", st, spec, site->file, site->line);
        ck_assert_msg(exists(port, "app/a") && exists(port, "app/b"),
                      "a refused delete (%s failing at %s:%d) deleted keys", spec, site->file, site->line);
        if (strcmp(site->file, "src/serve/query.c") == 0)
            reached = true;
    }
    ck_assert_msg(reached, "no failure of the prefix's range end was injected");
    ck_assert_int_eq(km_serve_stop(srv, km_now() + 5 * SEC), 0);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(prefix_delete_refused) { t_run(prefix_delete_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("serve/faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, prefix_delete_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_main(suite); }
