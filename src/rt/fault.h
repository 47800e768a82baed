/* SPDX-License-Identifier: MIT */
/* Fault injection points (the KM_FAULTS build): each point fails on demand, by kind or by site. */
#ifndef KM_RT_FAULT_H
#define KM_RT_FAULT_H

#include <stdbool.h>

/* Kinds of failure a point stands for; "alloc" in a spec names the first five. */
enum {
    KM__F_MALLOC, KM__F_CALLOC, KM__F_REALLOC, KM__F_STACK, KM__F_ARENA,
    KM__F_WRITE, KM__F_FSYNC, KM__F_SOCKWRITE, KM__F_COMMIT,
    KM__F_NKINDS
};

#ifdef KM_FAULTS
#include <stdatomic.h>

/* One point in the source; registered the first time it is reached. */
typedef struct km__fault_site {
    const char             *file;
    int                     line, kind;
    atomic_long             hits;
    atomic_int              state;      /* 0 new, 1 registering, 2 listed */
    struct km__fault_site  *next;
} km__fault_site;

/* Counts a hit of the site; true when this hit is to fail. */
bool km__fault_hit(km__fault_site *s);

/* True when this pass through the point is to fail. */
#define KM__FAULT(kind) __extension__ ({                                     \
        static km__fault_site km__fsite_ = { __FILE__, __LINE__, (kind), 0, 0, 0 }; \
        km__fault_hit(&km__fsite_); })

/* The in-process API (tests). A spec is "<target>:<n>[+]": the target is a
 * kind (malloc, calloc, realloc, stack, arena, write, fsync, sockwrite,
 * commit), "alloc" (any allocation kind), "any", or a site "file:line"; the
 * n-th hit of the target counted from arming fails, or with "+" every hit
 * from the n-th on. 0 or -EINVAL; arming replaces what was armed. */
int  km__fault_arm(const char *spec);
void km__fault_disarm(void);
/* Faults injected since the last arm. */
long km__fault_injected(void);
/* Hits of a target ("alloc", a kind or a site) since the process started. */
long km__fault_hits(const char *target);
/* The site of the last injected fault, or NULL. */
const km__fault_site *km__fault_last(void);
#else
#define KM__FAULT(kind) false
#endif

/* A socket write that may fail as a peer gone away would (-EPIPE). */
#define KM__FAULT_SOCKWRITE(call) (KM__FAULT(KM__F_SOCKWRITE) ? (ssize_t)-EPIPE : (call))

#endif
