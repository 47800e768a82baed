/* SPDX-License-Identifier: MIT */
/* Flags kept in kumo serve, followed live: a flip is seen within a second
 * without restarting the follower, and the change callback fires. */
#include "util.h"
#include <kumo/flags.h>
#include <kumo/serve.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL
#define SEC 1000000000LL

/* Written by the informer's goroutine, read by the test's: under a lock. */
typedef struct {
    pthread_mutex_t mu;
    int  changes;
    char last[64];          /* "name=value" or "name deleted" */
} seen;

static void on_change(void *ud, const char *name, const char *value, size_t len)
{
    seen *s = ud;
    pthread_mutex_lock(&s->mu);
    s->changes++;
    if (value)
        snprintf(s->last, sizeof s->last, "%s=%.*s", name, (int)len, value);
    else
        snprintf(s->last, sizeof s->last, "%s deleted", name);
    pthread_mutex_unlock(&s->mu);
}

/* Handlers run just after the view changes: wait up to 1 s for the last
 * change to read want; the number of changes so far. */
static int until_last(seen *s, const char *want)
{
    for (int i = 0;; i++) {
        pthread_mutex_lock(&s->mu);
        bool ok = !strcmp(s->last, want);
        int n = s->changes;
        pthread_mutex_unlock(&s->mu);
        if (ok)
            return n;
        if (i == 1000)
            ck_abort_msg("last change is not \"%s\"", want);
        km_sleep(MS);
    }
}

/* Waits up to 1 s for the flag to read want; the time it took, or -1. */
static int64_t until_bool(km_flags *f, const char *name, bool want)
{
    int64_t t0 = km_now();
    while (km_now() - t0 < SEC) {
        if (km_flag_bool(f, name, !want) == want)
            return km_now() - t0;
        km_sleep(MS);
    }
    return -1;
}

static void body(void *arg)
{
    char dir[] = "/tmp/kumo-flags-XXXXXX";
    REQUIRE(mkdtemp(dir));
    char data[64];
    snprintf(data, sizeof data, "%s/d", dir);
    km_serve *srv;
    km_serve_config sc = { .listen = "127.0.0.1:0", .data_dir = data, .map_size = 64 << 20,
                           .no_metrics = true };
    REQUIRE_EQ(km_serve_start(&srv, &sc), 0);
    char ep[32];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", km_serve_port(srv));
    const char *eps[] = { ep };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1 };
    km_client *c;
    REQUIRE_EQ(km_client_new(&c, &cc), 0);
    REQUIRE_EQ(km_client_put(c, "/kumo/flags/cache", 17, "on", 2, 0, km_now() + SEC, NULL), 0);

    seen s = { .mu = PTHREAD_MUTEX_INITIALIZER };
    km_flags *f;
    km_flags_config fc = { .on_change = on_change, .ud = &s };
    REQUIRE_EQ(km_flags_start(&f, c, &fc), 0);
    REQUIRE_EQ(km_flags_wait(f, km_now() + 5 * SEC), 0);
    REQUIRE(km_flag_bool(f, "cache", false));
    REQUIRE(!km_flag_bool(f, "missing", false));
    REQUIRE_EQ(km_flag_int(f, "missing", 42), 42);

    /* A flip is followed without restarting anything. */
    REQUIRE_EQ(km_client_put(c, "/kumo/flags/cache", 17, "off", 3, 0, km_now() + SEC, NULL), 0);
    int64_t took = until_bool(f, "cache", false);
    ck_assert_msg(took >= 0, "flag flip not seen within 1 s");
    until_last(&s, "cache=off");

    REQUIRE_EQ(km_client_put(c, "/kumo/flags/limit", 17, "250", 3, 0, km_now() + SEC, NULL), 0);
    for (int i = 0; i < 1000 && km_flag_int(f, "limit", 0) != 250; i++)
        km_sleep(MS);
    REQUIRE_EQ(km_flag_int(f, "limit", 0), 250);
    char v[8];
    REQUIRE_EQ(km_flag_get(f, "limit", v, sizeof v), 3);
    REQUIRE(!strcmp(v, "250"));

    REQUIRE_EQ(km_client_delete(c, "/kumo/flags/cache", false, km_now() + SEC, NULL, NULL), 0);
    for (int i = 0; i < 1000 && km_flag_get(f, "cache", v, sizeof v) != -ENOENT; i++)
        km_sleep(MS);
    REQUIRE_EQ(km_flag_get(f, "cache", v, sizeof v), -ENOENT);
    REQUIRE(km_flag_bool(f, "cache", true));        /* back to the default */
    REQUIRE(until_last(&s, "cache deleted") >= 4);  /* add, update, add, delete */

    km_flags_stop(f);
    km_client_free(c);
    REQUIRE_EQ(km_serve_stop(srv, km_now() + SEC), 0);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    REQUIRE_EQ(system(cmd), 0);
}

START_TEST(flip) { t_procs(2); t_run(body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("flags");
    TCase *tc = tcase_create("flags");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, flip);
    suite_add_tcase(s, tc);
    return s;
}
T_MAIN(suite)
