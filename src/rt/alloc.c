/* SPDX-License-Identifier: MIT */
/* The allocator hook every kumo allocation goes through, and fatal errors. */
#include "rt-int.h"
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void *sys_malloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *sys_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void  sys_free(void *p, void *ud) { (void)ud; free(p); }

static km_allocator alloc = { sys_malloc, sys_realloc, sys_free, NULL };

void km_set_allocator(const km_allocator *a)
{
    if (a && a->malloc_fn && a->free_fn)
        alloc = *a;
    else
        alloc = (km_allocator){ sys_malloc, sys_realloc, sys_free, NULL };
}

void *(km__malloc)(size_t n)
{
    return alloc.malloc_fn(n ? n : 1, alloc.ud);
}

void *(km__calloc)(size_t n, size_t sz)
{
    size_t total;
    if (__builtin_mul_overflow(n, sz, &total))
        return NULL;
    void *p = (km__malloc)(total);
    if (p)
        memset(p, 0, total);
    return p;
}

/* Freed bytes not yet offered back to the kernel. */
static atomic_size_t freed_since_trim;

void km__release_freed(size_t n)
{
    /* Only libc's heap can be trimmed; a custom allocator manages its own. */
    if (alloc.malloc_fn != sys_malloc)
        return;
    size_t total = atomic_fetch_add_explicit(&freed_since_trim, n, memory_order_relaxed) + n;
    if (total < KM__TRIM_EVERY)
        return;
    atomic_store_explicit(&freed_since_trim, 0, memory_order_relaxed);
    malloc_trim(0);
}

void km__free(void *p)
{
    if (p)
        alloc.free_fn(p, alloc.ud);
}

void km__fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("kumo: fatal: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

char *(km__strdup)(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = (km__malloc)(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* jansson's allocator: libc's (its callers free its strings with free()),
 * but a failed allocation ends the process. jansson 2.14 (Debian 12) does
 * not survive one: json_loads then writes out of bounds and json_dumps can
 * drop text from its output (bench/jansson/alloc_failure.c), so a NULL
 * handed to it would become heap corruption or a damaged document written
 * to the store. Here, in the file every kumo program links, so the hook is
 * always installed. */
static void *json_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        km__fatal("out of memory inside jansson (%zu bytes), which cannot recover from it", n);
    return p;
}

/* Weak: a program of the runtime alone links without jansson (the hook is
 * then not needed); every program using jansson has its allocator hook
 * (it sits beside jansson's own malloc wrappers, which any user pulls in). */
extern void json_set_alloc_funcs(void *(*m)(size_t), void (*f)(void *)) __attribute__((weak));

__attribute__((constructor)) static void json_alloc_init(void)
{
    if (json_set_alloc_funcs)
        json_set_alloc_funcs(json_alloc, free);
}
