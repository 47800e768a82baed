/* SPDX-License-Identifier: MIT */
/* Logger output: exact JSON and logfmt records, escaping, levels, child loggers, spans. */
#include "util.h"
#include <kumo/log.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* 2023-11-14T22:13:20.123456Z, with nanoseconds that must be cut, not rounded */
#define T0 1700000000123456789LL
#define TS "2023-11-14T22:13:20.123456Z"

static int64_t pinned(void *ud) { return *(int64_t *)ud; }

typedef struct { int rd, wr; int64_t now; km_logger *l; } sinkp;

static void open_sink(sinkp *s, int format, int level)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    s->rd = p[0];
    s->wr = p[1];
    s->now = T0;
    km_log_config c = { .level = level, .format = format, .fd = s->wr,
                        .clock = pinned, .clock_ud = &s->now };
    ck_assert_int_eq(km_log_new(&s->l, &c), 0);
}

static void close_sink(sinkp *s)
{
    km_log_free(s->l);
    close(s->rd);
    close(s->wr);
}

/* Everything written so far (static buffer). */
static const char *drain(sinkp *s)
{
    static char buf[65536];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(s->rd, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    return buf;
}

static void json_fields(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_JSON, KM_LOG_DEBUG);
    km_info(s.l, "hello", km_lf_str("s", "v"), km_lf_int("min", INT64_MIN),
            km_lf_int("max", INT64_MAX), km_lf_int("zero", 0), km_lf_dbl("d", 0.1),
            km_lf_dbl("whole", 3.0), km_lf_bool("t", true), km_lf_bool("f", false),
            km_lf_bytes("b", "\x00\xff\"a\\", 5), km_lf_str("null", NULL));
    ck_assert_str_eq(drain(&s),
        "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"hello\",\"s\":\"v\","
        "\"min\":-9223372036854775808,\"max\":9223372036854775807,\"zero\":0,"
        "\"d\":0.1,\"whole\":3,\"t\":true,\"f\":false,"
        "\"b\":\"\\u0000\\u00ff\\\"a\\\\\",\"null\":\"\"}\n");
    km_debug(s.l, "", km_lf_dbl("nan", NAN), km_lf_dbl("inf", INFINITY),
             km_lf_dbl("ninf", -INFINITY), km_lf_dbl("big", 1e300), km_lf_dbl("third", 1.0 / 3));
    ck_assert_str_eq(drain(&s),
        "{\"time\":\"" TS "\",\"level\":\"debug\",\"msg\":\"\",\"nan\":\"NaN\",\"inf\":\"+Inf\","
        "\"ninf\":\"-Inf\",\"big\":1e+300,\"third\":0.3333333333333333}\n");
    /* integers around every digit-count boundary, both signs */
    int64_t ints[] = { 1, 9, 10, 11, 99, 100, 101, 999, 1000, 12345, 99999, 100000,
                       1234567, 9999999999LL, 10000000000LL, 123456789012345678LL };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        for (int sign = 1; sign >= -1; sign -= 2) {
            int64_t v = ints[i] * sign;
            km_info(s.l, "i", km_lf_int("v", v));
            char want[160];
            snprintf(want, sizeof want, "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"i\","
                     "\"v\":%lld}\n", (long long)v);
            ck_assert_str_eq(drain(&s), want);
        }
    }
    km_warn(s.l, "w");
    km_error(s.l, "e");
    ck_assert_str_eq(drain(&s),
        "{\"time\":\"" TS "\",\"level\":\"warn\",\"msg\":\"w\"}\n"
        "{\"time\":\"" TS "\",\"level\":\"error\",\"msg\":\"e\"}\n");
    close_sink(&s);
}

START_TEST(json_exact) { t_run(json_fields, NULL); }
END_TEST

/* Escaping edge cases: quotes, backslash, control characters, valid UTF-8
 * of every length, and each kind of invalid sequence. */
static const char nasty[] =
    "q\"b\\n\nr\rt\tb\bf\fc\x01\x1f" "del\x7f"
    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"     /* é € 😀 */
    "|\xc3\x28"                                /* lead without continuation */
    "|\xc0\xaf"                                /* overlong '/' */
    "|\xed\xa0\x80"                            /* surrogate */
    "|\xf4\x90\x80\x80"                        /* above U+10FFFF */
    "|\xff"
    "|\xe2\x82";                               /* cut short at the end */

static void json_escaping(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_JSON, KM_LOG_INFO);
    km_info(s.l, nasty, km_lf_str("k\"ey\n", nasty));
    const char *esc =
        "q\\\"b\\\\n\\nr\\rt\\tb\\bf\\fc\\u0001\\u001fdel\x7f"
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
        "|\\ufffd("
        "|\\ufffd\\ufffd"
        "|\\ufffd\\ufffd\\ufffd"
        "|\\ufffd\\ufffd\\ufffd\\ufffd"
        "|\\ufffd"
        "|\\ufffd\\ufffd";
    char want[1024];
    snprintf(want, sizeof want,
             "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"%s\",\"k\\\"ey\\n\":\"%s\"}\n",
             esc, esc);
    const char *got = drain(&s);
    ck_assert_str_eq(got, want);
    /* and a JSON parser agrees */
    json_error_t je;
    json_t *j = json_loads(got, 0, &je);
    ck_assert_msg(j != NULL, "%s", je.text);
    const char *m = json_string_value(json_object_get(j, "msg"));
    ck_assert(m && !strncmp(m, "q\"b\\n\nr\rt\tb\bf\fc\x01\x1f", 17));
    ck_assert(strstr(m, "|\xef\xbf\xbd(") != NULL);      /* U+FFFD */
    ck_assert_str_eq(json_string_value(json_object_get(j, "k\"ey\n")), m);
    json_decref(j);
    close_sink(&s);
}

START_TEST(json_escape) { t_run(json_escaping, NULL); }
END_TEST

/* Each escape, multi-byte character and invalid byte at every offset of
 * the 8-byte words the escaper scans, and across the 256-byte pieces it
 * makes room for: a JSON parser reads back the input, with U+FFFD for each
 * invalid byte. */
#define FFFD "\xef\xbf\xbd"
static void escape_offsets(void *arg)
{
    static const struct { const char *in, *out; } odd[] = {
        { "\"", "\"" }, { "\\", "\\" }, { "\x01", "\x01" }, { "\x1f", "\x1f" },
        { "\n", "\n" }, { " \x7f", " \x7f" }, { "\xc3\xa9", "\xc3\xa9" },
        { "\xe2\x82\xac", "\xe2\x82\xac" }, { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
        { "\xff", FFFD }, { "\xc3", FFFD }, { "\x80\x80\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD },
        { "\xf0\x9f\x98\x80\x80\x80\x80", "\xf0\x9f\x98\x80" FFFD FFFD FFFD },
    };
    static const int lens[][2] = { { 0, 20 }, { 240, 262 } };     /* string lengths, in 'a's */
    sinkp s;
    open_sink(&s, KM_LOG_JSON, KM_LOG_INFO);
    char in[300], want[400];
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++)
        for (size_t r = 0; r < 2; r++)
            for (int len = lens[r][0]; len <= lens[r][1]; len++)
                for (int at = r ? 236 : 0; at <= len; at++) {
                    size_t ni = strlen(odd[k].in), no = strlen(odd[k].out);
                    memset(in, 'a', (size_t)at);
                    memcpy(in + at, odd[k].in, ni);
                    memset(in + at + ni, 'a', (size_t)(len - at));
                    memset(want, 'a', (size_t)at);
                    memcpy(want + at, odd[k].out, no);
                    memset(want + at + no, 'a', (size_t)(len - at));
                    km_info(s.l, "e", km_lf_strn("v", in, (size_t)len + ni));
                    json_error_t je;
                    json_t *j = json_loads(drain(&s), 0, &je);
                    ck_assert_msg(j != NULL, "odd %zu at %d of %d: %s", k, at, len, je.text);
                    json_t *v = json_object_get(j, "v");
                    ck_assert_msg(json_string_length(v) == (size_t)len + no &&
                                  !memcmp(json_string_value(v), want, (size_t)len + no),
                                  "odd %zu at %d of %d", k, at, len);
                    json_decref(j);
                }
    close_sink(&s);
}

START_TEST(escape_at_offsets) { t_run(escape_offsets, NULL); }
END_TEST

/* Integers of every length, and each side of every power of ten. */
static void integer_lengths(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_LOGFMT, KM_LOG_INFO);
    for (int64_t p = 1;; p *= 10) {     /* to 10^18, the last that fits */
        const int64_t vs[] = { p - 1, p, p + 1, 7 * p + 3, -p, -(p + 1), INT64_MAX - p, INT64_MIN + p };
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            km_info(s.l, "i", km_lf_int("v", vs[i]));
            char want[128];
            snprintf(want, sizeof want, "time=" TS " level=info msg=i v=%lld\n", (long long)vs[i]);
            ck_assert_str_eq(drain(&s), want);
        }
        if (p == 1000000000000000000LL)
            break;
    }
    close_sink(&s);
}

START_TEST(integers) { t_run(integer_lengths, NULL); }
END_TEST

static void logfmt_fields(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_LOGFMT, KM_LOG_INFO);
    km_info(s.l, "started up", km_lf_str("plain", "a/b.c"), km_lf_str("space", "a b"),
            km_lf_str("eq", "a=b"), km_lf_str("quote", "say \"hi\""), km_lf_str("empty", ""),
            km_lf_str("back", "a\\b"), km_lf_str("ctl", "x\ty\n\x01"),
            km_lf_str("utf8", "caf\xc3\xa9"), km_lf_str("bad", "a\xff"),
            km_lf_str("bad key=\"x\"", "v"), km_lf_int("n", -42), km_lf_dbl("d", 2.5),
            km_lf_dbl("nan", NAN), km_lf_bool("ok", true), km_lf_bytes("raw", "ab", 2),
            km_lf_bytes("bin", "a\x00\xff\"\\ \n", 7));
    ck_assert_str_eq(drain(&s),
        "time=" TS " level=info msg=\"started up\" plain=a/b.c space=\"a b\" eq=\"a=b\" "
        "quote=\"say \\\"hi\\\"\" empty=\"\" back=a\\b ctl=\"x\\ty\\n\\u0001\" "
        "utf8=caf\xc3\xa9 bad=\"a\\ufffd\" bad_key__x_=v n=-42 d=2.5 nan=NaN ok=true raw=ab "
        "bin=\"a\\x00\\xff\\\"\\\\ \\n\"\n");
    km_warn(s.l, "x");
    ck_assert_str_eq(drain(&s), "time=" TS " level=warn msg=x\n");
    close_sink(&s);
}

START_TEST(logfmt_exact) { t_run(logfmt_fields, NULL); }
END_TEST

static int evaluated;
static int64_t side_effect(void) { evaluated++; return 1; }

static void level_filter(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_LOGFMT, KM_LOG_WARN);
    ck_assert(!km_log_enabled(s.l, KM_LOG_INFO));
    ck_assert(km_log_enabled(s.l, KM_LOG_WARN));
    ck_assert(!km_log_enabled(NULL, KM_LOG_ERROR));
    km_debug(s.l, "d", km_lf_int("x", side_effect()));
    km_info(s.l, "i", km_lf_int("x", side_effect()));
    km_log_write(s.l, KM_LOG_INFO, "direct", NULL, 0);
    km_info(NULL, "nothing");
    ck_assert_int_eq(evaluated, 0);     /* arguments skipped when disabled */
    km_warn(s.l, "w");
    km_error(s.l, "e");
    ck_assert_str_eq(drain(&s), "time=" TS " level=warn msg=w\ntime=" TS " level=error msg=e\n");

    /* the level is shared with children, whichever one sets it */
    km_logger *c;
    ck_assert_int_eq(km_log_with(&c, s.l, km_lf_str("c", "1")), 0);
    km_log_set_level(c, KM_LOG_DEBUG);
    km_debug(s.l, "d1");
    km_debug(c, "d2", km_lf_int("x", side_effect()));
    ck_assert_int_eq(evaluated, 1);
    ck_assert_str_eq(drain(&s), "time=" TS " level=debug msg=d1\ntime=" TS " level=debug msg=d2 c=1 x=1\n");
    km_log_set_level(s.l, KM_LOG_ERROR);
    km_warn(c, "no");
    ck_assert_str_eq(drain(&s), "");
    km_log_free(c);

    km_logger *bad;
    km_log_config cfg = { .format = 7 };
    ck_assert_int_eq(km_log_new(&bad, &cfg), -EINVAL);
    cfg = (km_log_config){ .path = "/nonexistent-dir/x.log" };
    ck_assert_int_eq(km_log_new(&bad, &cfg), -ENOENT);
    close_sink(&s);
}

START_TEST(levels) { t_run(level_filter, NULL); }
END_TEST

static void children(void *arg)
{
    for (int fmt = 0; fmt < 2; fmt++) {
        sinkp s;
        open_sink(&s, fmt, KM_LOG_INFO);
        km_logger *a, *b;
        ck_assert_int_eq(km_log_with(&a, s.l, km_lf_str("component", "store"), km_lf_int("shard", 3)), 0);
        ck_assert_int_eq(km_log_with(&b, a, km_lf_str("op", "put it")), 0);
        km_info(b, "m", km_lf_bool("ok", false));
        km_info(a, "m");
        km_info(s.l, "m");
        if (fmt == KM_LOG_JSON)
            ck_assert_str_eq(drain(&s),
                "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"m\",\"component\":\"store\",\"shard\":3,\"op\":\"put it\",\"ok\":false}\n"
                "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"m\",\"component\":\"store\",\"shard\":3}\n"
                "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"m\"}\n");
        else
            ck_assert_str_eq(drain(&s),
                "time=" TS " level=info msg=m component=store shard=3 op=\"put it\" ok=false\n"
                "time=" TS " level=info msg=m component=store shard=3\n"
                "time=" TS " level=info msg=m\n");
        km_log_free(b);
        km_log_free(a);
        close_sink(&s);
    }
}

START_TEST(child_loggers) { t_run(children, NULL); }
END_TEST

/* Records beyond the thread's buffer go through the heap and stay whole;
 * the next record starts in the thread's buffer again. */
static void large(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_JSON, KM_LOG_INFO);
    static char big[20001];
    memset(big, 'x', sizeof big - 1);
    big[100] = '\n';
    km_info(s.l, "big", km_lf_str("v", big));
    const char *got = drain(&s);
    ck_assert_uint_eq(strlen(got), strlen("{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"big\",\"v\":\"\"}\n") + 20001);
    ck_assert_uint_eq(km_log_dropped(s.l), 0);
    /* an allocation failure drops the record and counts it */
    t_fail_alloc_after(1);
    km_info(s.l, "big", km_lf_str("v", big));
    t_fail_alloc_after(0);
    ck_assert_str_eq(drain(&s), "");
    ck_assert_uint_eq(km_log_dropped(s.l), 1);
    km_info(s.l, "small", km_lf_int("n", 7));
    ck_assert_str_eq(drain(&s), "{\"time\":\"" TS "\",\"level\":\"info\",\"msg\":\"small\",\"n\":7}\n");
    close_sink(&s);
}

START_TEST(large_records) { t_run(large, NULL); }
END_TEST

static void spans(void *arg)
{
    sinkp s;
    open_sink(&s, KM_LOG_JSON, KM_LOG_INFO);
    km_span root, child;
    ck_assert_int_eq(km_span_start(&root, s.l, "root", NULL), 0);
    ck_assert_uint_eq(strlen(root.ctx.trace_id), 32);
    ck_assert_uint_eq(strlen(root.ctx.span_id), 16);
    ck_assert_str_eq(root.ctx.parent_id, "");
    s.now = T0 + 1000;
    ck_assert_int_eq(km_span_start(&child, s.l, "fetch \"x\"", &root.ctx), 0);
    ck_assert_str_eq(child.ctx.trace_id, root.ctx.trace_id);
    ck_assert_str_eq(child.ctx.parent_id, root.ctx.span_id);
    ck_assert_str_ne(child.ctx.span_id, root.ctx.span_id);

    km_http_kv kv[2];
    char buf[KM_HTTP_TRACE_BUF], want[1024];
    ck_assert_uint_eq(km_span_headers(&child, kv, buf), 1);
    snprintf(want, sizeof want, "00-%s-%s-01", root.ctx.trace_id, child.ctx.span_id);
    ck_assert_str_eq(kv[0].name, "traceparent");
    ck_assert_str_eq(kv[0].value, want);

    s.now = T0 + 2500000 + 1000;
    km_span_end(&child, -ETIMEDOUT);
    s.now = T0 + 3000000;
    km_span_end_with(&root, 200, (km_log_field[]){ km_lf_str("peer", "db") }, 1);
    snprintf(want, sizeof want,
        "{\"time\":\"2023-11-14T22:13:20.125957Z\",\"level\":\"warn\",\"msg\":\"span\","
        "\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_id\":\"%s\",\"name\":\"fetch \\\"x\\\"\","
        "\"start\":\"2023-11-14T22:13:20.123457Z\",\"duration_us\":2500,\"status\":\"error\","
        "\"error\":\"%s\"}\n"
        "{\"time\":\"2023-11-14T22:13:20.126456Z\",\"level\":\"info\",\"msg\":\"span\","
        "\"trace_id\":\"%s\",\"span_id\":\"%s\",\"parent_id\":\"\",\"name\":\"root\","
        "\"start\":\"" TS "\",\"duration_us\":3000,\"status\":\"ok\",\"code\":200,\"peer\":\"db\"}\n",
        root.ctx.trace_id, child.ctx.span_id, root.ctx.span_id, km_strerror(-ETIMEDOUT),
        root.ctx.trace_id, root.ctx.span_id);
    ck_assert_str_eq(drain(&s), want);

    /* a tracestate from the parent travels with the child */
    km_http_trace_ctx in = { .trace_id = "0af7651916cd43dd8448eb211c80319c",
                             .span_id = "b7ad6b7169203331", .flags = 0,
                             .tracestate = { "k=v", 3 } };
    ck_assert_int_eq(km_span_start(&child, NULL, "no log", &in), 0);
    ck_assert_uint_eq(km_span_headers(&child, kv, buf), 2);
    snprintf(want, sizeof want, "00-0af7651916cd43dd8448eb211c80319c-%s-00", child.ctx.span_id);
    ck_assert_str_eq(kv[0].value, want);
    ck_assert_str_eq(kv[1].name, "tracestate");
    ck_assert_str_eq(kv[1].value, "k=v");
    km_span_end(&child, 0);     /* no logger: nothing */
    ck_assert_str_eq(drain(&s), "");
    close_sink(&s);
}

START_TEST(span_records) { t_run(spans, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log/format");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, json_exact);
    tcase_add_test(tc, json_escape);
    tcase_add_test(tc, escape_at_offsets);
    tcase_add_test(tc, integers);
    tcase_add_test(tc, logfmt_exact);
    tcase_add_test(tc, levels);
    tcase_add_test(tc, child_loggers);
    tcase_add_test(tc, large_records);
    tcase_add_test(tc, span_records);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
