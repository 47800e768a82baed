/* SPDX-License-Identifier: MIT */
/* Runtime and process metrics: present, plausible, registered once. */
#include "util.h"
#include <kumo/metrics.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The value of the sample whose line starts with "name " (or "name{...} "). */
static double sample(const char *text, const char *series)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", series);
    const char *p = strstr(text, key);
    ck_assert_msg(p, "no sample %s", series);
    return strtod(p + strlen(key), NULL);
}

/* Parks until the test has scraped: a sleep of any length could end
 * first on a loaded machine (under TSan, 20 ms did). */
typedef struct { km_wg *started, *done; km_chan *release; } sleepers;

static void sleeper(void *arg)
{
    sleepers *s = arg;
    km_wg_done(s->started);
    km_chan_recv(s->release, NULL);
    km_wg_done(s->done);
}

static void body(void *arg)
{
    (void)arg;
    km_metrics *r;
    ck_assert_int_eq(km_metrics_new(&r), 0);
    ck_assert_int_eq(km_metrics_runtime(r), 0);
    ck_assert_int_eq(km_metrics_runtime(r), -EEXIST);
    km_wg *wg;
    ck_assert_int_eq(km_wg_new(&wg), 0);
    sleepers s = { wg, NULL, NULL };
    ck_assert_int_eq(km_wg_new(&s.done), 0);
    ck_assert_int_eq(km_chan_new(&s.release, 0, 0), 0);
    km_wg_add(wg, 10);
    km_wg_add(s.done, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(km_go(sleeper, &s), 0);
    km_wg_wait(wg);

    char *t;
    size_t n;
    ck_assert_int_eq(km_metrics_text(r, &t, &n), 0);
    ck_assert_double_ge(sample(t, "kumo_goroutines"), 11);
    ck_assert_double_ge(sample(t, "kumo_goroutines_state{state=\"running\"}"), 1);
    ck_assert_double_ge(sample(t, "kumo_goroutines_state{state=\"waiting\"}"), 1);
    ck_assert_double_eq(sample(t, "kumo_procs"), 2);
    ck_assert_double_ge(sample(t, "kumo_goroutines_spawned_total"), 11);
    ck_assert_double_ge(sample(t, "kumo_sched_parks_total"), 1);
    sample(t, "kumo_sched_steals_total");
    sample(t, "kumo_sched_polls_total");
    sample(t, "kumo_offload_queue_length");
    sample(t, "kumo_sched_global_queue_length");
    ck_assert_double_gt(sample(t, "process_resident_memory_bytes"), 1 << 20);
    ck_assert_double_gt(sample(t, "process_virtual_memory_bytes"), 1 << 20);
    ck_assert_double_ge(sample(t, "process_open_fds"), 3);
    ck_assert_double_gt(sample(t, "process_max_fds"), 3);
    ck_assert_double_ge(sample(t, "process_cpu_seconds_total"), 0);
    double start = sample(t, "process_start_time_seconds");
    double now = (double)time(NULL);
    ck_assert_msg(start > now - 3600 && start <= now + 1, "start %f now %f", start, now);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE kumo_goroutines gauge\n"));
    double heap = sample(t, "kumo_memory_heap_inuse_bytes");
    km_metrics_text_free(t);

    /* 16 MiB more in use shows (under ASan or TSan, malloc is the
     * sanitizer's and glibc's counts stay at 0). */
    char *big = malloc(16 << 20);
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 16 << 20);
    ck_assert_int_eq(km_metrics_text(r, &t, &n), 0);
    double more = sample(t, "kumo_memory_heap_inuse_bytes");
    km_metrics_text_free(t);
    free(big);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    ck_assert_msg(more >= heap + (16 << 20), "heap in use %f, then %f", heap, more);
#else
    (void)heap, (void)more;
#endif
    km_chan_close(s.release);   /* the sleepers leave */
    km_wg_wait(s.done);
    km_chan_free(s.release);
    km_wg_free(s.done);
    km_wg_free(wg);
    km_metrics_free(r);
}

START_TEST(runtime_metrics)
{
    t_procs(2);
    t_run(body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("metrics/runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, runtime_metrics);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
