/* SPDX-License-Identifier: MIT */
/* The router behind a live server: literal, ":param" and "*rest" routes, 404, 405 with Allow, HEAD through GET, registration errors. */
#include "util.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SEC 1000000000LL

static int64_t soon(void) { return km_now() + 10 * SEC; }

/* ---- a raw HTTP/1.1 client over km_dial ---- */

typedef struct { int fd; char *buf; size_t len, cap; } cli;
typedef struct { int status; char head[4096]; char *body; size_t body_n; } resp;

static void cli_open(cli *c, int port)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c->fd = km_dial(addr, soon());
    ck_assert_msg(c->fd >= 0, "dial %s: %s", addr, km_strerror(c->fd));
    c->cap = 1 << 16;
    c->buf = malloc(c->cap);
    c->len = 0;
}

static void cli_close(cli *c)
{
    km_close(c->fd);
    free(c->buf);
}

static void cli_send(cli *c, const char *s)
{
    ssize_t w = km_write(c->fd, s, strlen(s), soon());
    ck_assert_msg(w == (ssize_t)strlen(s), "write: %s", km_strerror((int)w));
}

static ssize_t cli_fill(cli *c)
{
    ck_assert_msg(c->len < c->cap, "client buffer full");
    ssize_t n = km_read(c->fd, c->buf + c->len, c->cap - c->len, soon());
    if (n > 0)
        c->len += (size_t)n;
    return n == 0 ? -ENODATA : n;
}

static void cli_consume(cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Offset just past delim, reading as needed; -errno (-ENODATA at EOF). */
static ssize_t cli_find(cli *c, const char *delim)
{
    size_t dn = strlen(delim);
    for (;;) {
        char *p = memmem(c->buf, c->len, delim, dn);
        if (p)
            return p - c->buf + (ssize_t)dn;
        ssize_t r = cli_fill(c);
        if (r < 0)
            return r;
    }
}

static bool hdr(const resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':') {
            const char *v = l + 3 + nl, *e = strstr(v, "\r\n");
            while (*v == ' ') v++;
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return true;
        }
    }
    return false;
}

/* Reads one response (no body for HEAD); its status or -errno. */
static int read_resp(cli *c, resp *r, bool head_req)
{
    memset(r, 0, sizeof *r);
    ssize_t e = cli_find(c, "\r\n\r\n");
    if (e < 0)
        return (int)e;
    ck_assert((size_t)e < sizeof r->head);
    memcpy(r->head, c->buf, (size_t)e);
    ck_assert_msg(sscanf(r->head, "HTTP/1.%*1d %3d ", &r->status) == 1, "status line: %s", r->head);
    cli_consume(c, (size_t)e);
    char v[64];
    size_t n = 0;
    if (!head_req && hdr(r, "content-length", v, sizeof v))
        n = strtoul(v, NULL, 10);
    ck_assert(!hdr(r, "transfer-encoding", v, sizeof v));
    while (c->len < n)
        if ((e = cli_fill(c)) < 0)
            return (int)e;
    r->body = malloc(n + 1);
    memcpy(r->body, c->buf, n);
    r->body[n] = 0;
    r->body_n = n;
    cli_consume(c, n);
    return r->status;
}

/* Sends one bodiless request on c and reads the answer into r; its status. */
static int req(cli *c, const char *method, const char *target, resp *r)
{
    char line[512];
    snprintf(line, sizeof line, "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, target);
    cli_send(c, line);
    int st = read_resp(c, r, !strcmp(method, "HEAD"));
    ck_assert_msg(st > 0, "%s %s: %s", method, target, km_strerror(st));
    return st;
}

static void expect(cli *c, const char *method, const char *target, int status, const char *body)
{
    resp r;
    int st = req(c, method, target, &r);
    ck_assert_msg(st == status, "%s %s: status %d, want %d", method, target, st, status);
    if (body)
        ck_assert_msg(!strcmp(r.body, body), "%s %s: body '%s', want '%s'", method, target, r.body, body);
    free(r.body);
}

/* ---- the routes ---- */

/* Answers "tag method name=value..." for the parameters the test uses. */
static void show(km_http_req *rq, km_http_resp *w, void *ud)
{
    static const char *const names[] = { "id", "post", "key", "a", "i" };
    char out[512];
    km_str m = km_http_method(rq);
    int n = snprintf(out, sizeof out, "%s %.*s", (const char *)ud, (int)m.n, m.p);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        km_str v = km_http_param(rq, names[i]);
        if (v.p)
            n += snprintf(out + n, sizeof out - (size_t)n, " %s=%.*s", names[i], (int)v.n, v.p);
    }
    km_http_send(w, 200, "text/plain", out, (size_t)n);
}

typedef struct { const char *method, *pattern, *tag; } route_t;

static const route_t routes[] = {
    { "GET",    "/",                          "root" },
    { "GET",    "/ping",                      "ping" },
    { "POST",   "/ping",                      "ping" },
    { "GET",    "/users/me",                  "me" },
    { "GET",    "/users/:id",                 "user" },
    { "DELETE", "/users/:id",                 "user" },
    { "GET",    "/users/:id/posts/:post",     "post" },
    { "GET",    "/api/v1/kv/*key",            "kv" },
    { "PUT",    "/api/v1/kv/*key",            "kv" },
    { "GET",    "/files/:a/*key",             "files" },
    { "PROPPATCH", "/dav",                    "dav" },
    { "PATCH",  "/dav",                       "dav" },
    { "GET",    "/late/:id",                  "late-param" },
    { "GET",    "/late/literal",              "late-literal" },
    { "GET",    "/trailing/",                 "trailing" },
};

typedef struct { km_http_router *rt; km_http_server *srv; cli c; } fixture;

static void setup(fixture *f)
{
    ck_assert_int_eq(km_http_router_new(&f->rt), 0);
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
        int rc = km_http_route(f->rt, routes[i].method, routes[i].pattern, show, (void *)routes[i].tag);
        ck_assert_msg(rc == 0, "route %s %s: %s", routes[i].method, routes[i].pattern, km_strerror(rc));
    }
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = km_http_router_serve, .ud = f->rt };
    ck_assert_int_eq(km_http_serve(&f->srv, &cfg), 0);
    cli_open(&f->c, km_http_server_port(f->srv));
}

static void teardown(fixture *f)
{
    cli_close(&f->c);
    ck_assert_int_eq(km_http_shutdown(f->srv, soon()), 0);
    km_http_router_free(f->rt);
}

/* ---- tests ---- */

static void literal_body(void *arg)
{
    (void)arg;
    fixture f;
    setup(&f);
    expect(&f.c, "GET", "/ping", 200, "ping GET");
    expect(&f.c, "POST", "/ping", 200, "ping POST");
    expect(&f.c, "GET", "/ping?x=1&y=/z", 200, "ping GET");
    expect(&f.c, "GET", "/", 200, "root GET");
    expect(&f.c, "GET", "/pin", 404, "404 page not found\n");
    expect(&f.c, "GET", "/pingg", 404, NULL);
    expect(&f.c, "GET", "/ping/", 404, NULL);
    expect(&f.c, "GET", "/ping/x", 404, NULL);
    expect(&f.c, "GET", "/PING", 404, NULL);
    expect(&f.c, "GET", "//ping", 404, NULL);
    expect(&f.c, "GET", "/trailing/", 200, "trailing GET");
    expect(&f.c, "GET", "/trailing", 404, NULL);
    /* absolute-form targets route by their path */
    expect(&f.c, "GET", "http://t/ping", 200, "ping GET");
    teardown(&f);
}

START_TEST(literal_routes)
{
    t_run(literal_body, NULL);
}
END_TEST

static void params_body(void *arg)
{
    (void)arg;
    fixture f;
    setup(&f);
    expect(&f.c, "GET", "/users/42", 200, "user GET id=42");
    expect(&f.c, "DELETE", "/users/42", 200, "user DELETE id=42");
    expect(&f.c, "GET", "/users/a%2Fb?q=1", 200, "user GET id=a%2Fb");
    expect(&f.c, "GET", "/users/me", 200, "me GET");           /* registered first */
    expect(&f.c, "GET", "/users/", 404, NULL);                 /* a parameter is never empty */
    expect(&f.c, "GET", "/users", 404, NULL);
    expect(&f.c, "GET", "/users/42/posts/7", 200, "post GET id=42 post=7");
    expect(&f.c, "GET", "/users/42/posts", 404, NULL);
    expect(&f.c, "GET", "/users/42/posts/", 404, NULL);
    expect(&f.c, "GET", "/users/42/posts/7/x", 404, NULL);
    /* registration order decides between a parameter and a later literal */
    expect(&f.c, "GET", "/late/literal", 200, "late-param GET id=literal");
    teardown(&f);
}

START_TEST(param_routes)
{
    t_run(params_body, NULL);
}
END_TEST

static void rest_body(void *arg)
{
    (void)arg;
    fixture f;
    setup(&f);
    expect(&f.c, "GET", "/api/v1/kv/a", 200, "kv GET key=a");
    expect(&f.c, "GET", "/api/v1/kv/a/b/c", 200, "kv GET key=a/b/c");
    expect(&f.c, "PUT", "/api/v1/kv/dir/sub/", 200, "kv PUT key=dir/sub/");
    expect(&f.c, "GET", "/api/v1/kv//lead", 200, "kv GET key=/lead");
    expect(&f.c, "GET", "/api/v1/kv/x?rev=3", 200, "kv GET key=x");
    expect(&f.c, "GET", "/api/v1/kv/", 200, "kv GET key=");     /* empty rest */
    expect(&f.c, "GET", "/api/v1/kv", 404, NULL);
    expect(&f.c, "GET", "/api/v1/kvx/a", 404, NULL);
    expect(&f.c, "GET", "/files/f1/deep/er/path.txt", 200, "files GET key=deep/er/path.txt a=f1");
    teardown(&f);
}

START_TEST(rest_routes)
{
    t_run(rest_body, NULL);
}
END_TEST

/* 405 names the methods of every route matching the path, each once. */
static void allow_is(cli *c, const char *method, const char *target, const char *const *want, int nwant)
{
    resp r;
    ck_assert_int_eq(req(c, method, target, &r), 405);
    ck_assert_str_eq(r.body, "405 method not allowed\n");
    char allow[256];
    ck_assert_msg(hdr(&r, "allow", allow, sizeof allow), "%s %s: no Allow header", method, target);
    int got = 0;
    for (char *save, *t = strtok_r(allow, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        bool known = false;
        for (int i = 0; i < nwant; i++)
            known |= !strcmp(t, want[i]);
        ck_assert_msg(known, "%s %s: unexpected %s in Allow", method, target, t);
        got++;
    }
    ck_assert_msg(got == nwant, "%s %s: Allow lists %d methods, want %d", method, target, got, nwant);
    free(r.body);
}

static void status_body(void *arg)
{
    (void)arg;
    fixture f;
    setup(&f);
    allow_is(&f.c, "PUT", "/ping", (const char *const[]){ "GET", "POST" }, 2);
    allow_is(&f.c, "POST", "/users/7", (const char *const[]){ "GET", "DELETE" }, 2);
    allow_is(&f.c, "DELETE", "/api/v1/kv/a/b", (const char *const[]){ "GET", "PUT" }, 2);
    /* "PATCH" is inside "PROPPATCH": both must still be listed */
    allow_is(&f.c, "GET", "/dav", (const char *const[]){ "PROPPATCH", "PATCH" }, 2);
    expect(&f.c, "PROPPATCH", "/dav", 200, "dav PROPPATCH");
    expect(&f.c, "PATCH", "/dav", 200, "dav PATCH");
    /* methods are case-sensitive */
    allow_is(&f.c, "get", "/ping", (const char *const[]){ "GET", "POST" }, 2);
    expect(&f.c, "DELETE", "/nowhere", 404, NULL);
    /* the connection survived every error answer */
    expect(&f.c, "GET", "/ping", 200, "ping GET");
    teardown(&f);
}

START_TEST(not_found_and_not_allowed)
{
    t_run(status_body, NULL);
}
END_TEST

static void head_body(void *arg)
{
    (void)arg;
    fixture f;
    setup(&f);
    /* answered by the GET route: the length of the GET body, no body bytes */
    resp r;
    ck_assert_int_eq(req(&f.c, "HEAD", "/users/42", &r), 200);
    char v[64];
    ck_assert(hdr(&r, "content-length", v, sizeof v));
    ck_assert_str_eq(v, "15");                      /* "user HEAD id=42" */
    free(r.body);
    /* the next response follows at once: no body bytes were sent */
    expect(&f.c, "GET", "/users/42", 200, "user GET id=42");
    ck_assert_int_eq(req(&f.c, "HEAD", "/nowhere", &r), 404);
    free(r.body);
    ck_assert_int_eq(req(&f.c, "HEAD", "/dav", &r), 405);
    free(r.body);
    expect(&f.c, "GET", "/ping", 200, "ping GET");
    teardown(&f);
}

START_TEST(head_through_get)
{
    t_run(head_body, NULL);
}
END_TEST

static void nop(km_http_req *r, km_http_resp *w, void *ud) { (void)r; (void)w; (void)ud; }

static void register_body(void *arg)
{
    (void)arg;
    km_http_router *rt;
    ck_assert_int_eq(km_http_router_new(&rt), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/a/:b", nop, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/a/:b", nop, NULL), -EEXIST);
    ck_assert_int_eq(km_http_route(rt, "POST", "/a/:b", nop, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/a/:c", nop, NULL), 0);     /* another pattern */
    ck_assert_int_eq(km_http_route(rt, "GET", "/x/*rest", nop, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "GET", "/x/*rest", nop, NULL), -EEXIST);
    static const char *const bad[] = {
        "", "ping", "*", ":id", "/a/*", "/a/*rest/b", "/*a/*b", "/a/:", "/:/b",
        "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
        "/a b", "/a\"b", "/a\\b", "/a\tb", "/caf\xc3\xa9", "/a\x7f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = km_http_route(rt, "GET", bad[i], nop, NULL);
        ck_assert_msg(rc == -EINVAL, "pattern '%s': %s, want EINVAL", bad[i], km_strerror(rc));
    }
    ck_assert_int_eq(km_http_route(rt, "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", nop, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, "", "/m", nop, NULL), -EINVAL);
    ck_assert_int_eq(km_http_route(rt, "VERYLONGMETHOD16", "/m", nop, NULL), -EINVAL);
    ck_assert_int_eq(km_http_route(rt, "VERYLONGMETHOD1", "/m", nop, NULL), 0);
    ck_assert_int_eq(km_http_route(rt, NULL, "/m", nop, NULL), -EINVAL);
    ck_assert_int_eq(km_http_route(rt, "GET", NULL, nop, NULL), -EINVAL);
    ck_assert_int_eq(km_http_route(rt, "GET", "/m", NULL, NULL), -EINVAL);
    ck_assert_int_eq(km_http_route(NULL, "GET", "/m", nop, NULL), -EINVAL);
    ck_assert_int_eq(km_http_router_new(NULL), -EINVAL);
    /* out of memory at each allocation: nothing registered, nothing leaked */
    for (long n = 1; n <= 2; n++) {
        t_fail_alloc_after(n);
        int rc = km_http_route(rt, "GET", "/oom", nop, NULL);
        t_fail_alloc_after(0);
        ck_assert_msg(rc == -ENOMEM, "failing allocation %ld: %s", n, km_strerror(rc));
    }
    ck_assert_int_eq(km_http_route(rt, "GET", "/oom", nop, NULL), 0);
    km_http_router_free(rt);
    km_http_router_free(NULL);
    t_fail_alloc_after(1);
    ck_assert_int_eq(km_http_router_new(&rt), -ENOMEM);
    t_fail_alloc_after(0);
}

START_TEST(registration)
{
    t_run(register_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http/router");
    TCase *tc = tcase_create("router");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, literal_routes);
    tcase_add_test(tc, param_routes);
    tcase_add_test(tc, rest_routes);
    tcase_add_test(tc, not_found_and_not_allowed);
    tcase_add_test(tc, head_through_get);
    tcase_add_test(tc, registration);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
