/* SPDX-License-Identifier: MIT */
/* km_strerror: the name and meaning of an error code. */
#include "rt-int.h"
#include <stdio.h>
#include <string.h>

const char *km_strerror(int err)
{
    static _Thread_local char buf[96];
    if (err < 0)
        err = -err;
    if (err == 0)
        return "OK: success";
    const char *name = strerrorname_np(err);
    char msg[64];
    snprintf(buf, sizeof buf, "%s: %s", name ? name : "E?", strerror_r(err, msg, sizeof msg));
    return buf;
}
