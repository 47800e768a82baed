/* SPDX-License-Identifier: MIT */
/* Slow work (password hashing, JWT signing, the state file's fsync) moved
 * off the worker threads. Not cancellable: the work is bounded (a fraction
 * of a second) and its arguments live on the caller's stack, which must
 * not go away while a helper thread still uses them. */
#include <errno.h>
#include "auth/auth-int.h"
#include "rt/rt-int.h"

int km__auth_offload(km_fn *fn, void *arg)
{
    int rc = km__blocking(fn, arg, false);
    if (rc == -ESRCH) {         /* outside the runtime: here */
        fn(arg);
        rc = 0;
    }
    return rc;
}
