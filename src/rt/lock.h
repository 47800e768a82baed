/* SPDX-License-Identifier: MIT */
/* Short-critical-section spinlock used by the scheduler and every runtime object. */
#ifndef KM_RT_LOCK_H
#define KM_RT_LOCK_H

#include <sched.h>
#include <stdatomic.h>

/* Why not pthread_mutex: the sections it guards are a few dozen
 * instructions, and a goroutine must never sleep the thread inside them.
 * Test-and-test-and-set with a pause, then sched_yield so that an
 * oversubscribed process (more workers than cores) still makes progress
 * when the holder was descheduled. */
typedef struct { atomic_int v; } km__lock;
#define KM__LOCK_INIT { 0 }

static inline void km__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline void km__lock_acquire(km__lock *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&l->v, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
        if (spins < 64)
            km__cpu_relax();
        else
            sched_yield();
    }
}

static inline int km__lock_try(km__lock *l)
{
    return !atomic_load_explicit(&l->v, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->v, 1, memory_order_acquire);
}

static inline void km__lock_release(km__lock *l)
{
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

#endif
