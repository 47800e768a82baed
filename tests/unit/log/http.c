/* SPDX-License-Identifier: MIT */
/* The request-log and span middleware through a real server and client round trip. */
#include "util.h"
#include <kumo/log.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEC 1000000000LL
#define TRACE "0af7651916cd43dd8448eb211c80319c"
#define CALLER "b7ad6b7169203331"

typedef struct {
    km_logger *log, *lf;        /* JSON, and logfmt for the request records */
    km_logger *as;              /* JSON, buffered: written by a thread of its own */
    char req_span[17], call_span[17], outgoing[80];
} world;

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    world *wd = ud;
    km_str p = km_http_path(r);
    if (p.n == 5 && !memcmp(p.p, "/fail", 5)) {
        km_http_send(w, 503, "text/plain", "no", 2);
        return;
    }
    if (p.n != 6 || memcmp(p.p, "/hello", 6)) {
        km_http_send(w, 200, "text/plain", "ok", 2);
        return;
    }
    /* a handler's outgoing call, as a child span of the request */
    const km_http_trace_ctx *t = km_http_trace(r);
    snprintf(wd->req_span, sizeof wd->req_span, "%s", t ? t->span_id : "");
    km_span sp;
    km_span_start_req(&sp, wd->log, "call backend", r);
    km_http_kv kv[2];
    char buf[KM_HTTP_TRACE_BUF];
    km_span_headers(&sp, kv, buf);
    snprintf(wd->outgoing, sizeof wd->outgoing, "%s", kv[0].value);
    snprintf(wd->call_span, sizeof wd->call_span, "%s", sp.ctx.span_id);
    km_span_end(&sp, 0);
    km_http_send(w, 200, "text/plain", "ok", 2);
}

static const char *sget(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    return s ? s : "(missing)";
}

static char path[64], lfpath[64], aspath[64];
/* A path that needs escapes (and quotes in logfmt) and more room than the
 * thread's record buffer has at six bytes per byte. */
static char longp[800];

static void body(void *arg)
{
    world wd = { 0 };
    km_log_config lc = { .path = path };
    REQUIRE_EQ(km_log_new(&wd.log, &lc), 0);
    km_log_config lfc = { .path = lfpath, .format = KM_LOG_LOGFMT };
    REQUIRE_EQ(km_log_new(&wd.lf, &lfc), 0);
    km_log_config asc = { .path = aspath, .flush_interval = 10 * 1000000LL };
    REQUIRE_EQ(km_log_new(&wd.as, &asc), 0);
    km_http_mw chain[] = {
        { km_http_mw_request_id, NULL },
        { km_http_mw_trace, NULL },
        { km_log_mw_request, wd.log },
        { km_log_mw_request, wd.lf },
        { km_log_mw_request, wd.as },
        { km_log_mw_span, wd.log },
    };
    km_http_config cfg = { .addr = "127.0.0.1:0", .handler = handler, .ud = &wd,
                           .middleware = chain, .nmiddleware = 6 };
    km_http_server *srv;
    REQUIRE_EQ(km_http_serve(&srv, &cfg), 0);
    char url[64], url2[64], url3[900];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", km_http_server_port(srv));
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 3] = '"';
    longp[sizeof longp - 2] = '\\';
    snprintf(url3, sizeof url3, "http://127.0.0.1:%d%s", km_http_server_port(srv), longp);
    snprintf(url2, sizeof url2, "http://127.0.0.1:%d/fail", km_http_server_port(srv));

    km_http_client *cl;
    REQUIRE_EQ(km_http_client_new(&cl, NULL), 0);
    km_http_kv hdrs[] = {
        { "traceparent", "00-" TRACE "-" CALLER "-01" },
        { "tracestate", "vendor=1" },
        { "X-Request-ID", "req-7" },
    };
    km_http_response *resp;
    REQUIRE_EQ(km_http_do(cl, "GET", url, hdrs, 3, NULL, 0, km_now() + 5 * SEC, &resp), 0);
    REQUIRE_EQ(km_http_response_status(resp), 200);
    km_http_response_free(resp);
    REQUIRE_EQ(km_http_do(cl, "POST", url2, NULL, 0, "abc", 3, km_now() + 5 * SEC, &resp), 0);
    REQUIRE_EQ(km_http_response_status(resp), 503);
    km_http_response_free(resp);
    REQUIRE_EQ(km_http_do(cl, "GET", url3, NULL, 0, NULL, 0, km_now() + 5 * SEC, &resp), 0);
    REQUIRE_EQ(km_http_response_status(resp), 200);
    km_http_response_free(resp);
    km_http_client_free(cl);
    REQUIRE_EQ(km_http_shutdown(srv, km_now() + SEC), 0);
    km_log_free(wd.log);
    km_log_free(wd.lf);
    km_log_free(wd.as);                 /* writes what it holds */

    char want[80];
    snprintf(want, sizeof want, "00-" TRACE "-%s-01", wd.call_span);
    ck_assert_str_eq(wd.outgoing, want);

    FILE *f = fopen(path, "r");
    ck_assert(f != NULL);
    char line[4096];
    int n = 0, seen = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        ck_assert_msg(j != NULL, "%s: %s", je.text, line);
        const char *msg = sget(j, "msg"), *name = sget(j, "name");
        ck_assert_uint_eq(strlen(sget(j, "time")), 27);
        if (!strcmp(msg, "span") && !strcmp(name, "call backend")) {
            ck_assert_str_eq(sget(j, "trace_id"), TRACE);
            ck_assert_str_eq(sget(j, "parent_id"), wd.req_span);
            ck_assert_str_eq(sget(j, "span_id"), wd.call_span);
            ck_assert_str_eq(sget(j, "status"), "ok");
            seen |= 1;
        } else if (!strcmp(msg, "span") && !strcmp(name, "GET /hello")) {
            ck_assert_str_eq(sget(j, "trace_id"), TRACE);       /* continued */
            ck_assert_str_eq(sget(j, "parent_id"), CALLER);     /* the caller's span */
            ck_assert_str_eq(sget(j, "span_id"), wd.req_span);
            ck_assert_int_eq(json_integer_value(json_object_get(j, "code")), 200);
            ck_assert(json_integer_value(json_object_get(j, "duration_us")) >= 0);
            ck_assert_uint_eq(strlen(sget(j, "start")), 27);
            seen |= 2;
        } else if (!strcmp(msg, "span") && !strcmp(name, "POST /fail")) {
            ck_assert_str_eq(sget(j, "level"), "warn");
            ck_assert_str_eq(sget(j, "status"), "error");
            ck_assert_str_eq(sget(j, "parent_id"), "");        /* a new trace */
            seen |= 4;
        } else if (!strcmp(msg, "span") && !strncmp(name, "GET /aaa", 8)) {
            seen |= 32;
        } else if (!strcmp(msg, "request") && !strcmp(sget(j, "path"), longp)) {
            ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 200);
            seen |= 64;
        } else if (!strcmp(msg, "request") && !strcmp(sget(j, "path"), "/hello")) {
            ck_assert_str_eq(sget(j, "level"), "info");
            ck_assert_str_eq(sget(j, "method"), "GET");
            ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 200);
            ck_assert_str_eq(sget(j, "request_id"), "req-7");
            ck_assert_str_eq(sget(j, "trace_id"), TRACE);
            ck_assert_str_eq(sget(j, "span_id"), wd.req_span);
            ck_assert(!strncmp(sget(j, "remote"), "127.0.0.1:", 10));
            ck_assert(json_is_integer(json_object_get(j, "latency_us")));
            ck_assert_ptr_null(json_object_get(j, "req_bytes"));
            seen |= 8;
        } else if (!strcmp(msg, "request") && !strcmp(sget(j, "path"), "/fail")) {
            ck_assert_str_eq(sget(j, "level"), "warn");
            ck_assert_str_eq(sget(j, "method"), "POST");
            ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 503);
            ck_assert_int_eq(json_integer_value(json_object_get(j, "req_bytes")), 3);
            ck_assert_uint_eq(strlen(sget(j, "request_id")), 16);
            seen |= 16;
        } else {
            ck_abort_msg("unexpected record %s", line);
        }
        json_decref(j);
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 7);
    ck_assert_int_eq(seen, 127);

    /* the buffered logger's request records: byte for byte the same */
    f = fopen(path, "r");
    FILE *fa = fopen(aspath, "r");
    ck_assert(f != NULL && fa != NULL);
    char aline[4096];
    n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"msg\":\"request\""))
            continue;
        ck_assert_msg(fgets(aline, sizeof aline, fa) != NULL, "missing %s", line);
        ck_assert_str_eq(aline, line);
        n++;
    }
    ck_assert_msg(fgets(aline, sizeof aline, fa) == NULL, "extra %s", aline);
    ck_assert_int_eq(n, 3);
    fclose(f);
    fclose(fa);

    /* the same request records in logfmt, with a wall-clock time of now */
    f = fopen(lfpath, "r");
    ck_assert(f != NULL);
    n = 0;
    char want1[256], want2[128];
    snprintf(want1, sizeof want1, " request_id=req-7 trace_id=" TRACE " span_id=%s remote=127.0.0.1:",
             wd.req_span);
    snprintf(want2, sizeof want2, " level=warn msg=request method=POST path=/fail status=503 latency_us=");
    while (fgets(line, sizeof line, f)) {
        ck_assert_msg(!strncmp(line, "time=", 5) && line[5 + 26] == 'Z', "%s", line);
        struct tm tm = { 0 };
        ck_assert(strptime(line + 5, "%Y-%m-%dT%H:%M:%S", &tm) != NULL);
        time_t at = timegm(&tm), now = time(NULL);
        ck_assert_msg(at <= now && at >= now - 30, "%s", line);
        if (n == 0) {
            ck_assert_msg(strstr(line, " level=info msg=request method=GET path=/hello status=200 latency_us="),
                          "%s", line);
            ck_assert_msg(strstr(line, want1), "%s", line);
        } else if (n == 1) {
            ck_assert_msg(strstr(line, want2) && strstr(line, " req_bytes=3 "), "%s", line);
        } else {
            char want3[1024];
            snprintf(want3, sizeof want3, " path=\"%.*s\\\"\\\\\" status=200 ",
                     (int)sizeof longp - 3, longp);
            ck_assert_msg(strstr(line, want3), "%s", line);
        }
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 3);
}

START_TEST(request_and_span)
{
    t_procs(2);
    snprintf(path, sizeof path, "/tmp/kumo-log-http-%d.log", (int)getpid());
    snprintf(lfpath, sizeof lfpath, "/tmp/kumo-log-http-%d.logfmt", (int)getpid());
    snprintf(aspath, sizeof aspath, "/tmp/kumo-log-http-%d.async", (int)getpid());
    unlink(path);
    unlink(lfpath);
    unlink(aspath);
    t_run(body, NULL);
    unlink(path);
    unlink(lfpath);
    unlink(aspath);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log/http");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, request_and_span);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
