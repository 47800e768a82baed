/* SPDX-License-Identifier: MIT */
/* The client's statuses for what is not a proper gRPC answer: HTTP statuses, broken responses, resets, refused and closed connections. */
#include "peer.h"
#include "http/h2raw.h"
#include "grpc/grpc-int.h"

static int64_t soon(void) { return km_now() + 20 * SEC; }

/* ---- a misbehaving server on kumo's HTTP/2 server ---- */

static bool path_is(km_http_req *r, const char *p)
{
    km_str s = km_http_path(r);
    return s.n == strlen(p) && !memcmp(s.p, p, s.n);
}

static void bad_server(km_http_req *r, km_http_resp *w, void *ud)
{
    static const int statuses[] = { 400, 401, 403, 404, 429, 500, 502, 503, 504 };
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        char p[16];
        snprintf(p, sizeof p, "/s%d", statuses[i]);
        if (path_is(r, p)) {
            km_http_send(w, statuses[i], "text/plain", "no", 2);
            return;
        }
    }
    uint8_t msg[16];
    km__grpc_prefix(msg, false, 2);
    memcpy(msg + 5, "ok", 2);
    if (path_is(r, "/html")) {
        km_http_send(w, 200, "text/html", "<p>hi</p>", 9);
    } else if (path_is(r, "/notrailers")) {
        km_http_send(w, 200, "application/grpc", msg, 7);
    } else if (path_is(r, "/nostatus")) {
        km_http_set_header(w, "content-type", "application/grpc");
        km_http_write(w, msg, 7);
        km_http_set_trailer(w, "x-other", "1");
    } else if (path_is(r, "/badstatus")) {
        km_http_set_header(w, "content-type", "application/grpc");
        km_http_write(w, msg, 7);
        km_http_set_trailer(w, "grpc-status", "zero");
    } else if (path_is(r, "/compressed")) {
        km_http_set_header(w, "content-type", "application/grpc");
        msg[0] = 1;
        km_http_write(w, msg, 7);
        km_http_set_trailer(w, "grpc-status", "0");
    } else if (path_is(r, "/truncated")) {
        km_http_set_header(w, "content-type", "application/grpc");
        km_http_write(w, msg, 6);
        km_http_set_trailer(w, "grpc-status", "0");
    } else if (path_is(r, "/two")) {
        km_http_set_header(w, "content-type", "application/grpc");
        km_http_write(w, msg, 7);
        km_http_write(w, msg, 7);
        km_http_set_trailer(w, "grpc-status", "0");
    } else if (path_is(r, "/none")) {
        km_http_set_header(w, "grpc-status", "0");
        km_http_send(w, 200, "application/grpc", NULL, 0);
    } else if (path_is(r, "/big")) {
        /* a message announced at 5 MiB: over the client's 4 MiB */
        km__grpc_prefix(msg, false, 5u << 20);
        km_http_set_header(w, "content-type", "application/grpc");
        km_http_write(w, msg, 5);
        km_http_flush(w);
        km_sleep(5 * SEC);
    }
}

typedef struct {
    const char *path;
    int         rc, code;
} expect;

static void http_body(void *arg)
{
    km_http_config hc = { .addr = "127.0.0.1:0", .handler = bad_server };
    km_http_server *hs;
    ck_assert_int_eq(km_http_serve(&hs, &hc), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", km_http_server_port(hs));
    km_grpc_channel_config cc = { .target = addr };
    km_grpc_channel *ch;
    ck_assert_int_eq(km_grpc_channel_new(&ch, &cc), 0);
    static const expect want[] = {
        /* grpc/doc/http-grpc-status-mapping.md */
        { "/s400", -EPROTO, KM_GRPC_INTERNAL },
        { "/s401", -EPROTO, KM_GRPC_UNAUTHENTICATED },
        { "/s403", -EPROTO, KM_GRPC_PERMISSION_DENIED },
        { "/s404", -EPROTO, KM_GRPC_UNIMPLEMENTED },
        { "/s429", -EPROTO, KM_GRPC_UNAVAILABLE },
        { "/s500", -EPROTO, KM_GRPC_UNKNOWN },
        { "/s502", -EPROTO, KM_GRPC_UNAVAILABLE },
        { "/s503", -EPROTO, KM_GRPC_UNAVAILABLE },
        { "/s504", -EPROTO, KM_GRPC_UNAVAILABLE },
        /* 200, but not gRPC */
        { "/html", -EPROTO, KM_GRPC_UNKNOWN },
        /* gRPC, broken */
        { "/notrailers", -EPROTO, KM_GRPC_INTERNAL },
        { "/nostatus", -EPROTO, KM_GRPC_UNKNOWN },
        { "/badstatus", -EPROTO, KM_GRPC_INTERNAL },
        { "/compressed", -EBADMSG, KM_GRPC_INTERNAL },
        { "/truncated", -EBADMSG, KM_GRPC_INTERNAL },
        { "/two", -EPROTO, KM_GRPC_INTERNAL },
        { "/none", -EPROTO, KM_GRPC_INTERNAL },
        { "/big", -EMSGSIZE, KM_GRPC_RESOURCE_EXHAUSTED },
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        km_grpc_stream *st;
        km_str rep;
        int rc = km_grpc_unary(ch, want[i].path, NULL, 0, "", 0, soon(), &st, &rep);
        km_grpc_status s = km_grpc_stream_status(st);
        ck_assert_msg(rc == want[i].rc && s.code == want[i].code, "%s: %s %s '%.*s', want %s %s",
                      want[i].path, km_strerror(rc), km_grpc_code_name(s.code), (int)s.message.n,
                      s.message.p, km_strerror(want[i].rc), km_grpc_code_name(want[i].code));
        km_grpc_stream_free(st);
    }
    km_grpc_channel_free(ch);
    ck_assert_int_eq(km_http_shutdown(hs, soon()), 0);
}

START_TEST(http_answers)
{
    t_run(http_body, NULL);
}
END_TEST

/* ---- resets, refusals, closed connections (a raw nghttp2 server) ---- */

static void raw_body(void *arg)
{
    rawsrv srv = { 0 };
    raw_start(&srv);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", srv.port);
    km_grpc_channel_config cc = { .target = addr, .backoff_base = 10 * MS, .backoff_max = 50 * MS };
    km_grpc_channel *ch;
    ck_assert_int_eq(km_grpc_channel_new(&ch, &cc), 0);
    static const expect want[] = {
        { "/rst", -ECONNRESET, KM_GRPC_INTERNAL },          /* INTERNAL_ERROR */
        { "/refuse", -EAGAIN, KM_GRPC_UNAVAILABLE },        /* REFUSED_STREAM */
        { "/close", -ECONNRESET, KM_GRPC_UNAVAILABLE },     /* the connection went */
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        km_grpc_stream *st;
        km_str rep;
        int rc = km_grpc_unary(ch, want[i].path, NULL, 0, "", 0, soon(), &st, &rep);
        km_grpc_status s = km_grpc_stream_status(st);
        ck_assert_msg(rc == want[i].rc && s.code == want[i].code, "%s: %s %s, want %s %s",
                      want[i].path, km_strerror(rc), km_grpc_code_name(s.code),
                      km_strerror(want[i].rc), km_grpc_code_name(want[i].code));
        km_grpc_stream_free(st);
    }
    /* no answer at all: the deadline */
    km_grpc_stream *st;
    km_str rep;
    int64_t t0 = km_now();
    ck_assert_int_eq(km_grpc_unary(ch, "/silent", NULL, 0, "", 0, t0 + 200 * MS, &st, &rep), -ETIMEDOUT);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_DEADLINE_EXCEEDED);
    ck_assert_int_lt(km_now() - t0, 2 * SEC);
    km_grpc_stream_free(st);
    km_grpc_channel_free(ch);
    raw_stop(&srv);
}

START_TEST(resets_and_refusals)
{
    t_run(raw_body, NULL);
}
END_TEST

/* RST_STREAM codes as grpc-go's http2ErrConvTab maps them. */
START_TEST(rst_codes)
{
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_NO_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_PROTOCOL_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_INTERNAL_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_FLOW_CONTROL_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_SETTINGS_TIMEOUT), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_STREAM_CLOSED), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_FRAME_SIZE_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_REFUSED_STREAM), KM_GRPC_UNAVAILABLE);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_CANCEL), KM_GRPC_CANCELLED);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_COMPRESSION_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_CONNECT_ERROR), KM_GRPC_INTERNAL);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_ENHANCE_YOUR_CALM), KM_GRPC_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_INADEQUATE_SECURITY), KM_GRPC_PERMISSION_DENIED);
    ck_assert_int_eq(km__grpc_rst_code(NGHTTP2_HTTP_1_1_REQUIRED), KM_GRPC_INTERNAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/mapping");
    TCase *tc = tcase_create("mapping");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, http_answers);
    tcase_add_test(tc, resets_and_refusals);
    tcase_add_test(tc, rst_codes);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
