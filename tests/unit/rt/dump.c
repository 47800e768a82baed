/* SPDX-License-Identifier: MIT */
/* Goroutine dump and runtime statistics. */
#include "util.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PARKED 50

typedef struct { km_chan *c; km_wg *wg; } env;

static void parked_recv(void *arg)
{
    env *e = arg;
    int v;
    km_chan_recv(e->c, &v);
    km_wg_done(e->wg);
}

static void parked_sleep(void *arg)
{
    env *e = arg;
    km_sleep(3600 * 1000000000LL);
    km_wg_done(e->wg);
}

static void spawn_sleepers(void *arg)
{
    km_go_opts named = { 0, "sleeper" };
    for (int i = 0; i < PARKED; i++)
        ck_assert_int_eq(km_go_opt(parked_sleep, arg, &named), 0);
}

static char *dump_to_string(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(km_dump(fileno(f)), 0);
    long n = ftell(f) > 0 ? ftell(f) : lseek(fileno(f), 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    ck_assert_int_eq(pread(fileno(f), buf, (size_t)n, 0), n);
    fclose(f);
    return buf;
}

static void dump_body(void *arg)
{
    (void)arg;
    env e;
    ck_assert_int_eq(km_chan_new(&e.c, sizeof(int), 0), 0);
    ck_assert_int_eq(km_wg_new(&e.wg), 0);
    km_wg_add(e.wg, 2 * PARKED);
    km_group *sleepers;
    ck_assert_int_eq(km_group_new(&sleepers, NULL, KM_FOREVER), 0);
    ck_assert_int_eq(km_group_go(sleepers, spawn_sleepers, &e), 0);
    for (int i = 0; i < PARKED; i++)
        ck_assert_int_eq(km_go(parked_recv, &e), 0);
    km_stats s;
    /* wait until all of them are parked (slow under sanitizers) */
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(km_stats_read(&s), 0);
        if (s.waiting >= 2 * PARKED)
            break;
        km_sleep(10 * 1000000);
    }
    ck_assert_int_eq(s.procs, km_procs());
    ck_assert_uint_ge(s.goroutines, 2 * PARKED + 1);
    ck_assert_uint_ge(s.waiting, 2 * PARKED);
    ck_assert_uint_ge(s.spawned, 2 * PARKED + 1);
    ck_assert_uint_ge(s.parks, 2 * PARKED);
    ck_assert(s.next_timer != KM_FOREVER);

    char *d = dump_to_string();
    ck_assert_msg(strstr(d, "goroutines on") != NULL, "%s", d);
    ck_assert_msg(strstr(d, "\"main\" [running]") != NULL, "%.2000s", d);
    ck_assert_msg(strstr(d, "\"sleeper\" [waiting, sleep") != NULL, "%.2000s", d);
    ck_assert_msg(strstr(d, "[waiting, chan receive 0x") != NULL, "%.2000s", d);
    /* parked goroutines show their stack: the park is at the top */
    ck_assert_msg(strstr(d, "km__park") || strstr(d, "+0x"), "%.2000s", d);
    int n = 0;
    for (const char *p = d; (p = strstr(p, "goroutine ")); p++)
        n++;
    ck_assert_int_ge(n, 2 * PARKED + 1);
    free(d);

    ck_assert_int_eq(km_chan_close(e.c), 0);    /* wakes the receivers */
    km_group_cancel(sleepers);                    /* and the sleepers */
    ck_assert_int_eq(km_wg_wait(e.wg), 0);
    ck_assert_int_eq(km_group_wait(sleepers, KM_FOREVER), 0);
    ck_assert_int_eq(km_stats_read(&s), 0);
    ck_assert_uint_ge(s.exited, 2 * PARKED);
    ck_assert_int_eq(km_group_free(sleepers), 0);
    km_chan_free(e.c);
    km_wg_free(e.wg);
}

START_TEST(dump_and_stats)
{
    t_run(dump_body, NULL);
}
END_TEST

START_TEST(stats_outside_runtime)
{
    km_stats s;
    ck_assert_int_eq(km_stats_read(&s), -ESRCH);
    ck_assert_int_eq(km_stats_read(NULL), -EINVAL);
}
END_TEST

static void quit_body(void *arg)
{
    (void)arg;
    kill(getpid(), SIGQUIT);
    km_sleep(10 * 1000000000LL);    /* the dump thread exits the process */
}

START_TEST(sigquit_dumps_and_exits_2)
{
    /* returns only when the runtime could not start */
    ck_assert_int_eq(km_main(quit_body, NULL), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt/dump");
    TCase *tc = tcase_create("dump");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, dump_and_stats);
    tcase_add_test(tc, stats_outside_runtime);
    tcase_add_exit_test(tc, sigquit_dumps_and_exits_2, 2);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
