/* SPDX-License-Identifier: MIT */
/* A bump allocator for one request or result: many small pieces, one free. */
#ifndef KUMO_STORE_ARENA_H
#define KUMO_STORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct km__arena km__arena;

/* A new empty arena (its first block is allocated lazily), or NULL. */
km__arena *km__arena_new(void);
/* n bytes aligned to 16, or NULL when memory runs out. */
void      *km__arena_alloc(km__arena *a, size_t n);
/* A copy of n bytes (n may be 0: returns a valid non-NULL pointer). */
void      *km__arena_dup(km__arena *a, const void *p, size_t n);
/* Frees every block; a NULL arena is ignored. */
void       km__arena_free(km__arena *a);

/* In the fault build each piece taken is a point of its call site. */
#include "rt/fault.h"
#ifdef KM_FAULTS
#define km__arena_alloc(a, n)  (KM__FAULT(KM__F_ARENA) ? NULL : (km__arena_alloc)(a, n))
#define km__arena_dup(a, p, n) (KM__FAULT(KM__F_ARENA) ? NULL : (km__arena_dup)(a, p, n))
#endif

#endif
