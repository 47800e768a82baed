/* SPDX-License-Identifier: MIT */
/* Goroutine basics: km_main, km_go, ids, yield, stacks, bad arguments, allocation failures, error names. */
#include "util.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int procs_tab[] = { 1, 2, 8 };

/* ---- km_main runs fn and returns after it ---- */

static int main_ran;
static uint64_t main_goid;
static int main_procs;

static void main_body(void *arg)
{
    ck_assert_ptr_eq(arg, &main_ran);
    main_ran = 1;
    main_goid = km_goid();
    main_procs = km_procs();
}

START_TEST(main_runs_fn)
{
    REQUIRE_EQ(km_procs(), 0);
    REQUIRE_EQ(km_goid(), 0);
    t_procs(procs_tab[_i]);
    t_run(main_body, &main_ran);
    REQUIRE_EQ(main_ran, 1);
    ck_assert_uint_ge(main_goid, 1);
    REQUIRE_EQ(main_procs, procs_tab[_i]);
    /* Not running any more. */
    REQUIRE_EQ(km_procs(), 0);
    REQUIRE_EQ(km_goid(), 0);
}
END_TEST

START_TEST(main_twice)
{
    /* The runtime can be started again once km_main has returned. */
    t_procs(2);
    main_ran = 0;
    t_run(main_body, &main_ran);
    REQUIRE_EQ(main_ran, 1);
    main_ran = 0;
    t_run(main_body, &main_ran);
    REQUIRE_EQ(main_ran, 1);
}
END_TEST

static int nested_ran;
static void nested_fn(void *arg) { (void)arg; nested_ran = 1; }
static void main_busy_body(void *arg)
{
    (void)arg;
    REQUIRE_EQ(km_main(nested_fn, NULL), -EBUSY);
    REQUIRE_EQ(nested_ran, 0);
}

START_TEST(main_busy)
{
    t_procs(2);
    t_run(main_busy_body, NULL);
    REQUIRE_EQ(nested_ran, 0);
}
END_TEST

/* ---- km_go runs every goroutine with its argument ---- */

enum { NKIDS = 1000 };
typedef struct {
    km_wg      *wg;
    atomic_int  ran[NKIDS];
    uint64_t    ids[NKIDS];
    atomic_int  bad;
} kids_t;
typedef struct { kids_t *k; int i; } kid_arg;
static kid_arg kid_args[NKIDS];

static void kid(void *arg)
{
    kid_arg *a = arg;
    uint64_t id = km_goid();
    a->k->ids[a->i] = id;
    atomic_fetch_add(&a->k->ran[a->i], 1);
    /* The id is the goroutine's, so it survives being rescheduled (maybe on
     * another worker thread). */
    km_yield();
    if (km_goid() != id) atomic_store(&a->k->bad, 1);
    km_sleep(100 * 1000);
    if (km_goid() != id) atomic_store(&a->k->bad, 1);
    km_wg_done(a->k->wg);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void go_body(void *arg)
{
    (void)arg;
    static kids_t k;
    memset(&k, 0, sizeof k);
    REQUIRE_EQ(km_wg_new(&k.wg), 0);
    km_wg_add(k.wg, NKIDS);
    for (int i = 0; i < NKIDS; i++) {
        kid_args[i] = (kid_arg){ &k, i };
        REQUIRE_EQ(km_go(kid, &kid_args[i]), 0);
    }
    REQUIRE_EQ(km_wg_wait(k.wg), 0);
    km_wg_free(k.wg);
    REQUIRE_EQ(atomic_load(&k.bad), 0);
    uint64_t me = km_goid();
    ck_assert_uint_ge(me, 1);
    for (int i = 0; i < NKIDS; i++) {
        REQUIRE_EQ(atomic_load(&k.ran[i]), 1);
        ck_assert_uint_ge(k.ids[i], 1);
        ck_assert_uint_ne(k.ids[i], me);
    }
    qsort(k.ids, NKIDS, sizeof k.ids[0], cmp_u64);
    for (int i = 1; i < NKIDS; i++)
        ck_assert_msg(k.ids[i] != k.ids[i - 1], "duplicate goroutine id %llu",
                      (unsigned long long)k.ids[i]);
}

START_TEST(go_runs_all_unique_ids)
{
    t_procs(procs_tab[_i]);
    t_run(go_body, NULL);
}
END_TEST

/* ---- km_yield ---- */

/* Strict ping-pong driven only by km_yield: with one worker it can only
 * finish if yield really lets the other goroutine run. */
enum { PP_ROUNDS = 2000 };
typedef struct {
    atomic_int turn;
    char       log[2 * PP_ROUNDS + 1];
    atomic_int pos;
    km_wg     *wg;
} pp_t;
typedef struct { pp_t *p; int me; } pp_arg;

static void pp_player(void *arg)
{
    pp_arg *a = arg;
    for (int i = 0; i < PP_ROUNDS; i++) {
        while (atomic_load(&a->p->turn) != a->me)
            km_yield();
        a->p->log[atomic_fetch_add(&a->p->pos, 1)] = (char)('A' + a->me);
        atomic_store(&a->p->turn, !a->me);
    }
    km_wg_done(a->p->wg);
}

static void yield_pingpong_body(void *arg)
{
    (void)arg;
    static pp_t p;
    memset(&p, 0, sizeof p);
    REQUIRE_EQ(km_wg_new(&p.wg), 0);
    km_wg_add(p.wg, 2);
    pp_arg a = { &p, 0 }, b = { &p, 1 };
    REQUIRE_EQ(km_go(pp_player, &b), 0);
    REQUIRE_EQ(km_go(pp_player, &a), 0);
    REQUIRE_EQ(km_wg_wait(p.wg), 0);
    km_wg_free(p.wg);
    REQUIRE_EQ(atomic_load(&p.pos), 2 * PP_ROUNDS);
    for (int i = 0; i < 2 * PP_ROUNDS; i++)
        REQUIRE_EQ(p.log[i], 'A' + (i & 1));
}

START_TEST(yield_pingpong)
{
    t_procs(procs_tab[_i]);
    t_run(yield_pingpong_body, NULL);
}
END_TEST

/* Two goroutines that log and yield on one worker must interleave: neither
 * runs all its iterations before the other starts. */
enum { IL_ROUNDS = 100 };
typedef struct {
    char   log[2 * IL_ROUNDS];
    int    pos;
    km_wg *wg;
} il_t;
typedef struct { il_t *t; char c; } il_arg;

static void il_worker(void *arg)
{
    il_arg *a = arg;
    for (int i = 0; i < IL_ROUNDS; i++) {
        a->t->log[a->t->pos++] = a->c;
        km_yield();
    }
    km_wg_done(a->t->wg);
}

static void yield_interleaves_body(void *arg)
{
    (void)arg;
    static il_t t;
    memset(&t, 0, sizeof t);
    REQUIRE_EQ(km_wg_new(&t.wg), 0);
    km_wg_add(t.wg, 2);
    il_arg a = { &t, 'A' }, b = { &t, 'B' };
    REQUIRE_EQ(km_go(il_worker, &a), 0);
    REQUIRE_EQ(km_go(il_worker, &b), 0);
    REQUIRE_EQ(km_wg_wait(t.wg), 0);
    km_wg_free(t.wg);
    REQUIRE_EQ(t.pos, 2 * IL_ROUNDS);
    int firstA = -1, firstB = -1, lastA = -1, lastB = -1, switches = 0;
    for (int i = 0; i < 2 * IL_ROUNDS; i++) {
        if (t.log[i] == 'A') { if (firstA < 0) firstA = i; lastA = i; }
        else                 { if (firstB < 0) firstB = i; lastB = i; }
        if (i && t.log[i] != t.log[i - 1]) switches++;
    }
    ck_assert_int_lt(firstB, lastA);
    ck_assert_int_lt(firstA, lastB);
    /* Loose: a yielding pair on one worker switches often, not just once. */
    ck_assert_int_ge(switches, IL_ROUNDS / 2);
}

START_TEST(yield_interleaves)
{
    t_procs(1);
    t_run(yield_interleaves_body, NULL);
}
END_TEST

/* ---- km_go from a thread that is not a goroutine ---- */

typedef struct {
    atomic_int done;
    int        rc;
    uint64_t   thread_goid;
    km_wg     *wg;
} foreign_t;

static void foreign_kid(void *arg)
{
    foreign_t *f = arg;
    ck_assert_uint_ge(km_goid(), 1);
    km_wg_done(f->wg);
}

static void *foreign_thread(void *arg)
{
    foreign_t *f = arg;
    f->thread_goid = km_goid();
    f->rc = km_go(foreign_kid, f);
    atomic_store(&f->done, 1);
    return NULL;
}

static void go_foreign_body(void *arg)
{
    (void)arg;
    static foreign_t f;
    REQUIRE_EQ(km_wg_new(&f.wg), 0);
    km_wg_add(f.wg, 1);
    pthread_t th;
    REQUIRE_EQ(pthread_create(&th, NULL, foreign_thread, &f), 0);
    while (!atomic_load(&f.done))
        km_sleep(1000 * 1000);
    REQUIRE_EQ(pthread_join(th, NULL), 0);
    ck_assert_msg(f.rc == 0, "km_go from a plain thread: %s", km_strerror(f.rc));
    REQUIRE_EQ(f.thread_goid, 0);
    REQUIRE_EQ(km_wg_wait(f.wg), 0);
    km_wg_free(f.wg);
}

START_TEST(go_from_foreign_thread)
{
    t_procs(procs_tab[_i]);
    t_run(go_foreign_body, NULL);
}
END_TEST

/* ---- bad arguments ---- */

static void noop(void *arg) { (void)arg; }

START_TEST(go_not_running)
{
    km_go_opts o = { 0 };
    REQUIRE_EQ(km_go(noop, NULL), -ESRCH);
    REQUIRE_EQ(km_go_opt(noop, NULL, &o), -ESRCH);
    t_procs(1);
    t_run(main_body, &main_ran);
    REQUIRE_EQ(km_go(noop, NULL), -ESRCH);
}
END_TEST

static void go_bad_args_body(void *arg)
{
    (void)arg;
    km_go_opts o = { 0 };
    REQUIRE_EQ(km_go(NULL, NULL), -EINVAL);
    REQUIRE_EQ(km_go_opt(NULL, NULL, &o), -EINVAL);
    /* An absurd stack size is refused, whether as invalid or as unsatisfiable. */
    o.stack_size = SIZE_MAX;
    int rc = km_go_opt(noop, NULL, &o);
    ck_assert_msg(rc == -EINVAL || rc == -ENOMEM, "stack_size SIZE_MAX: %s",
                  km_strerror(rc));
    o.stack_size = SIZE_MAX / 2;
    rc = km_go_opt(noop, NULL, &o);
    ck_assert_msg(rc == -EINVAL || rc == -ENOMEM, "stack_size SIZE_MAX/2: %s",
                  km_strerror(rc));
}

START_TEST(go_bad_args)
{
    t_procs(2);
    t_run(go_bad_args_body, NULL);
}
END_TEST

/* Bad environment values make km_main fail without running fn. */
static int env_ran;
static void env_fn(void *arg) { (void)arg; env_ran = 1; }

START_TEST(main_bad_env)
{
    static const struct { const char *var, *val; } bad[] = {
        { "KM_PROCS", "0" }, { "KM_PROCS", "1025" }, { "KM_PROCS", "abc" },
        { "KM_PROCS", "-2" }, { "KM_PROCS", "2x" },
        { "KM_STACK_SIZE", "8K" }, { "KM_STACK_SIZE", "abc" },
        { "KM_STACK_SIZE", "1000" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsetenv("KM_PROCS");
        unsetenv("KM_STACK_SIZE");
        setenv(bad[i].var, bad[i].val, 1);
        env_ran = 0;
        int rc = km_main(env_fn, NULL);
        ck_assert_msg(rc == -EINVAL, "%s=%s: km_main returned %s", bad[i].var,
                      bad[i].val, km_strerror(rc));
        ck_assert_msg(!env_ran, "%s=%s: fn ran", bad[i].var, bad[i].val);
    }
}
END_TEST

/* ---- stacks ---- */

/* Recurses until `target` bytes of frames lie between `top` and the current
 * frame, fills every frame with a pattern, yields at the bottom so other
 * goroutines run (on their own stacks) and then verifies every frame. */
static __attribute__((noinline)) int deep(const char *top, size_t target,
                                          unsigned tag, size_t *used)
{
    volatile unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(tag * 31 + i);
    size_t depth = (size_t)(top - (const char *)buf);
    int bad = 0;
    if (depth < target) {
        bad = deep(top, target, tag, used);
    } else {
        *used = depth;
        km_yield();
        km_sleep(1000 * 1000);
    }
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != (unsigned char)(tag * 31 + i)) bad = 1;
    return bad;
}

typedef struct {
    size_t      target;
    km_wg      *wg;
    atomic_int  bad;
    atomic_long min_used;
} deep_t;
typedef struct { deep_t *d; unsigned tag; } deep_arg;

static void deep_kid(void *arg)
{
    deep_arg *a = arg;
    char top = 0;
    size_t used = 0;
    if (deep(&top, a->d->target, a->tag, &used))
        atomic_store(&a->d->bad, 1);
    long m = atomic_load(&a->d->min_used);
    while ((long)used < m && !atomic_compare_exchange_weak(&a->d->min_used, &m, (long)used))
        ;
    km_wg_done(a->d->wg);
}

enum { NDEEP = 16 };

/* Runs NDEEP goroutines that each use `target` bytes of stack, with a custom
 * stack size when stack_size != 0. */
static void run_deep(size_t target, size_t stack_size)
{
    static deep_t d;
    static deep_arg args[NDEEP];
    d.target = target;
    atomic_store(&d.bad, 0);
    atomic_store(&d.min_used, 1L << 40);
    REQUIRE_EQ(km_wg_new(&d.wg), 0);
    km_wg_add(d.wg, NDEEP);
    for (unsigned i = 0; i < NDEEP; i++) {
        args[i] = (deep_arg){ &d, i + 1 };
        km_go_opts o = { .stack_size = stack_size, .name = "deep" };
        int rc = km_go_opt(deep_kid, &args[i], &o);
        ck_assert_msg(rc == 0, "km_go_opt(stack_size %zu): %s", stack_size,
                      km_strerror(rc));
    }
    REQUIRE_EQ(km_wg_wait(d.wg), 0);
    km_wg_free(d.wg);
    ck_assert_msg(!atomic_load(&d.bad), "a goroutine's stack frames were clobbered");
    ck_assert_int_ge(atomic_load(&d.min_used), (long)target);
}

static void stack_default_body(void *arg)
{
    (void)arg;
    /* The brief promises at least 64 KiB of frames on the default stack. */
    run_deep(60 * 1024, 0);
}

START_TEST(stack_default_60k)
{
    t_procs(procs_tab[_i]);
    t_run(stack_default_body, NULL);
}
END_TEST

START_TEST(stack_default_60k_guarded)
{
    setenv("KM_STACK_GUARD", "1", 1);
    t_procs(2);
    t_run(stack_default_body, NULL);
}
END_TEST

static void stack_custom_body(void *arg)
{
    (void)arg;
    run_deep(768 * 1024, 1024 * 1024);
    run_deep(8 * 1024, 32 * 1024);
    run_deep(3 * 1024 * 1024, 4 * 1024 * 1024);
}

START_TEST(stack_custom_size)
{
    t_procs(2);
    t_run(stack_custom_body, NULL);
}
END_TEST

static void stack_env_body(void *arg)
{
    (void)arg;
    run_deep(400 * 1024, 0);
}

START_TEST(stack_size_env)
{
    setenv("KM_STACK_SIZE", "512K", 1);
    t_procs(2);
    t_run(stack_env_body, NULL);
}
END_TEST

/* ---- allocation failures ---- */

static void alloc_fail_new_body(void *arg)
{
    (void)arg;
    /* On a fresh runtime each constructor has to allocate, so failing the
     * next allocation makes it fail cleanly; failing later ones eventually
     * lets it succeed. Nothing may leak either way (t_run checks). */
    int nomem = 0;
    for (long n = 1; n <= 64; n++) {
        km_chan *c = NULL;
        t_fail_alloc_after(n);
        int rc = km_chan_new(&c, 16, 8);
        t_fail_alloc_after(0);
        if (rc == -ENOMEM) { nomem++; continue; }
        ck_assert_msg(rc == 0, "km_chan_new: %s", km_strerror(rc));
        char v[16] = "hello", w[16] = { 0 };
        REQUIRE_EQ(km_chan_send(c, v), 0);
        REQUIRE_EQ(km_chan_recv(c, w), 0);
        ck_assert_str_eq(w, "hello");
        km_chan_free(c);
        break;
    }
    ck_assert_int_ge(nomem, 1);

    t_fail_alloc_after(1);
    km_wg *wg = NULL;
    REQUIRE_EQ(km_wg_new(&wg), -ENOMEM);
    t_fail_alloc_after(1);
    km_mutex *m = NULL;
    REQUIRE_EQ(km_mutex_new(&m), -ENOMEM);
    t_fail_alloc_after(1);
    km_cond *cv = NULL;
    REQUIRE_EQ(km_cond_new(&cv), -ENOMEM);
    t_fail_alloc_after(1);
    km_chan *c0 = NULL;
    REQUIRE_EQ(km_chan_new(&c0, 0, 0), -ENOMEM);
    t_fail_alloc_after(0);

    REQUIRE_EQ(km_wg_new(&wg), 0);
    REQUIRE_EQ(km_mutex_new(&m), 0);
    REQUIRE_EQ(km_cond_new(&cv), 0);
    km_mutex_lock(m);
    km_mutex_unlock(m);
    km_cond_free(cv);
    km_mutex_free(m);
    km_wg_free(wg);
}

START_TEST(alloc_fail_constructors)
{
    t_procs(1);
    t_run(alloc_fail_new_body, NULL);
}
END_TEST

typedef struct { km_wg *wg; atomic_int ran; } af_t;
static void af_kid(void *arg)
{
    af_t *a = arg;
    atomic_fetch_add(&a->ran, 1);
    km_wg_done(a->wg);
}

static void alloc_fail_go_body(void *arg)
{
    (void)arg;
    /* km_go either succeeds (the goroutine then runs) or fails with -ENOMEM
     * (it never runs); nothing leaks either way. */
    static af_t a;
    REQUIRE_EQ(km_wg_new(&a.wg), 0);
    int ok = 0;
    for (long n = 1; n <= 32; n++) {
        km_wg_add(a.wg, 1);
        t_fail_alloc_after(n);
        int rc = km_go(af_kid, &a);
        t_fail_alloc_after(0);
        if (rc == 0) ok++;
        else { ck_assert_msg(rc == -ENOMEM, "km_go: %s", km_strerror(rc)); km_wg_done(a.wg); }
        REQUIRE_EQ(km_wg_wait(a.wg), 0);
    }
    REQUIRE_EQ(atomic_load(&a.ran), ok);
    ck_assert_int_ge(ok, 1);
    km_wg_free(a.wg);
}

START_TEST(alloc_fail_go)
{
    t_procs(1);
    t_run(alloc_fail_go_body, NULL);
}
END_TEST

/* km_main itself under allocation failure: each attempt runs in its own
 * process with an allocator that fails its n-th allocation. */
static atomic_long sw_live, sw_count, sw_fail_at;
static atomic_int sw_failed;
static void *sw_malloc(size_t n, void *ud)
{
    (void)ud;
    if (atomic_fetch_add(&sw_count, 1) + 1 == atomic_load(&sw_fail_at)) {
        atomic_store(&sw_failed, 1);
        return NULL;
    }
    void *p = malloc(n);
    if (p) atomic_fetch_add(&sw_live, 1);
    return p;
}
static void sw_free(void *p, void *ud)
{
    (void)ud;
    if (p) { atomic_fetch_sub(&sw_live, 1); free(p); }
}
static int sw_ran;
static void sw_fn(void *arg) { (void)arg; sw_ran = 1; }

START_TEST(alloc_fail_main_sweep)
{
    t_procs(2);
    for (long n = 1; n <= 5000; n++) {
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            km_allocator a = { sw_malloc, NULL, sw_free, NULL };
            atomic_store(&sw_fail_at, n);
            km_set_allocator(&a);
            int rc = km_main(sw_fn, NULL);
            int code;
            if (atomic_load(&sw_live) != 0) code = 10;            /* leak */
            else if (rc == 0) code = sw_ran ? (atomic_load(&sw_failed) ? 1 : 0) : 11;
            else if (rc == -ENOMEM || rc == -EAGAIN) code = sw_ran ? 12 : 1;
            else code = 13;
            _exit(code);
        }
        int st;
        REQUIRE_EQ(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st), "failing allocation %ld: km_main died (signal %d)",
                      n, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        int code = WEXITSTATUS(st);
        ck_assert_msg(code != 10, "failing allocation %ld: leaked", n);
        ck_assert_msg(code != 11, "failing allocation %ld: km_main returned 0 without running fn", n);
        ck_assert_msg(code != 12, "failing allocation %ld: fn ran but km_main failed", n);
        ck_assert_msg(code != 13, "failing allocation %ld: unexpected error", n);
        if (code == 0)
            return;   /* the n-th allocation was never made: every failure point is covered */
    }
    ck_abort_msg("km_main made more than 5000 allocations");
}
END_TEST

/* ---- error names ---- */

START_TEST(strerror_names)
{
    static const struct { int err; const char *name; } t[] = {
        { ETIMEDOUT, "ETIMEDOUT" }, { EPIPE, "EPIPE" }, { ECANCELED, "ECANCELED" },
        { ENOMEM, "ENOMEM" }, { EINVAL, "EINVAL" }, { EAGAIN, "EAGAIN" },
        { EBUSY, "EBUSY" }, { ESRCH, "ESRCH" },
    };
    static char names[8][128];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        /* km_strerror may reuse one buffer per thread: copy before the next call. */
        char neg[128], pos[128];
        ck_assert_ptr_nonnull(km_strerror(-t[i].err));
        snprintf(neg, sizeof neg, "%s", km_strerror(-t[i].err));
        snprintf(pos, sizeof pos, "%s", km_strerror(t[i].err));
        snprintf(names[i], sizeof names[i], "%s", neg);
        ck_assert_msg(strstr(neg, t[i].name) != NULL, "km_strerror(-%s) = \"%s\"", t[i].name, neg);
        ck_assert_msg(strstr(pos, t[i].name) != NULL, "km_strerror(%s) = \"%s\"", t[i].name, pos);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(names[i], names[j]);
    }
    ck_assert_ptr_nonnull(km_strerror(0));
    ck_assert_ptr_nonnull(km_strerror(-123456));
    ck_assert_ptr_nonnull(km_strerror(INT32_MIN));
}
END_TEST

static Suite *spawn_suite(void)
{
    Suite *s = suite_create("rt/spawn");
    TCase *tc = tcase_create("spawn");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, main_runs_fn, 0, 3);
    tcase_add_test(tc, main_twice);
    tcase_add_test(tc, main_busy);
    tcase_add_loop_test(tc, go_runs_all_unique_ids, 0, 3);
    tcase_add_loop_test(tc, yield_pingpong, 0, 3);
    tcase_add_test(tc, yield_interleaves);
    tcase_add_loop_test(tc, go_from_foreign_thread, 0, 3);
    tcase_add_test(tc, go_not_running);
    tcase_add_test(tc, go_bad_args);
    tcase_add_test(tc, main_bad_env);
    tcase_add_loop_test(tc, stack_default_60k, 0, 3);
    tcase_add_test(tc, stack_default_60k_guarded);
    tcase_add_test(tc, stack_custom_size);
    tcase_add_test(tc, stack_size_env);
    tcase_add_test(tc, alloc_fail_constructors);
    tcase_add_test(tc, alloc_fail_go);
    tcase_add_test(tc, strerror_names);
    suite_add_tcase(s, tc);
    TCase *slow = tcase_create("alloc_sweep");
    tcase_set_timeout(slow, 120);
    tcase_add_test(slow, alloc_fail_main_sweep);
    suite_add_tcase(s, slow);
    return s;
}

T_MAIN(spawn_suite)
