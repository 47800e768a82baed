/* SPDX-License-Identifier: MIT */
/* Scale: a million goroutines spawned and joined, a hundred thousand parked at once and then woken. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__)
/* TSan counts every goroutine (a fiber) against its limit of 8,128 threads,
 * and creating one costs it about half a millisecond. */
enum { N_SPAWN = 20000, N_PARK = 5000 };
#elif defined(__SANITIZE_ADDRESS__)
enum { N_SPAWN = 100000, N_PARK = 20000 };
#else
enum { N_SPAWN = 1000000, N_PARK = 100000 };
#endif

static const int procs_tab[] = { 1, 2 };

/* ---- spawn and join a million ---- */

typedef struct {
    km_wg      *wg;
    atomic_long sum, count;
} spawn_t;
static spawn_t sp;

static void leaf(void *arg)
{
    atomic_fetch_add_explicit(&sp.sum, (long)(intptr_t)arg, memory_order_relaxed);
    atomic_fetch_add_explicit(&sp.count, 1, memory_order_relaxed);
    km_wg_done(sp.wg);
}

typedef struct { long from, to; km_wg *done; } spawner_arg;

static void spawner(void *arg)
{
    spawner_arg *a = arg;
    for (long i = a->from; i < a->to; i++) {
        km_wg_add(sp.wg, 1);
        int rc = km_go(leaf, (void *)(intptr_t)i);
        if (rc != 0) ck_abort_msg("km_go #%ld: %s", i, km_strerror(rc));
        /* Scheduling is cooperative: without this a single worker would
         * hold every spawned goroutine (and its stack) at once. The
         * parked-at-once case is tested below with N_PARK. */
        if ((i & 1023) == 1023)
            km_yield();
    }
    km_wg_done(a->done);
}

static void spawn_body(void *arg)
{
    (void)arg;
    memset(&sp, 0, sizeof sp);
    km_wg *spawners;
    REQUIRE_EQ(km_wg_new(&sp.wg), 0);
    REQUIRE_EQ(km_wg_new(&spawners), 0);
    /* Two spawners, so km_go also runs concurrently on two workers. */
    static spawner_arg a[2];
    a[0] = (spawner_arg){ 0, N_SPAWN / 2, spawners };
    a[1] = (spawner_arg){ N_SPAWN / 2, N_SPAWN, spawners };
    km_wg_add(spawners, 2);
    REQUIRE_EQ(km_go(spawner, &a[0]), 0);
    REQUIRE_EQ(km_go(spawner, &a[1]), 0);
    REQUIRE_EQ(km_wg_wait(spawners), 0);
    REQUIRE_EQ(km_wg_wait(sp.wg), 0);
    km_wg_free(spawners);
    km_wg_free(sp.wg);
    REQUIRE_EQ(atomic_load(&sp.count), N_SPAWN);
    REQUIRE_EQ(atomic_load(&sp.sum), (long)N_SPAWN * (N_SPAWN - 1) / 2);
}

START_TEST(spawn_join_1m)
{
    t_procs(procs_tab[_i]);
    t_run(spawn_body, NULL);
}
END_TEST

/* ---- many parked at once ---- */

typedef struct {
    km_chan    *c;
    km_wg      *gate, *started, *finished;
    atomic_long sum, woke, bad;
} park_t;
static park_t pk;

static void park_setup(size_t elem_size)
{
    memset(&pk, 0, sizeof pk);
    REQUIRE_EQ(km_chan_new(&pk.c, elem_size, 0), 0);
    REQUIRE_EQ(km_wg_new(&pk.gate), 0);
    REQUIRE_EQ(km_wg_new(&pk.started), 0);
    REQUIRE_EQ(km_wg_new(&pk.finished), 0);
    km_wg_add(pk.started, N_PARK);
    km_wg_add(pk.finished, N_PARK);
}

static void park_teardown(void)
{
    REQUIRE_EQ(km_wg_wait(pk.finished), 0);
    REQUIRE_EQ(atomic_load(&pk.woke), N_PARK);
    REQUIRE_EQ(atomic_load(&pk.bad), 0);
    km_chan_free(pk.c);
    km_wg_free(pk.gate);
    km_wg_free(pk.started);
    km_wg_free(pk.finished);
}

static void spawn_n(km_fn *fn)
{
    for (long i = 0; i < N_PARK; i++) {
        int rc = km_go(fn, NULL);
        if (rc != 0) ck_abort_msg("km_go #%ld: %s", i, km_strerror(rc));
    }
    /* Every goroutine has run up to its park (or is about to park). */
    REQUIRE_EQ(km_wg_wait(pk.started), 0);
    km_sleep(10 * 1000 * 1000);
    REQUIRE_EQ(atomic_load(&pk.woke), 0);
}

static void recv_until_closed(void *arg)
{
    (void)arg;
    km_wg_done(pk.started);
    if (km_chan_recv(pk.c, NULL) != -EPIPE) atomic_fetch_add(&pk.bad, 1);
    atomic_fetch_add(&pk.woke, 1);
    km_wg_done(pk.finished);
}

static void park_close_body(void *arg)
{
    (void)arg;
    park_setup(0);
    spawn_n(recv_until_closed);
    REQUIRE_EQ(km_chan_close(pk.c), 0);
    park_teardown();
}

START_TEST(park_100k_chan_close)
{
    t_procs(procs_tab[_i]);
    t_run(park_close_body, NULL);
}
END_TEST

static void wait_gate(void *arg)
{
    (void)arg;
    km_wg_done(pk.started);
    if (km_wg_wait(pk.gate) != 0) atomic_fetch_add(&pk.bad, 1);
    atomic_fetch_add(&pk.woke, 1);
    km_wg_done(pk.finished);
}

static void park_wg_body(void *arg)
{
    (void)arg;
    park_setup(0);
    km_wg_add(pk.gate, 1);
    spawn_n(wait_gate);
    km_wg_done(pk.gate);
    park_teardown();
}

START_TEST(park_100k_wg_gate)
{
    t_procs(procs_tab[_i]);
    t_run(park_wg_body, NULL);
}
END_TEST

static void recv_one(void *arg)
{
    (void)arg;
    long v = 0;
    km_wg_done(pk.started);
    if (km_chan_recv(pk.c, &v) != 0) atomic_fetch_add(&pk.bad, 1);
    atomic_fetch_add(&pk.sum, v);
    atomic_fetch_add(&pk.woke, 1);
    km_wg_done(pk.finished);
}

static void park_values_body(void *arg)
{
    (void)arg;
    park_setup(sizeof(long));
    spawn_n(recv_one);
    /* Each parked receiver is woken by its own hand-off. */
    for (long i = 1; i <= N_PARK; i++)
        REQUIRE_EQ(km_chan_send(pk.c, &i), 0);
    park_teardown();
    REQUIRE_EQ(atomic_load(&pk.sum), (long)N_PARK * (N_PARK + 1) / 2);
}

START_TEST(park_100k_chan_values)
{
    t_procs(procs_tab[_i]);
    t_run(park_values_body, NULL);
}
END_TEST

static Suite *many_suite(void)
{
    Suite *s = suite_create("rt/many");
    TCase *tc = tcase_create("many");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, spawn_join_1m, 0, 2);
    tcase_add_loop_test(tc, park_100k_chan_close, 0, 2);
    tcase_add_loop_test(tc, park_100k_wg_gate, 0, 2);
    tcase_add_loop_test(tc, park_100k_chan_values, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(many_suite)
