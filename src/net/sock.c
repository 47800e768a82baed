/* SPDX-License-Identifier: MIT */
/* Sockets on the netpoller: listen, accept, dial, read, write, close. */
#include <kumo/net.h>
#include "addr.h"
#include "rt/rt-int.h"

void km__fd_created_nonblocking(int fd);
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void tune(int fd, int family)
{
    if (family == AF_INET || family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

static int listen_one(const struct sockaddr *sa, socklen_t len, int backlog, unsigned flags)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, zero = 0;
    if (sa->sa_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (flags & KM_LISTEN_REUSEPORT)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if ((flags & KM_LISTEN_DEFER_ACCEPT) && sa->sa_family != AF_UNIX) {
        int secs = KM_LISTEN_DEFER_SECS;
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    }
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    /* Accepted sockets inherit TCP_NODELAY from the listener on Linux, so
     * km_accept needs no extra system calls for it. */
    tune(fd, sa->sa_family);
    if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    km__fd_created_nonblocking(fd);
    return fd;
}

int km_listen_ex(const char *addr, int backlog, unsigned flags)
{
    km__addrs as;
    int rc = km__addr_resolve(addr, true, &as);
    if (rc)
        return rc;
    if (backlog <= 0)
        backlog = SOMAXCONN;
    for (int i = 0; i < as.n; i++) {
        rc = listen_one((struct sockaddr *)&as.ss[i], as.len[i], backlog, flags);
        if (rc >= 0)
            return rc;
    }
    return rc;
}

int km_listen(const char *addr, int backlog)
{
    return km_listen_ex(addr, backlog, 0);
}

int km_accept(int lfd, int64_t deadline)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            km__fd_created_nonblocking(fd);
            return fd;      /* TCP_NODELAY: inherited from the listener */
        }
        switch (errno) {
        case EINTR:
        case ECONNABORTED:      /* the peer gave up before we took it */
            continue;
        case EAGAIN: {
            int rc = km_fd_wait(lfd, KM_FD_READ, deadline);
            if (rc)
                return rc;
            continue;
        }
        default:
            return -errno;
        }
    }
}

static int dial_one(const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    km__fd_created_nonblocking(fd);
    tune(fd, sa->sa_family);
    int rc = 0;
    if (connect(fd, sa, len) < 0) {
        if (errno == EINPROGRESS) {
            rc = km_fd_wait(fd, KM_FD_WRITE, deadline);
            if (rc == 0) {
                int err = 0;
                socklen_t el = sizeof err;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                    err = errno;
                rc = -err;
            }
        } else {
            rc = -errno;
        }
    }
    if (rc) {
        km_close(fd);
        return rc;
    }
    return fd;
}

int km_dial(const char *addr, int64_t deadline)
{
    km__addrs as;
    int rc = km__addr_resolve(addr, false, &as);
    if (rc)
        return rc;
    /* Several addresses (a name with v6 and v4): try them in turn. */
    for (int i = 0; i < as.n; i++) {
        rc = dial_one((struct sockaddr *)&as.ss[i], as.len[i], deadline);
        if (rc >= 0 || rc == -ETIMEDOUT || rc == -ECANCELED)
            return rc;
    }
    return rc;
}

ssize_t km_read(int fd, void *buf, size_t n, int64_t deadline)
{
    for (;;) {
        ssize_t r = read(fd, buf, n);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int rc = km_fd_wait(fd, KM_FD_READ, deadline);
        if (rc)
            return rc;
    }
}

ssize_t km_write(int fd, const void *buf, size_t n, int64_t deadline)
{
    const char *p = buf;
    size_t done = 0;
    bool sock = true;
    if (KM__FAULT(KM__F_SOCKWRITE))
        return -EPIPE;
    while (done < n) {
        ssize_t w = sock ? send(fd, p + done, n - done, MSG_NOSIGNAL)
                         : write(fd, p + done, n - done);
        if (w >= 0) {
            done += (size_t)w;
            continue;
        }
        if (errno == ENOTSOCK && sock) {
            sock = false;       /* a pipe or a tty */
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int rc = km_fd_wait(fd, KM_FD_WRITE, deadline);
        if (rc)
            return rc;
    }
    return (ssize_t)n;
}

int km_shutdown(int fd, int how)
{
    return shutdown(fd, how) ? -errno : 0;
}

int km_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}
