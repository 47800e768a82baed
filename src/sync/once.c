/* SPDX-License-Identifier: MIT */
/* km_once_do: run a function exactly once, latecomers park until it is done. */
#include <kumo/sync.h>
#include "rt/wait.h"

enum { RUNNING = 1, WAITING = 2, DONE = 4 };

static bool not_done(const void *addr, void *ud)
{
    (void)ud;
    return !(__atomic_load_n(&((const km_once *)addr)->state, __ATOMIC_ACQUIRE) & DONE);
}

void km_once_do(km_once *o, km_fn *fn, void *arg)
{
    int s = __atomic_load_n(&o->state, __ATOMIC_ACQUIRE);
    while (!(s & DONE)) {
        if (s == 0) {
            if (__atomic_compare_exchange_n(&o->state, &s, RUNNING, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                fn(arg);
                int old = __atomic_exchange_n(&o->state, DONE, __ATOMIC_ACQ_REL);
                if (old & WAITING)
                    km__lot_unpark_all(o, NULL, NULL);
                return;
            }
            continue;
        }
        if (!(s & WAITING) &&
            !__atomic_compare_exchange_n(&o->state, &s, s | WAITING, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            continue;
        if (km__curg())
            km__lot_park(o, not_done, NULL, NULL, KM_FOREVER, false, "once");
        else
            sched_yield();  /* a plain thread cannot park: poll */
        s = __atomic_load_n(&o->state, __ATOMIC_ACQUIRE);
    }
}
