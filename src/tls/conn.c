/* SPDX-License-Identifier: MIT */
/* A TLS connection driven from goroutines. OpenSSL never touches the
 * socket: it reads records from one memory BIO and writes records to
 * another, and this file moves bytes between those and the socket with
 * km_read and km_write, so waiting happens on the netpoller and never
 * inside OpenSSL. The SSL object is used under a short mutex that is
 * never held across a wait, so one goroutine may read while another
 * writes (HTTP/2's reader and writer); a second, goroutine-aware mutex
 * keeps the records in order on the socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <kumo/sync.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "rt/alloc.h"
#include "tls/tls-int.h"

#define HANDSHAKE_BUF 16384
#define WRITE_CHUNK (64 << 10)      /* plaintext per SSL_write, so the records buffered stay bounded */

struct km__tls_conn {
    SSL            *ssl;
    BIO            *rbio, *wbio;    /* owned by ssl: records in, records out */
    int             fd;
    pthread_mutex_t mu;             /* ssl and its BIOs; never held across a wait */
    km_mutex       *wmu;            /* socket writes, whole batches of records in turn */
    char           *out;            /* records taken from wbio, being sent (under wmu) */
    size_t          ocap;
    bool            eof;            /* the socket reached end of stream (reader only) */
};

/* Why OpenSSL failed c, after SSL_ERROR_SSL: -EKEYREJECTED when a
 * certificate was refused (ours by the peer's alert, or the peer's by our
 * verification), -EPROTO otherwise (not TLS, a broken record). Clears
 * OpenSSL's error queue. */
static int failure(km__tls_conn *c)
{
    int reason = ERR_GET_REASON(ERR_peek_last_error());
    ERR_clear_error();
    if (SSL_get_verify_result(c->ssl) != X509_V_OK)
        return -EKEYREJECTED;
    switch (reason - SSL_AD_REASON_OFFSET) {      /* an alert the peer sent */
    case SSL_AD_BAD_CERTIFICATE: case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED: case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN: case SSL_AD_UNKNOWN_CA: case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
        return -EKEYREJECTED;
    }
    return -EPROTO;
}

/* Under wmu: moves the records wbio holds to the socket. 0 or -errno. */
static int send_pending(km__tls_conn *c, int64_t deadline)
{
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t n = BIO_ctrl_pending(c->wbio);
        if (n > c->ocap) {
            char *p = km__malloc(n);
            if (!p) {
                pthread_mutex_unlock(&c->mu);
                return -ENOMEM;
            }
            km__free(c->out);
            c->out = p;
            c->ocap = n;
        }
        int got = n ? BIO_read(c->wbio, c->out, (int)n) : 0;
        pthread_mutex_unlock(&c->mu);
        if (got <= 0)
            return 0;
        ssize_t w = km_write(c->fd, c->out, (size_t)got, deadline);
        if (w < 0)
            return (int)w;
    }
}

/* Sends what OpenSSL produced outside a write (handshake messages, session
 * tickets, alerts, key updates). */
static int flush(km__tls_conn *c, int64_t deadline)
{
    km_mutex_lock(c->wmu);
    int rc = send_pending(c, deadline);
    km_mutex_unlock(c->wmu);
    return rc;
}

/* Feeds n bytes read from the socket to OpenSSL. */
static int feed(km__tls_conn *c, const void *buf, size_t n)
{
    pthread_mutex_lock(&c->mu);
    int w = BIO_write(c->rbio, buf, (int)n);
    pthread_mutex_unlock(&c->mu);
    return w == (int)n ? 0 : -ENOMEM;
}

/* Reads more records from the socket into buf (scratch space of n bytes)
 * and feeds them: 0, or as km_read; at end of stream OpenSSL is told so. */
static int refill(km__tls_conn *c, void *buf, size_t n, int64_t deadline)
{
    if (c->eof)
        return -ECONNRESET;
    ssize_t k = km_read(c->fd, buf, n, deadline);
    if (k < 0)
        return (int)k;
    if (k == 0) {
        c->eof = true;
        pthread_mutex_lock(&c->mu);
        BIO_set_mem_eof_return(c->rbio, 0);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    return feed(c, buf, (size_t)k);
}

static void conn_free(km__tls_conn *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->wmu)
        km_mutex_free(c->wmu);
    pthread_mutex_destroy(&c->mu);
    km__free(c->out);
    km__free(c);
}

/* Sets who the server must be (its certificate must name it) and, for a
 * host name, SNI; and the protocol offered. 0 or -ENOMEM. */
static int expect_server(SSL *ssl, const char *name, bool h2)
{
    if (SSL_set_alpn_protos(ssl, (const unsigned char *)(h2 ? "\x02h2" : "\x08http/1.1"),
                            h2 ? 3 : 9) != 0)
        return -ENOMEM;
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -ENOMEM;
    return SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1
           ? 0 : -ENOMEM;
}

/* The handshake, either side (server_name NULL: the server's). */
static int open_conn(km_tls *t, int fd, const char *server_name, bool h2, int64_t deadline,
                     km__tls_conn **out)
{
    *out = NULL;
    km__tls_conn *c = km__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->fd = fd;
    char *buf = km__malloc(HANDSHAKE_BUF);
    int rc = buf && km_mutex_new(&c->wmu) == 0 ? 0 : -ENOMEM;
    if (!rc && !(c->ssl = km__tls_ssl_new(t)))
        rc = -ENOMEM;
    if (!rc) {
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        if (!c->rbio || !c->wbio) {
            BIO_free(c->rbio);
            BIO_free(c->wbio);
            rc = -ENOMEM;
        } else {
            SSL_set_bio(c->ssl, c->rbio, c->wbio);
            if (!server_name)
                SSL_set_accept_state(c->ssl);
            else if (!(rc = expect_server(c->ssl, server_name, h2)))
                SSL_set_connect_state(c->ssl);
        }
    }
    while (!rc) {
        pthread_mutex_lock(&c->mu);
        int r = SSL_do_handshake(c->ssl);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        int why = e == SSL_ERROR_SSL ? failure(c) : -EPROTO;
        pthread_mutex_unlock(&c->mu);
        /* Our flight (or the alert that refuses the client) goes out first. */
        int frc = flush(c, deadline);
        if (r == 1) {
            rc = frc;
            break;
        }
        if (e != SSL_ERROR_WANT_READ || c->eof) {
            rc = c->eof && e == SSL_ERROR_WANT_READ ? -ECONNRESET : why;
            break;
        }
        if (frc) {
            rc = frc;
            break;
        }
        rc = refill(c, buf, HANDSHAKE_BUF, deadline);
    }
    ERR_clear_error();
    km__free(buf);
    if (rc) {
        conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int km__tls_accept(km_tls *t, int fd, int64_t deadline, km__tls_conn **out)
{
    return open_conn(t, fd, NULL, false, deadline, out);
}

int km__tls_connect(km_tls *t, int fd, const char *server_name, bool h2, int64_t deadline,
                    km__tls_conn **out)
{
    return open_conn(t, fd, server_name, h2, deadline, out);
}

ssize_t km__tls_read(km__tls_conn *c, void *buf, size_t n, int64_t deadline)
{
    if (n == 0)
        return 0;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t got = 0;
        int r = SSL_read_ex(c->ssl, buf, n, &got);
        int e = r ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
        int why = e == SSL_ERROR_SSL ? failure(c) : -EPROTO;
        bool more_out = BIO_ctrl_pending(c->wbio) > 0;
        if (!r)
            ERR_clear_error();
        pthread_mutex_unlock(&c->mu);
        if (more_out) {             /* a key update's answer, an alert */
            int frc = flush(c, deadline);
            if (frc && !r)
                return frc;
        }
        if (r)
            return (ssize_t)got;
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;               /* close_notify */
        if (e != SSL_ERROR_WANT_READ)
            return c->eof ? 0 : why;        /* cut off, a bad record, a refusal */
        int rc = refill(c, buf, n, deadline);
        if (rc)
            return rc == -ECONNRESET && c->eof ? 0 : rc;
    }
}

ssize_t km__tls_write(km__tls_conn *c, const void *buf, size_t n, int64_t deadline)
{
    km_mutex_lock(c->wmu);
    size_t done = 0;
    int rc = 0;
    while (done < n && !rc) {
        size_t chunk = n - done < WRITE_CHUNK ? n - done : WRITE_CHUNK;
        size_t w = 0;
        pthread_mutex_lock(&c->mu);
        int r = SSL_write_ex(c->ssl, (const char *)buf + done, chunk, &w);
        if (!r)
            ERR_clear_error();
        pthread_mutex_unlock(&c->mu);
        /* Into memory, a write takes everything unless the connection
         * failed (an alert sent or received). */
        if (!r)
            rc = -EPIPE;
        else
            done += w;
        int src = send_pending(c, deadline);
        if (!rc)
            rc = src;
    }
    km_mutex_unlock(c->wmu);
    return rc ? rc : (ssize_t)n;
}

void km__tls_close_notify(km__tls_conn *c, int64_t deadline)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    /* Not after a fatal alert: OpenSSL refuses then, and there is nothing to say. */
    SSL_shutdown(c->ssl);
    ERR_clear_error();
    pthread_mutex_unlock(&c->mu);
    flush(c, deadline);
}

bool km__tls_pending(km__tls_conn *c)
{
    pthread_mutex_lock(&c->mu);
    bool p = SSL_has_pending(c->ssl) || BIO_ctrl_pending(c->rbio) > 0;
    pthread_mutex_unlock(&c->mu);
    return p;
}

const char *km__tls_alpn(km__tls_conn *c, size_t *n)
{
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(c->ssl, &p, &len);
    *n = p ? len : 0;
    return (const char *)p;
}

int km__tls_peer_cn(km__tls_conn *c, char *buf, size_t n)
{
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    if (!x || SSL_get_verify_result(c->ssl) != X509_V_OK || n == 0)
        return -ENOENT;
    int len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)n);
    return len > 0 ? 0 : -ENOENT;
}

void km__tls_free(km__tls_conn *c)
{
    if (c)
        conn_free(c);
}
