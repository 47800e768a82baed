/* SPDX-License-Identifier: MIT */
/* Why kumo's jansson allocator ends the process on failure (src/rt/alloc.c):
 * jansson 2.14 (Debian 12) does not survive a failed allocation. This fails
 * the k-th allocation of json_loads and json_dumps for every k and checks
 * that each call either fails or gives the document back unchanged.
 *   cc -fsanitize=address bench/jansson/alloc_failure.c -ljansson && ./a.out
 * On Debian 12 ASan stops it with a SEGV inside json_loads (an invalid
 * size reaches malloc without ASan). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long fail_at = -1;

static void *counted(size_t n)
{
    if (fail_at == 0) {
        fail_at = -1;
        return NULL;
    }
    if (fail_at > 0)
        fail_at--;
    return malloc(n);
}

int main(void)
{
    /* a document like a namespace's: many items, one long value */
    char doc[8192];
    size_t n = (size_t)snprintf(doc, sizeof doc, "{\"author\":\"alice\",\"items\":{");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(doc + n, sizeof doc - n, "%s\"k%d\":\"%.*s\"", i ? "," : "", i, i,
                              "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    snprintf(doc + n, sizeof doc - n, "},\"x\":\"%0*d\"}", 3000, 0);
    json_set_alloc_funcs(counted, free);
    json_error_t e;
    json_t *ref = json_loads(doc, 0, &e);
    int bad = 0;
    for (long k = 0; k < 400; k++) {
        fail_at = k;
        json_t *v = json_loads(doc, 0, &e);
        fail_at = -1;
        if (v && !json_equal(v, ref))
            printf("json_loads, allocation %ld failed: a different document\n", k), bad++;
        json_decref(v);
        fail_at = k;
        char *s = json_dumps(ref, JSON_COMPACT);
        fail_at = -1;
        json_t *w = s ? json_loads(s, 0, &e) : NULL;
        if (s && (!w || !json_equal(w, ref)))
            printf("json_dumps, allocation %ld failed: damaged output\n", k), bad++;
        json_decref(w);
        free(s);
    }
    printf("%d wrong results\n", bad);
    return bad != 0;
}
