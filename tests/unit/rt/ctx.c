/* SPDX-License-Identifier: MIT */
/* Context switches keep each goroutine's own floating-point control state
 * (rounding mode: MXCSR and x87 control word, or FPCR) and callee-saved
 * floating-point registers. */
#include "util.h"
#include <fenv.h>
#include <math.h>

typedef struct { int mode; int rounds; km_wg *wg; volatile double sink; } fp_job;

static void keeps_rounding(void *arg)
{
    fp_job *j = arg;
    ck_assert_int_eq(fesetround(j->mode), 0);
    /* values that live in callee-saved registers across the switches */
    double a = 1.0 / 3.0, b = 2.0 / 7.0, acc = 0;
    for (int i = 0; i < j->rounds; i++) {
        km_yield();
        ck_assert_int_eq(fegetround(), j->mode);
        volatile double one = 1.0, three = 3.0;
        double q = one / three;     /* rounded in this goroutine's mode */
        if (j->mode == FE_UPWARD)
            ck_assert(q * 3.0 >= 1.0 || nextafter(q, 1.0) > q);
        acc += a + b;
    }
    ck_assert(fabs(acc - j->rounds * (1.0 / 3.0 + 2.0 / 7.0)) < 1e-6 * j->rounds + 1e-3);
    j->sink = acc;      /* kept: the loop must not be optimised away */
    fesetround(FE_TONEAREST);
    km_wg_done(j->wg);
}

static void body(void *arg)
{
    (void)arg;
    km_wg *wg;
    ck_assert_int_eq(km_wg_new(&wg), 0);
    static const int modes[] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO };
    fp_job jobs[8];
    km_wg_add(wg, 8);
    for (int i = 0; i < 8; i++) {
        jobs[i] = (fp_job){ modes[i % 4], 2000, wg, 0 };
        ck_assert_int_eq(km_go(keeps_rounding, &jobs[i]), 0);
    }
    ck_assert_int_eq(km_wg_wait(wg), 0);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    km_wg_free(wg);
}

START_TEST(rounding_mode_is_per_goroutine)
{
    t_procs(_i + 1);
    t_run(body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rt/ctx");
    TCase *tc = tcase_create("ctx");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, rounding_mode_is_per_goroutine, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
