/* SPDX-License-Identifier: MIT */
/* The native API and its SSE watch with users and roles: open while
 * authentication is off; once on, reads need READ and writes WRITE on the
 * keys, a missing or bad token is 401, a refusal 403; health, readiness
 * and metrics stay open. Run through km_serve, so cfg->auth's wiring too. */
#include "util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kumo/auth.h>
#include <kumo/net.h>
#include <kumo/serve.h>

#define SEC 1000000000LL
#define B(s) ((km_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })

typedef struct {
    char dir[64];
    km_auth *auth;
    km_serve *srv;
    km_http_client *cli;
    int port;
    char alice[2100], root[2100];     /* "Bearer " and a token */
} fixture;

/* root; alice with app/ (read and write) and the key pub (read only). */
static void users(km_auth *a)
{
    ck_assert_int_eq(km_auth_user_add(a, "root", "rootpw", false, NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "root", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "root", "root", NULL), 0);
    ck_assert_int_eq(km_auth_user_add(a, "alice", "apw", false, NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "app", NULL), 0);
    km_auth_perm app = { KM_PERM_READWRITE, B("app/"), B("app0") };
    km_auth_perm pub = { KM_PERM_READ, B("pub"), { NULL, 0 } };
    ck_assert_int_eq(km_auth_role_grant(a, "app", &app, NULL), 0);
    ck_assert_int_eq(km_auth_role_grant(a, "app", &pub, NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "alice", "app", NULL), 0);
}

static void up(fixture *f)
{
    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/kumo-serve-auth-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    km_auth_config ac = { .kdf_iter = 1000 };
    const char *err = NULL;
    ck_assert_int_eq(km_auth_open(&f->auth, &ac, &err), 0);
    users(f->auth);
    km_serve_config sc = { .listen = "127.0.0.1:0", .data_dir = f->dir, .map_size = 64 << 20,
                           .auth = f->auth };
    ck_assert_int_eq(km_serve_start(&f->srv, &sc), 0);
    f->port = km_serve_port(f->srv);
    ck_assert_int_eq(km_http_client_new(&f->cli, NULL), 0);
}

static void down(fixture *f)
{
    km_http_client_free(f->cli);
    ck_assert_int_eq(km_serve_stop(f->srv, km_now() + 5 * SEC), 0);
    km_auth_free(f->auth);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* method path with auth as the Authorization header (NULL: none);
 * checks the status and, if want, the body; returns the response. */
static km_http_response *call(fixture *f, const char *method, const char *path, const char *auth,
                              const char *body, int status, const char *want)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    km_http_kv h = { "Authorization", auth };
    km_http_response *r;
    int rc = km_http_do(f->cli, method, url, &h, auth ? 1 : 0, body, body ? strlen(body) : 0,
                        km_now() + 10 * SEC, &r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, km_strerror(rc));
    km_str got = km_http_response_body(r);
    ck_assert_msg(km_http_response_status(r) == status, "%s %s: status %d (want %d): %.*s",
                  method, path, km_http_response_status(r), status, (int)got.n, got.p);
    if (want)
        ck_assert_msg(got.n == strlen(want) && !memcmp(got.p, want, got.n),
                      "%s %s:\ngot  %.*s\nwant %s", method, path, (int)got.n, got.p, want);
    return r;
}

static void check(fixture *f, const char *method, const char *path, const char *auth,
                  const char *body, int status, const char *want)
{
    km_http_response_free(call(f, method, path, auth, body, status, want));
}

static void has_header(km_http_response *r, const char *name, const char *want)
{
    km_str v = km_http_response_header(r, name);
    ck_assert_msg(v.p && v.n == strlen(want) && !memcmp(v.p, want, v.n), "%s: %.*s (want %s)",
                  name, (int)v.n, v.p ? v.p : "", want);
    km_http_response_free(r);
}

#define NEED_TOKEN "{\"error\":\"authentication required: send Authorization: Bearer TOKEN " \
                   "(POST /v3/auth/authenticate gives one)\"}\n"
#define BAD_TOKEN "{\"error\":\"invalid auth token\"}\n"
#define DENIED "{\"error\":\"permission denied\"}\n"

static void kv_body(void *arg)
{
    (void)arg;
    fixture ff, *f = &ff;
    up(f);
    /* authentication off: anyone, any key */
    check(f, "PUT", "/api/v1/kv/app/x", NULL, "1", 200, NULL);
    check(f, "PUT", "/api/v1/kv/pub", "bogus", "p", 200, NULL);
    check(f, "GET", "/api/v1/kv/?prefix", NULL, NULL, 200, NULL);
    ck_assert_int_eq(km_auth_enable(f->auth, NULL), 0);

    /* a token from the gateway's login works on the native API */
    km_http_response *r = call(f, "POST", "/v3/auth/authenticate", NULL,
                               "{\"name\":\"alice\",\"password\":\"apw\"}", 200, NULL);
    km_str b = km_http_response_body(r);
    const char *t = memmem(b.p, b.n, "\"token\":\"", 9);
    ck_assert_ptr_nonnull(t);
    t += 9;
    const char *e = memchr(t, '"', b.n - (size_t)(t - b.p));
    ck_assert_ptr_nonnull(e);
    snprintf(f->alice, sizeof f->alice, "Bearer %.*s", (int)(e - t), t);
    km_http_response_free(r);
    char tok[2048];
    ck_assert_int_eq(km_auth_authenticate(f->auth, "root", "rootpw", "test", tok, sizeof tok), 0);
    snprintf(f->root, sizeof f->root, "bearer  %s", tok);   /* any case, extra blanks */

    has_header(call(f, "GET", "/api/v1/kv/app/x", NULL, NULL, 401, NEED_TOKEN),
               "WWW-Authenticate", "Bearer");
    has_header(call(f, "GET", "/api/v1/kv/app/x", "Bearer bogus", NULL, 401, BAD_TOKEN),
               "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    check(f, "GET", "/api/v1/kv/app/x", "bogus", NULL, 401, BAD_TOKEN);
    check(f, "GET", "/api/v1/kv/app/x", f->alice, NULL, 200, "1");
    check(f, "GET", "/api/v1/kv/app/x", f->alice + 7, NULL, 200, "1");   /* the bare token */
    check(f, "GET", "/api/v1/kv/app/?prefix", f->alice, NULL, 200, NULL);
    check(f, "GET", "/api/v1/kv/?prefix", f->alice, NULL, 403, DENIED);
    check(f, "GET", "/api/v1/kv/ap?prefix", f->alice, NULL, 403, DENIED);
    check(f, "GET", "/api/v1/kv/other", f->alice, NULL, 403, DENIED);
    check(f, "GET", "/api/v1/kv/pub", f->alice, NULL, 200, "p");
    check(f, "PUT", "/api/v1/kv/app/y", f->alice, "2", 200, NULL);
    check(f, "PUT", "/api/v1/kv/pub", f->alice, "q", 403, DENIED);
    check(f, "PUT", "/api/v1/kv/app/y", NULL, "2", 401, NEED_TOKEN);
    check(f, "DELETE", "/api/v1/kv/pub", f->alice, NULL, 403, DENIED);
    check(f, "DELETE", "/api/v1/kv/?prefix", f->alice, NULL, 403, DENIED);
    check(f, "DELETE", "/api/v1/kv/app/?prefix", f->alice, NULL, 200, NULL);
    check(f, "GET", "/api/v1/kv/pub", f->alice, NULL, 200, "p");   /* nothing refused changed */
    check(f, "GET", "/api/v1/kv/?prefix", f->root, NULL, 200, NULL);
    check(f, "DELETE", "/api/v1/kv/pub", f->root, NULL, 200, NULL);

    /* what probes and scrapers reach stays open */
    check(f, "GET", "/healthz", NULL, NULL, 200, "ok\n");
    check(f, "GET", "/readyz", NULL, NULL, 200, "ready\n");
    check(f, "GET", "/metrics", NULL, NULL, 200, NULL);

    /* a deleted user's token stops working */
    ck_assert_int_eq(km_auth_user_delete(f->auth, "alice", NULL), 0);
    check(f, "GET", "/api/v1/kv/pub", f->alice, NULL, 401, BAD_TOKEN);
    /* off again: open to all */
    ck_assert_int_eq(km_auth_disable(f->auth, NULL), 0);
    check(f, "PUT", "/api/v1/kv/other", NULL, "o", 200, NULL);
    down(f);
}

START_TEST(kv) { t_run(kv_body, NULL); }
END_TEST

/* GET path with auth on a connection of its own; reads until the head
 * and the first event (or the whole refusal) are in buf. The fd, still
 * open, or -1 once a refusal was read whole. */
static int sse_open(fixture *f, const char *path, const char *auth, char *buf, size_t cap)
{
    char addr[32], req[4096];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f->port);
    int fd = km_dial(addr, km_now() + 5 * SEC);
    ck_assert_int_ge(fd, 0);
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n%s%s%sConnection: close\r\n\r\n",
                     path, auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    ck_assert_int_eq(km_write(fd, req, (size_t)n, km_now() + 5 * SEC), n);
    size_t got = 0;
    buf[0] = 0;
    for (;;) {
        const char *body = strstr(buf, "\r\n\r\n");
        if (body && strstr(body + 4, "\n\n"))
            return fd;      /* an event (the greeting at least) */
        ck_assert_uint_lt(got, cap - 1);
        ssize_t r = km_read(fd, buf + got, cap - 1 - got, km_now() + 5 * SEC);
        ck_assert_int_ge(r, 0);
        if (r == 0) {
            km_close(fd);
            return -1;
        }
        got += (size_t)r;
        buf[got] = 0;
    }
}

static void sse_refused(fixture *f, const char *path, const char *auth, int status,
                        const char *body)
{
    char buf[4096], line[32];
    int fd = sse_open(f, path, auth, buf, sizeof buf);
    if (fd >= 0)
        km_close(fd);
    snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    ck_assert_msg(fd < 0 && !strncmp(buf, line, strlen(line)), "%s: %s", path, buf);
    const char *b = strstr(buf, "\r\n\r\n");
    ck_assert_msg(b && !strcmp(b + 4, body), "%s: %s", path, buf);
}

static void sse_body(void *arg)
{
    (void)arg;
    fixture ff, *f = &ff;
    up(f);
    char buf[8192], tok[2048];
    /* authentication off: no token needed */
    int fd = sse_open(f, "/api/v1/watch?prefix=", NULL, buf, sizeof buf);
    ck_assert_msg(fd >= 0 && !strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
    km_close(fd);

    ck_assert_int_eq(km_auth_enable(f->auth, NULL), 0);
    ck_assert_int_eq(km_auth_authenticate(f->auth, "alice", "apw", "test", tok, sizeof tok), 0);
    snprintf(f->alice, sizeof f->alice, "Bearer %s", tok);
    sse_refused(f, "/api/v1/watch?prefix=app/", NULL, 401, NEED_TOKEN);
    sse_refused(f, "/api/v1/watch?prefix=app/", "Bearer bogus", 401, BAD_TOKEN);
    sse_refused(f, "/api/v1/watch?prefix=", f->alice, 403, DENIED);
    sse_refused(f, "/api/v1/watch?key=other", f->alice, 403, DENIED);
    sse_refused(f, "/api/v1/watch?prefix=ap", f->alice, 403, DENIED);

    /* permitted: the stream carries alice's change */
    fd = sse_open(f, "/api/v1/watch?prefix=app/", f->alice, buf, sizeof buf);
    ck_assert_msg(fd >= 0 && !strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
    check(f, "PUT", "/api/v1/kv/app/k", f->alice, "v", 200, NULL);
    size_t got = strlen(buf);
    while (!strstr(buf, "event: put")) {
        ck_assert_uint_lt(got, sizeof buf - 1);
        ssize_t r = km_read(fd, buf + got, sizeof buf - 1 - got, km_now() + 5 * SEC);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
        buf[got] = 0;
    }
    ck_assert_ptr_nonnull(strstr(buf, "\"key\":\"app/k\",\"value\":\"v\""));
    km_close(fd);
    /* read permission on one key lets one watch it (the bare token too) */
    fd = sse_open(f, "/api/v1/watch?key=pub", tok, buf, sizeof buf);
    ck_assert_msg(fd >= 0 && !strncmp(buf, "HTTP/1.1 200", 12), "%s", buf);
    km_close(fd);
    down(f);
}

START_TEST(sse) { t_run(sse_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("serve/auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kv);
    tcase_add_test(tc, sse);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
