/* SPDX-License-Identifier: MIT */
/* Redis connections against a real redis-server: every RESP type (RESP2 and RESP3), server errors, pipelining, automatic pipelining under 16 goroutines, AUTH and SELECT, deadlines. */
#include "server.h"
#include <math.h>
#include <stdatomic.h>

#define MS 1000000LL
#define SEC 1000000000LL

static t_redis srv;

static km_redis *dial(const km_redis_config *cfg)
{
    km_redis *c;
    int rc = km_redis_connect(&c, cfg, km_now() + 5 * SEC);
    ck_assert_msg(rc == 0, "connect: %s", km_strerror(rc));
    return c;
}

/* Runs a command given as words; asserts the rc. */
static km_redis_reply *cmd(km_redis *c, int want, int argc, const char **argv)
{
    km_redis_reply *r = NULL;
    int rc = km_redis_do(c, argc, argv, NULL, km_now() + 5 * SEC, &r);
    ck_assert_msg(rc == want, "%s: %d (%s)", argv[0], rc, r && r->str ? r->str : "");
    return r;
}
#define CMD(c, ...) cmd((c), 0, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *), (const char *[]){ __VA_ARGS__ })
#define CMD_ERR(c, ...) cmd((c), KM_REDIS_ESERVER, sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *), (const char *[]){ __VA_ARGS__ })

static void types_body(void *arg)
{
    bool resp3 = arg != NULL;
    km_redis_config cfg = { .addr = srv.addr, .resp3 = resp3 };
    km_redis *c = dial(&cfg);
    km_redis_reply *r;
    r = CMD(c, "FLUSHALL"); km_redis_reply_free(r);
    r = CMD(c, "SET", "k", "v"); REQUIRE_EQ(r->type, KM_REDIS_STATUS); ck_assert_str_eq(r->str, "OK"); km_redis_reply_free(r);
    r = CMD(c, "GET", "k"); REQUIRE_EQ(r->type, KM_REDIS_STRING); ck_assert_str_eq(r->str, "v"); km_redis_reply_free(r);
    /* binary-safe values */
    const char *bin[] = { "SET", "b", "a\0b\r\nc" };
    size_t binlen[] = { 3, 1, 6 };
    REQUIRE_EQ(km_redis_do(c, 3, bin, binlen, KM_FOREVER, &r), 0); km_redis_reply_free(r);
    r = CMD(c, "GET", "b"); REQUIRE_EQ(r->len, 6); REQUIRE(memcmp(r->str, "a\0b\r\nc", 6) == 0); km_redis_reply_free(r);
    r = CMD(c, "GET", "missing"); REQUIRE_EQ(r->type, KM_REDIS_NIL); km_redis_reply_free(r);
    r = CMD(c, "INCR", "n"); REQUIRE_EQ(r->type, KM_REDIS_INTEGER); REQUIRE_EQ(r->integer, 1); km_redis_reply_free(r);
    r = CMD(c, "RPUSH", "l", "a", "b", "c"); REQUIRE_EQ(r->integer, 3); km_redis_reply_free(r);
    r = CMD(c, "LRANGE", "l", "0", "-1");
    REQUIRE_EQ(r->type, KM_REDIS_ARRAY); REQUIRE_EQ(r->len, 3); ck_assert_str_eq(r->elem[2]->str, "c");
    km_redis_reply_free(r);
    r = CMD(c, "HSET", "h", "f1", "1", "f2", "2"); km_redis_reply_free(r);
    r = CMD(c, "HGETALL", "h");
    REQUIRE_EQ(r->type, resp3 ? KM_REDIS_MAP : KM_REDIS_ARRAY); REQUIRE_EQ(r->len, 4);
    km_redis_reply_free(r);
    r = CMD(c, "SADD", "s", "x", "y"); km_redis_reply_free(r);
    r = CMD(c, "SMEMBERS", "s"); REQUIRE_EQ(r->type, resp3 ? KM_REDIS_SET : KM_REDIS_ARRAY); REQUIRE_EQ(r->len, 2); km_redis_reply_free(r);
    r = CMD(c, "ZADD", "z", "1.5", "m"); km_redis_reply_free(r);
    r = CMD(c, "ZSCORE", "z", "m");
    if (resp3) { REQUIRE_EQ(r->type, KM_REDIS_DOUBLE); REQUIRE(r->dval == 1.5); }
    else { REQUIRE_EQ(r->type, KM_REDIS_STRING); ck_assert_str_eq(r->str, "1.5"); }
    km_redis_reply_free(r);
    /* a server error: a distinct code, the text kept */
    r = CMD_ERR(c, "NOSUCHCOMMAND", "x");
    REQUIRE_EQ(r->type, KM_REDIS_ERROR); REQUIRE(strstr(r->str, "ERR unknown command") == r->str);
    km_redis_reply_free(r);
    r = CMD_ERR(c, "INCR", "l"); REQUIRE(strncmp(r->str, "WRONGTYPE", 9) == 0); km_redis_reply_free(r);
    /* the rest of the types, through DEBUG PROTOCOL */
    r = CMD(c, "DEBUG", "PROTOCOL", "null"); REQUIRE_EQ(r->type, KM_REDIS_NIL); km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "bignum");
    REQUIRE_EQ(r->type, resp3 ? KM_REDIS_BIGNUM : KM_REDIS_STRING);
    ck_assert_str_eq(r->str, "1234567999999999999999999999999999999"); km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "true");
    if (resp3) REQUIRE_EQ(r->type, KM_REDIS_BOOL);
    REQUIRE_EQ(r->integer, 1); km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "double");
    if (resp3) { REQUIRE_EQ(r->type, KM_REDIS_DOUBLE); REQUIRE(fabs(r->dval - 3.141) < 1e-9); }
    km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "verbatim");
    REQUIRE_EQ(r->type, resp3 ? KM_REDIS_VERBATIM : KM_REDIS_STRING);
    if (resp3) ck_assert_str_eq(r->format, "txt");
    REQUIRE(strstr(r->str, "verbatim") != NULL); km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "map"); REQUIRE_EQ(r->type, resp3 ? KM_REDIS_MAP : KM_REDIS_ARRAY); REQUIRE_EQ(r->len, 6); km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "set"); REQUIRE_EQ(r->type, resp3 ? KM_REDIS_SET : KM_REDIS_ARRAY); km_redis_reply_free(r);
    r = CMD(c, "DEBUG", "PROTOCOL", "attrib");  /* the attribute is dropped */
    REQUIRE_EQ(r->type, KM_REDIS_STRING); ck_assert_str_eq(r->str, "Some real reply following the attribute"); km_redis_reply_free(r);
    if (resp3) {
        /* the out-of-band push is dropped, the reply that follows is ours */
        r = CMD(c, "DEBUG", "PROTOCOL", "push");
        REQUIRE_EQ(r->type, KM_REDIS_STRING); ck_assert_str_eq(r->str, "Some real reply following the push reply"); km_redis_reply_free(r);
    }
    r = CMD(c, "PING"); ck_assert_str_eq(r->str, "PONG"); km_redis_reply_free(r);
    REQUIRE(!km_redis_broken(c));
    km_redis_close(c);
}
START_TEST(types2) { t_redis_start(&srv); t_run(types_body, NULL); t_redis_stop(&srv); }
END_TEST
START_TEST(types3) { t_redis_start(&srv); t_run(types_body, (void *)1); t_redis_stop(&srv); }
END_TEST

static void pipeline_body(void *arg)
{
    km_redis_config cfg = { .addr = srv.addr };
    km_redis *c = dial(&cfg);
    enum { N = 200 };
    km_redis_cmd cmds[N];
    char keys[N][16];
    const char *argv[N][3];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "p%d", i);
        argv[i][0] = i == N / 2 ? "BOGUS" : "INCRBY";
        argv[i][1] = "ctr";
        argv[i][2] = "1";
        cmds[i] = (km_redis_cmd){ 3, argv[i], NULL };
    }
    km_redis_reply *rep[N];
    REQUIRE_EQ(km_redis_pipeline(c, cmds, N, km_now() + 5 * SEC, rep), 0);
    long long want = 1;
    for (int i = 0; i < N; i++) {
        if (i == N / 2) {
            REQUIRE_EQ(rep[i]->type, KM_REDIS_ERROR);   /* in place, the rest unaffected */
        } else {
            REQUIRE_EQ(rep[i]->type, KM_REDIS_INTEGER);
            REQUIRE_EQ(rep[i]->integer, want++);
        }
        km_redis_reply_free(rep[i]);
    }
    /* a big value through the pipeline: the read buffer grows */
    size_t big = 3u << 20;
    char *val = malloc(big);
    memset(val, 'x', big);
    const char *set[] = { "SET", "big", val };
    size_t setlen[] = { 3, 3, big };
    const char *get[] = { "GET", "big" };
    km_redis_cmd two[] = { { 3, set, setlen }, { 2, get, NULL } };
    REQUIRE_EQ(km_redis_pipeline(c, two, 2, km_now() + 5 * SEC, rep), 0);
    REQUIRE_EQ(rep[1]->len, big);
    REQUIRE(memcmp(rep[1]->str, val, big) == 0);
    km_redis_reply_free(rep[0]);
    km_redis_reply_free(rep[1]);
    free(val);
    km_redis_close(c);
}
START_TEST(pipeline) { t_redis_start(&srv); t_run(pipeline_body, NULL); t_redis_stop(&srv); }
END_TEST

/* ---- automatic pipelining: 16 goroutines on one connection ---- */

typedef struct { km_redis *c; int id; int errors; } worker;
#define ROUNDS 500

static void worker_fn(void *arg)
{
    worker *w = arg;
    char key[16], val[32];
    snprintf(key, sizeof key, "w%d", w->id);
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(val, sizeof val, "%d-%d", w->id, i);
        km_redis_reply *r;
        int rc = km_redis_do(w->c, 3, (const char *[]){ "SET", key, val }, NULL, km_now() + 5 * SEC, &r);
        if (rc) { w->errors++; continue; }
        km_redis_reply_free(r);
        rc = km_redis_do(w->c, 2, (const char *[]){ "GET", key }, NULL, km_now() + 5 * SEC, &r);
        if (rc || r->type != KM_REDIS_STRING || strcmp(r->str, val) != 0)
            w->errors++;    /* somebody else's reply: out of order */
        km_redis_reply_free(r);
        rc = km_redis_do(w->c, 2, (const char *[]){ "INCR", "shared" }, NULL, km_now() + 5 * SEC, &r);
        if (rc || r->type != KM_REDIS_INTEGER)
            w->errors++;
        km_redis_reply_free(r);
    }
}

/* The server's read(2) calls so far (INFO stats, Redis 7). */
static long long reads_processed(km_redis *c)
{
    km_redis_reply *r = CMD(c, "INFO", "stats");
    const char *p = strstr(r->str, "total_reads_processed:");
    ck_assert_ptr_nonnull(p);
    long long n = atoll(p + strlen("total_reads_processed:"));
    km_redis_reply_free(r);
    return n;
}

static void concurrent_body(void *arg)
{
    km_redis_config cfg = { .addr = srv.addr, .resp3 = arg != NULL };
    km_redis *c = dial(&cfg);
    long long reads0 = reads_processed(c);
    km_redis_reply *r;
    worker w[16];
    for (int i = 0; i < 16; i++)
        w[i] = (worker){ c, i, 0 };
    t_go_all(16, worker_fn, w, sizeof w[0]);
    for (int i = 0; i < 16; i++)
        REQUIRE_EQ(w[i].errors, 0);
    r = CMD(c, "GET", "shared");
    REQUIRE_EQ(atoll(r->str), 16 * ROUNDS);
    km_redis_reply_free(r);
    /* automatic pipelining: the server read the 16 x 3 x ROUNDS commands
     * in fewer reads than commands (each read a batch of them; about a
     * tenth on an idle machine, half when other work takes the cores:
     * the bound only says batching happens) */
    long long reads = reads_processed(c) - reads0;
    ck_assert_msg(reads < 16 * 3 * ROUNDS * 4 / 5, "%lld reads for %d commands", reads, 16 * 3 * ROUNDS);
    REQUIRE(!km_redis_broken(c));
    km_redis_close(c);
}
START_TEST(concurrent) { t_procs(2); t_redis_start(&srv); t_run(concurrent_body, NULL); t_redis_stop(&srv); }
END_TEST
START_TEST(concurrent3) { t_procs(4); t_redis_start(&srv); t_run(concurrent_body, (void *)1); t_redis_stop(&srv); }
END_TEST

/* ---- AUTH and SELECT ---- */

static void auth_body(void *arg)
{
    km_redis *c;
    km_redis_reply *r;
    /* no password: the server refuses commands */
    km_redis_config none = { .addr = srv.addr };
    c = dial(&none);
    r = CMD_ERR(c, "GET", "x"); REQUIRE(strncmp(r->str, "NOAUTH", 6) == 0); km_redis_reply_free(r);
    km_redis_close(c);
    /* a wrong password: connect fails with the server's error */
    km_redis_config wrong = { .addr = srv.addr, .password = "nope" };
    REQUIRE_EQ(km_redis_connect(&c, &wrong, km_now() + 5 * SEC), KM_REDIS_ESERVER);
    km_redis_config wrong3 = { .addr = srv.addr, .password = "nope", .resp3 = true };
    REQUIRE_EQ(km_redis_connect(&c, &wrong3, km_now() + 5 * SEC), KM_REDIS_ESERVER);
    /* right password, database 3, as user default */
    km_redis_config db3 = { .addr = srv.addr, .password = srv.password, .db = 3 };
    c = dial(&db3);
    r = CMD(c, "SET", "where", "db3"); km_redis_reply_free(r);
    km_redis_close(c);
    km_redis_config db0 = { .addr = srv.addr, .user = "default", .password = srv.password };
    c = dial(&db0);
    r = CMD(c, "GET", "where"); REQUIRE_EQ(r->type, KM_REDIS_NIL); km_redis_reply_free(r);
    km_redis_close(c);
    km_redis_config db3r3 = { .addr = srv.addr, .password = srv.password, .db = 3, .resp3 = true };
    c = dial(&db3r3);
    r = CMD(c, "GET", "where"); ck_assert_str_eq(r->str, "db3"); km_redis_reply_free(r);
    r = CMD(c, "HGETALL", "nothing"); REQUIRE_EQ(r->type, KM_REDIS_MAP); km_redis_reply_free(r);
    km_redis_close(c);
    /* SELECT out of range */
    km_redis_config bad = { .addr = srv.addr, .password = srv.password, .db = 99 };
    REQUIRE_EQ(km_redis_connect(&c, &bad, km_now() + 5 * SEC), KM_REDIS_ESERVER);
    /* nobody listening */
    km_redis_config refused = { .addr = "127.0.0.1:1" };
    REQUIRE_EQ(km_redis_connect(&c, &refused, km_now() + 5 * SEC), -ECONNREFUSED);
}
START_TEST(auth)
{
    strcpy(srv.password, "s3cret");
    t_redis_start(&srv);
    t_run(auth_body, NULL);
    t_redis_stop(&srv);
}
END_TEST

/* ---- deadlines ---- */

typedef struct { km_redis *c; int rc; } bystander;

static void bystander_fn(void *arg)
{
    bystander *b = arg;
    km_sleep(20 * MS);  /* queued behind the sleeper */
    km_redis_reply *r;
    b->rc = km_redis_do(b->c, 1, (const char *[]){ "PING" }, NULL, km_now() + 5 * SEC, &r);
    km_redis_reply_free(r);
}

static void deadline_body(void *arg)
{
    km_redis_config cfg = { .addr = srv.addr };
    km_redis *c = dial(&cfg);
    km_redis_reply *r;
    /* an expired deadline never blocks, and leaves the connection working */
    REQUIRE_EQ(km_redis_do(c, 1, (const char *[]){ "PING" }, NULL, 0, &r), -ETIMEDOUT);
    REQUIRE(r == NULL);
    REQUIRE(!km_redis_broken(c));
    r = CMD(c, "PING"); km_redis_reply_free(r);
    /* a stalled server: the call ends at its deadline, the calls behind it
     * fail at once instead of hanging */
    bystander b = { c, 1 };
    km_wg *wg;
    km_wg_new(&wg);
    km_wg_add(wg, 1);
    struct { bystander *b; km_wg *wg; } ba = { &b, wg };
    (void)ba;
    km_go(bystander_fn, &b);
    int64_t t0 = km_now();
    int rc = km_redis_do(c, 3, (const char *[]){ "DEBUG", "SLEEP", "1" }, NULL, t0 + 200 * MS, &r);
    int64_t took = km_now() - t0;
    REQUIRE_EQ(rc, -ETIMEDOUT);
    REQUIRE(took >= 190 * MS && took < 800 * MS);
    REQUIRE(km_redis_broken(c));
    km_sleep(50 * MS);
    REQUIRE_EQ(b.rc, -ECONNABORTED);
    REQUIRE_EQ(km_redis_do(c, 1, (const char *[]){ "PING" }, NULL, KM_FOREVER, &r), -ECONNABORTED);
    km_wg_done(wg);
    km_wg_free(wg);
    km_redis_close(c);
    /* the connect itself is bounded */
    km_redis_config cfg2 = { .addr = srv.addr };
    km_redis *c2 = dial(&cfg2);
    km_redis *c3;
    km_go(bystander_fn, &(bystander){ c2, 0 });
    REQUIRE_EQ(km_redis_do(c2, 3, (const char *[]){ "DEBUG", "SLEEP", "0.5" }, NULL, km_now() + 50 * MS, &r), -ETIMEDOUT);
    km_redis_config sel = { .addr = srv.addr, .db = 1 };
    t0 = km_now();
    REQUIRE_EQ(km_redis_connect(&c3, &sel, t0 + 100 * MS), -ETIMEDOUT);   /* the server still sleeps */
    REQUIRE(km_now() - t0 < 400 * MS);
    km_sleep(100 * MS);
    km_redis_close(c2);
}
START_TEST(deadline) { t_redis_start(&srv); t_run(deadline_body, NULL); t_redis_stop(&srv); }
END_TEST

/* ---- close with calls in flight ---- */

typedef struct { km_redis *c; int rc; km_wg *wg; } inflight;

static void inflight_fn(void *arg)
{
    inflight *f = arg;
    km_redis_reply *r;
    f->rc = km_redis_do(f->c, 3, (const char *[]){ "DEBUG", "SLEEP", "0.3" }, NULL, km_now() + 5 * SEC, &r);
    km_redis_reply_free(r);
    km_wg_done(f->wg);
}

static void close_body(void *arg)
{
    km_redis_config cfg = { .addr = srv.addr };
    km_redis *c = dial(&cfg);
    km_wg *wg;
    km_wg_new(&wg);
    inflight f[6];
    km_wg_add(wg, 6);
    for (int i = 0; i < 6; i++) {
        f[i] = (inflight){ c, 1, wg };
        km_go(inflight_fn, &f[i]);
    }
    km_sleep(50 * MS);
    int64_t t0 = km_now();
    km_redis_close(c);      /* returns once every caller is out */
    REQUIRE(km_now() - t0 < 200 * MS);
    for (int i = 0; i < 6; i++)
        REQUIRE_EQ(f[i].rc, -ECONNABORTED);
    km_wg_wait(wg);
    km_wg_free(wg);
}
START_TEST(close_inflight) { t_procs(2); t_redis_start(&srv); t_run(close_body, NULL); t_redis_stop(&srv); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("redis/conn");
    TCase *tc = tcase_create("conn");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, types2);
    tcase_add_test(tc, types3);
    tcase_add_test(tc, pipeline);
    tcase_add_test(tc, concurrent);
    tcase_add_test(tc, concurrent3);
    tcase_add_test(tc, auth);
    tcase_add_test(tc, deadline);
    tcase_add_test(tc, close_inflight);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
