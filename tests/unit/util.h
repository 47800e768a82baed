/* SPDX-License-Identifier: MIT */
/* Shared test helpers: run a body as km_main's goroutine, a counting
 * allocator that fails leaking tests and can inject allocation failures. */
#ifndef KUMO_TEST_UTIL_H
#define KUMO_TEST_UTIL_H

#include <check.h>
#include <stdlib.h>
#include <kumo.h>

/* ck_assert_* tells Check's parent process about every check that passes
 * (one write(2) each), far too slow for loops of millions; these speak up
 * only on failure. */
#define REQUIRE(c) do { if (!(c)) ck_abort_msg("Assertion '%s' failed", #c); } while (0)
#define REQUIRE_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) ck_abort_msg("Assertion '%s == %s' failed: %lld != %lld", #a, #b, a_, b_); } while (0)

/* Sets KM_PROCS for the (forked) test process. */
void t_procs(int n);

/* Runs fn(arg) under km_main with the counting allocator installed and
 * asserts that km_main returned 0 and that every allocation was freed. */
void t_run(km_fn *fn, void *arg);

/* Runs fn on each of n elements of size bytes from args, each in a
 * goroutine of its own, and returns when all have. */
void t_go_all(int n, km_fn *fn, void *args, size_t size);

/* dir/name in one of 8 buffers used in turn (valid until 8 more calls). */
char *t_path(const char *dir, const char *name);

/* Live allocations made through kumo's allocator hook right now. */
long t_live_allocs(void);
/* Makes the n-th allocation from now (1 = the next) fail; 0 disables. */
void t_fail_alloc_after(long n);

/* Limits the process's address space to what it maps now plus margin
 * bytes (margin 0: no limit again). 0 or -errno. Sanitizer builds reserve
 * terabytes of shadow memory: tests that use it run only without them. */
int  t_as_limit(size_t margin);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define T_SANITIZED 1
#endif
#endif
#ifndef T_SANITIZED
#define T_SANITIZED 0
#endif

/* main() for a test file: runs the suite returned by make_suite, exits
 * non-zero on failure. Each test is forked with Check's timeout. */
int t_main(Suite *(*make_suite)(void));
#define T_MAIN(make_suite) int main(void) { return t_main(make_suite); }

#endif
