/* SPDX-License-Identifier: MIT */
/* Watch sets: one waiter for many watches, the ready list's order,
 * catching up and compaction through it, the revision a set has handed
 * out in full, wake-ups, cancellation and shutdown. */
#include "../store/st.h"
#include <kumo/hub.h>
#include <kumo/group.h>

#define MS 1000000LL

static km_watch *take(km_watch_set *s, void **ud)
{
    REQUIRE_EQ(km_watch_set_wait(s, km_now() + 5000 * MS), 0);
    km_watch *w = km_watch_set_next(s, ud);
    REQUIRE(w != NULL);
    return w;
}

static void ready_order_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch_set *s;
    REQUIRE_EQ(km_watch_set_new(h, &s), 0);
    km_watch *w[3];
    int64_t created;
    km_watch_opts a = { .key = B("a") }, pre = { .key = B("a"), .range_end = B("b") };
    for (intptr_t i = 0; i < 2; i++)
        REQUIRE_EQ(km_watch_set_open(s, &a, (void *)(i + 1), &w[i], &created), 0);
    REQUIRE_EQ(km_watch_set_open(s, &pre, (void *)3, &w[2], &created), 0);
    /* nothing yet */
    REQUIRE_EQ(km_watch_set_wait(s, km_now() + 20 * MS), -ETIMEDOUT);
    REQUIRE(km_watch_set_next(s, NULL) == NULL);
    /* a set's watch has no wait of its own */
    km_watch_msg *m;
    int64_t crev;
    REQUIRE_EQ(km_watch_next(w[0], KM_FOREVER, &m, &crev), -EINVAL);
    REQUIRE_EQ(km_watch_try(w[0], &m, &crev), -EAGAIN);

    REQUIRE_EQ(st_put(e.s, "a", "1", 0, NULL), 0);     /* 2: all three */
    REQUIRE_EQ(st_put(e.s, "ab", "1", 0, NULL), 0);    /* 3: the prefix */
    REQUIRE_EQ(st_put(e.s, "a", "2", 0, NULL), 0);     /* 4: all three */
    /* Each watch is on the list once however many messages it has; one
     * with more goes back to the end: every watch gets its first message
     * before any gets its second. */
    int64_t want[3][3] = { { 2, 4 }, { 2, 4 }, { 2, 3, 4 } };
    int next[3] = { 0 }, first = 0;
    for (int i = 0; i < 7; i++) {
        void *ud;
        km_watch *x = take(s, &ud);
        intptr_t j = (intptr_t)ud - 1;
        REQUIRE(j >= 0 && j < 3 && x == w[j]);
        if (i < 3)
            first |= 1 << j;
        REQUIRE_EQ(km_watch_try(x, &m, &crev), 0);
        REQUIRE_EQ(km_watch_msg_revision(m), want[j][next[j]++]);
        km_watch_msg_release(m);
    }
    REQUIRE_EQ(first, 7);
    REQUIRE_EQ(next[0] + next[1] + next[2], 7);
    REQUIRE(km_watch_set_next(s, NULL) == NULL);
    for (int i = 0; i < 3; i++) {
        REQUIRE_EQ(km_watch_try(w[i], &m, &crev), -EAGAIN);
        int64_t rev;
        REQUIRE_EQ(km_watch_progress(w[i], &rev), 0);
        REQUIRE_EQ(rev, 4);
        km_watch_free(w[i]);
    }
    km_hub_stat st;
    km_hub_stat_read(h, &st);
    REQUIRE_EQ(st.watchers, 0);
    km_watch_set_free(s);
    km_hub_free(h);
    st_close(&e);
}

/* What a progress answer may claim: never a revision some watch of the
 * set has not handed out yet. */
static void set_revision_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch_set *s;
    REQUIRE_EQ(km_watch_set_new(h, &s), 0);
    km_watch *x, *y;
    int64_t created;
    km_watch_opts ox = { .key = B("x") }, oy = { .key = B("y") };
    REQUIRE_EQ(km_watch_set_open(s, &ox, NULL, &x, &created), 0);
    REQUIRE_EQ(km_watch_set_open(s, &oy, NULL, &y, &created), 0);
    REQUIRE_EQ(km_watch_set_revision(s), 1);
    REQUIRE_EQ(st_put(e.s, "other", "1", 0, NULL), 0);     /* 2 */
    REQUIRE_EQ(km_watch_set_revision(s), 2);
    REQUIRE_EQ(st_put(e.s, "x", "1", 0, NULL), 0);         /* 3: queued for x */
    REQUIRE_EQ(st_put(e.s, "other", "2", 0, NULL), 0);     /* 4 */
    REQUIRE_EQ(km_watch_set_revision(s), 2);
    int64_t rev;
    REQUIRE_EQ(km_watch_progress(x, &rev), -EAGAIN);
    REQUIRE_EQ(km_watch_progress(y, &rev), 0);
    REQUIRE_EQ(rev, 4);
    km_watch *r = take(s, NULL);
    REQUIRE(r == x);
    km_watch_msg *m;
    int64_t crev;
    REQUIRE_EQ(km_watch_try(x, &m, &crev), 0);
    km_watch_msg_release(m);
    REQUIRE_EQ(km_watch_set_revision(s), 4);
    /* a watch reading history holds the set back to where it is */
    km_watch *z;
    km_watch_opts oz = { .key = B("x"), .start_revision = 2 };
    REQUIRE_EQ(km_watch_set_open(s, &oz, NULL, &z, &created), 0);
    REQUIRE_EQ(km_watch_set_revision(s), 1);
    REQUIRE(take(s, NULL) == z);
    REQUIRE_EQ(km_watch_try(z, &m, &crev), 0);
    size_t n;
    km_watch_msg_events(m, &n);
    REQUIRE_EQ(n, 1);
    km_watch_msg_release(m);
    REQUIRE_EQ(km_watch_set_revision(s), 4);
    km_watch_free(x);
    km_watch_free(y);
    km_watch_free(z);
    km_watch_set_free(s);
    km_hub_free(h);
    st_close(&e);
}

/* A set's watch that overflows its queue catches up through the set;
 * one compacted away says so; nothing is lost or repeated. */
static void behind_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    km_hub_config cfg = { .queue = 4 };
    REQUIRE_EQ(km_hub_new(&h, e.s, &cfg), 0);
    km_watch_set *s;
    REQUIRE_EQ(km_watch_set_new(h, &s), 0);
    km_watch *w;
    int64_t created;
    km_watch_opts o = { .key = B("k") };
    REQUIRE_EQ(km_watch_set_open(s, &o, NULL, &w, &created), 0);
    for (int i = 0; i < 20; i++)
        REQUIRE_EQ(st_put(e.s, "k", "v", 0, NULL), 0);     /* 2..21 */
    km_hub_stat st;
    km_hub_stat_read(h, &st);
    REQUIRE(st.fell_behind >= 1);
    int64_t want = 2;
    while (want <= 21) {
        REQUIRE(take(s, NULL) == w);
        km_watch_msg *m;
        int64_t crev;
        REQUIRE_EQ(km_watch_try(w, &m, &crev), 0);
        size_t n;
        const km_event *const *ev = km_watch_msg_events(m, &n);
        for (size_t i = 0; i < n; i++)
            REQUIRE_EQ(ev[i]->kv.mod_revision, want++);
        km_watch_msg_release(m);
    }
    REQUIRE(km_watch_set_next(s, NULL) == NULL);
    km_watch_free(w);

    int64_t cur;
    REQUIRE_EQ(km_store_compact(e.s, 10, &cur), 0);
    km_watch_opts old = { .key = B("k"), .start_revision = 3 };
    REQUIRE_EQ(km_watch_set_open(s, &old, NULL, &w, &created), 0);
    REQUIRE(take(s, NULL) == w);
    km_watch_msg *m;
    int64_t crev = 0;
    REQUIRE_EQ(km_watch_try(w, &m, &crev), -ENODATA);
    REQUIRE_EQ(crev, 10);
    km_watch_free(w);
    km_watch_set_free(s);
    km_hub_free(h);
    st_close(&e);
}

typedef struct { km_watch_set *s; int rc; } waiter;

static void wait_forever(void *arg)
{
    waiter *x = arg;
    x->rc = km_watch_set_wait(x->s, KM_FOREVER);
}

/* Starts a goroutine waiting on x's set for ever, lets it park, runs end
 * (which must end the wait) and returns what the wait returned. */
static int wait_ended_by(waiter *x, void (*end)(km_group *g, void *ud), void *ud)
{
    km_group *g;
    x->rc = 1;
    REQUIRE_EQ(km_group_new(&g, NULL, KM_FOREVER), 0);
    REQUIRE_EQ(km_group_go(g, wait_forever, x), 0);
    km_sleep(20 * MS);
    end(g, ud);
    REQUIRE_EQ(km_group_wait(g, KM_FOREVER), 0);
    km_group_free(g);
    return x->rc;
}

static void end_cancel(km_group *g, void *ud) { km_group_cancel(g); }
static void end_shutdown(km_group *g, void *ud) { km_hub_shutdown(ud); }

/* km_watch_set_wake, a cancelled group and a hub shutting down all end a
 * wait. */
static void wakeups_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch_set *s;
    REQUIRE_EQ(km_watch_set_new(h, &s), 0);
    km_watch_set_wake(s);
    REQUIRE_EQ(km_watch_set_wait(s, km_now() + 5000 * MS), 0);
    REQUIRE(km_watch_set_next(s, NULL) == NULL);

    waiter x = { s, 1 };
    REQUIRE_EQ(wait_ended_by(&x, end_cancel, NULL), -ECANCELED);

    km_watch *w;
    int64_t created;
    km_watch_opts o = { .key = B("k") };
    REQUIRE_EQ(km_watch_set_open(s, &o, NULL, &w, &created), 0);
    REQUIRE_EQ(wait_ended_by(&x, end_shutdown, h), -ESHUTDOWN);
    km_watch_msg *m;
    int64_t crev;
    REQUIRE_EQ(km_watch_try(w, &m, &crev), -ESHUTDOWN);
    km_watch_free(w);
    km_watch_set_free(s);
    km_hub_free(h);
    st_close(&e);
}

/* Ten thousand watches, one waiter: every one gets its event. */
static void many_body(void *arg)
{
    enum { N = 10000 };
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch_set *s;
    REQUIRE_EQ(km_watch_set_new(h, &s), 0);
    km_watch **w = malloc(N * sizeof *w);
    char k[16];
    for (intptr_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%ld", (long)i);
        km_watch_opts o = { .key = BS(k) };
        int64_t created;
        REQUIRE_EQ(km_watch_set_open(s, &o, (void *)i, &w[i], &created), 0);
    }
    /* one revision touching every key */
    km_op *ops = malloc(100 * sizeof *ops);
    char (*keys)[16] = malloc(N * 16);
    for (int b = 0; b < N / 100; b++) {
        for (int i = 0; i < 100; i++) {
            snprintf(keys[b * 100 + i], 16, "k%d", b * 100 + i);
            ops[i] = (km_op){ .type = KM_OP_PUT, .put = { .key = BS(keys[b * 100 + i]), .value = B("v") } };
        }
        km_txn_req tx = { .success = ops, .nsuccess = 100 };
        km_op op = { .type = KM_OP_TXN, .txn = &tx };
        km_store_res res;
        REQUIRE_EQ(km_store_do(e.s, &op, &res), 0);
        km_store_res_free(&res);
    }
    char *seen = calloc(N, 1);
    int got = 0;
    while (got < N) {
        REQUIRE_EQ(km_watch_set_wait(s, km_now() + 5000 * MS), 0);
        void *ud;
        km_watch *x;
        while ((x = km_watch_set_next(s, &ud))) {
            km_watch_msg *m;
            int64_t crev;
            REQUIRE_EQ(km_watch_try(x, &m, &crev), 0);
            REQUIRE(!seen[(intptr_t)ud]);
            seen[(intptr_t)ud] = 1;
            got++;
            km_watch_msg_release(m);
        }
    }
    for (int i = 0; i < N; i++)
        km_watch_free(w[i]);
    free(seen);
    free(keys);
    free(ops);
    free(w);
    km_watch_set_free(s);
    km_hub_free(h);
    st_close(&e);
}

START_TEST(ready_order) { t_run(ready_order_body, NULL); }
END_TEST
START_TEST(set_revision) { t_run(set_revision_body, NULL); }
END_TEST
/* km_watch_set_take hands out the message with the watch, in the same
 * order as km_watch_set_next and km_watch_try; queues of one message
 * (held in the watch) and of several (a ring) alike. */
static void take_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch_set *s;
    REQUIRE_EQ(km_watch_set_new(h, &s), 0);
    km_watch *w[2];
    int64_t created, crev;
    km_watch_opts a = { .key = B("a") }, b = { .key = B("b") };
    REQUIRE_EQ(km_watch_set_open(s, &a, (void *)1, &w[0], &created), 0);
    REQUIRE_EQ(km_watch_set_open(s, &b, (void *)2, &w[1], &created), 0);
    REQUIRE_EQ(st_put(e.s, "a", "1", 0, NULL), 0);     /* 2 */
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(st_put(e.s, "b", "1", 0, NULL), 0); /* 3, 4, 5 */
    int64_t want[2][3] = { { 2 }, { 3, 4, 5 } };
    int next[2] = { 0 };
    km_watch_msg *m;
    void *ud;
    REQUIRE_EQ(km_watch_set_wait(s, km_now() + 5000 * MS), 0);
    for (int i = 0; i < 4; i++) {
        km_watch *x = km_watch_set_take(s, &ud, &m);
        intptr_t j = (intptr_t)ud - 1;
        REQUIRE(x != NULL && j >= 0 && j < 2 && x == w[j]);
        REQUIRE(m != NULL);
        REQUIRE_EQ(km_watch_msg_revision(m), want[j][next[j]++]);
        km_watch_msg_release(m);
    }
    REQUIRE_EQ(next[0] + next[1], 4);
    REQUIRE(km_watch_set_take(s, &ud, &m) == NULL);
    REQUIRE(m == NULL);
    /* Emptied, both take one message again without a ring. */
    REQUIRE_EQ(st_put(e.s, "b", "2", 0, NULL), 0);     /* 6 */
    REQUIRE_EQ(km_watch_set_wait(s, km_now() + 5000 * MS), 0);
    REQUIRE(km_watch_set_take(s, &ud, &m) == w[1] && m != NULL);
    REQUIRE_EQ(km_watch_msg_revision(m), 6);
    km_watch_msg_release(m);
    for (int i = 0; i < 2; i++) {
        REQUIRE_EQ(km_watch_try(w[i], &m, &crev), -EAGAIN);
        km_watch_free(w[i]);
    }
    km_watch_set_free(s);
    km_hub_free(h);
    st_close(&e);
}

START_TEST(take_with_msg) { t_run(take_body, NULL); }
START_TEST(behind) { t_run(behind_body, NULL); }
END_TEST
START_TEST(wakeups) { t_run(wakeups_body, NULL); }
END_TEST
START_TEST(many) { t_run(many_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("watch/set");
    TCase *tc = tcase_create("set");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ready_order);
    tcase_add_test(tc, set_revision);
    tcase_add_test(tc, behind);
    tcase_add_test(tc, wakeups);
    tcase_add_test(tc, many);
    tcase_add_test(tc, take_with_msg);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
