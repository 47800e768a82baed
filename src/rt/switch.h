/* SPDX-License-Identifier: MIT */
/* Context switch wrapped with the sanitizer and Valgrind fiber annotations. */
#ifndef KM_RT_SWITCH_H
#define KM_RT_SWITCH_H

#include "rt-int.h"
#ifdef KM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef KM_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Switches from the running context to `to`, whose stack is [lo, lo+size)
 * and whose TSan fiber is fiber. exiting: the current stack is never resumed
 * (ASan then frees its fake-stack frames). Returns when switched back. */
static inline void km__switch(km__ctx *from, km__ctx *to, const void *lo,
                              size_t size, void *fiber, bool exiting)
{
#ifdef KM_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(exiting ? NULL : &fake, lo, size);
#else
    (void)lo; (void)size; (void)exiting;
#endif
#ifdef KM_TSAN
    __tsan_switch_to_fiber(fiber, 0);
#else
    (void)fiber;
#endif
    km__ctx_swap(from, to);
#ifdef KM_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* First thing a new context does, before any other code on its stack. */
static inline void km__switch_entered(void)
{
#ifdef KM_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif
