/* SPDX-License-Identifier: MIT */
/* Address parsing and name resolution for km_listen and km_dial. */
#include <kumo/net.h>
#include "addr.h"
#include "rt/rt-int.h"
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>


static int parse_port(const char *s, unsigned *port)
{
    if (!*s || strlen(s) > 5)
        return -EINVAL;
    unsigned v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *port = v;
    return 0;
}

static void add4(km__addrs *o, const struct in_addr *a, unsigned port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&o->ss[o->n];
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr = *a;
    o->len[o->n++] = sizeof *sin;
}

static void add6(km__addrs *o, const struct in6_addr *a, unsigned port)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&o->ss[o->n];
    memset(sin6, 0, sizeof *sin6);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons((uint16_t)port);
    sin6->sin6_addr = *a;
    o->len[o->n++] = sizeof *sin6;
}

typedef struct {
    const char      *host;
    struct addrinfo *res;
    int              rc;
} lookup;

static void do_lookup(void *arg)
{
    lookup *l = arg;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_ADDRCONFIG };
    l->rc = getaddrinfo(l->host, NULL, &hints, &l->res);
}

static int resolve_name(const char *host, unsigned port, km__addrs *o)
{
    lookup l = { host, NULL, 0 };
    /* Not cancellable: getaddrinfo writes into l until it returns. */
    int rc = km__blocking(do_lookup, &l, false);
    if (rc)
        return rc;
    if (l.rc)
        return l.rc == EAI_MEMORY ? -ENOMEM : l.rc == EAI_SYSTEM ? -EIO : -ENOENT;
    for (struct addrinfo *ai = l.res; ai && o->n < KM__MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET)
            add4(o, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, port);
        else if (ai->ai_family == AF_INET6)
            add6(o, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, port);
    }
    freeaddrinfo(l.res);
    return o->n ? 0 : -ENOENT;
}

int km__addr_resolve(const char *addr, bool passive, km__addrs *o)
{
    o->n = 0;
    if (!addr)
        return -EINVAL;
    if (!strncmp(addr, "unix:", 5)) {
        const char *path = addr + 5;
        struct sockaddr_un *sun = (struct sockaddr_un *)&o->ss[0];
        size_t len = strlen(path);
        if (len == 0)
            return -EINVAL;
        if (len >= sizeof sun->sun_path)
            return -ENAMETOOLONG;
        memset(sun, 0, sizeof *sun);
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, len);
        o->len[0] = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        o->n = 1;
        return 0;
    }
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -EINVAL;
    unsigned port;
    if (parse_port(colon + 1, &port))
        return -EINVAL;
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return -EINVAL;
    memcpy(host, addr, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host + 1, &a6) != 1)
            return -EINVAL;
        add6(o, &a6, port);
        return 0;
    }
    if (strchr(host, ':') || strchr(host, '[') || strchr(host, ']'))
        return -EINVAL;     /* a bare IPv6 address needs brackets */
    if (hl == 0) {
        if (passive) {
            add6(o, &in6addr_any, port);    /* dual stack, v4 fallback */
            struct in_addr any = { htonl(INADDR_ANY) };
            add4(o, &any, port);
        } else {
            struct in_addr lo = { htonl(INADDR_LOOPBACK) };
            add4(o, &lo, port);
        }
        return 0;
    }
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1) {
        add4(o, &a4, port);
        return 0;
    }
    for (const char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
            return -EINVAL;
    return resolve_name(host, port, o);
}
