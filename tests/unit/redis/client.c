/* SPDX-License-Identifier: MIT */
/* The pooled Redis client against a real redis-server: typed helpers, pool exhaustion, a server killed and restarted under load. */
#include "server.h"
#include <stdatomic.h>

#define MS 1000000LL
#define SEC 1000000000LL

static t_redis srv;

static km_redis_client *client(int max, int db)
{
    km_redis_config cfg = { .addr = srv.addr, .password = srv.password[0] ? srv.password : NULL, .db = db };
    km_pool_config pc = { .max_size = max, .alive_bypass = 100 * MS };
    km_redis_client *cl;
    REQUIRE_EQ(km_redis_client_new(&cl, &cfg, &pc), 0);
    return cl;
}

static void helpers_body(void *arg)
{
    km_redis_client *cl = client(4, 2);
    int64_t dl = km_now() + 5 * SEC;
    char *v;
    size_t n;
    REQUIRE_EQ(km_redis_get(cl, "k", &v, &n, dl), -ENOENT);
    REQUIRE(v == NULL);
    REQUIRE_EQ(km_redis_set(cl, "k", "v\0x", 3, 0, 0, dl), 0);
    REQUIRE_EQ(km_redis_get(cl, "k", &v, &n, dl), 0);
    REQUIRE_EQ(n, 3); REQUIRE(memcmp(v, "v\0x", 3) == 0);
    km_redis_free_str(v);
    REQUIRE_EQ(km_redis_set(cl, "k", "w", 1, 0, KM_REDIS_NX, dl), -EEXIST);
    REQUIRE_EQ(km_redis_set(cl, "new", "w", 1, 0, KM_REDIS_XX, dl), -EEXIST);
    REQUIRE_EQ(km_redis_set(cl, "new", "w", 1, 0, KM_REDIS_NX, dl), 0);
    REQUIRE_EQ(km_redis_set(cl, "new", "y", 1, 0, KM_REDIS_XX, dl), 0);
    REQUIRE_EQ(km_redis_set(cl, "k", "v", 1, 0, KM_REDIS_NX | KM_REDIS_XX, dl), -EINVAL);
    /* TTLs: EX for whole seconds, PX otherwise */
    REQUIRE_EQ(km_redis_set(cl, "ttl", "1", 1, 100 * SEC, 0, dl), 0);
    km_redis_reply *r;
    REQUIRE_EQ(km_redis_client_do(cl, 2, (const char *[]){ "TTL", "ttl" }, NULL, dl, &r), 0);
    REQUIRE(r->integer > 95 && r->integer <= 100); km_redis_reply_free(r);
    REQUIRE_EQ(km_redis_set(cl, "px", "1", 1, 150 * MS, 0, dl), 0);
    REQUIRE_EQ(km_redis_client_do(cl, 2, (const char *[]){ "PTTL", "px" }, NULL, dl, &r), 0);
    REQUIRE(r->integer > 0 && r->integer <= 150); km_redis_reply_free(r);
    km_sleep(250 * MS);
    REQUIRE_EQ(km_redis_get(cl, "px", &v, &n, km_now() + 5 * SEC), -ENOENT);
    long long x;
    REQUIRE_EQ(km_redis_incr(cl, "ctr", &x, dl), 0); REQUIRE_EQ(x, 1);
    REQUIRE_EQ(km_redis_incr(cl, "ctr", &x, dl), 0); REQUIRE_EQ(x, 2);
    REQUIRE_EQ(km_redis_incr(cl, "new", &x, dl), KM_REDIS_ESERVER);   /* "y" is no integer */
    REQUIRE_EQ(km_redis_expire(cl, "ctr", 50 * SEC, dl), 0);
    REQUIRE_EQ(km_redis_expire(cl, "ctr", 1500 * MS, dl), 0);
    REQUIRE_EQ(km_redis_expire(cl, "nothere", 5 * SEC, dl), -ENOENT);
    REQUIRE_EQ(km_redis_del(cl, "ctr", &x, dl), 0); REQUIRE_EQ(x, 1);
    REQUIRE_EQ(km_redis_del(cl, "ctr", &x, dl), 0); REQUIRE_EQ(x, 0);
    /* the pool selected db 2 on every connection */
    REQUIRE_EQ(km_redis_client_do(cl, 1, (const char *[]){ "DBSIZE" }, NULL, dl, &r), 0);
    REQUIRE(r->integer >= 2); km_redis_reply_free(r);
    km_pool_stats st;
    km_pool_stats_read(km_redis_client_pool(cl), &st);
    REQUIRE_EQ(st.in_use, 0);
    REQUIRE_EQ(km_redis_client_free(cl, km_now() + 5 * SEC), 0);
}
START_TEST(helpers)
{
    strcpy(srv.password, "pw");
    t_redis_start(&srv);
    t_run(helpers_body, NULL);
    t_redis_stop(&srv);
}
END_TEST

/* ---- exhaustion ---- */

typedef struct { km_redis_client *cl; int rc; } sleeper;

static void sleeper_fn(void *arg)
{
    sleeper *s = arg;
    km_redis_reply *r;
    s->rc = km_redis_client_do(s->cl, 3, (const char *[]){ "DEBUG", "SLEEP", "0.4" }, NULL, km_now() + 5 * SEC, &r);
    km_redis_reply_free(r);
}

static void exhaust_body(void *arg)
{
    km_redis_client *cl = client(1, 0);
    sleeper s = { cl, 1 };
    km_wg *wg;
    km_wg_new(&wg);
    km_go(sleeper_fn, &s);
    km_sleep(50 * MS);      /* it holds the only connection */
    km_redis_reply *r;
    int64_t t0 = km_now();
    REQUIRE_EQ(km_redis_client_do(cl, 1, (const char *[]){ "PING" }, NULL, t0 + 100 * MS, &r), -ETIMEDOUT);
    int64_t took = km_now() - t0;
    REQUIRE(took >= 95 * MS && took < 300 * MS);
    REQUIRE(r == NULL);
    km_pool_stats st;
    km_pool_stats_read(km_redis_client_pool(cl), &st);
    REQUIRE_EQ(st.timeouts, 1);
    /* once it is back, the wait ends with it */
    REQUIRE_EQ(km_redis_client_do(cl, 1, (const char *[]){ "PING" }, NULL, km_now() + 5 * SEC, &r), 0);
    km_redis_reply_free(r);
    REQUIRE_EQ(s.rc, 0);
    km_wg_free(wg);
    REQUIRE_EQ(km_redis_client_free(cl, km_now() + 5 * SEC), 0);
}
START_TEST(exhaust) { t_redis_start(&srv); t_run(exhaust_body, NULL); t_redis_stop(&srv); }
END_TEST

/* ---- a server killed and restarted under load ---- */

#define LOADERS 12
typedef struct {
    km_redis_client *cl;
    atomic_bool     *stop;
    atomic_int      *phase;     /* 0 before the kill, 1 while down, 2 back up */
    int id;
    long ok[3], fail[3];
    int64_t worst;              /* longest call */
} loader;

static void loader_fn(void *arg)
{
    loader *l = arg;
    char key[16];
    snprintf(key, sizeof key, "l%d", l->id);
    while (!atomic_load(l->stop)) {
        int ph = atomic_load(l->phase);
        int64_t t0 = km_now();
        long long v;
        int rc = km_redis_incr(l->cl, key, &v, t0 + 300 * MS);
        int64_t took = km_now() - t0;
        if (took > l->worst)
            l->worst = took;
        /* a call in flight when the phase changed counts in the later one */
        ph = atomic_load(l->phase);
        if (rc == 0)
            l->ok[ph]++;
        else {
            l->fail[ph]++;
            km_sleep(5 * MS);
        }
    }
}

static void spawn_fn(void *arg) { t_redis_start(arg); }
static void kill_fn(void *arg) { t_redis_kill(arg); }

typedef struct { loader *l; km_wg *wg; } loader_arg;

static void loader_go(void *arg)
{
    loader_arg *a = arg;
    loader_fn(a->l);
    km_wg_done(a->wg);
}

static void restart_body(void *arg)
{
    km_redis_client *cl = client(4, 0);
    atomic_bool stop = false;
    atomic_int phase = 0;
    loader l[LOADERS];
    loader_arg la[LOADERS];
    km_wg *wg;
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, LOADERS);
    for (int i = 0; i < LOADERS; i++) {
        l[i] = (loader){ .cl = cl, .stop = &stop, .phase = &phase, .id = i };
        la[i] = (loader_arg){ &l[i], wg };
        REQUIRE_EQ(km_go(loader_go, &la[i]), 0);
    }
    km_sleep(300 * MS);
    atomic_store(&phase, 1);
    REQUIRE_EQ(km_blocking(kill_fn, &srv), 0);
    km_sleep(300 * MS);     /* down: calls fail fast, nobody hangs */
    REQUIRE_EQ(km_blocking(spawn_fn, &srv), 0);     /* same port */
    atomic_store(&phase, 2);
    km_sleep(500 * MS);
    atomic_store(&stop, true);
    /* no goroutine hangs: each call is bounded by its 300 ms deadline */
    REQUIRE_EQ(km_wg_wait_dl(wg, km_now() + 2 * SEC), 0);
    km_wg_free(wg);
    long ok[3] = { 0 }, fail[3] = { 0 };
    int64_t worst = 0;
    for (int i = 0; i < LOADERS; i++) {
        for (int p = 0; p < 3; p++) {
            ok[p] += l[i].ok[p];
            fail[p] += l[i].fail[p];
        }
        if (l[i].worst > worst)
            worst = l[i].worst;
        REQUIRE(l[i].ok[2] > 0);        /* every loader recovered */
    }
    ck_assert_msg(fail[0] == 0, "errors before the kill: %ld", fail[0]);
    REQUIRE(ok[0] > 0);
    REQUIRE(fail[1] > 0);
    /* after the restart, errors only for calls that were in flight on the
     * old connections or racing the restart: at most one per connection
     * and loader, never a stream of them */
    ck_assert_msg(fail[2] <= LOADERS + 4, "errors after the restart: %ld (ok %ld)", fail[2], ok[2]);
    ck_assert_msg(worst < 400 * MS, "a call took %lld ms", (long long)(worst / MS));
    /* the pool reconnected: no connection on loan, broken ones evicted */
    km_pool_stats st;
    km_pool_stats_read(km_redis_client_pool(cl), &st);
    REQUIRE_EQ(st.in_use, 0);
    REQUIRE_EQ(st.waiting, 0);
    REQUIRE(st.closed[KM_POOL_BROKEN] + st.closed[KM_POOL_VALIDATION] > 0);
    REQUIRE(st.open <= 4);
    km_redis_reply *r;
    REQUIRE_EQ(km_redis_client_do(cl, 1, (const char *[]){ "PING" }, NULL, km_now() + 5 * SEC, &r), 0);
    km_redis_reply_free(r);
    REQUIRE_EQ(km_redis_client_free(cl, km_now() + 5 * SEC), 0);
}
START_TEST(restart) { t_procs(2); t_redis_start(&srv); t_run(restart_body, NULL); t_redis_stop(&srv); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("redis/client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, helpers);
    tcase_add_test(tc, exhaust);
    tcase_add_test(tc, restart);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
