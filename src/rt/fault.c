/* SPDX-License-Identifier: MIT */
/* Fault injection (the KM_FAULTS build): which hit of which point fails, the sites reached and their counts. */
#include "rt/fault.h"

#ifdef KM_FAULTS
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const kind_names[KM__F_NKINDS] = {
    "malloc", "calloc", "realloc", "stack", "arena",
    "write", "fsync", "sockwrite", "commit",
};

enum { T_NONE, T_KIND, T_ALLOC, T_ANY, T_SITE };

/* What is armed: one target at a time. */
static struct {
    atomic_int  type;
    int         kind, line;
    char        file[256];
    long        nth;
    bool        persist, loud;
    atomic_long hits, injected;
} armed;

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static km__fault_site *sites;
static atomic_long kind_hits[KM__F_NKINDS];
static km__fault_site *_Atomic last;

static bool is_alloc(int kind) { return kind <= KM__F_ARENA; }

static bool site_is(const km__fault_site *s, const char *file, int line)
{
    return s->line == line && strcmp(s->file, file) == 0;
}

static bool matches(const km__fault_site *s)
{
    switch (atomic_load_explicit(&armed.type, memory_order_acquire)) {
    case T_KIND:  return s->kind == armed.kind;
    case T_ALLOC: return is_alloc(s->kind);
    case T_ANY:   return true;
    case T_SITE:  return site_is(s, armed.file, armed.line);
    default:      return false;
    }
}

bool km__fault_hit(km__fault_site *s)
{
    int st = 0;
    if (atomic_load_explicit(&s->state, memory_order_acquire) == 0 &&
        atomic_compare_exchange_strong(&s->state, &st, 1)) {
        pthread_mutex_lock(&list_lock);
        s->next = sites;
        sites = s;
        pthread_mutex_unlock(&list_lock);
        atomic_store(&s->state, 2);
    }
    long sh = atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed) + 1;
    atomic_fetch_add_explicit(&kind_hits[s->kind], 1, memory_order_relaxed);
    if (!matches(s))
        return false;
    long h = atomic_fetch_add(&armed.hits, 1) + 1;
    if (armed.persist ? h < armed.nth : h != armed.nth)
        return false;
    atomic_fetch_add(&armed.injected, 1);
    atomic_store(&last, s);
    if (armed.loud)
        fprintf(stderr, "kumo: fault: %s failed at %s:%d (hit %ld of the site)\n",
                kind_names[s->kind], s->file, s->line, sh);
    return true;
}

static int kind_of(const char *name, size_t n)
{
    for (int k = 0; k < KM__F_NKINDS; k++)
        if (strlen(kind_names[k]) == n && memcmp(kind_names[k], name, n) == 0)
            return k;
    return -1;
}

int km__fault_arm(const char *spec)
{
    const char *colon = spec ? strrchr(spec, ':') : NULL;
    if (!colon || colon == spec)
        return -EINVAL;
    char *end;
    long nth = strtol(colon + 1, &end, 10);
    bool persist = *end == '+';
    if (persist)
        end++;
    if (*end || nth < 1)
        return -EINVAL;
    size_t tn = (size_t)(colon - spec);
    int type, kind = -1, line = 0;
    const char *site_colon = memchr(spec, ':', tn);
    if (site_colon) {
        line = atoi(site_colon + 1);
        if (line < 1 || (size_t)(site_colon - spec) >= sizeof armed.file)
            return -EINVAL;
        type = T_SITE;
    } else if (tn == 5 && memcmp(spec, "alloc", 5) == 0) {
        type = T_ALLOC;
    } else if (tn == 3 && memcmp(spec, "any", 3) == 0) {
        type = T_ANY;
    } else if ((kind = kind_of(spec, tn)) >= 0) {
        type = T_KIND;
    } else {
        return -EINVAL;
    }
    atomic_store(&armed.type, T_NONE);
    if (type == T_SITE) {
        memcpy(armed.file, spec, (size_t)(site_colon - spec));
        armed.file[site_colon - spec] = 0;
    }
    armed.kind = kind;
    armed.line = line;
    armed.nth = nth;
    armed.persist = persist;
    atomic_store(&armed.hits, 0);
    atomic_store(&armed.injected, 0);
    atomic_store_explicit(&armed.type, type, memory_order_release);
    return 0;
}

void km__fault_disarm(void)
{
    atomic_store(&armed.type, T_NONE);
}

const km__fault_site *km__fault_last(void)
{
    return atomic_load(&last);
}

long km__fault_injected(void)
{
    return atomic_load(&armed.injected);
}

long km__fault_hits(const char *target)
{
    if (!target)
        return 0;
    const char *colon = strchr(target, ':');
    long n = 0;
    if (colon) {
        char file[256];
        size_t fn = (size_t)(colon - target);
        if (fn >= sizeof file)
            return 0;
        memcpy(file, target, fn);
        file[fn] = 0;
        int line = atoi(colon + 1);
        pthread_mutex_lock(&list_lock);
        for (km__fault_site *s = sites; s; s = s->next)
            if (site_is(s, file, line))
                n += atomic_load(&s->hits);
        pthread_mutex_unlock(&list_lock);
        return n;
    }
    bool all = strcmp(target, "any") == 0, alloc = strcmp(target, "alloc") == 0;
    int kind = kind_of(target, strlen(target));
    for (int k = 0; k < KM__F_NKINDS; k++)
        if (all || k == kind || (alloc && is_alloc(k)))
            n += atomic_load(&kind_hits[k]);
    return n;
}

/* KM_FAULT_SITES: every site reached, with its hits, appended at exit by
 * each process (a test runner's forked children too: add up per site). */
static const char *sites_path;

static void write_sites(void)
{
    FILE *f = fopen(sites_path, "a");
    if (!f)
        return;
    pthread_mutex_lock(&list_lock);
    for (km__fault_site *s = sites; s; s = s->next)
        fprintf(f, "%s:%d %s %ld\n", s->file, s->line, kind_names[s->kind],
                atomic_load(&s->hits));
    pthread_mutex_unlock(&list_lock);
    fclose(f);
}

/* jansson's allocations are not injected: it cannot survive a failure
 * (src/rt/json-alloc.c). */
__attribute__((constructor)) static void fault_init(void)
{
    const char *spec = getenv("KM_FAULT");
    if (spec && *spec) {
        if (km__fault_arm(spec)) {
            fprintf(stderr, "kumo: KM_FAULT=%s: expected <kind|alloc|any|file:line>:<n>[+]\n", spec);
            exit(2);
        }
        armed.loud = true;
    }
    sites_path = getenv("KM_FAULT_SITES");
    if (sites_path && *sites_path)
        atexit(write_sites);
}
#endif
