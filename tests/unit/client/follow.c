/* SPDX-License-Identifier: MIT */
/* The config follower against an in-process kumo serve: the first
 * publish, a gray release selecting its labels, promote, rollback,
 * abandon; whole configurations for readers; a server restart with a
 * release published while it was away; stop while connected; refusals,
 * authentication and TLS. And its parsers, line by line. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kumo/auth.h>
#include <kumo/client.h>
#include <kumo/http.h>
#include <kumo/serve.h>
#include <kumo/tls.h>
#include "client/follow-int.h"

#define SEC 1000000000LL
#define MS  1000000LL

typedef struct {
    char            dir[64];
    char            listen[32];     /* "127.0.0.1:PORT" once started */
    char            data[80];
    km_serve       *srv;
    km_http_client *http;
    km_client      *c;
    km_tls         *stls, *ctls;    /* the TLS test's: the server's, the follower's */
    km_tls         *htls;           /* and the REST calls' (see make_cert) */
    km_auth        *auth;           /* the authentication test's */
} fx;

static void srv_start(fx *f)
{
    km_serve_config sc = { .listen = f->listen, .data_dir = f->data, .map_size = 64 << 20,
                           .no_metrics = true, .tls = f->stls, .auth = f->auth };
    int rc = -1;
    /* The port of a server just stopped may linger a moment. */
    for (int i = 0; i < 100 && rc; i++)
        if ((rc = km_serve_start(&f->srv, &sc)))
            km_sleep(20 * MS);
    ck_assert_msg(rc == 0, "serve: %s", km_strerror(rc));
    snprintf(f->listen, sizeof f->listen, "127.0.0.1:%d", km_serve_port(f->srv));
}

static void srv_stop(fx *f)
{
    ck_assert_int_eq(km_serve_stop(f->srv, km_now() + 5 * SEC), 0);
    f->srv = NULL;
    /* Its pooled connections went with the server: a POST is never
     * retried on a new one. */
    if (f->http) {
        km_http_client_free(f->http);
        km_http_client_config hc = { .tls = f->htls };
        ck_assert_int_eq(km_http_client_new(&f->http, &hc), 0);
    }
}

/* A self-signed certificate for 127.0.0.1 in the test's directory. */
static void make_cert(fx *f)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout k.pem "
             "-out c.pem 2>/dev/null", f->dir);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
    char err[256];
    km_tls_config sc = { .cert_file = t_path(f->dir, "c.pem"), .key_file = t_path(f->dir, "k.pem") };
    ck_assert_msg(km_tls_server_new(&f->stls, &sc, err, sizeof err) == 0, "%s", err);
    km_tls_config cc = { .trusted_ca_file = t_path(f->dir, "c.pem") };
    ck_assert_msg(km_tls_client_new(&f->ctls, &cc, err, sizeof err) == 0, "%s", err);
    /* A context of their own for the REST calls: handshakes on one client
     * context from two threads at once make ThreadSanitizer report a race
     * inside libcrypto (ASN1_STRING_cmp against ASN1_STRING_set under
     * the X509 store's lock, from km__tls_connect), which it cannot see
     * the locking of; not this test's subject. */
    ck_assert_msg(km_tls_client_new(&f->htls, &cc, err, sizeof err) == 0, "%s", err);
}

static void up_with(fx *f, bool tls, km_auth *auth)
{
    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/kumo-follow-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->data, sizeof f->data, "%s/d", f->dir);
    strcpy(f->listen, "127.0.0.1:0");
    f->auth = auth;
    if (tls)
        make_cert(f);
    srv_start(f);
    km_http_client_config hc = { .tls = f->htls };
    ck_assert_int_eq(km_http_client_new(&f->http, &hc), 0);
    const char *eps[] = { f->listen };
    km_client_config cc = { .endpoints = eps, .nendpoints = 1, .dial_timeout = SEC,
                            .tls = f->ctls };
    ck_assert_int_eq(km_client_new(&f->c, &cc), 0);
}

static void up(fx *f) { up_with(f, false, NULL); }

static void down(fx *f)
{
    km_client_free(f->c);
    km_http_client_free(f->http);
    f->http = NULL;
    if (f->srv)
        srv_stop(f);
    km_tls_free(f->stls);
    km_tls_free(f->ctls);
    km_tls_free(f->htls);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* method path (under /api/v1/ns/) with body; checks the status. */
static void api_as(fx *f, const char *token, const char *method, const char *path,
                   const char *body, int status)
{
    char url[256];
    snprintf(url, sizeof url, "%s://%s/api/v1/ns/%s", f->ctls ? "https" : "http", f->listen, path);
    km_http_kv h = { "Authorization", token };
    km_http_response *r;
    int rc = km_http_do(f->http, method, url, &h, token ? 1 : 0, body, body ? strlen(body) : 0,
                        km_now() + 10 * SEC, &r);
    ck_assert_msg(rc == 0, "%s %s: %s", method, path, km_strerror(rc));
    km_str b = km_http_response_body(r);
    ck_assert_msg(km_http_response_status(r) == status, "%s %s: %d (want %d): %.*s", method,
                  path, km_http_response_status(r), status, (int)b.n, b.p);
    km_http_response_free(r);
}

static void api(fx *f, const char *method, const char *path, const char *body, int status)
{
    api_as(f, NULL, method, path, body, status);
}

/* Sets the items a, b and c of app/db all to v (a reader must never see
 * two of them differ). */
static void set_all(fx *f, const char *v)
{
    static const char *const keys[] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++) {
        char p[64];
        snprintf(p, sizeof p, "app/db/items/%s", keys[i]);
        api(f, "PUT", p, v, 200);
    }
}

/* Waits for release on fl and checks its gray name and item a. */
static void expect(km_ns_follower *fl, int64_t release, const char *gray, const char *a)
{
    int rc = km_ns_follower_wait(fl, release, km_now() + 10 * SEC);
    ck_assert_msg(rc == 0, "waiting for release %lld: %s", (long long)release, km_strerror(rc));
    const km_ns_config *c = km_ns_follower_current(fl);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->release, release);
    ck_assert_str_eq(c->ns, "app/db");
    ck_assert_str_eq(c->format, "properties");
    if (gray)
        ck_assert_str_eq(c->gray ? c->gray : "(none)", gray);
    else
        ck_assert_ptr_null(c->gray);
    const km_ns_item *it = km_ns_config_get(c, "a");
    ck_assert_ptr_nonnull(it);
    ck_assert_str_eq(it->value, a);
    ck_assert_int_eq(it->value_len, strlen(a));
    ck_assert_ptr_null(km_ns_config_get(c, "zz"));
    km_ns_config_release(c);
}

/* What on_change saw. */
typedef struct {
    atomic_int n;
    int64_t    rel[32];
} changes;

static void on_change(void *ud, const km_ns_config *cfg)
{
    changes *ch = ud;
    int i = atomic_load(&ch->n);
    if (i < 32)
        ch->rel[i] = cfg->release;
    atomic_store(&ch->n, i + 1);
}

/* A reader checking every configuration it takes is whole: its items all
 * carry one value. */
typedef struct {
    km_ns_follower *fl;
    atomic_bool     stop;
    atomic_long     reads, torn;
    km_wg          *wg;
} reader;

static void read_loop(void *arg)
{
    reader *r = arg;
    while (!atomic_load(&r->stop)) {
        const km_ns_config *c = km_ns_follower_current(r->fl);
        if (c) {
            const km_ns_item *a = km_ns_config_get(c, "a"), *b = km_ns_config_get(c, "b"),
                             *x = km_ns_config_get(c, "c");
            if (!a || !b || !x || strcmp(a->value, b->value) || strcmp(a->value, x->value))
                atomic_fetch_add(&r->torn, 1);
            atomic_fetch_add(&r->reads, 1);
        }
        km_ns_config_release(c);
        km_yield();
    }
    km_wg_done(r->wg);
}

static km_ns_follower *follow(fx *f, const char *labels, changes *ch)
{
    km_ns_follow_config fc = { .ns = "app/db", .labels = labels,
                               .on_change = ch ? on_change : NULL, .ud = ch };
    km_ns_follower *fl;
    ck_assert_int_eq(km_ns_follow(f->c, &fc, &fl), 0);
    return fl;
}

static void lifecycle_body(void *arg)
{
    fx f;
    up(&f);
    changes che = { 0 };
    /* Before the namespace exists: nothing held, nothing refused. */
    km_ns_follower *none = follow(&f, NULL, NULL), *east = follow(&f, "zone=east", &che),
                   *west = follow(&f, "zone=west,tier=web", NULL);
    ck_assert_ptr_null(km_ns_follower_current(east));
    ck_assert_int_eq(km_ns_follower_wait(east, 0, km_now() + 100 * MS), -ETIMEDOUT);
    api(&f, "POST", "app/db", "{\"format\":\"properties\"}", 201);
    set_all(&f, "r1");
    reader rd = { .fl = east };
    ck_assert_int_eq(km_wg_new(&rd.wg), 0);
    km_wg_add(rd.wg, 1);
    ck_assert_int_eq(km_go(read_loop, &rd), 0);

    api(&f, "POST", "app/db/publish", "{\"name\":\"v1\"}", 201);
    expect(none, 1, NULL, "r1");
    expect(east, 1, NULL, "r1");
    expect(west, 1, NULL, "r1");

    /* a gray release for zone=east: east alone switches */
    set_all(&f, "r2");
    api(&f, "POST", "app/db/gray", "{\"name\":\"canary\",\"labels\":\"zone=east\"}", 201);
    expect(east, 2, "canary", "r2");
    api(&f, "PUT", "app/db/items/other", "x", 200);
    api(&f, "POST", "app/db/publish", "{\"name\":\"v3\"}", 201);   /* main moves on */
    expect(west, 3, NULL, "r2");
    expect(none, 3, NULL, "r2");
    expect(east, 2, "canary", "r2");            /* still the gray release */

    /* promote: everyone on the new main release */
    api(&f, "POST", "app/db/gray/canary/promote", "{}", 201);
    expect(east, 4, NULL, "r2");
    expect(west, 4, NULL, "r2");

    /* rollback to 1: a new release with 1's items */
    api(&f, "POST", "app/db/rollback", "{\"to\":1}", 201);
    expect(east, 5, NULL, "r1");
    expect(west, 5, NULL, "r1");
    expect(none, 5, NULL, "r1");

    /* a gray release abandoned: back to main, a lower id */
    set_all(&f, "r6");
    api(&f, "POST", "app/db/gray", "{\"name\":\"g2\",\"labels\":{\"zone\":\"east\"}}", 201);
    expect(east, 6, "g2", "r6");
    api(&f, "DELETE", "app/db/gray/g2", NULL, 200);
    expect(east, 5, NULL, "r1");

    atomic_store(&rd.stop, true);
    km_wg_wait(rd.wg);
    km_wg_free(rd.wg);
    ck_assert_int_gt(atomic_load(&rd.reads), 0);
    ck_assert_int_eq(atomic_load(&rd.torn), 0);
    /* on_change: once per switch, in order, nothing repeated */
    static const int64_t want[] = { 1, 2, 4, 5, 6, 5 };
    ck_assert_int_eq(atomic_load(&che.n), 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(che.rel[i], want[i]);
    ck_assert_int_eq(km_ns_follower_streams(east), 1);
    km_ns_follower_stop(none);
    km_ns_follower_stop(east);
    km_ns_follower_stop(west);
    down(&f);
}

START_TEST(lifecycle) { t_run(lifecycle_body, NULL); }
END_TEST

/* The server restarts mid-stream, and a release is published while the
 * follower cannot reach it (on another port): it reconnects and catches
 * up from the stream's first event. */
static void restart_body(void *arg)
{
    fx f;
    up(&f);
    api(&f, "POST", "app/db", "{\"format\":\"properties\"}", 201);
    set_all(&f, "r1");
    api(&f, "POST", "app/db/publish", "{\"name\":\"v1\"}", 201);
    changes ch = { 0 };
    km_ns_follower *fl = follow(&f, "zone=east", &ch);
    expect(fl, 1, NULL, "r1");

    /* restarted in place: the same release again, no switch */
    srv_stop(&f);
    srv_start(&f);
    for (int i = 0; i < 500 && km_ns_follower_streams(fl) < 2; i++)
        km_sleep(10 * MS);
    ck_assert_int_ge(km_ns_follower_streams(fl), 2);
    api(&f, "POST", "app/db/publish", "{\"name\":\"v1\"}", 409);   /* nothing changed */
    set_all(&f, "r2");
    api(&f, "POST", "app/db/publish", "{\"name\":\"v2\"}", 201);
    expect(fl, 2, NULL, "r2");

    /* away: published elsewhere, then back on the follower's port */
    char port[32];
    snprintf(port, sizeof port, "%s", f.listen);
    srv_stop(&f);
    strcpy(f.listen, "127.0.0.1:0");
    srv_start(&f);
    set_all(&f, "r3");
    api(&f, "POST", "app/db/gray", "{\"name\":\"canary\",\"labels\":\"zone=east\"}", 201);
    srv_stop(&f);
    snprintf(f.listen, sizeof f.listen, "%s", port);
    int64_t before = km_ns_follower_streams(fl);
    srv_start(&f);
    expect(fl, 3, "canary", "r3");
    ck_assert_int_gt(km_ns_follower_streams(fl), before);
    ck_assert_int_eq(atomic_load(&ch.n), 3);
    km_ns_follower_stop(fl);
    down(&f);
}

START_TEST(restart) { t_run(restart_body, NULL); }
END_TEST

/* Stopping while connected, with and without a configuration, and while
 * the server is gone (backing off); a configuration taken stays valid. */
static void stop_body(void *arg)
{
    fx f;
    up(&f);
    km_ns_follower *empty = follow(&f, NULL, NULL);
    for (int i = 0; i < 500 && km_ns_follower_streams(empty) < 1; i++)
        km_sleep(10 * MS);
    ck_assert_int_eq(km_ns_follower_streams(empty), 1);
    km_ns_follower_stop(empty);                 /* connected, nothing published */

    api(&f, "POST", "app/db", "{\"format\":\"properties\"}", 201);
    set_all(&f, "r1");
    api(&f, "POST", "app/db/publish", "{\"name\":\"v1\"}", 201);
    km_ns_follower *fl = follow(&f, NULL, NULL);
    expect(fl, 1, NULL, "r1");
    const km_ns_config *held = km_ns_follower_current(fl);
    km_ns_follower_stop(fl);                    /* connected, holding one */
    ck_assert_int_eq(held->release, 1);
    ck_assert_int_eq(held->nitems, 3);
    ck_assert_str_eq(held->items[0].key, "a");
    ck_assert_str_eq(held->items[2].key, "c");
    ck_assert_str_eq(held->name, "v1");
    ck_assert_int_gt(held->mod_revision, 0);
    ck_assert_int_ge(held->revision, held->mod_revision);
    km_ns_config_release(held);

    fl = follow(&f, NULL, NULL);
    expect(fl, 1, NULL, "r1");
    srv_stop(&f);
    km_sleep(100 * MS);
    km_ns_follower_stop(fl);                    /* reconnecting */
    down(&f);
}

START_TEST(stop) { t_run(stop_body, NULL); }
END_TEST

/* Bad input is refused at once or by the server (and ends the follower). */
static void refused_body(void *arg)
{
    fx f;
    up(&f);
    km_ns_follower *fl;
    km_ns_follow_config bad[] = {
        { .ns = NULL }, { .ns = "nodslash" }, { .ns = "a/b/c" }, { .ns = "a b/c" },
        { .ns = "/b" }, { .ns = "a/" }, { .ns = "a/b", .token = "x\r\nEvil: 1" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(km_ns_follow(f.c, &bad[i], &fl), -EINVAL);
    km_ns_follow_config fc = { .ns = "app/db", .labels = "zone" };   /* no value */
    ck_assert_int_eq(km_ns_follow(f.c, &fc, &fl), 0);
    ck_assert_int_eq(km_ns_follower_wait(fl, 0, km_now() + 10 * SEC), -EINVAL);
    km_ns_follower_stop(fl);
    down(&f);
}

START_TEST(refused) { t_run(refused_body, NULL); }
END_TEST

/* With authentication on: no token is -EACCES; root's token follows. */
static void auth_body(void *arg)
{
    km_auth *a;
    km_auth_config ac = { .kdf_iter = 1000 };
    const char *err = NULL;
    ck_assert_int_eq(km_auth_open(&a, &ac, &err), 0);
    ck_assert_int_eq(km_auth_user_add(a, "root", "rootpw", false, NULL), 0);
    ck_assert_int_eq(km_auth_role_add(a, "root", NULL), 0);
    ck_assert_int_eq(km_auth_user_grant(a, "root", "root", NULL), 0);
    ck_assert_int_eq(km_auth_enable(a, NULL), 0);
    char tok[2048], bearer[2100];
    ck_assert_int_eq(km_auth_authenticate(a, "root", "rootpw", "test", tok, sizeof tok), 0);
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    fx f;
    up_with(&f, false, a);
    api_as(&f, bearer, "POST", "app/db", "{\"format\":\"properties\"}", 201);
    api_as(&f, bearer, "PUT", "app/db/items/a", "1", 200);
    api_as(&f, bearer, "POST", "app/db/publish", "{\"name\":\"v1\"}", 201);
    km_ns_follower *fl;
    km_ns_follow_config fc = { .ns = "app/db" };
    ck_assert_int_eq(km_ns_follow(f.c, &fc, &fl), 0);
    ck_assert_int_eq(km_ns_follower_wait(fl, 0, km_now() + 10 * SEC), -EACCES);
    km_ns_follower_stop(fl);
    fc.token = bearer;
    ck_assert_int_eq(km_ns_follow(f.c, &fc, &fl), 0);
    ck_assert_int_eq(km_ns_follower_wait(fl, 1, km_now() + 10 * SEC), 0);
    km_ns_follower_stop(fl);
    down(&f);
    km_auth_free(a);
}

START_TEST(auth) { t_run(auth_body, NULL); }
END_TEST

/* Over the client's TLS. */
static void tls_body(void *arg)
{
    fx f;
    up_with(&f, true, NULL);
    km_ns_follower *fl = follow(&f, "zone=east", NULL);
    api(&f, "POST", "app/db", "{\"format\":\"properties\"}", 201);
    set_all(&f, "r1");
    api(&f, "POST", "app/db/publish", "{\"name\":\"v1\"}", 201);
    expect(fl, 1, NULL, "r1");
    set_all(&f, "r2");
    api(&f, "POST", "app/db/gray", "{\"name\":\"canary\",\"labels\":\"zone=east\"}", 201);
    expect(fl, 2, "canary", "r2");
    km_ns_follower_stop(fl);
    down(&f);
}

START_TEST(tls) { t_run(tls_body, NULL); }
END_TEST

/* ---- the parsers ---- */

/* Feeds text line by line; the events' data joined by '|' (config ones
 * prefixed "c:"), their ids after '#'. */
static void sse_run(km__sse *s, const char *text, char *out, size_t n)
{
    out[0] = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ln = nl ? (size_t)(nl - p) : strlen(p);
        km__sse_ev ev;
        int rc = km__sse_line(s, p, ln, &ev);
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            ck_assert_int_eq(ev.data[ev.n], 0);
            snprintf(out + strlen(out), n - strlen(out), "%s%s%.*s#%lld", *out ? "|" : "",
                     ev.config ? "c:" : "", (int)ev.n, ev.data, (long long)ev.id);
        }
        p += ln + (nl ? 1 : 0);
    }
}

static void sse_body(void *arg)
{
    km__sse s = { .id = -1 };
    char out[256];
    sse_run(&s, ": hello\n\nevent: config\ndata: {\"a\":1}\nid: 7\n\n", out, sizeof out);
    ck_assert_str_eq(out, "c:{\"a\":1}#7");
    /* CRLF, data joined, no space after the colon, another type, id kept */
    sse_run(&s, "data:x\r\ndata:  y\r\n\r\nevent: configs\ndata\n\n", out, sizeof out);
    ck_assert_str_eq(out, "x\n y#7|#7");
    /* a bad id; a blank line with nothing; an event without a blank line yet */
    sse_run(&s, "id: 12a\n\n\nevent:config\ndata: z\n", out, sizeof out);
    ck_assert_str_eq(out, "");
    sse_run(&s, "\n", out, sizeof out);
    ck_assert_str_eq(out, "c:z#-1");
    km__sse_free(&s);

    /* over the limit: the event is dropped to its end, the next one is fine */
    s = (km__sse){ .id = -1, .max = 8 };
    km__sse_ev ev;
    ck_assert_int_eq(km__sse_line(&s, "data: 12345", 11, &ev), 0);
    ck_assert_int_eq(km__sse_line(&s, "data: 6789", 10, &ev), -EMSGSIZE);
    ck_assert_int_eq(km__sse_line(&s, "data: ok", 8, &ev), 0);
    ck_assert_int_eq(km__sse_line(&s, "", 0, &ev), 0);
    ck_assert_int_eq(km__sse_line(&s, "data: ok", 8, &ev), 0);
    ck_assert_int_eq(km__sse_line(&s, "", 0, &ev), 1);
    ck_assert_str_eq(ev.data, "ok");
    km__sse_free(&s);
}

START_TEST(sse) { t_run(sse_body, NULL); }
END_TEST

static int parse(const char *js, km_ns_config **out)
{
    return km__ns_config_parse(js, strlen(js), out);
}

static void config_body(void *arg)
{
    km_ns_config *c;
    ck_assert_int_eq(parse("{\"ns\":\"a/b\",\"format\":\"text\",\"release\":3,\"name\":\"v3\","
                           "\"gray\":\"g\",\"revision\":9,\"mod_revision\":8,\"items\":"
                           "{\"zz\":\"1\",\"b\":\"\\u00e9\\n\",\"a\":\"\",\"ab\":\"x\"}}", &c), 0);
    ck_assert_str_eq(c->ns, "a/b");
    ck_assert_str_eq(c->format, "text");
    ck_assert_str_eq(c->name, "v3");
    ck_assert_str_eq(c->gray, "g");
    ck_assert_int_eq(c->release, 3);
    ck_assert_int_eq(c->revision, 9);
    ck_assert_int_eq(c->mod_revision, 8);
    ck_assert_int_eq(c->nitems, 4);
    static const char *const order[] = { "a", "ab", "b", "zz" };
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(c->items[i].key, order[i]);
    ck_assert_str_eq(km_ns_config_get(c, "b")->value, "\xc3\xa9\n");
    ck_assert_int_eq(km_ns_config_get(c, "b")->value_len, 3);
    ck_assert_int_eq(km_ns_config_get(c, "a")->value_len, 0);
    ck_assert_ptr_null(km_ns_config_get(c, "abc"));
    ck_assert_ptr_null(km_ns_config_get(c, ""));
    km_ns_config_ref(c);
    km_ns_config_release(c);
    km_ns_config_release(c);

    ck_assert_int_eq(parse("{\"ns\":\"a/b\",\"format\":\"json\",\"release\":1,\"name\":\"\","
                           "\"gray\":null,\"revision\":2,\"mod_revision\":2,\"items\":{}}", &c), 0);
    ck_assert_ptr_null(c->gray);
    ck_assert_int_eq(c->nitems, 0);
    ck_assert_ptr_null(km_ns_config_get(c, "a"));
    km_ns_config_release(c);

    static const char *const bad[] = {
        "", "[]", "{", "null",
        "{\"format\":\"json\",\"release\":1,\"name\":\"\",\"gray\":null,\"revision\":2,\"mod_revision\":2,\"items\":{}}",
        "{\"ns\":\"a/b\",\"format\":\"json\",\"release\":0,\"name\":\"\",\"gray\":null,\"revision\":2,\"mod_revision\":2,\"items\":{}}",
        "{\"ns\":\"a/b\",\"format\":\"json\",\"release\":1,\"name\":\"\",\"gray\":1,\"revision\":2,\"mod_revision\":2,\"items\":{}}",
        "{\"ns\":\"a/b\",\"format\":\"json\",\"release\":1,\"name\":\"\",\"gray\":null,\"revision\":\"2\",\"mod_revision\":2,\"items\":{}}",
        "{\"ns\":\"a/b\",\"format\":\"json\",\"release\":1,\"name\":\"\",\"gray\":null,\"revision\":2,\"mod_revision\":2,\"items\":{\"a\":1}}",
        "{\"ns\":\"a/b\",\"format\":\"json\",\"release\":1,\"name\":\"\",\"gray\":null,\"revision\":2,\"mod_revision\":2,\"items\":{\"a\":\"\\u0000\"}}",
        "{\"ns\":\"a/b\",\"format\":\"json\",\"release\":1,\"name\":\"\",\"gray\":null,\"revision\":2,\"mod_revision\":2,\"items\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (km_ns_config *)1;
        ck_assert_msg(parse(bad[i], &c) == -EBADMSG, "accepted: %s", bad[i]);
        ck_assert_ptr_null(c);
    }
}

START_TEST(config) { t_run(config_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("client/follow");
    TCase *tc = tcase_create("follow");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lifecycle);
    tcase_add_test(tc, restart);
    tcase_add_test(tc, stop);
    tcase_add_test(tc, refused);
    tcase_add_test(tc, auth);
    tcase_add_test(tc, tls);
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_add_test(tc, sse);
    tcase_add_test(tc, config);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
