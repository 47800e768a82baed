/* SPDX-License-Identifier: MIT */
/* The server context: OpenSSL's SSL_CTX built from the configured files,
 * replaced whole on reload (an SSL holds a reference to the context it
 * came from, so connections keep theirs). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "rt/alloc.h"
#include "tls/tls-int.h"

struct km_tls {
    km_tls_config   cfg;            /* its strings are copies */
    bool            client;
    pthread_mutex_t mu;             /* ctx, taken and swapped */
    SSL_CTX        *ctx;
};

/* TLS 1.2's suites: forward secrecy and AEAD only (TLS 1.3's are all such). */
static const char ciphers12[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/* ALPN: h2 when the client offers it, else http/1.1; a client offering
 * neither gets no ALPN answer and HTTP/1.1 (as curl without ALPN). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl; (void)arg;
    static const unsigned char ours[] = "\x02h2\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* What OpenSSL said last, after what, into err. */
static int fail(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_peek_last_error();
    char why[256] = "";
    if (e)
        ERR_error_string_n(e, why, sizeof why);
    ERR_clear_error();
    if (err && errlen)
        snprintf(err, errlen, "%s%s%s%s%s%s", what, file ? " (" : "", file ? file : "",
                 file ? ")" : "", why[0] ? ": " : "", why);
    return -EINVAL;
}

/* What both roles share: TLS 1.2 at least, AEAD suites, no renegotiation
 * or compression, record buffers given back while idle. NULL: no memory. */
static SSL_CTX *base(const SSL_METHOD *m)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (!SSL_CTX_set_cipher_list(ctx, ciphers12)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Loads cfg's certificate and key into ctx. 0 or -EINVAL and err. */
static int use_pair(SSL_CTX *ctx, const km_tls_config *cfg, char *err, size_t errlen)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1)
        return fail(err, errlen, "cannot load the certificate", cfg->cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1)
        return fail(err, errlen,
                    ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
                    ? "the private key does not match the certificate"
                    : "cannot load the private key", cfg->key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail(err, errlen, "the private key does not match the certificate", cfg->key_file);
    return 0;
}

/* A client's context: the server verified, a certificate shown if given. */
static int build_client(const km_tls_config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->cert_file != !cfg->key_file)
        return fail(err, errlen, "a client certificate needs both a certificate and a key file",
                    NULL);
    SSL_CTX *ctx = base(TLS_client_method());
    if (!ctx)
        return -ENOMEM;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int rc = 0;
    if (cfg->trusted_ca_file
        ? SSL_CTX_load_verify_locations(ctx, cfg->trusted_ca_file, NULL) != 1
        : SSL_CTX_set_default_verify_paths(ctx) != 1)
        rc = fail(err, errlen, "cannot load the trusted CA file", cfg->trusted_ca_file);
    else if (cfg->cert_file)
        rc = use_pair(ctx, cfg, err, errlen);
    if (rc) {
        SSL_CTX_free(ctx);
        return rc;
    }
    ERR_clear_error();
    *out = ctx;
    return 0;
}

/* A server's context. */
static int build(const km_tls_config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->cert_file || !cfg->key_file)
        return fail(err, errlen, "TLS needs both a certificate and a key file", NULL);
    if (cfg->client_cert_auth && !cfg->trusted_ca_file)
        return fail(err, errlen, "client certificate authentication needs a trusted CA file",
                    NULL);
    SSL_CTX *ctx = base(TLS_server_method());
    if (!ctx)
        return -ENOMEM;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    int rc = use_pair(ctx, cfg, err, errlen);
    if (!rc && cfg->trusted_ca_file &&
        SSL_CTX_load_verify_locations(ctx, cfg->trusted_ca_file, NULL) != 1)
        rc = fail(err, errlen, "cannot load the trusted CA file", cfg->trusted_ca_file);
    if (rc) {
        SSL_CTX_free(ctx);
        return rc;
    }
    if (cfg->client_cert_auth) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* The CAs a client may pick its certificate by. */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->trusted_ca_file);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    ERR_clear_error();
    *out = ctx;
    return 0;
}

static char *dup_or_null(const char *s, bool *nomem)
{
    if (!s)
        return NULL;
    char *d = km__strdup(s);
    if (!d)
        *nomem = true;
    return d;
}

static int ctx_new(km_tls **out, const km_tls_config *cfg, bool client, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    km_tls *t = km__calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    bool nomem = false;
    t->cfg.cert_file = dup_or_null(cfg->cert_file, &nomem);
    t->cfg.key_file = dup_or_null(cfg->key_file, &nomem);
    t->cfg.trusted_ca_file = dup_or_null(cfg->trusted_ca_file, &nomem);
    t->cfg.client_cert_auth = cfg->client_cert_auth && !client;
    t->client = client;
    pthread_mutex_init(&t->mu, NULL);
    int rc = nomem ? -ENOMEM : client ? build_client(&t->cfg, &t->ctx, err, errlen)
                                      : build(&t->cfg, &t->ctx, err, errlen);
    if (rc) {
        km_tls_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int km_tls_server_new(km_tls **out, const km_tls_config *cfg, char *err, size_t errlen)
{
    return ctx_new(out, cfg, false, err, errlen);
}

int km_tls_client_new(km_tls **out, const km_tls_config *cfg, char *err, size_t errlen)
{
    return ctx_new(out, cfg, true, err, errlen);
}

int km_tls_reload(km_tls *t, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    SSL_CTX *ctx;
    int rc = t->client ? build_client(&t->cfg, &ctx, err, errlen)
                       : build(&t->cfg, &ctx, err, errlen);
    if (rc)
        return rc;
    pthread_mutex_lock(&t->mu);
    SSL_CTX *old = t->ctx;
    t->ctx = ctx;
    pthread_mutex_unlock(&t->mu);
    SSL_CTX_free(old);              /* open connections hold their own reference */
    return 0;
}

SSL *km__tls_ssl_new(km_tls *t)
{
    pthread_mutex_lock(&t->mu);
    SSL *ssl = SSL_new(t->ctx);
    pthread_mutex_unlock(&t->mu);
    return ssl;
}

void km_tls_free(km_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    pthread_mutex_destroy(&t->mu);
    km__free((char *)t->cfg.cert_file);
    km__free((char *)t->cfg.key_file);
    km__free((char *)t->cfg.trusted_ca_file);
    km__free(t);
}
