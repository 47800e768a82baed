/* SPDX-License-Identifier: MIT */
/* Status codes by name (grpc/doc/statuscodes.md), both ways. */
#include <string.h>
#include <kumo/grpc.h>

static const char *const names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
};
#define NCODES (int)(sizeof names / sizeof *names)

const char *km_grpc_code_name(int code)
{
    return code >= 0 && code < NCODES ? names[code] : "";
}

int km_grpc_code_parse(const char *name, size_t n)
{
    if (!name)
        return -EINVAL;
    for (int i = 0; i < NCODES; i++)
        if (strlen(names[i]) == n && !memcmp(names[i], name, n))
            return i;
    return -EINVAL;
}
