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

#endif
