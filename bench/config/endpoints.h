/* SPDX-License-Identifier: MIT */
/* The load programs' endpoint lists: "HOST:PORT,HOST:PORT,..." spreads
 * their connections over several servers, connection i to entry i mod n. */
#ifndef KUMO_BENCH_ENDPOINTS_H
#define KUMO_BENCH_ENDPOINTS_H

#include <stdlib.h>
#include <string.h>

/* Entry i mod n of list, as a new string (never freed: a program's few). */
static inline char *bench_endpoint(const char *list, int i)
{
    int n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    const char *p = list;
    for (int k = i % n; k > 0; k--)
        p = strchr(p, ',') + 1;
    size_t len = strcspn(p, ",");
    char *e = malloc(len + 1);
    if (!e)
        exit(1);
    memcpy(e, p, len);
    e[len] = '\0';
    return e;
}

#endif
