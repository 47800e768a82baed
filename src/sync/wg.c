/* SPDX-License-Identifier: MIT */
/* km_wg: wait groups, one atomic word plus the parking lot. */
#include <kumo/sync.h>
#include "rt/wait.h"

/* state: counter in the high 32 bits, parked waiters in the low 32. Both in
 * one word so that the done() that reaches zero knows whether anyone must
 * be woken, and touches nothing but the parking lot when nobody waits. */
struct km_wg {
    atomic_ullong state;
};

#define COUNT(s)   ((int32_t)((s) >> 32))
#define WAITERS(s) ((uint32_t)(s))

int km_wg_new(km_wg **out)
{
    if (!out)
        return -EINVAL;
    km_wg *wg = km__calloc(1, sizeof *wg);
    if (!wg)
        return -ENOMEM;
    *out = wg;
    return 0;
}

void km_wg_free(km_wg *wg)
{
    km__free(wg);
}

static void reset_locked(void *ud)
{
    km_wg *wg = ud;
    unsigned long long s = atomic_load(&wg->state);
    if (COUNT(s) != 0)
        km__fatal("km_wg_add called concurrently with the last km_wg_done");
    atomic_store(&wg->state, 0);
}

void km_wg_add(km_wg *wg, int delta)
{
    unsigned long long s = atomic_fetch_add(&wg->state, (unsigned long long)(int64_t)delta << 32)
                           + ((unsigned long long)(int64_t)delta << 32);
    int32_t n = COUNT(s);
    if (n < 0)
        km__fatal("km_wg: negative counter (%d)", n);
    if (n > 0 || WAITERS(s) == 0)
        return;
    /* Counter hit zero with waiters: reset and wake them under the lot's
     * lock, which is also where waiters check the state. */
    km__lot_unpark_all(wg, reset_locked, wg);
}

void km_wg_done(km_wg *wg)
{
    km_wg_add(wg, -1);
}

static bool still_waiting(const void *addr, void *ud)
{
    (void)ud;
    const km_wg *wg = addr;
    unsigned long long s = atomic_load((atomic_ullong *)&wg->state);
    return WAITERS(s) != 0;   /* zero: the waking done() has reset it */
}

static void leave(void *ud)
{
    km_wg *wg = ud;
    atomic_fetch_sub(&wg->state, 1);
}

int km_wg_wait_dl(km_wg *wg, int64_t deadline)
{
    unsigned long long s = atomic_load(&wg->state);
    for (;;) {
        if (COUNT(s) == 0 && WAITERS(s) == 0)
            return 0;
        if (COUNT(s) == 0) {
            /* A done() is waking the others right now: wait for it to
             * finish, so that nobody frees the group under its feet. */
            int rc = km__lot_park(wg, still_waiting, NULL, wg, KM_FOREVER, false, "wait group");
            return rc > 0 ? 0 : rc;
        }
        if (km__expired(deadline))
            return -ETIMEDOUT;
        if (atomic_compare_exchange_weak(&wg->state, &s, s + 1))
            break;
    }
    int rc = km__lot_park(wg, still_waiting, leave, wg, deadline, true, "wait group");
    return rc > 0 ? 0 : rc;
}

int km_wg_wait(km_wg *wg)
{
    return km_wg_wait_dl(wg, KM_FOREVER);
}
