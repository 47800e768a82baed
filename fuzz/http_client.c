/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what the HTTP client parses: URLs and response heads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;

    km_str host, path;
    int port;
    if (km_http_url_parse(buf, &host, &port, &path) == 0) {
        if (port < 1 || port > 65535 || host.n == 0 || path.n == 0 ||
            host.p < buf || host.p + host.n > buf + size)
            abort();
    }

    km__hdr hdrs[16];
    km__resp_head h;
    size_t scanned = 0;
    int rc = km__http_parse_resp_head(buf, size, &scanned, &h, hdrs, 16, 4096);
    if (rc > 0) {
        if ((size_t)rc > size || h.status < 100 || h.status > 999 || h.nhdrs > 16)
            abort();
        if (h.chunked && h.content_length >= 0)
            abort();
    }
    free(buf);
    return 0;
}
