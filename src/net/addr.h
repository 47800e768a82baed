/* SPDX-License-Identifier: MIT */
/* Parsing "host:port", "[v6]:port", ":port" and "unix:/path" addresses. */
#ifndef KM_NET_ADDR_H
#define KM_NET_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#define KM__MAX_ADDRS 8

typedef struct {
    struct sockaddr_storage ss[KM__MAX_ADDRS];
    socklen_t               len[KM__MAX_ADDRS];
    int                     n;
} km__addrs;

/* Resolves addr into one or more socket addresses (names through
 * getaddrinfo on the offload pool). passive: an empty host means every
 * interface. 0, -EINVAL for a malformed address, -ENOENT for an unknown
 * name, -ENAMETOOLONG for a long unix path. */
int km__addr_resolve(const char *addr, bool passive, km__addrs *out);

#endif
