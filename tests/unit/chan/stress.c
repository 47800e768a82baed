/* SPDX-License-Identifier: MIT */
/* No lost wake-ups: many producers and consumers over channels and select, every value accounted for. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
enum { SCALE = 10 };
#else
enum { SCALE = 1 };
#endif

static const int procs_tab[] = { 1, 2, 8 };

enum { MAXP = 16 };

/* Values are producer * 2^32 + sequence, so a consumer can check that it
 * sees each producer's values in increasing order (channels are FIFO) and the
 * sums catch any loss or duplication. */
typedef struct {
    km_chan    *c[3];
    int         nchan;
    int         producers, consumers;
    long        per_producer;
    /* 0: plain send/recv (one channel only: with several, producers and
     * consumers could block on different ones), 1: select, 2: deadlines */
    int         mode;
    km_wg      *prod_wg, *cons_wg;
    atomic_long got_n, got_sum, bad, order;
} mpmc_t;
static mpmc_t mp;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

static void producer(void *arg)
{
    long p = (long)(intptr_t)arg;
    uint64_t rng = (uint64_t)p * 7919 + 1;
    for (long i = 1; i <= mp.per_producer; i++) {
        long v = (p << 32) | i;
        int rc;
        if (mp.mode == 0) {
            rc = km_chan_send(mp.c[rng_next(&rng) % (uint64_t)mp.nchan], &v);
        } else if (mp.mode == 1) {
            km_case cs[4];
            for (int k = 0; k < mp.nchan; k++)
                cs[k] = (km_case){ mp.c[k], KM_SEND, &v, 99 };
            cs[mp.nchan] = (km_case){ NULL, KM_SEND, &v, 99 };
            int idx = km_select(cs, (size_t)mp.nchan + 1, KM_FOREVER);
            rc = idx >= 0 && idx < mp.nchan ? cs[idx].rc : -EINVAL;
        } else {
            /* Retry with short deadlines: a timed-out send must not have
             * delivered the value. */
            km_chan *c = mp.c[rng_next(&rng) % (uint64_t)mp.nchan];
            while ((rc = km_chan_send_dl(c, &v, km_now() + (int64_t)(rng_next(&rng) % 200000))) == -ETIMEDOUT)
                ;
        }
        if (rc != 0) { atomic_fetch_add(&mp.bad, 1); break; }
    }
    km_wg_done(mp.prod_wg);
}

static void consumer(void *arg)
{
    (void)arg;
    long last[MAXP] = { 0 };
    long n = 0, sum = 0;
    uint64_t rng = (uint64_t)(uintptr_t)&last | 1;
    km_chan *live[3];
    int nlive = mp.nchan;
    for (int k = 0; k < mp.nchan; k++) live[k] = mp.c[k];
    while (nlive > 0) {
        long v = 0;
        int rc, k = 0;
        if (mp.mode == 1) {
            km_case cs[3];
            for (int j = 0; j < nlive; j++)
                cs[j] = (km_case){ live[j], KM_RECV, &v, 99 };
            k = km_select(cs, (size_t)nlive, KM_FOREVER);
            if (k < 0 || k >= nlive) { atomic_fetch_add(&mp.bad, 1); break; }
            rc = cs[k].rc;
        } else if (mp.mode == 2) {
            k = (int)(rng_next(&rng) % (uint64_t)nlive);
            rc = km_chan_recv_dl(live[k], &v, km_now() + (int64_t)(rng_next(&rng) % 200000));
            if (rc == -ETIMEDOUT) {
                if (v != 0) atomic_fetch_add(&mp.bad, 1);
                continue;
            }
        } else {
            k = (int)(rng_next(&rng) % (uint64_t)nlive);
            rc = km_chan_recv(live[k], &v);
        }
        if (rc == -EPIPE) {
            /* Drained and closed: drop it, like setting a Go channel to nil. */
            if (v != 0) atomic_fetch_add(&mp.bad, 1);
            live[k] = live[--nlive];
            continue;
        }
        if (rc != 0) { atomic_fetch_add(&mp.bad, 1); break; }
        long p = v >> 32, i = v & 0xffffffffL;
        if (p < 0 || p >= MAXP || i < 1 || i > mp.per_producer) { atomic_fetch_add(&mp.bad, 1); continue; }
        /* With one channel, each producer's values arrive in order. */
        if (mp.nchan == 1 && i <= last[p]) atomic_fetch_add(&mp.order, 1);
        last[p] = i;
        n++;
        sum += v;
    }
    atomic_fetch_add(&mp.got_n, n);
    atomic_fetch_add(&mp.got_sum, sum);
    km_wg_done(mp.cons_wg);
}

static void mpmc_run(int nchan, size_t cap, int producers, int consumers, long per_producer, int mode)
{
    memset(&mp, 0, sizeof mp);
    mp.nchan = nchan;
    mp.producers = producers;
    mp.consumers = consumers;
    mp.per_producer = per_producer;
    mp.mode = mode;
    for (int k = 0; k < nchan; k++)
        REQUIRE_EQ(km_chan_new(&mp.c[k], sizeof(long), cap), 0);
    REQUIRE_EQ(km_wg_new(&mp.prod_wg), 0);
    REQUIRE_EQ(km_wg_new(&mp.cons_wg), 0);
    km_wg_add(mp.prod_wg, producers);
    km_wg_add(mp.cons_wg, consumers);
    for (int i = 0; i < consumers; i++)
        REQUIRE_EQ(km_go(consumer, NULL), 0);
    for (long p = 0; p < producers; p++)
        REQUIRE_EQ(km_go(producer, (void *)(intptr_t)p), 0);
    REQUIRE_EQ(km_wg_wait(mp.prod_wg), 0);
    for (int k = 0; k < nchan; k++)
        REQUIRE_EQ(km_chan_close(mp.c[k]), 0);
    REQUIRE_EQ(km_wg_wait(mp.cons_wg), 0);
    REQUIRE_EQ(atomic_load(&mp.bad), 0);
    REQUIRE_EQ(atomic_load(&mp.order), 0);
    long want_n = (long)producers * per_producer;
    long want_sum = 0;
    for (long p = 0; p < producers; p++)
        want_sum += (p << 32) * per_producer + per_producer * (per_producer + 1) / 2;
    ck_assert_msg(atomic_load(&mp.got_n) == want_n,
                  "nchan=%d cap=%zu mode=%d: received %ld of %ld values", nchan, cap, mode,
                  atomic_load(&mp.got_n), want_n);
    REQUIRE_EQ(atomic_load(&mp.got_sum), want_sum);
    for (int k = 0; k < nchan; k++)
        km_chan_free(mp.c[k]);
    km_wg_free(mp.prod_wg);
    km_wg_free(mp.cons_wg);
}

/* Over a million channel operations (sends + receives) per body in the plain build. */
static void unbuffered_body(void *arg)
{
    (void)arg;
    mpmc_run(1, 0, 4, 4, 100000 / SCALE, 0);
    mpmc_run(1, 0, 1, 8, 200000 / SCALE, 0);
    mpmc_run(1, 0, 8, 1, 25000 / SCALE, 0);
}

START_TEST(unbuffered_mpmc)
{
    t_procs(procs_tab[_i]);
    t_run(unbuffered_body, NULL);
}
END_TEST

static void buffered_body(void *arg)
{
    (void)arg;
    mpmc_run(1, 1, 4, 4, 100000 / SCALE, 0);
    mpmc_run(1, 64, 4, 4, 200000 / SCALE, 0);
    mpmc_run(1, 1024, 8, 2, 50000 / SCALE, 0);
}

START_TEST(buffered_mpmc)
{
    t_procs(procs_tab[_i]);
    t_run(buffered_body, NULL);
}
END_TEST

static void select_body(void *arg)
{
    (void)arg;
    mpmc_run(3, 0, 4, 4, 100000 / SCALE, 1);
    mpmc_run(3, 2, 4, 4, 100000 / SCALE, 1);
    mpmc_run(1, 0, 8, 8, 25000 / SCALE, 1);
}

START_TEST(select_mpmc)
{
    t_procs(procs_tab[_i]);
    t_run(select_body, NULL);
}
END_TEST

static void deadline_body(void *arg)
{
    (void)arg;
    mpmc_run(1, 0, 4, 4, 25000 / SCALE, 2);
    mpmc_run(3, 2, 4, 4, 25000 / SCALE, 2);
}

START_TEST(deadline_mpmc)
{
    t_procs(procs_tab[_i]);
    t_run(deadline_body, NULL);
}
END_TEST

/* Ping-pong between pairs: each hop parks one side and wakes the other,
 * the pattern most likely to lose a wake-up. */
enum { PAIRS = 4 };
typedef struct { km_chan *ping, *pong; long rounds; km_wg *wg; atomic_long *bad; } pair_t;

static void ponger(void *arg)
{
    pair_t *p = arg;
    long v;
    for (long i = 0; i < p->rounds; i++) {
        if (km_chan_recv(p->ping, &v) != 0 || v != i) { atomic_fetch_add(p->bad, 1); break; }
        v = -i;
        if (km_chan_send(p->pong, &v) != 0) { atomic_fetch_add(p->bad, 1); break; }
    }
    km_wg_done(p->wg);
}

static void pinger(void *arg)
{
    pair_t *p = arg;
    long v;
    for (long i = 0; i < p->rounds; i++) {
        v = i;
        if (km_chan_send(p->ping, &v) != 0) { atomic_fetch_add(p->bad, 1); break; }
        if (km_chan_recv(p->pong, &v) != 0 || v != -i) { atomic_fetch_add(p->bad, 1); break; }
    }
    km_wg_done(p->wg);
}

static void pingpong_body(void *arg)
{
    (void)arg;
    static pair_t pairs[PAIRS];
    static atomic_long bad;
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, 2 * PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        pairs[i] = (pair_t){ NULL, NULL, 100000 / SCALE, wg, &bad };
        REQUIRE_EQ(km_chan_new(&pairs[i].ping, sizeof(long), 0), 0);
        REQUIRE_EQ(km_chan_new(&pairs[i].pong, sizeof(long), (size_t)(i & 1)), 0);
        REQUIRE_EQ(km_go(ponger, &pairs[i]), 0);
        REQUIRE_EQ(km_go(pinger, &pairs[i]), 0);
    }
    REQUIRE_EQ(km_wg_wait(wg), 0);
    REQUIRE_EQ(atomic_load(&bad), 0);
    for (int i = 0; i < PAIRS; i++) {
        km_chan_free(pairs[i].ping);
        km_chan_free(pairs[i].pong);
    }
    km_wg_free(wg);
}

START_TEST(pingpong_pairs)
{
    t_procs(procs_tab[_i]);
    t_run(pingpong_body, NULL);
}
END_TEST

/* The lifetime rule under load: a fresh channel per message, freed by the
 * receiver as soon as its receive returns. */
typedef struct { km_chan *c; long v; } msg_t;
static atomic_long fr_sum;

static void one_shot_sender(void *arg)
{
    msg_t *m = arg;
    km_chan_send(m->c, &m->v);
}

static void fresh_body(void *arg)
{
    (void)arg;
    enum { N = 20000 / SCALE };
    static msg_t msgs[20000];
    long want = 0;
    for (long i = 0; i < N; i++) {
        REQUIRE_EQ(km_chan_new(&msgs[i].c, sizeof(long), (size_t)(i % 2)), 0);
        msgs[i].v = i;
        want += i;
        REQUIRE_EQ(km_go(one_shot_sender, &msgs[i]), 0);
        long v = -1;
        REQUIRE_EQ(km_chan_recv(msgs[i].c, &v), 0);
        atomic_fetch_add(&fr_sum, v);
        km_chan_free(msgs[i].c);
    }
    REQUIRE_EQ(atomic_load(&fr_sum), want);
}

START_TEST(fresh_channel_per_message)
{
    t_procs(procs_tab[_i]);
    t_run(fresh_body, NULL);
}
END_TEST

static Suite *stress_suite(void)
{
    Suite *s = suite_create("chan/stress");
    TCase *tc = tcase_create("stress");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, unbuffered_mpmc, 0, 3);
    tcase_add_loop_test(tc, buffered_mpmc, 0, 3);
    tcase_add_loop_test(tc, select_mpmc, 0, 3);
    tcase_add_loop_test(tc, deadline_mpmc, 0, 3);
    tcase_add_loop_test(tc, pingpong_pairs, 0, 3);
    tcase_add_loop_test(tc, fresh_channel_per_message, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(stress_suite)
