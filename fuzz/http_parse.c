/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the HTTP/1.1 request-head parser and chunked decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy: the decoder works in place */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    km__hdr hdrs[32];
    km__head h;
    size_t scanned = 0;
    /* feed it in two pieces, as a slow client would */
    size_t cut = size ? data[0] % (size + 1) : 0;
    int rc = km__http_parse_head(buf, cut, &scanned, &h, hdrs, 32, 4096);
    if (rc == 0)
        rc = km__http_parse_head(buf, size, &scanned, &h, hdrs, 32, 4096);
    if (rc > 0) {
        if ((size_t)rc > size || h.nhdrs > 32 || h.method.n == 0 || h.target.n == 0)
            abort();
        if (h.chunked && h.content_length >= 0)
            abort();    /* the parser must reject both framings */
        if (h.chunked) {
            km__chunked d = { .rpos = (size_t)rc, .wpos = (size_t)rc };
            int c = km__chunked_decode(&d, buf, size, 1 << 20);
            if (c == 1 && (d.wpos > d.rpos || d.rpos > size))
                abort();
        }
    }
    free(buf);
    return 0;
}
