/* SPDX-License-Identifier: MIT */
/* TLS for kumo's servers (OpenSSL 3): a certificate and key loaded from PEM
 * files, optionally a CA that client certificates must chain to, and
 * reloading them without dropping connections. Records are encrypted and
 * decrypted inside the runtime: sockets stay on the netpoller, no worker
 * ever blocks in OpenSSL waiting for the network. */
#ifndef KUMO_TLS_H
#define KUMO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The settings, named as etcd's flags. TLS 1.2 at least (1.3 preferred),
 * ECDHE with AES-GCM or ChaCha20-Poly1305 only, no renegotiation,
 * ALPN "h2" and "http/1.1". */
typedef struct {
    const char *cert_file;          /* PEM certificate (chain first the leaf) */
    const char *key_file;           /* PEM private key for it */
    const char *trusted_ca_file;    /* PEM CAs client certificates must chain to */
    bool        client_cert_auth;   /* require a client certificate that does */
} km_tls_config;

typedef struct km_tls km_tls;

/* A server context from cfg. 0; -EINVAL with the reason in err (errlen
 * bytes, NUL-terminated) when a file is missing or unreadable, the key
 * does not match the certificate, or client_cert_auth lacks a CA; -ENOMEM. */
int  km_tls_server_new(km_tls **out, const km_tls_config *cfg, char *err, size_t errlen);
/* A client context: servers are verified against cfg->trusted_ca_file
 * (NULL: the system's CAs) and must be named by their certificate;
 * cert_file and key_file, when given, are the client certificate shown to
 * a server that asks; client_cert_auth is ignored. ALPN offers what the
 * connection speaks: "h2" (gRPC, HTTP/2) or "http/1.1".
 * Errors as km_tls_server_new. */
int  km_tls_client_new(km_tls **out, const km_tls_config *cfg, char *err, size_t errlen);
/* Loads the files again (a renewed certificate): connections accepted from
 * now on use them, open ones keep theirs. On failure the old ones stay and
 * err says why; as km_tls_server_new. Safe while connections are accepted. */
int  km_tls_reload(km_tls *t, char *err, size_t errlen);
/* Frees t; connections still using it keep what they need. */
void km_tls_free(km_tls *t);

#ifdef __cplusplus
}
#endif
#endif
