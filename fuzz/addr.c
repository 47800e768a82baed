/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the socket address parser (km_listen/km_dial syntax). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "net/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    km__addrs out;
    /* Outside a running runtime, names are not looked up (-ESRCH): the
     * parser itself is what is exercised. */
    int rc = km__addr_resolve(s, size & 1, &out);
    if (rc == 0 && (out.n < 1 || out.n > KM__MAX_ADDRS))
        abort();
    free(s);
    return 0;
}
