/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the native API's URL handling: query parameters,
 * percent-decoding, prefix ends and integers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "serve/native-int.h"

static int cmp(km_bytes a, km_bytes b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    km__arena *a = km__arena_new();
    if (!a)
        return 0;
    km_str q = { (const char *)data, size };
    static const char *names[] = { "prefix", "rev", "key", "lease", "prev_kv" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        km_bytes v;
        int bad = 0;
        if (km__query_get(q, names[i], a, &v, &bad)) {
            if (bad || v.n > size)
                abort();
            int64_t x;
            km__parse_i64(v, &x);
            /* every key under the prefix sorts before its end */
            km_bytes end;
            if (km__prefix_end(v, a, &end) < 0)
                abort();
            if (!(end.n == 1 && end.p[0] == 0) && cmp(v, end) >= 0)
                abort();
        }
    }
    km_bytes whole;
    if (km__pct_decode(q, a, &whole) == 0 && whole.n > size)
        abort();
    km__arena_free(a);
    return 0;
}
