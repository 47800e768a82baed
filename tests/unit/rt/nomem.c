/* SPDX-License-Identifier: MIT */
/* Running out of memory: km_go, deadlines and km_blocking fail, the process lives on. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#if !T_SANITIZED
/* ---- stacks: the address space runs out while goroutines hold theirs ---- */

typedef struct {
    km_chan   *gate;    /* closed to let every holder return */
    km_wg     *wg;
    atomic_int ran;
} holders;

static void hold(void *arg)
{
    holders *h = arg;
    atomic_fetch_add(&h->ran, 1);
    char c;
    km_chan_recv(h->gate, &c);
    km_wg_done(h->wg);
}

/* Spawns holders until km_go fails or max is reached; returns how many
 * were spawned and the failing code in *rc. */
static int spawn_holders(holders *h, int max, int *rc)
{
    *rc = 0;
    int n = 0;
    while (n < max) {
        km_wg_add(h->wg, 1);
        *rc = km_go(hold, h);
        if (*rc) {
            km_wg_done(h->wg);
            break;
        }
        n++;
    }
    return n;
}

static void grp_member(void *arg) { (void)arg; }

static void stacks_body(void *arg)
{
    (void)arg;
    enum { MAX = 20000 };
    holders h = { 0 };
    km_chan *gate1, *gate2;     /* made first: no allocation under the limit */
    REQUIRE_EQ(km_chan_new(&gate1, 1, 0), 0);
    REQUIRE_EQ(km_chan_new(&gate2, 1, 0), 0);
    h.gate = gate1;
    REQUIRE_EQ(km_wg_new(&h.wg), 0);
    km_group *grp;
    REQUIRE_EQ(km_group_new(&grp, NULL, KM_FOREVER), 0);

    /* Room for a few slabs of stacks beyond what the process maps now:
     * the limit bites within a few hundred goroutines. */
    int lim = t_as_limit(40u * 1024 * 1024);
    int rc_low, rc_big = 0, rc_grp = 0, rc_again = 0, again = 0, ran_low;
    int n_low = spawn_holders(&h, MAX, &rc_low);
    if (rc_low) {
        km_go_opts big = { .stack_size = 256u << 20 };
        rc_big = km_go_opt(hold, &h, &big);
        rc_grp = km_group_go(grp, grp_member, NULL);
        /* The process goes on: the holders run while memory is short. */
        for (int i = 0; i < 2000 && atomic_load(&h.ran) < n_low; i++)
            km_sleep(1000000);
        ran_low = atomic_load(&h.ran);
        /* Memory given back: the holders return and their stacks with
         * them; the same number can be spawned again, still under the
         * limit. */
        km_chan_close(h.gate);
        km_wg_wait(h.wg);
        km_sleep(20000000);     /* and have exited, past km_wg_done */
        h.gate = gate2;
        atomic_store(&h.ran, 0);
        again = spawn_holders(&h, n_low, &rc_again);
    } else {
        ran_low = atomic_load(&h.ran);
    }
    t_as_limit(0);

    REQUIRE_EQ(lim, 0);
    ck_assert_msg(rc_low == -ENOMEM, "km_go under the limit: %s after %d goroutines",
                  km_strerror(rc_low), n_low);
    ck_assert_int_gt(n_low, 0);
    REQUIRE_EQ(ran_low, n_low);
    REQUIRE_EQ(rc_big, -ENOMEM);
    REQUIRE_EQ(rc_grp, -ENOMEM);
    /* Only the stacks cached by the other worker (KM__GCACHE = 64) may
     * be out of this one's reach. */
    ck_assert_msg(rc_again == 0 || rc_again == -ENOMEM, "km_go again: %s", km_strerror(rc_again));
    ck_assert_int_ge(again, n_low - 64);

    /* With the limit lifted, more than ever fit. */
    int rc_more;
    int more = spawn_holders(&h, 2 * n_low, &rc_more);
    REQUIRE_EQ(rc_more, 0);
    REQUIRE_EQ(more, 2 * n_low);
    km_chan_close(h.gate);
    REQUIRE_EQ(km_wg_wait(h.wg), 0);
    REQUIRE_EQ(atomic_load(&h.ran), again + 2 * n_low);

    /* The failed group spawn left no member behind. */
    km_group_cancel(grp);
    REQUIRE_EQ(km_group_wait(grp, km_now() + 5000000000LL), 0);
    km_group_free(grp);
    km_chan_free(gate1);
    km_chan_free(gate2);
    km_wg_free(h.wg);
}

START_TEST(stacks_exhausted)
{
    t_procs(2);
    t_run(stacks_body, NULL);
}
END_TEST

#endif

/* ---- deadlines: the timer heap cannot grow ---- */

typedef struct {
    km_chan   *ch;
    km_wg     *wg;
    atomic_int nomem, closed, other;
} waiters;

static void wait_dl(void *arg)
{
    waiters *w = arg;
    char c;
    int rc = km_chan_recv_dl(w->ch, &c, km_now() + 60000000000LL);
    atomic_fetch_add(rc == -ENOMEM ? &w->nomem : rc == -EPIPE ? &w->closed : &w->other, 1);
    km_wg_done(w->wg);
}

static void timers_body(void *arg)
{
    (void)arg;
    enum { N = 600 };   /* the heap grows at 256 and 512 */
    waiters w = { 0 };
    REQUIRE_EQ(km_chan_new(&w.ch, 1, 0), 0);
    REQUIRE_EQ(km_wg_new(&w.wg), 0);
    /* Parking with a deadline allocates nothing but the heap's growth, so
     * the next allocation is the heap's: exactly one waiter cannot arm its
     * deadline and fails; the others wait and see the channel close. */
    t_fail_alloc_after(1);
    km_wg_add(w.wg, N);
    for (int i = 0; i < N; i++)
        REQUIRE_EQ(km_go(wait_dl, &w), 0);
    /* Once one has failed the allocator is healthy again, and the main
     * goroutine's own sleep cannot be the one that fails. */
    for (int i = 0; i < 1000000 && !atomic_load(&w.nomem); i++)
        km_yield();
    km_sleep(20000000);     /* every waiter parked */
    t_fail_alloc_after(0);
    km_chan_close(w.ch);
    REQUIRE_EQ(km_wg_wait(w.wg), 0);
    REQUIRE_EQ(atomic_load(&w.nomem), 1);
    REQUIRE_EQ(atomic_load(&w.closed), N - 1);
    REQUIRE_EQ(atomic_load(&w.other), 0);
    /* Deadlines work again. */
    int64_t t0 = km_now();
    REQUIRE_EQ(km_sleep(1000000), 0);
    ck_assert_int_ge(km_now() - t0, 1000000);
    km_chan_free(w.ch);
    km_wg_free(w.wg);
}

START_TEST(timer_heap_nomem)
{
    t_procs(2);
    t_run(timers_body, NULL);
}
END_TEST

#if !T_SANITIZED
/* ---- blocking calls: no helper thread can be started ---- */

static void set_flag(void *arg) { *(int *)arg = 1; }

static void blocking_body(void *arg)
{
    (void)arg;
    int ran = 0;
    /* Less room than a thread's stack, and no helper started yet. */
    int lim = t_as_limit(2u * 1024 * 1024);
    int rc_low = km_blocking(set_flag, &ran);
    t_as_limit(0);
    REQUIRE_EQ(lim, 0);
    ck_assert_msg(rc_low == -EAGAIN, "km_blocking under the limit: %s", km_strerror(rc_low));
    REQUIRE_EQ(ran, 0);
    REQUIRE_EQ(km_blocking(set_flag, &ran), 0);
    REQUIRE_EQ(ran, 1);
}

START_TEST(blocking_no_thread)
{
    t_procs(1);
    t_run(blocking_body, NULL);
}
END_TEST
#endif

static Suite *nomem_suite(void)
{
    Suite *s = suite_create("rt/nomem");
    TCase *tc = tcase_create("nomem");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, timer_heap_nomem);
#if !T_SANITIZED
    /* A sanitizer maps memory of its own at any time and dies when it
     * cannot: an address-space limit tests it, not kumo. */
    tcase_add_test(tc, stacks_exhausted);
    tcase_add_test(tc, blocking_no_thread);
#endif
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(nomem_suite)
