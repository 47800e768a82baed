/* SPDX-License-Identifier: MIT */
/* Shared test helpers (see util.h). */
#include "util.h"
#include <stdatomic.h>
#include <stdio.h>
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

static atomic_long live, fail_after;

static void *t_malloc(size_t n, void *ud)
{
    (void)ud;
    long f = atomic_load(&fail_after);
    if (f > 0 && atomic_fetch_sub(&fail_after, 1) == 1)
        return NULL;
    void *p = malloc(n);
    if (p) atomic_fetch_add(&live, 1);
    return p;
}

static void t_free(void *p, void *ud)
{
    (void)ud;
    if (p) { atomic_fetch_sub(&live, 1); free(p); }
}

void t_procs(int n)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%d", n);
    setenv("KM_PROCS", buf, 1);
}

long t_live_allocs(void) { return atomic_load(&live); }
void t_fail_alloc_after(long n) { atomic_store(&fail_after, n); }

void t_run(km_fn *fn, void *arg)
{
    km_allocator a = { t_malloc, NULL, t_free, NULL };
    km_set_allocator(&a);
    long before = atomic_load(&live);
    int rc = km_main(fn, arg);
    ck_assert_msg(rc == 0, "km_main: %s", km_strerror(rc));
    ck_assert_msg(atomic_load(&live) == before, "leaked %ld allocations",
                  atomic_load(&live) - before);
    km_set_allocator(NULL);
}

typedef struct { km_fn *fn; void *arg; km_wg *wg; } t_go_one;

static void t_go_run(void *arg)
{
    t_go_one *o = arg;
    o->fn(o->arg);
    km_wg_done(o->wg);
}

void t_go_all(int n, km_fn *fn, void *args, size_t size)
{
    t_go_one *o = calloc((size_t)n, sizeof *o);
    km_wg *wg;
    REQUIRE(o != NULL);
    REQUIRE_EQ(km_wg_new(&wg), 0);
    km_wg_add(wg, n);
    for (int i = 0; i < n; i++) {
        o[i] = (t_go_one){ fn, (char *)args + (size_t)i * size, wg };
        REQUIRE_EQ(km_go(t_go_run, &o[i]), 0);
    }
    km_wg_wait(wg);
    km_wg_free(wg);
    free(o);
}

int t_main(Suite *(*make_suite)(void))
{
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

int t_as_limit(size_t margin)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r))
        return -errno;
    r.rlim_cur = RLIM_INFINITY;
    if (margin) {
        /* the address space now: the first field of /proc/self/statm, in pages */
        FILE *f = fopen("/proc/self/statm", "r");
        unsigned long pages = 0;
        if (!f)
            return -errno;
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
        if (!pages)
            return -EIO;
        r.rlim_cur = pages * (size_t)sysconf(_SC_PAGESIZE) + margin;
    }
    return setrlimit(RLIMIT_AS, &r) ? -errno : 0;
}

char *t_path(const char *dir, const char *name)
{
    static char p[8][256];
    static int k;
    char *s = p[k++ % 8];
    snprintf(s, sizeof p[0], "%s/%s", dir, name);
    return s;
}
