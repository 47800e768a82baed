/* SPDX-License-Identifier: MIT */
/* TLS connections over the netpoller (conn.c) and the server context they
 * come from (ctx.c). */
#ifndef KUMO_TLS_INT_H
#define KUMO_TLS_INT_H

#include <stdbool.h>
#include <kumo/net.h>
#include <kumo/tls.h>
#include <sys/types.h>

/* OpenSSL's SSL, named without its headers: the HTTP layer includes this
 * file and builds without them (the AArch64 smoke build). */
struct ssl_st;

/* A new SSL for an accepted connection, from t's current context. NULL: no memory. */
struct ssl_st *km__tls_ssl_new(km_tls *t);

typedef struct km__tls_conn km__tls_conn;

/* Runs the server handshake on the connected socket fd until deadline.
 * 0 and *out; -EKEYREJECTED (a certificate was refused: the peer's by
 * verification, or ours by the peer's alert), -EPROTO (the peer speaks no
 * TLS, or nothing both accept), -ECONNRESET, -ETIMEDOUT, -ECANCELED,
 * -ENOMEM. fd stays the caller's to close. Reads fail the same way. */
int     km__tls_accept(km_tls *t, int fd, int64_t deadline, km__tls_conn **out);
/* The client handshake on the connected socket fd: the server must
 * present a certificate for server_name (a host name, also sent as SNI,
 * or an IP address) that t's CAs trust; ALPN offers h2 or http/1.1.
 * Errors as km__tls_accept. */
int     km__tls_connect(km_tls *t, int fd, const char *server_name, bool h2, int64_t deadline,
                        km__tls_conn **out);
/* As km_read and km_write, over TLS. One goroutine may read while another
 * writes. Writes go out as whole records; 0 from a read is the peer's
 * close_notify or end of stream. */
ssize_t km__tls_read(km__tls_conn *c, void *buf, size_t n, int64_t deadline);
ssize_t km__tls_write(km__tls_conn *c, const void *buf, size_t n, int64_t deadline);
/* Whether a read may return without the socket becoming readable (bytes
 * already received and not yet handed out). */
bool    km__tls_pending(km__tls_conn *c);
/* The protocol ALPN chose ("h2", "http/1.1"), n 0 when none. */
const char *km__tls_alpn(km__tls_conn *c, size_t *n);
/* The verified client certificate's common name into buf (NUL-terminated);
 * -ENOENT when there is none. */
int     km__tls_peer_cn(km__tls_conn *c, char *buf, size_t n);
/* Sends close_notify (best effort, until deadline): the peer then knows
 * the stream ended here and was not cut, and a client keeps its session
 * for resumption. Call once no read or write is in progress; NULL is
 * ignored. */
void    km__tls_close_notify(km__tls_conn *c, int64_t deadline);
/* Frees c (without close_notify: the caller closes the socket). */
void    km__tls_free(km__tls_conn *c);

/* Reads and writes over plain sockets or TLS (t NULL: plain). */
static inline ssize_t km__io_read(int fd, km__tls_conn *t, void *buf, size_t n, int64_t dl)
{
    return t ? km__tls_read(t, buf, n, dl) : km_read(fd, buf, n, dl);
}
static inline ssize_t km__io_write(int fd, km__tls_conn *t, const void *buf, size_t n, int64_t dl)
{
    return t ? km__tls_write(t, buf, n, dl) : km_write(fd, buf, n, dl);
}
/* km_fd_wait for reading, unless TLS holds bytes to read already. */
static inline int km__io_wait_read(int fd, km__tls_conn *t, int64_t dl)
{
    return t && km__tls_pending(t) ? 0 : km_fd_wait(fd, KM_FD_READ, dl);
}

#endif
