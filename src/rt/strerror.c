/* SPDX-License-Identifier: MIT */
/* km_strerror: the name and meaning of an error code. */
#include "rt-int.h"
#include <stdio.h>
#include <string.h>

#define MAXERR 160

/* One string per code, built once: the result stays valid and distinct
 * for the life of the process, whatever other calls come later. */
static char table[MAXERR][96];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build(void)
{
    snprintf(table[0], sizeof table[0], "OK: success");
    for (int e = 1; e < MAXERR; e++) {
        const char *name = strerrorname_np(e);
        if (name)
            snprintf(table[e], sizeof table[e], "%s: %s", name, strerrordesc_np(e));
        else
            snprintf(table[e], sizeof table[e], "unknown error %d", e);
    }
}

const char *km_strerror(int err)
{
    pthread_once(&once, build);
    if (err < 0)
        err = err == INT32_MIN ? MAXERR : -err;
    return err < MAXERR ? table[err] : "unknown error";
}
