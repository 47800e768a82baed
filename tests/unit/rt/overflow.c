/* SPDX-License-Identifier: MIT */
/* Stack overflow is detected (abort with a message), never silent. */
#include "util.h"
#include <signal.h>
#include <stdbool.h>
#include <string.h>

/* Each frame holds a 1 KiB buffer the compiler cannot drop. */
static __attribute__((noinline)) long deep(int n, bool yield_at_bottom)
{
    volatile char buf[1024];
    memset((char *)buf, n & 0xff, sizeof buf);
    if (n == 0) {
        if (yield_at_bottom)
            km_yield();         /* switch out while overflowed */
        return buf[0];
    }
    return deep(n - 1, yield_at_bottom) + buf[n % sizeof buf];
}

static void overflow_then_yield(void *arg)
{
    (void)arg;
    deep(200, true);            /* ~200 KiB on a 128 KiB stack */
}

static void overflow_then_return(void *arg)
{
    (void)arg;
    deep(140, false);           /* just past the end, then back */
}

typedef struct { km_fn *fn; } job;

static void run_in_goroutine(void *arg)
{
    job *j = arg;
    ck_assert_int_eq(km_go(j->fn, NULL), 0);
    km_sleep(100 * 1000000);
}

START_TEST(overflow_caught_at_switch)
{
    setenv("KM_STACK_SIZE", "128K", 1);
    job j = { overflow_then_yield };
    km_main(run_in_goroutine, &j);
}
END_TEST

START_TEST(overflow_caught_at_exit)
{
    setenv("KM_STACK_SIZE", "128K", 1);
    job j = { overflow_then_return };
    km_main(run_in_goroutine, &j);
}
END_TEST

static void within_limits(void *arg)
{
    (void)arg;
    ck_assert_int_ge(deep(100, true), 0);   /* 100 KiB: fits */
}

static void fits_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(km_go(within_limits, NULL), 0);
    km_sleep(50 * 1000000);
}

START_TEST(deep_but_inside_is_fine)
{
    setenv("KM_STACK_SIZE", "128K", 1);
    t_run(fits_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt/overflow");
    TCase *tc = tcase_create("overflow");
    tcase_set_timeout(tc, 30);
    tcase_add_test_raise_signal(tc, overflow_caught_at_switch, SIGABRT);
    tcase_add_test_raise_signal(tc, overflow_caught_at_exit, SIGABRT);
    tcase_add_test(tc, deep_but_inside_is_fine);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
