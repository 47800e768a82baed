/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the client's streamed response reader (watch
 * streams, error answers): head, chunked or sized body, lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "client/json-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km__stream s = { .fd = -1, .mem = (const char *)data, .memn = size, .max_body = 1024 };
    int rc = km__stream_begin(&s, 0);
    size_t lines = 0, delivered = 0;
    if (rc == 0) {
        if (s.status != 200)
            abort();
        char *l;
        size_t n;
        while ((rc = km__stream_line(&s, 0, &l, &n)) == 0) {
            if (memchr(l, '\n', n) || l[n] != 0 || n > s.max_body)
                abort();
            delivered += n + 1;
            if (++lines > size || delivered > size)
                abort();            /* more out than came in */
        }
        if (rc != -ECONNRESET && rc != -EBADMSG && rc != -EMSGSIZE)
            abort();
        /* Once failed or ended, it stays so. */
        if (km__stream_line(&s, 0, &l, &n) == 0 && rc == -ECONNRESET)
            abort();
    } else if (rc > 0) {
        abort();
    }
    km__stream_close(&s);
    return 0;
}
