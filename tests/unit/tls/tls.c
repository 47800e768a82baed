/* SPDX-License-Identifier: MIT */
/* TLS on the HTTP server: contexts from PEM files (and their refusals),
 * HTTP/1.1 and HTTP/2 chosen by ALPN, large bodies in both directions,
 * client certificates, and clients that are not TLS or never finish a
 * handshake. The test's certificates are made with the openssl command;
 * the client side is OpenSSL on blocking sockets in helper threads. */
#include "util.h"
#include <kumo/tls.h>
#include <kumo/http2.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MS 1000000LL

static char dir[64];

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate from
 * it, and a second CA's client certificate, in a fresh directory. */
static void make_certs(void)
{
    snprintf(dir, sizeof dir, "/tmp/kumo-tls-XXXXXX");
    ck_assert(mkdtemp(dir));
    static const char key[] = "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
    char fmt[1024];
    snprintf(fmt, sizeof fmt, "cd %%s && %s-x509 -days 2 -subj /CN=%%s -keyout ca.key -out ca.crt "
             "2>/dev/null", key);
    sh(fmt, dir, "ca");
    snprintf(fmt, sizeof fmt, "cd %%s && %s-x509 -days 2 -subj /CN=%%s -keyout other.key "
             "-out other.crt 2>/dev/null", key);
    sh(fmt, dir, "other");
    const char *leaf[][3] = { { "server", "localhost", "ca" }, { "alice", "alice", "ca" },
                              { "mallory", "mallory", "other" } };
    for (int i = 0; i < 3; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "cd %s && %s-subj /CN=%s -keyout %s.key -out %s.csr 2>/dev/null && "
                 "echo subjectAltName=IP:127.0.0.1 > san.ext && "
                 "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -CAcreateserial -days 2 "
                 "-extfile san.ext -out %s.crt 2>/dev/null",
                 dir, key, leaf[i][1], leaf[i][0], leaf[i][0], leaf[i][0], leaf[i][2],
                 leaf[i][2], leaf[i][0]);
        ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
    }
}

static void rm_certs(void)
{
    sh("rm -rf %s%s", dir, "");
}

static char *path(const char *name) { return t_path(dir, name); }

/* ---- the server ---- */

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    (void)ud;
    km_str b;
    if (km_http_body(r, &b) != 0)
        return;
    char head[64];
    int n = snprintf(head, sizeof head, "v%d %zu:", km_http_version(r), b.n);
    km_http_write(w, head, (size_t)n);
    km_http_write(w, b.p, b.n);      /* the body back, as sent */
}

typedef struct {
    km_tls         *tls;
    km_http_server *srv;
    int             port;
} server;

static void server_start(server *s, const km_tls_config *tc, int64_t handshake_timeout)
{
    char err[256];
    ck_assert_int_eq(km_tls_server_new(&s->tls, tc, err, sizeof err), 0);
    km_http_config hc = { .addr = "127.0.0.1:0", .handler = handler, .tls = s->tls,
                          .accept_early = true, .max_body_bytes = 4 << 20,
                          .read_header_timeout = handshake_timeout };
    ck_assert_int_eq(km_http_serve(&s->srv, &hc), 0);
    s->port = km_http_server_port(s->srv);
}

static void server_stop(server *s)
{
    km_http_shutdown(s->srv, km_now() + 2000 * MS);   /* frees it */
    km_tls_free(s->tls);
}

/* ---- the client: OpenSSL on a blocking socket, run by km_blocking ---- */

typedef struct {
    int         port;
    const char *alpn;           /* offered: "h2" or "http/1.1" */
    const char *cert, *key;     /* client certificate, or NULL */
    size_t      body;           /* bytes POSTed */
    bool        plain;          /* no TLS at all: send HTTP/1.1 in clear */
    bool        silent;         /* connect and send nothing */
    /* results */
    int         handshake;      /* 1 ok, 0 refused */
    char        chosen[16];     /* ALPN's answer */
    size_t      got;            /* response bytes */
    char       *resp;
    int64_t     closed_after;   /* ns until the server closed (silent) */
} client;

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    struct timeval tv = { .tv_sec = 5 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void read_all(client *c, SSL *ssl, int fd)
{
    size_t cap = c->body + 4096;
    c->resp = malloc(cap);
    for (;;) {
        int n = ssl ? SSL_read(ssl, c->resp + c->got, (int)(cap - c->got))
                    : (int)read(fd, c->resp + c->got, cap - c->got);
        if (n <= 0)
            break;
        c->got += (size_t)n;
        if (c->got == cap)
            break;
    }
}

static void client_run(void *arg)
{
    client *c = arg;
    int fd = dial(c->port);
    if (fd < 0)
        return;
    if (c->silent) {
        int64_t t0 = km_now();
        char b;
        while (read(fd, &b, 1) > 0)
            ;
        c->closed_after = km_now() - t0;
        close(fd);
        return;
    }
    char req[256];
    int rn = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", c->body);
    char *body = malloc(c->body + 1);
    for (size_t i = 0; i < c->body; i++)
        body[i] = (char)('a' + i % 26);
    if (c->plain) {
        ck_assert_int_eq(write(fd, req, (size_t)rn), rn);
        read_all(c, NULL, fd);
        free(body);
        close(fd);
        return;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, path("ca.crt"), NULL);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->cert) {
        SSL_CTX_use_certificate_file(ctx, c->cert, SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM);
    }
    unsigned char alpn[32];
    alpn[0] = (unsigned char)strlen(c->alpn);
    memcpy(alpn + 1, c->alpn, alpn[0]);
    SSL_CTX_set_alpn_protos(ctx, alpn, alpn[0] + 1u);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "127.0.0.1");
    c->handshake = SSL_connect(ssl) == 1;
    if (c->handshake) {
        const unsigned char *p;
        unsigned int n;
        SSL_get0_alpn_selected(ssl, &p, &n);
        snprintf(c->chosen, sizeof c->chosen, "%.*s", (int)n, p ? (const char *)p : "");
        if (!strcmp(c->alpn, "h2")) {
            /* The preface and an empty SETTINGS: an HTTP/2 server answers
             * with its own SETTINGS frame (type 4) first. */
            static const char pre[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0";
            SSL_write(ssl, pre, sizeof pre - 1);
        } else {
            SSL_write(ssl, req, rn);
            size_t off = 0;
            while (off < c->body) {
                int w = SSL_write(ssl, body + off, (int)(c->body - off));
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
        }
        read_all(c, ssl, fd);
    }
    free(body);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    close(fd);
}

static void run_client(client *c)
{
    ck_assert_int_eq(km_blocking(client_run, c), 0);
}

/* Whether the response is 200 with "v11 N:" and the body echoed. */
static bool echoed(const client *c)
{
    char want[64];
    int n = snprintf(want, sizeof want, "v11 %zu:", c->body);
    const char *p = c->resp ? memmem(c->resp, c->got, "\r\n\r\n", 4) : NULL;
    if (!p || strncmp(c->resp, "HTTP/1.1 200", 12))
        return false;
    p += 4;
    const char *end = c->resp + c->got;
    /* chunked: the first chunk carries the head, then the body's chunks */
    char *flat = malloc(c->got + 1);
    size_t k = 0;
    while (p < end) {
        char *q;
        unsigned long len = strtoul(p, &q, 16);
        if (q == p || q + 2 > end)
            break;
        q += 2;
        if (len == 0 || q + len > end)
            break;
        memcpy(flat + k, q, len);
        k += len;
        p = q + len + 2;
    }
    bool ok = k == (size_t)n + c->body && !memcmp(flat, want, (size_t)n);
    for (size_t i = 0; ok && i < c->body; i++)
        ok = flat[n + i] == (char)('a' + i % 26);
    free(flat);
    return ok;
}

/* ---- tests ---- */

static void config_errors_body(void *arg)
{
    (void)arg;
    km_tls *t = NULL;
    char err[512];
    km_tls_config c = { .cert_file = path("nope.crt"), .key_file = path("server.key") };
    ck_assert_int_eq(km_tls_server_new(&t, &c, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "nope.crt") && strstr(err, "certificate"), "%s", err);
    c = (km_tls_config){ .cert_file = path("server.crt"), .key_file = path("alice.key") };
    ck_assert_int_eq(km_tls_server_new(&t, &c, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "does not match"), "%s", err);
    c = (km_tls_config){ .cert_file = path("server.crt") };
    ck_assert_int_eq(km_tls_server_new(&t, &c, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "both"), "%s", err);
    c = (km_tls_config){ .cert_file = path("server.crt"), .key_file = path("server.key"),
                         .client_cert_auth = true };
    ck_assert_int_eq(km_tls_server_new(&t, &c, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "trusted CA"), "%s", err);
    ck_assert_ptr_null(t);

    /* a reload that fails keeps the context working */
    char crt[160], key[160];
    snprintf(crt, sizeof crt, "%s", path("copy.crt"));
    snprintf(key, sizeof key, "%s", path("copy.key"));
    sh("cp %s/server.crt %s", dir, crt);
    sh("cp %s/server.key %s", dir, key);
    c = (km_tls_config){ .cert_file = crt, .key_file = key };
    ck_assert_int_eq(km_tls_server_new(&t, &c, err, sizeof err), 0);
    sh("echo broken > %s%s", crt, "");
    ck_assert_int_eq(km_tls_reload(t, err, sizeof err), -EINVAL);
    ck_assert_msg(strstr(err, "copy.crt"), "%s", err);
    sh("cp %s/server.crt %s", dir, crt);
    ck_assert_int_eq(km_tls_reload(t, err, sizeof err), 0);
    km_tls_free(t);
}

START_TEST(config_errors)
{
    make_certs();
    t_run(config_errors_body, NULL);
    rm_certs();
}
END_TEST

static void alpn_body(void *arg)
{
    (void)arg;
    server s;
    km_tls_config tc = { .cert_file = path("server.crt"), .key_file = path("server.key") };
    server_start(&s, &tc, 2000 * MS);
    /* HTTP/1.1, a body of many records each way */
    client c1 = { .port = s.port, .alpn = "http/1.1", .body = 1 << 20 };
    run_client(&c1);
    ck_assert_int_eq(c1.handshake, 1);
    ck_assert_str_eq(c1.chosen, "http/1.1");
    ck_assert_msg(echoed(&c1), "got %zu bytes", c1.got);
    free(c1.resp);
    /* HTTP/2 by ALPN: the server's SETTINGS come back */
    client c2 = { .port = s.port, .alpn = "h2" };
    run_client(&c2);
    ck_assert_int_eq(c2.handshake, 1);
    ck_assert_str_eq(c2.chosen, "h2");
    ck_assert_uint_ge(c2.got, 9);
    ck_assert_int_eq(c2.resp[3], 4);            /* a SETTINGS frame */
    free(c2.resp);
    server_stop(&s);
}

START_TEST(alpn_h1_and_h2)
{
    make_certs();
    t_run(alpn_body, NULL);
    rm_certs();
}
END_TEST

typedef struct {
    client *c;
    km_wg  *wg;
} bg_client;

static void bg_main(void *arg)
{
    bg_client *b = arg;
    run_client(b->c);
    km_wg_done(b->wg);
}

static void refusals_body(void *arg)
{
    (void)arg;
    server s;
    km_tls_config tc = { .cert_file = path("server.crt"), .key_file = path("server.key") };
    server_start(&s, &tc, 300 * MS);
    /* HTTP in clear to a TLS port: no answer, the connection closes */
    client p = { .port = s.port, .plain = true };
    run_client(&p);
    ck_assert_uint_eq(p.got, 0);
    free(p.resp);
    /* a client that never starts its handshake is dropped at the bound,
     * and others are served meanwhile */
    client slow = { .port = s.port, .silent = true };
    client ok = { .port = s.port, .alpn = "http/1.1", .body = 10 };
    km_wg *wg;
    ck_assert_int_eq(km_wg_new(&wg), 0);
    km_wg_add(wg, 1);
    bg_client a = { &slow, wg };
    ck_assert_int_eq(km_go(bg_main, &a), 0);
    run_client(&ok);
    ck_assert(echoed(&ok));
    free(ok.resp);
    km_wg_wait(wg);
    km_wg_free(wg);
    ck_assert_int_ge(slow.closed_after, 250 * MS);
    ck_assert_int_lt(slow.closed_after, 2000 * MS);
    server_stop(&s);
}

START_TEST(refusals)
{
    make_certs();
    t_run(refusals_body, NULL);
    rm_certs();
}
END_TEST

static void client_cert_body(void *arg)
{
    (void)arg;
    server s;
    km_tls_config tc = { .cert_file = path("server.crt"), .key_file = path("server.key"),
                         .trusted_ca_file = path("ca.crt"), .client_cert_auth = true };
    server_start(&s, &tc, 2000 * MS);
    client good = { .port = s.port, .alpn = "http/1.1", .body = 100,
                    .cert = path("alice.crt"), .key = path("alice.key") };
    run_client(&good);
    ck_assert(echoed(&good));
    free(good.resp);
    /* Without a certificate, or with one from another CA: refused (under
     * TLS 1.3 the client learns it at its first read). */
    client none = { .port = s.port, .alpn = "http/1.1", .body = 100 };
    run_client(&none);
    ck_assert_uint_eq(none.got, 0);
    free(none.resp);
    client other = { .port = s.port, .alpn = "http/1.1", .body = 100,
                     .cert = path("mallory.crt"), .key = path("mallory.key") };
    run_client(&other);
    ck_assert_uint_eq(other.got, 0);
    free(other.resp);
    server_stop(&s);
}

START_TEST(client_certificates)
{
    make_certs();
    t_run(client_cert_body, NULL);
    rm_certs();
}
END_TEST

/* kumo's own clients over TLS: HTTP/1.1 (https:// URLs) and HTTP/2 (the
 * pool under gRPC), verified against the CA, with a client certificate. */
static void kumo_clients_body(void *arg)
{
    (void)arg;
    server s;
    km_tls_config tc = { .cert_file = path("server.crt"), .key_file = path("server.key"),
                         .trusted_ca_file = path("ca.crt"), .client_cert_auth = true };
    server_start(&s, &tc, 2000 * MS);
    char err[256], url[64];
    km_tls *ct, *bad, *anon;
    km_tls_config cc = { .trusted_ca_file = path("ca.crt"), .cert_file = path("alice.crt"),
                         .key_file = path("alice.key") };
    ck_assert_int_eq(km_tls_client_new(&ct, &cc, err, sizeof err), 0);
    km_tls_config oc = { .trusted_ca_file = path("other.crt"), .cert_file = path("alice.crt"),
                         .key_file = path("alice.key") };
    ck_assert_int_eq(km_tls_client_new(&bad, &oc, err, sizeof err), 0);
    km_tls_config nc = { .trusted_ca_file = path("ca.crt") };
    ck_assert_int_eq(km_tls_client_new(&anon, &nc, err, sizeof err), 0);

    /* HTTP/1.1: a connection kept alive and reused */
    km_http_client *hc;
    km_http_client_config hcc = { .tls = ct };
    ck_assert_int_eq(km_http_client_new(&hc, &hcc), 0);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/echo", s.port);
    for (int i = 0; i < 3; i++) {
        km_http_response *r;
        ck_assert_int_eq(km_http_do(hc, "POST", url, NULL, 0, "hello", 5, km_now() + 5000 * MS, &r), 0);
        ck_assert_int_eq(km_http_response_status(r), 200);
        km_str b = km_http_response_body(r);
        ck_assert_int_eq((int)b.n, 11);
        ck_assert(!memcmp(b.p, "v11 5:hello", 11));
        km_http_response_free(r);
    }
    km_http_client_free(hc);
    /* a client that does not trust the server's CA */
    hcc.tls = bad;
    ck_assert_int_eq(km_http_client_new(&hc, &hcc), 0);
    km_http_response *r;
    ck_assert_int_eq(km_http_do(hc, "GET", url, NULL, 0, NULL, 0, km_now() + 5000 * MS, &r),
                     -EKEYREJECTED);
    km_http_client_free(hc);
    /* https without a context */
    ck_assert_int_eq(km_http_client_new(&hc, NULL), 0);
    ck_assert_int_eq(km_http_do(hc, "GET", url, NULL, 0, NULL, 0, km_now() + 5000 * MS, &r),
                     -EPROTONOSUPPORT);
    km_http_client_free(hc);

    /* HTTP/2 by ALPN, two streams on one connection */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    km_http2_client *h2;
    km_http2_client_config h2c = { .addr = addr, .tls = ct };
    ck_assert_int_eq(km_http2_client_new(&h2, &h2c), 0);
    for (int i = 0; i < 2; i++) {
        km_http_kv h[] = { { ":method", "POST" }, { ":path", "/echo" } };
        km_http2_stream *st;
        int status;
        char buf[64];
        ck_assert_int_eq(km_http2_stream_open(h2, h, 2, false, km_now() + 5000 * MS, &st), 0);
        ck_assert_int_eq(km_http2_stream_write(st, "hey", 3, true, km_now() + 5000 * MS), 0);
        ck_assert_int_eq(km_http2_stream_response(st, km_now() + 5000 * MS, &status), 0);
        ck_assert_int_eq(status, 200);
        ssize_t n, got = 0;
        while ((n = km_http2_stream_read(st, buf + got, sizeof buf - (size_t)got,
                                         km_now() + 5000 * MS)) > 0)
            got += n;
        ck_assert_int_eq((int)got, 9);
        ck_assert(!memcmp(buf, "v20 3:hey", 9));
        km_http2_stream_free(st);
    }
    km_http2_client_free(h2);
    /* no client certificate: the server refuses it (TLS 1.3: by an alert
     * after the client's side of the handshake is done) */
    h2c.tls = anon;
    ck_assert_int_eq(km_http2_client_new(&h2, &h2c), 0);
    km_http_kv h[] = { { ":method", "GET" }, { ":path", "/echo" } };
    km_http2_stream *st;
    ck_assert_int_eq(km_http2_stream_open(h2, h, 2, true, km_now() + 2000 * MS, &st),
                     -EKEYREJECTED);
    km_http2_client_free(h2);

    km_tls_free(ct);
    km_tls_free(bad);
    km_tls_free(anon);
    server_stop(&s);
}

START_TEST(kumo_clients)
{
    make_certs();
    t_run(kumo_clients_body, NULL);
    rm_certs();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, alpn_h1_and_h2);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, client_certificates);
    tcase_add_test(tc, kumo_clients);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
