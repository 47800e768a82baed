/* SPDX-License-Identifier: MIT */
/* Sockets that park the goroutine, never the thread; fd readiness for others. */
#ifndef KUMO_NET_H
#define KUMO_NET_H

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Addresses: "127.0.0.1:8080", "[::1]:0", ":8080" (every IPv4 and IPv6
 * interface), "localhost:2379" (names are resolved on the offload pool, never
 * on a worker), "unix:/path/to/socket". Port 0 picks a free port
 * (km_local_port tells which).
 *
 * Every fd returned is non-blocking and close-on-exec; TCP sockets have
 * TCP_NODELAY. Errors are negative errno values (-ECONNREFUSED,
 * -ECONNRESET, -EPIPE, -ETIMEDOUT, -ECANCELED, -EBADF when the fd was
 * closed while waiting, -EINVAL for a bad address); SIGPIPE never kills the
 * process. An expired deadline leaves the socket usable. */

/* Listens on addr with SO_REUSEADDR. Returns the listening fd or -errno. */
int km_listen(const char *addr, int backlog);
#define KM_LISTEN_REUSEPORT 1u  /* several listeners share a port */
/* TCP: a connection is handed to km_accept once its first bytes have come
 * (or after about KM_LISTEN_DEFER_SECS without any), so a server whose
 * clients speak first reads the request without waiting for it. */
#define KM_LISTEN_DEFER_ACCEPT 2u
#define KM_LISTEN_DEFER_SECS   5
int km_listen_ex(const char *addr, int backlog, unsigned flags);

/* Accepts one connection: its fd, or -errno. */
int km_accept(int lfd, int64_t deadline);

/* Connects to addr: the connected fd, or -errno. */
int km_dial(const char *addr, int64_t deadline);

/* Reads up to n bytes: the count (0 at end of stream), or -errno. */
ssize_t km_read(int fd, void *buf, size_t n, int64_t deadline);

/* Writes all n bytes and returns n, or fails with -errno (then an unknown
 * prefix may have been sent: the connection should be closed). */
ssize_t km_write(int fd, const void *buf, size_t n, int64_t deadline);

/* Half-close: how is SHUT_RD, SHUT_WR or SHUT_RDWR. 0 or -errno. */
int km_shutdown(int fd, int how);

/* Closes fd. Goroutines parked on it wake with -EBADF. 0 or -errno. */
int km_close(int fd);

/* Port the socket is bound to (host order), or -errno. */
int km_local_port(int fd);

/* Waits until fd is readable (KM_FD_READ) and/or writable (KM_FD_WRITE),
 * for driving third-party non-blocking code from goroutines. Returns 0
 * when it may be (edge-triggered: retry the operation, and wait again on
 * EAGAIN), -ETIMEDOUT, -ECANCELED, -EBADF. Makes fd non-blocking. Close
 * such an fd with km_close, not close(2): the poller remembers fds it has
 * registered, and a new file given the same number would never be
 * registered, so its waits would never wake. */
enum { KM_FD_READ = 1, KM_FD_WRITE = 2 };
int km_fd_wait(int fd, int events, int64_t deadline);

/* Runs fn(arg) on a bounded pool of helper threads (KM_BLOCKING_THREADS,
 * default 64) and parks the caller until it returned: for file I/O, fsync,
 * getaddrinfo and third-party blocking libraries. 0 once fn returned;
 * -ECANCELED if the caller's group was cancelled first: then fn either never
 * started (and never will) or is still running, and arg must stay valid
 * until it returns; -ENOMEM; -EAGAIN when no helper thread runs yet and
 * none can be started (out of memory or threads); -ESRCH outside the
 * runtime. */
int km_blocking(km_fn *fn, void *arg);

/* File helpers on the offload pool. Return what the system call returns,
 * or -errno. km_file_write writes all n bytes (or fails). off < 0: use and
 * advance the file position. */
int     km_file_open(const char *path, int flags, int mode);
ssize_t km_file_read(int fd, void *buf, size_t n, off_t off);
ssize_t km_file_write(int fd, const void *buf, size_t n, off_t off);
int     km_file_fsync(int fd);
int     km_file_close(int fd);

#ifdef __cplusplus
}
#endif
#endif
