/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the RESP2/RESP3 reply parser: whole and piecewise feeding must agree, trees must be well formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "redis/resp.h"

static void walk(const km_redis_reply *r, int depth)
{
    if (!r || depth > KM__RESP_DEPTH_MAX || r->type < KM_REDIS_STATUS || r->type > KM_REDIS_PUSH)
        abort();
    if (r->str && r->str[r->len] != '\0')
        abort();
    if (r->elem)
        for (size_t i = 0; i < r->len; i++)
            walk(r->elem[i], depth + 1);
}

/* Parses every reply of data[0..size) feeding it in pieces of step bytes;
 * returns the count of replies and the final rc. */
static int run(const uint8_t *data, size_t size, const km_redis_limits *lim, size_t step,
               size_t *nreplies, size_t *consumed)
{
    km__resp p;
    km__resp_init(&p, lim);
    size_t start = 0, have = 0;
    *nreplies = 0;
    int rc = 0;
    while (start < size) {
        have = have + step > size ? size : have + step;
        km_redis_reply *r;
        size_t used = 0;
        rc = km__resp_feed(&p, (const char *)data + start, have - start, &r, &used);
        if (rc < 0)
            break;
        if (rc == 1) {
            if (used == 0 || start + used > have)
                abort();
            walk(r, 0);
            km_redis_reply_free(r);
            start += used;
            ++*nreplies;
            if (have < start)
                have = start;
            continue;   /* the same bytes may hold the next reply */
        }
        if (have == size)
            break;
    }
    *consumed = start;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* small limits, so the fuzzer reaches them */
    km_redis_limits lim = { .max_bulk = 1024, .max_elems = 64, .max_line = 256, .max_depth = 8 };
    size_t n1, c1, n2, c2;
    int r1 = run(data, size, &lim, size ? size : 1, &n1, &c1);
    int r2 = run(data, size, &lim, size ? 1 + data[0] % 7 : 1, &n2, &c2);
    if (r1 != r2 || n1 != n2 || c1 != c2)
        abort();
    return 0;
}
