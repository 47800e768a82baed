/* SPDX-License-Identifier: MIT */
/* Watch hub: live fan-out, replay from history, slow watchers caught up in
 * order, filters, compaction and shutdown. */
#include "../store/st.h"
#include <kumo/hub.h>
#include "rt/rt-int.h"
#include <kumo/group.h>

/* Drains w until it has seen revision `until`; checks that the PUT events
 * of key prefix p are exactly revisions from..until, each once, in order. */
static void expect_puts(km_watch *w, int64_t from, int64_t until)
{
    int64_t want = from;
    while (want <= until) {
        km_watch_msg *m;
        int64_t crev;
        int rc = km_watch_next(w, km_now() + 5000000000LL, &m, &crev);
        ck_assert_msg(rc == 0, "next: %s (waiting for %lld)", km_strerror(rc), (long long)want);
        size_t n;
        const km_event *const *ev = km_watch_msg_events(m, &n);
        for (size_t i = 0; i < n; i++) {
            REQUIRE_EQ(ev[i]->type, KM_EV_PUT);
            REQUIRE_EQ(ev[i]->kv.mod_revision, want);
            want++;
        }
        km_watch_msg_release(m);
    }
}

typedef struct { km_store *s; int n; const char *key; } writer;

static void write_n(void *arg)
{
    writer *wr = arg;
    for (int i = 0; i < wr->n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        REQUIRE_EQ(st_put(wr->s, wr->key, v, 0, NULL), 0);
    }
}

static void fanout_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch *w[4];
    int64_t created;
    km_watch_opts one = { .key = B("k") };
    km_watch_opts pre = { .key = B("k"), .range_end = B("l") };
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(km_watch_new(h, &one, &w[i], &created), 0);
    REQUIRE_EQ(km_watch_new(h, &pre, &w[3], &created), 0);
    REQUIRE_EQ(created, 1);
    km_hub_stat st;
    km_hub_stat_read(h, &st);
    REQUIRE_EQ(st.watchers, 4);
    REQUIRE_EQ(st.groups, 2);               /* same key and options share a group */
    REQUIRE_EQ(st_put(e.s, "k", "1", 0, NULL), 0);      /* 2 */
    REQUIRE_EQ(st_put(e.s, "kk", "1", 0, NULL), 0);     /* 3: prefix only */
    REQUIRE_EQ(st_put(e.s, "other", "1", 0, NULL), 0);  /* 4: nobody */
    REQUIRE_EQ(st_put(e.s, "k", "2", 0, NULL), 0);      /* 5 */
    for (int i = 0; i < 3; i++) {
        km_watch_msg *m;
        int64_t crev;
        REQUIRE_EQ(km_watch_next(w[i], km_now() + 1000000000, &m, &crev), 0);
        REQUIRE_EQ(km_watch_msg_revision(m), 2);
        km_watch_msg_release(m);
        REQUIRE_EQ(km_watch_next(w[i], km_now() + 1000000000, &m, &crev), 0);
        REQUIRE_EQ(km_watch_msg_revision(m), 5);
        km_watch_msg_release(m);
        REQUIRE_EQ(km_watch_poll(w[i], &m), -EAGAIN);
    }
    int64_t revs[3] = { 2, 3, 5 };
    for (int i = 0; i < 3; i++) {
        km_watch_msg *m;
        int64_t crev;
        REQUIRE_EQ(km_watch_next(w[3], km_now() + 1000000000, &m, &crev), 0);
        REQUIRE_EQ(km_watch_msg_revision(m), revs[i]);
        km_watch_msg_release(m);
    }
    km_watch_msg *m;
    int64_t crev;
    REQUIRE_EQ(km_watch_next(w[3], km_now() + 20000000, &m, &crev), -ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        km_watch_free(w[i]);
    km_hub_stat_read(h, &st);
    REQUIRE_EQ(st.watchers, 0);
    REQUIRE_EQ(st.groups, 0);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(fanout) { t_procs(2); t_run(fanout_body, NULL); }
END_TEST

/* A shared message is encoded once per format for the whole group. */
static int encodes;
static int enc_rev(const km_watch_msg *m, void *ud, char **p, size_t *n)
{
    encodes++;
    *p = km__malloc(32);
    REQUIRE(*p);
    *n = (size_t)snprintf(*p, 32, "rev %lld", (long long)km_watch_msg_revision(m));
    return 0;
}

static void encode_once_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch *w[5];
    int64_t created;
    km_watch_opts o = { .key = B("x") };
    for (int i = 0; i < 5; i++)
        REQUIRE_EQ(km_watch_new(h, &o, &w[i], &created), 0);
    REQUIRE_EQ(st_put(e.s, "x", "1", 0, NULL), 0);
    encodes = 0;
    for (int i = 0; i < 5; i++) {
        km_watch_msg *m;
        int64_t crev;
        REQUIRE_EQ(km_watch_next(w[i], km_now() + 1000000000, &m, &crev), 0);
        const char *p;
        size_t n;
        REQUIRE_EQ(km_watch_msg_encoded(m, 0, enc_rev, NULL, &p, &n), 0);
        REQUIRE(n == 5 && !memcmp(p, "rev 2", 5));
        km_watch_msg_release(m);
    }
    REQUIRE_EQ(encodes, 1);
    for (int i = 0; i < 5; i++)
        km_watch_free(w[i]);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(encode_once) { t_run(encode_once_body, NULL); }
END_TEST

/* Starting in the past while a writer keeps going: the replay hands over
 * to the live feed with nothing lost or repeated. */
static void replay_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    writer wr = { e.s, 100, "r" };
    write_n(&wr);                                   /* revisions 2..101 */
    REQUIRE_EQ(km_go(write_n, &wr), 0);             /* 102..201, concurrently */
    km_watch *w;
    int64_t created;
    km_watch_opts o = { .key = B("r"), .start_revision = 2 };
    REQUIRE_EQ(km_watch_new(h, &o, &w, &created), 0);
    expect_puts(w, 2, 201);
    km_watch_free(w);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(replay) { t_procs(2); t_run(replay_body, NULL); }
END_TEST

/* A watcher that does not read overflows its queue, then catches up from
 * the store: every revision once, in order. */
static void slow_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    km_hub_config cfg = { .queue = 4 };
    REQUIRE_EQ(km_hub_new(&h, e.s, &cfg), 0);
    km_watch *fast, *slow;
    int64_t created;
    km_watch_opts o = { .key = B("s") };
    REQUIRE_EQ(km_watch_new(h, &o, &slow, &created), 0);
    REQUIRE_EQ(km_watch_new(h, &o, &fast, &created), 0);
    writer wr = { e.s, 60, "s" };
    REQUIRE_EQ(km_go(write_n, &wr), 0);
    expect_puts(fast, 2, 61);
    km_hub_stat st;
    km_hub_stat_read(h, &st);
    REQUIRE(st.fell_behind >= 1);
    expect_puts(slow, 2, 61);
    km_hub_stat_read(h, &st);
    REQUIRE_EQ(st.catching_up, 0);
    /* Back in the group: live messages again. */
    REQUIRE_EQ(st_put(e.s, "s", "last", 0, NULL), 0);
    expect_puts(slow, 62, 62);
    km_watch_free(fast);
    km_watch_free(slow);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(slow) { t_procs(2); t_run(slow_body, NULL); }
END_TEST

static void filters_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    km_watch *noput, *nodel;
    int64_t created;
    km_watch_opts a = { .key = B("f"), .flags = KM_WATCH_NOPUT };
    km_watch_opts b = { .key = B("f"), .flags = KM_WATCH_NODELETE | KM_WATCH_PREV_KV };
    REQUIRE_EQ(km_watch_new(h, &a, &noput, &created), 0);
    REQUIRE_EQ(km_watch_new(h, &b, &nodel, &created), 0);
    REQUIRE_EQ(st_put(e.s, "f", "1", 0, NULL), 0);      /* 2 */
    REQUIRE_EQ(st_put(e.s, "f", "2", 0, NULL), 0);      /* 3 */
    REQUIRE_EQ(st_del(e.s, "f", NULL, NULL, NULL), 0);  /* 4 */
    km_watch_msg *m;
    int64_t crev;
    size_t n;
    REQUIRE_EQ(km_watch_next(noput, km_now() + 1000000000, &m, &crev), 0);
    const km_event *const *ev = km_watch_msg_events(m, &n);
    REQUIRE(n == 1 && ev[0]->type == KM_EV_DELETE && ev[0]->kv.mod_revision == 4);
    km_watch_msg_release(m);
    REQUIRE_EQ(km_watch_next(nodel, km_now() + 1000000000, &m, &crev), 0);
    REQUIRE_EQ(km_watch_msg_revision(m), 2);
    km_watch_msg_release(m);
    REQUIRE_EQ(km_watch_next(nodel, km_now() + 1000000000, &m, &crev), 0);
    ev = km_watch_msg_events(m, &n);
    REQUIRE(n == 1 && ev[0]->has_prev && bytes_is(ev[0]->prev_kv.value, "1"));
    km_watch_msg_release(m);
    REQUIRE_EQ(km_watch_poll(nodel, &m), -EAGAIN);
    km_watch_free(noput);
    km_watch_free(nodel);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(filters) { t_run(filters_body, NULL); }
END_TEST

static void compacted_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    for (int i = 0; i < 5; i++)
        REQUIRE_EQ(st_put(e.s, "c", "v", 0, NULL), 0);  /* 2..6 */
    int64_t cur;
    REQUIRE_EQ(km_store_compact(e.s, 4, &cur), 0);
    km_watch *w;
    int64_t created, crev = 0;
    km_watch_opts o = { .key = B("c"), .start_revision = 3 };
    REQUIRE_EQ(km_watch_new(h, &o, &w, &created), 0);
    km_watch_msg *m;
    REQUIRE_EQ(km_watch_next(w, km_now() + 1000000000, &m, &crev), -ENODATA);
    REQUIRE_EQ(crev, 4);
    km_watch_free(w);
    /* At the compact revision itself the history is still there. */
    o.start_revision = 4;
    REQUIRE_EQ(km_watch_new(h, &o, &w, &created), 0);
    expect_puts(w, 4, 6);
    km_watch_free(w);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(compacted) { t_run(compacted_body, NULL); }
END_TEST

typedef struct { km_watch *w; int rc; km_chan *done; } waiter;

static void wait_one(void *arg)
{
    waiter *x = arg;
    km_watch_msg *m;
    int64_t crev;
    x->rc = km_watch_next(x->w, KM_FOREVER, &m, &crev);
    int one = 1;
    km_chan_send(x->done, &one);
}

static void shutdown_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    waiter x = { 0 };
    int64_t created;
    km_watch_opts o = { .key = B("z") };
    REQUIRE_EQ(km_watch_new(h, &o, &x.w, &created), 0);
    REQUIRE_EQ(km_chan_new(&x.done, sizeof(int), 0), 0);
    REQUIRE_EQ(km_go(wait_one, &x), 0);
    km_sleep(10000000);
    km_hub_shutdown(h);
    int one;
    REQUIRE_EQ(km_chan_recv_dl(x.done, &one, km_now() + 1000000000), 0);
    REQUIRE_EQ(x.rc, -ESHUTDOWN);
    km_chan_free(x.done);
    km_watch_free(x.w);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(shutdown_wakes) { t_run(shutdown_body, NULL); }
END_TEST

/* A stream to a client: every message through the sink, in one flush per
 * batch; it ends with 0 as soon as its goroutine's group is cancelled (the
 * transport's sign that the client left), without waiting for a message. */
typedef struct {
    km_watch *w;
    km_chan  *wrote, *done;
    char      got[256];
    size_t    n;
    int       flushes, rc;
} sink_ctx;

static int sink_enc(const km_watch_msg *m, void *ud, char **p, size_t *n)
{
    size_t nev;
    const km_event *const *ev = km_watch_msg_events(m, &nev);
    *p = km__malloc(64);
    if (!*p)
        return -ENOMEM;
    *n = (size_t)snprintf(*p, 64, "%.*s;", (int)ev[0]->kv.value.n, (const char *)ev[0]->kv.value.p);
    return 0;
}

static int sink_write(void *ud, const char *p, size_t n)
{
    sink_ctx *x = ud;
    REQUIRE(x->n + n < sizeof x->got);
    memcpy(x->got + x->n, p, n);
    x->n += n;
    return 0;
}

static int sink_flush(void *ud)
{
    sink_ctx *x = ud;
    x->flushes++;
    int one = 1;
    km_chan_send(x->wrote, &one);
    return 0;
}

static void streamer(void *arg)
{
    sink_ctx *x = arg;
    km_watch_sink sink = { .fmt = -1, .enc = sink_enc, .ud = x,
                           .write = sink_write, .flush = sink_flush };
    x->rc = km_watch_stream(x->w, &sink);
    int one = 1;
    km_chan_send(x->done, &one);
}

static void stream_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    sink_ctx x = { .rc = 1 };
    int64_t created;
    km_watch_opts o = { .key = B("h") };
    REQUIRE_EQ(km_watch_new(h, &o, &x.w, &created), 0);
    REQUIRE_EQ(km_chan_new(&x.wrote, sizeof(int), 16), 0);
    REQUIRE_EQ(km_chan_new(&x.done, sizeof(int), 1), 0);
    km_group *g;
    REQUIRE_EQ(km_group_new(&g, NULL, KM_FOREVER), 0);
    REQUIRE_EQ(km_group_go(g, streamer, &x), 0);
    REQUIRE_EQ(st_put(e.s, "h", "a", 0, NULL), 0);
    int one;
    REQUIRE_EQ(km_chan_recv_dl(x.wrote, &one, km_now() + 2000000000LL), 0);
    REQUIRE(x.n == 2 && !memcmp(x.got, "a;", 2));
    /* Idle now: a cancel ends it at once. */
    REQUIRE_EQ(km_chan_recv_dl(x.done, &one, km_now() + 20000000), -ETIMEDOUT);
    int64_t t0 = km_now();
    km_group_cancel(g);
    REQUIRE_EQ(km_chan_recv_dl(x.done, &one, km_now() + 2000000000LL), 0);
    REQUIRE(km_now() - t0 < 500000000);
    REQUIRE_EQ(x.rc, 0);
    REQUIRE_EQ(x.flushes, 1);
    REQUIRE_EQ(km_group_wait(g, KM_FOREVER), 0);
    km_group_free(g);
    km_watch_free(x.w);
    km_chan_free(x.wrote);
    km_chan_free(x.done);
    km_hub_free(h);
    st_close(&e);
}
START_TEST(stream_until_cancelled) { t_run(stream_body, NULL); }
END_TEST

/* Many watchers, each on its own key, plus many on one key. */
static void many_body(void *arg)
{
    st_env e;
    st_open(&e);
    km_hub *h;
    REQUIRE_EQ(km_hub_new(&h, e.s, NULL), 0);
    enum { N = 2000 };
    static km_watch *w[N];
    int64_t created;
    for (int i = 0; i < N; i++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", i % 2 ? i : 0);
        km_watch_opts o = { .key = BS(k) };
        REQUIRE_EQ(km_watch_new(h, &o, &w[i], &created), 0);
    }
    km_hub_stat st;
    km_hub_stat_read(h, &st);
    REQUIRE_EQ(st.groups, N / 2 + 1);
    REQUIRE_EQ(st_put(e.s, "m0", "v", 0, NULL), 0);     /* 2: half of them */
    REQUIRE_EQ(st_put(e.s, "m1999", "v", 0, NULL), 0);  /* 3: one */
    for (int i = 0; i < N; i++) {
        km_watch_msg *m;
        int rc = km_watch_poll(w[i], &m);
        if (i % 2 == 0 || i == 1999) {
            REQUIRE_EQ(rc, 0);
            REQUIRE_EQ(km_watch_msg_revision(m), i == 1999 ? 3 : 2);
            km_watch_msg_release(m);
        } else {
            REQUIRE_EQ(rc, -EAGAIN);
        }
        km_watch_free(w[i]);
    }
    km_hub_free(h);
    st_close(&e);
}
START_TEST(many) { t_run(many_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("watch/hub");
    TCase *tc = tcase_create("hub");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fanout);
    tcase_add_test(tc, encode_once);
    tcase_add_test(tc, replay);
    tcase_add_test(tc, slow);
    tcase_add_test(tc, filters);
    tcase_add_test(tc, compacted);
    tcase_add_test(tc, shutdown_wakes);
    tcase_add_test(tc, many);
    tcase_add_test(tc, stream_until_cancelled);
    suite_add_tcase(s, tc);
    return s;
}
T_MAIN(suite)
