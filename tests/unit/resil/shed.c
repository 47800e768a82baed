/* SPDX-License-Identifier: MIT */
/* Load shedding: the Little's-law limit on a fake clock, CPU gating, and overload over HTTP. */
#include "util.h"
#include <kumo/resil.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define SEC 1000000000LL
#define MS  1000000LL

static int64_t fake_now;
static int64_t fake_clock(void *ud) { (void)ud; return fake_now; }
static int cpu_permille;
static int fake_cpu(void *ud) { (void)ud; return cpu_permille; }

/* Three 100 ms buckets of 10 completions of 50 ms each: maxPass 10 per
 * bucket = 100/s, minRT 50 ms, so 5 may be in flight. */
static void warm(km_shedder *s)
{
    for (int b = 0; b < 3; b++) {
        int64_t t0 = fake_now;
        for (int i = 0; i < 10; i++) {
            int64_t st;
            fake_now = t0 + i * MS;
            REQUIRE_EQ(km_shedder_allow(s, &st), 0);
            fake_now = st + 50 * MS;
            km_shedder_done(s, st);
        }
        fake_now = t0 + 100 * MS;
    }
}

static void limit_body(void *arg)
{
    (void)arg;
    km_shedder *s;
    fake_now = 1000 * SEC;
    km_shedder_config c = { .clock = fake_clock };
    REQUIRE_EQ(km_shedder_new(&s, &c), 0);
    REQUIRE_EQ(km_shedder_limit(s), INT64_MAX);     /* nothing seen yet */
    int64_t st[8];
    for (int i = 0; i < 8; i++)                     /* unknown: everything admitted */
        REQUIRE_EQ(km_shedder_allow(s, &st[i]), 0);
    for (int i = 0; i < 8; i++)
        km_shedder_done(s, st[i]);
    km_shedder_free(s);

    REQUIRE_EQ(km_shedder_new(&s, &c), 0);
    warm(s);
    REQUIRE_EQ(km_shedder_limit(s), 5);
    for (int i = 0; i < 5; i++)
        REQUIRE_EQ(km_shedder_allow(s, &st[i]), 0);
    REQUIRE_EQ(km_shedder_inflight(s), 5);
    REQUIRE_EQ(km_shedder_allow(s, &st[5]), -EBUSY);
    REQUIRE_EQ(km_shedder_inflight(s), 5);
    km_shedder_done(s, st[0]);
    REQUIRE_EQ(km_shedder_allow(s, &st[0]), 0);     /* room again */
    for (int i = 0; i < 5; i++)
        km_shedder_done(s, st[i]);
    /* the window forgets: the limit is unknown again after a quiet second */
    fake_now += 2 * SEC;
    REQUIRE_EQ(km_shedder_limit(s), INT64_MAX);
    km_shedder_free(s);

    /* with a CPU threshold, the limit only bites while the CPU is busy,
     * and for the cool-off after the last drop */
    km_shedder_config cc = { .clock = fake_clock, .cpu = fake_cpu, .cpu_threshold = 800,
                             .cool_off = 300 * MS };
    REQUIRE_EQ(km_shedder_new(&s, &cc), 0);
    cpu_permille = 100;
    warm(s);
    for (int i = 0; i < 7; i++)
        REQUIRE_EQ(km_shedder_allow(s, &st[i]), 0);  /* over the limit, CPU idle */
    cpu_permille = 900;
    REQUIRE_EQ(km_shedder_allow(s, &st[7]), -EBUSY);
    cpu_permille = 100;
    fake_now += 200 * MS;
    REQUIRE_EQ(km_shedder_allow(s, &st[7]), -EBUSY); /* cooling off */
    fake_now += 200 * MS;
    REQUIRE_EQ(km_shedder_limit(s), 5);              /* the data is still in the window */
    REQUIRE_EQ(km_shedder_allow(s, &st[7]), 0);      /* cooled off */
    for (int i = 0; i < 8; i++)
        km_shedder_done(s, st[i]);
    km_shedder_free(s);

    km_shedder_config bad = { .cpu_threshold = 1001 };
    REQUIRE_EQ(km_shedder_new(&s, &bad), -EINVAL);
    REQUIRE_EQ(km_shedder_new(&s, NULL), 0);
    km_shedder_free(s);
}

START_TEST(little_limit) { t_run(limit_body, NULL); }
END_TEST

/* ---- overload over HTTP ----
 * The handler serves 4 requests at a time, 20 ms each (200/s); 24 clients
 * loop on it. Without shedding they queue: ~24/200 s = 120 ms each. */
#define SLOTS   4
#define SERVICE (20 * MS)
#define CLIENTS 24

typedef struct {
    km_chan  *slots;
    int       port;
    int64_t   until, measure_from;
    km_wg    *wg;
    km_http_client *c;
    atomic_long ok, shed, lat_sum;
} world;

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    world *wd = ud;
    char tok = 0;
    if (km_chan_recv(wd->slots, &tok) < 0)
        return;
    km_sleep(SERVICE);
    km_chan_send(wd->slots, &tok);
    km_http_send(w, 200, "text/plain", "ok", 2);
}

static void client(void *arg)
{
    world *wd = arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/work", wd->port);
    while (km_now() < wd->until) {
        km_http_response *resp;
        int64_t t0 = km_now();
        if (km_http_get(wd->c, url, km_now() + 10 * SEC, &resp) < 0)
            break;
        int64_t lat = km_now() - t0;
        int st = km_http_response_status(resp);
        km_http_response_free(resp);
        if (t0 < wd->measure_from)
            continue;
        if (st == 200) {
            atomic_fetch_add(&wd->ok, 1);
            atomic_fetch_add(&wd->lat_sum, lat);
        } else {
            atomic_fetch_add(&wd->shed, 1);
            km_sleep(5 * MS);           /* a client that was told to back off */
        }
    }
    km_wg_done(wd->wg);
}

/* Runs the load for ~1.2 s and returns the mean latency of accepted requests. */
static int64_t run_load(km_shedder *sh, long *shed_out, long *ok_out)
{
    world wd = { 0 };
    REQUIRE_EQ(km_chan_new(&wd.slots, 1, SLOTS), 0);
    for (int i = 0; i < SLOTS; i++) {
        char t = 0;
        REQUIRE_EQ(km_chan_send(wd.slots, &t), 0);
    }
    km_http_mw mw[] = { { km_shedder_http_mw, sh } };
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler, .ud = &wd,
                           .middleware = mw, .nmiddleware = sh ? 1 : 0 };
    km_http_server *srv;
    REQUIRE_EQ(km_http_serve(&srv, &cfg), 0);
    wd.port = km_http_server_port(srv);
    km_http_client_config cc = { .max_per_host = CLIENTS + 4 };
    REQUIRE_EQ(km_http_client_new(&wd.c, &cc), 0);
    REQUIRE_EQ(km_wg_new(&wd.wg), 0);
    wd.measure_from = km_now() + 400 * MS;     /* past the warm-up */
    wd.until = km_now() + 1200 * MS;
    km_wg_add(wd.wg, CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        REQUIRE_EQ(km_go(client, &wd), 0);
    km_wg_wait(wd.wg);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + 5 * SEC), 0);
    km_http_client_free(wd.c);
    km_wg_free(wd.wg);
    km_chan_free(wd.slots);
    long ok = atomic_load(&wd.ok);
    *shed_out = atomic_load(&wd.shed);
    *ok_out = ok;
    REQUIRE(ok > 0);
    return atomic_load(&wd.lat_sum) / ok;
}

static void overload_body(void *arg)
{
    (void)arg;
    long shed, ok;
    int64_t plain = run_load(NULL, &shed, &ok);
    REQUIRE_EQ(shed, 0);
    long plain_ok = ok;

    km_shedder *s;
    km_shedder_config c = { .window = SEC, .buckets = 10 };
    REQUIRE_EQ(km_shedder_new(&s, &c), 0);
    int64_t shedding = run_load(s, &shed, &ok);
    fprintf(stderr, "overload: no shedding %lld ms mean (%ld ok); shedding %lld ms mean "
            "(%ld ok, %ld shed), limit %lld\n", (long long)(plain / MS), plain_ok,
            (long long)(shedding / MS), ok, shed, (long long)km_shedder_limit(s));
    km_shedder_free(s);
    ck_assert_msg(plain > 4 * SERVICE, "without shedding: %lld ns", (long long)plain);
    ck_assert_msg(shed > 0, "nothing was shed");
    /* Relative to the unshed run, so a slow machine (sanitizers, load)
     * slows both sides alike. */
    ck_assert_msg(shedding * 2 < plain, "accepted requests took %lld ns, %lld without shedding",
                  (long long)shedding, (long long)plain);
}

START_TEST(overload) { t_procs(2); t_run(overload_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("resil/shed");
    TCase *tc = tcase_create("shed");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, little_limit);
    tcase_add_test(tc, overload);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
