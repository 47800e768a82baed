/* SPDX-License-Identifier: MIT */
/* The allocator hook (km_set_allocator) for modules that need nothing else of the runtime's internals. */
#ifndef KM_RT_ALLOC_H
#define KM_RT_ALLOC_H

#include <stddef.h>

void *km__malloc(size_t n);
void *km__calloc(size_t n, size_t sz);
void  km__free(void *p);
/* A copy of the string s through the hook, or NULL. */
char *km__strdup(const char *s);

/* In the fault build every allocation is a point of its own call site. */
#include "rt/fault.h"
#ifdef KM_FAULTS
#define km__malloc(n)     (KM__FAULT(KM__F_MALLOC) ? NULL : (km__malloc)(n))
#define km__calloc(n, sz) (KM__FAULT(KM__F_CALLOC) ? NULL : (km__calloc)(n, sz))
#define km__strdup(s)     (KM__FAULT(KM__F_MALLOC) ? NULL : (km__strdup)(s))
#endif

#endif
