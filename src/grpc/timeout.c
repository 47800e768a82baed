/* SPDX-License-Identifier: MIT */
/* grpc-timeout: how long the caller waits, as at most eight digits and a unit. */
#include "grpc/wire-int.h"

#define MAX_DIGITS 8
#define MAX_VALUE  99999999LL

/* Finest first: the formatter takes the first unit the value fits. */
static const struct { char unit; int64_t ns; } units[] = {
    { 'n', 1 }, { 'u', 1000 }, { 'm', 1000000 }, { 'S', 1000000000 },
    { 'M', 60 * 1000000000LL }, { 'H', 3600 * 1000000000LL },
};
#define NUNITS (sizeof units / sizeof *units)

int km__grpc_timeout_parse(const char *s, size_t n, int64_t *ns)
{
    if (!s || n < 2 || n > MAX_DIGITS + 1)
        return -EINVAL;
    int64_t v = 0;
    for (size_t i = 0; i < n - 1; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    for (size_t u = 0; u < NUNITS; u++) {
        if (s[n - 1] != units[u].unit)
            continue;
        /* Eight digits of hours is past what int64 nanoseconds hold
         * (about 292 years): that is "no deadline" in practice. */
        *ns = v > INT64_MAX / units[u].ns ? INT64_MAX : v * units[u].ns;
        return 0;
    }
    return -EINVAL;
}

size_t km__grpc_timeout_format(int64_t ns, char out[KM__GRPC_TIMEOUT_MAX])
{
    if (ns <= 0)
        ns = 0;
    for (size_t u = 0; u < NUNITS; u++) {
        /* Rounded up: a caller is never told it has less time than it does. */
        int64_t v = ns / units[u].ns + (ns % units[u].ns != 0);
        if (v <= MAX_VALUE) {
            size_t n = km__grpc_utoa(out, (uint64_t)v);
            out[n++] = units[u].unit;
            out[n] = 0;
            return n;
        }
    }
    size_t n = km__grpc_utoa(out, MAX_VALUE);
    out[n++] = 'H';
    out[n] = 0;
    return n;
}
