/* SPDX-License-Identifier: MIT */
/* Namespace formats: every key and value rule of each format passing and
 * failing, the line and column the messages give for JSON and YAML, UTF-8's
 * edge cases, the size limits at and one past them, and messages cut to a
 * short buffer. */
#include "util.h"
#include "enc/utf8.h"
#include "release/format.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

static char err[1024];

static int chkn(int fmt, const void *k, size_t kn, const void *v, size_t vn)
{
    memset(err, 'Z', sizeof err);
    return km__fmt_check_item(fmt, k, kn, v, vn, err, sizeof err);
}

static int chk(int fmt, const char *k, const char *v)
{
    return chkn(fmt, k, strlen(k), v, strlen(v));
}

#define OK(fmt, k, v) do { int rc_ = chk(fmt, k, v); \
    ck_assert_msg(rc_ == 0, "%s %s: %d %s", #k, #v, rc_, err); ck_assert_str_eq(err, ""); } while (0)
/* Refused with exactly message m. */
#define BAD(fmt, k, v, m) do { ck_assert_int_eq(chk(fmt, k, v), -EINVAL); \
    ck_assert_str_eq(err, m); } while (0)
#define BADN(fmt, k, kn, v, vn, m) do { ck_assert_int_eq(chkn(fmt, k, kn, v, vn), -EINVAL); \
    ck_assert_str_eq(err, m); } while (0)

static const int all[] = { KM_FMT_JSON, KM_FMT_YAML, KM_FMT_PROPERTIES, KM_FMT_TEXT };
#define EACH_FMT(f) for (size_t i_ = 0; i_ < 4; i_++) for (int f = all[i_], o_ = 1; o_; o_ = 0)

START_TEST(names)
{
    const char *n[] = { "json", "yaml", "properties", "text" };
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(km__fmt_parse(n[i]), all[i]);
        ck_assert_str_eq(km__fmt_name(all[i]), n[i]);
    }
    ck_assert_int_eq(km__fmt_parse("JSON"), -EINVAL);
    ck_assert_int_eq(km__fmt_parse("json "), -EINVAL);
    ck_assert_int_eq(km__fmt_parse(""), -EINVAL);
    ck_assert_int_eq(km__fmt_parse("yml"), -EINVAL);
    ck_assert_int_eq(km__fmt_parse(NULL), -EINVAL);
    ck_assert_ptr_null(km__fmt_name(-1));
    ck_assert_ptr_null(km__fmt_name(4));
    BAD(7, "k", "v", "unknown format 7");
    BAD(-1, "k", "v", "unknown format -1");
}
END_TEST

START_TEST(keys_any_format)
{
    EACH_FMT(f) {
        OK(f, "a", "1");
        OK(f, "db.url", "1");
        OK(f, "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "1");        /* ключ */
        OK(f, "\xf0\x9f\x94\x91-\xef\xbf\xbd", "1");           /* U+1F511, U+FFFD */
        OK(f, "\xf4\x8f\xbf\xbf", "1");                        /* U+10FFFF */
        OK(f, "\xc2\x85", "1");                                /* C1: not < 0x20 */
        BADN(f, "", 0, "", 0, "key \"\": a key must not be empty");
        BADN(f, NULL, 0, NULL, 0, "key \"\": a key must not be empty");
        BAD(f, "a\x01", "", "key \"a\\x01\": control characters are not allowed in a key");
        BAD(f, "\x1f", "", "key \"\\x1f\": control characters are not allowed in a key");
        BAD(f, "a\x7f" "b", "", "key \"a\\x7fb\": control characters are not allowed in a key");
        BAD(f, "a\tb", "", "key \"a\\x09b\": control characters are not allowed in a key");
        BAD(f, "a\n", "", "key \"a\\x0a\": control characters are not allowed in a key");
        BAD(f, "\r", "", "key \"\\x0d\": control characters are not allowed in a key");
        BADN(f, "a\0b", 3, "", 0, "key \"a\\x00b\": control characters are not allowed in a key");
        /* the first fault wins: a control byte before bad UTF-8 */
        BAD(f, "\x01\xff", "", "key \"\\x01\\xff\": control characters are not allowed in a key");
    }
}
END_TEST

START_TEST(keys_utf8)
{
    static const struct { const char *k, *m; } bad[] = {
        { "\xc0\xaf", "key \"\\xc0\\xaf\": a key must be valid UTF-8 (byte 1 is not)" },
        { "a\xc1\xbf", "key \"a\\xc1\\xbf\": a key must be valid UTF-8 (byte 2 is not)" },
        { "\xe0\x80\xaf", "key \"\\xe0\\x80\\xaf\": a key must be valid UTF-8 (byte 1 is not)" },
        { "\xf0\x80\x80\xaf", "key \"\\xf0\\x80\\x80\\xaf\": a key must be valid UTF-8 (byte 1 is not)" },
        /* surrogates, U+D800 and U+DFFF */
        { "\xed\xa0\x80", "key \"\\xed\\xa0\\x80\": a key must be valid UTF-8 (byte 1 is not)" },
        { "ab\xed\xbf\xbf", "key \"ab\\xed\\xbf\\xbf\": a key must be valid UTF-8 (byte 3 is not)" },
        /* truncated at the end and in the middle */
        { "a\xe2\x82", "key \"a\\xe2\\x82\": a key must be valid UTF-8 (byte 2 is not)" },
        { "\xf0\x9f\x94", "key \"\\xf0\\x9f\\x94\": a key must be valid UTF-8 (byte 1 is not)" },
        { "\xe2\x82z", "key \"\\xe2\\x82z\": a key must be valid UTF-8 (byte 1 is not)" },
        { "\xc3", "key \"\\xc3\": a key must be valid UTF-8 (byte 1 is not)" },
        /* a lone continuation byte, past U+10FFFF, never-used bytes */
        { "\x80", "key \"\\x80\": a key must be valid UTF-8 (byte 1 is not)" },
        { "\xf4\x90\x80\x80", "key \"\\xf4\\x90\\x80\\x80\": a key must be valid UTF-8 (byte 1 is not)" },
        { "\xf5\x80\x80\x80", "key \"\\xf5\\x80\\x80\\x80\": a key must be valid UTF-8 (byte 1 is not)" },
        { "\xfe\xff", "key \"\\xfe\\xff\": a key must be valid UTF-8 (byte 1 is not)" },
        /* a good character beside a bad one stays itself in the message */
        { "\xc3\xa9\xff", "key \"\xc3\xa9\\xff\": a key must be valid UTF-8 (byte 3 is not)" },
    };
    EACH_FMT(f)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            BAD(f, bad[i].k, "", bad[i].m);
    /* the largest of each length, and the edges of the surrogates */
    OK(KM_FMT_TEXT, "\x7e\xdf\xbf\xef\xbf\xbf", "");
    OK(KM_FMT_TEXT, "\xed\x9f\xbf\xee\x80\x80", "");     /* U+D7FF, U+E000 */
}
END_TEST

START_TEST(key_and_value_limits)
{
    static uint8_t k[KM__FMT_KEY_MAX + 2], v[KM__FMT_VAL_MAX + 2];
    memset(k, 'k', sizeof k);
    memset(v, 'v', sizeof v);
    EACH_FMT(f) {
        ck_assert_int_eq(chkn(f, k, 256, "1", 1), 0);
        ck_assert_int_eq(chkn(f, k, 257, "1", 1), -EMSGSIZE);
        ck_assert_str_eq(err, "key \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...\": "
                         "a key must be at most 256 bytes (it is 257)");
    }
    /* an over-long key is cut at a character, not inside one */
    memset(k, 0, sizeof k);
    for (size_t i = 0; i + 2 <= 258; i += 2)
        memcpy(k + i, "\xc3\xa9", 2);
    ck_assert_int_eq(chkn(KM_FMT_TEXT, k, 256, "", 0), 0);
    ck_assert_int_eq(chkn(KM_FMT_TEXT, k + 1, 257, "", 0), -EMSGSIZE);
    ck_assert_msg(strncmp(err, "key \"\\xa9\xc3\xa9", 11) == 0, "%s", err);
    ck_assert_msg(strstr(err, "\xc3\xa9...\": a key must be at most 256 bytes (it is 257)"), "%s", err);
    ck_assert(km__utf8_valid(err, strlen(err)));

    ck_assert_int_eq(chkn(KM_FMT_TEXT, "k", 1, v, 65536), 0);
    ck_assert_int_eq(chkn(KM_FMT_PROPERTIES, "k", 1, v, 65536), 0);
    EACH_FMT(f) {
        ck_assert_int_eq(chkn(f, "k", 1, v, 65537), -EMSGSIZE);
        ck_assert_str_eq(err, "item \"k\": a value must be at most 65536 bytes (it is 65537)");
    }
    /* JSON and YAML of exactly 64 KiB: a string */
    v[0] = '"';
    v[65535] = '"';
    ck_assert_int_eq(chkn(KM_FMT_JSON, "k", 1, v, 65536), 0);
    ck_assert_int_eq(chkn(KM_FMT_YAML, "k", 1, v, 65536), 0);
    ck_assert_int_eq(chkn(KM_FMT_JSON, "k", 1, v, 65537), -EMSGSIZE);
}
END_TEST

START_TEST(values_utf8_and_nul)
{
    EACH_FMT(f) {
        BAD(f, "k", "ab\xc0\xaf", "item \"k\": line 1, column 3: not valid UTF-8");
        BAD(f, "k", "\xed\xa0\x80", "item \"k\": line 1, column 1: not valid UTF-8");
        BAD(f, "k", "\xc3\xa9\xc3\xa9\xe2\x82", "item \"k\": line 1, column 3: not valid UTF-8");
        BAD(f, "k", "\xf4\x90\x80\x80", "item \"k\": line 1, column 1: not valid UTF-8");
        BAD(f, "k", "\x80", "item \"k\": line 1, column 1: not valid UTF-8");
        BADN(f, "k", 1, "\0", 1, "item \"k\": line 1, column 1: NUL is not allowed");
        BADN(f, "k", 1, "12\0\xff", 4, "item \"k\": line 1, column 3: NUL is not allowed");
        /* the key is quoted with its quotes and backslashes escaped */
        BAD(f, "a\"b\\c", "\xff", "item \"a\\\"b\\\\c\": line 1, column 1: not valid UTF-8");
    }
    BAD(KM_FMT_TEXT, "k", "one\ntwo \xc3\xa9\xff", "item \"k\": line 2, column 6: not valid UTF-8");
    BAD(KM_FMT_JSON, "k", "[\n\n 1,\xff]", "item \"k\": line 3, column 4: not valid UTF-8");
    /* YAML counts lines as libyaml does: CR, CR LF and LF */
    BAD(KM_FMT_YAML, "k", "a\rb\r\nc\n\xff", "item \"k\": line 4, column 1: not valid UTF-8");
    BADN(KM_FMT_TEXT, "k", 1, "a\r\nb\0", 5, "item \"k\": line 2, column 2: NUL is not allowed");
}
END_TEST

START_TEST(json)
{
    static const char *good[] = {
        "{}", "[]", "\"s\"", "\"\"", "0", "-1.5e3", "true", "false", "null",
        " {\"a\": [1, {\"b\": null}], \"c\": \"\xc3\xa9\\u00e9\\ud83d\\ude00\"}\n",
        "{\"a\":{\"a\":1}}",             /* the same key at two levels */
        "\t[\r\n1]\r\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        OK(KM_FMT_JSON, "k", good[i]);
    BAD(KM_FMT_JSON, "db.url", "{\"a\":1,\n \"b\" 2}",
        "item \"db.url\": line 2, column 6: ':' expected near '2'");
    BAD(KM_FMT_JSON, "k", "", "item \"k\": line 1, column 1: unexpected token near end of file");
    BAD(KM_FMT_JSON, "k", "  ", "item \"k\": line 1, column 2: unexpected token near end of file");
    BAD(KM_FMT_JSON, "k", "{\"a\":1,\"a\":2}",
        "item \"k\": line 1, column 10: duplicate object key near '\"a\"'");
    BAD(KM_FMT_JSON, "k", "1 2", "item \"k\": line 1, column 3: end of file expected near '2'");
    BAD(KM_FMT_JSON, "k", "[1,]", "item \"k\": line 1, column 4: unexpected token near ']'");
    BAD(KM_FMT_JSON, "k", "\n\n   x", "item \"k\": line 3, column 4: invalid token near 'x'");
    BAD(KM_FMT_JSON, "k", "\"\\u0000\"",
        "item \"k\": line 1, column 8: \\u0000 is not allowed near '\"\\u0000\"'");
    BAD(KM_FMT_JSON, "k", "{'a': 1}", "item \"k\": line 1, column 2: string or '}' expected near '''");
    BAD(KM_FMT_JSON, "k", "\"ab\ncd\"", "item \"k\": line 1, column 3: unexpected newline near '\"ab'");
    BAD(KM_FMT_JSON, "k", "\"a\x01\"", "item \"k\": line 1, column 2: control character 0x1 near '\"a'");
    /* deeper than jansson goes */
    static char deep[4100];
    memset(deep, '[', 4096);
    deep[4096] = '\0';
    ck_assert_int_eq(chk(KM_FMT_JSON, "k", deep), -EINVAL);
    ck_assert_msg(strstr(err, "maximum parsing depth reached"), "%s", err);
    /* what JSON forbids, the other formats take */
    OK(KM_FMT_TEXT, "k", "{'a': 1}");
    OK(KM_FMT_PROPERTIES, "k", "{\"a\":1,\"a\":2}");
}
END_TEST

START_TEST(yaml)
{
    static const char *good[] = {
        "", "# only a comment\n", "a: 1", "---\na: 1\n...\n", "--- a", "- a\n- b: [1, {c: d}]\n",
        "a: &x {b: 1}\nc: *x\nd: &x 2\ne: *x\n",  /* anchors, redefined */
        "s: |\n  two\n  lines\n", "\"\\u00e9\": '\xc3\xa9'", "\xef\xbb\xbf" "a: 1",
        "%YAML 1.1\n---\na: 1\n", "a: !!str 1", "a:\tb", "a: 1\r\nb: 2\r\n",
        "a: \x7e\xc2\xa0\xef\xbf\xbd",
        /* libyaml and PyYAML take these, Go's yaml.v3 does not: duplicate
         * keys, a collection holding an alias of itself */
        "{a: 1, a: 2}", "&a [*a]",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        OK(KM_FMT_YAML, "k", good[i]);
    BAD(KM_FMT_YAML, "db.url", "a: {b: 1\nc: 2",
        "item \"db.url\": line 2, column 2: did not find expected ',' or '}' "
        "(while parsing a flow mapping at line 1, column 4)");
    BAD(KM_FMT_YAML, "k", "a:\n  b: 1\n c: 2",
        "item \"k\": line 3, column 2: did not find expected key "
        "(while parsing a block mapping at line 1, column 1)");
    BAD(KM_FMT_YAML, "k", "key: value\n  bad: x",
        "item \"k\": line 2, column 6: mapping values are not allowed in this context");
    BAD(KM_FMT_YAML, "k", "a: \"\\q\"",
        "item \"k\": line 1, column 5: found unknown escape character "
        "(while parsing a quoted scalar at line 1, column 4)");
    BAD(KM_FMT_YAML, "k", "\t- x",
        "item \"k\": line 1, column 1: found character that cannot start any token "
        "(while scanning for the next token at line 1, column 1)");
    /* an error at the end names the end, not the line libyaml adds there */
    BAD(KM_FMT_YAML, "k", "a: [1,\n  2",
        "item \"k\": line 2, column 4: did not find expected ',' or ']' "
        "(while parsing a flow sequence at line 1, column 4)");
    BAD(KM_FMT_YAML, "k", "a: '\xc3\xa9t\xc3\xa9",
        "item \"k\": line 1, column 8: found unexpected end of stream "
        "(while scanning a quoted scalar at line 1, column 4)");
    /* characters YAML does not allow, counted in characters */
    BAD(KM_FMT_YAML, "k", "a: \x01", "item \"k\": line 1, column 4: control characters are not allowed (U+0001)");
    BAD(KM_FMT_YAML, "k", "\xc3\xa9: \"x\x7f\"",
        "item \"k\": line 1, column 6: control characters are not allowed (U+007F)");
    BAD(KM_FMT_YAML, "k", "x\r\ny: \xef\xbf\xbe",
        "item \"k\": line 2, column 4: control characters are not allowed (U+FFFE)");
    /* one document at most */
    BAD(KM_FMT_YAML, "k", "a: 1\n---\nb: 1", "item \"k\": line 2: more than one YAML document");
    BAD(KM_FMT_YAML, "k", "a\n--- b", "item \"k\": line 2: more than one YAML document");
    BAD(KM_FMT_YAML, "k", "---\n---\n", "item \"k\": line 2: more than one YAML document");
    /* aliases of no anchor (yet) */
    BAD(KM_FMT_YAML, "k", "*x", "item \"k\": line 1, column 1: alias of no anchor: x");
    BAD(KM_FMT_YAML, "k", "a: *x\nb: &x 1", "item \"k\": line 1, column 4: alias of no anchor: x");
    BAD(KM_FMT_YAML, "k", "- &y 1\n- *y\n- [*z]",
        "item \"k\": line 3, column 4: alias of no anchor: z");
    /* what YAML forbids, the other formats take */
    OK(KM_FMT_TEXT, "k", "a: 1\n---\nb: *x");
    OK(KM_FMT_TEXT, "k", "\x01\x7f\r\n");
}
END_TEST

/* Many anchors (the set grows), their aliases, and no allocation of
 * kumo's left over: under km_main with the counting allocator. */
static void anchors_body(void *arg)
{
    static char v[65536];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof v; i++)
        n += (size_t)snprintf(v + n, sizeof v - n, "- &a%d %d\n- *a%d\n", i, i, i / 2);
    REQUIRE_EQ(chkn(KM_FMT_YAML, "k", 1, v, n), 0);
    n += (size_t)snprintf(v + n, sizeof v - n, "- *b\n");
    REQUIRE_EQ(chkn(KM_FMT_YAML, "k", 1, v, n), -EINVAL);
    ck_assert_msg(strstr(err, ": alias of no anchor: b"), "%s", err);
    /* an allocation failing on the way is -ENOMEM, and leaks nothing */
    for (long i = 1; i < 20; i++) {
        t_fail_alloc_after(i);
        int rc = chkn(KM_FMT_YAML, "k", 1, v, n);
        ck_assert_msg(rc == -ENOMEM || rc == -EINVAL, "%d", rc);
    }
    t_fail_alloc_after(0);
}

START_TEST(yaml_anchors)
{
    t_run(anchors_body, NULL);
}
END_TEST

START_TEST(properties)
{
    OK(KM_FMT_PROPERTIES, "a", "b");
    OK(KM_FMT_PROPERTIES, "db.url", "jdbc:mysql://h:3306/db?a=b c#d!e");
    OK(KM_FMT_PROPERTIES, "a#b!c", "");
    OK(KM_FMT_PROPERTIES, "\xc3\xa9-\xe2\x82\xac_", "\t tabs and spaces \xc2\xa0");
    OK(KM_FMT_PROPERTIES, "k", "\\");
    BAD(KM_FMT_PROPERTIES, "a b", "x", "key \"a b\": whitespace is not allowed in a properties key");
    BAD(KM_FMT_PROPERTIES, " a", "x", "key \" a\": whitespace is not allowed in a properties key");
    BAD(KM_FMT_PROPERTIES, "a ", "x", "key \"a \": whitespace is not allowed in a properties key");
    BAD(KM_FMT_PROPERTIES, "a=b", "x", "key \"a=b\": '=' is not allowed in a properties key");
    BAD(KM_FMT_PROPERTIES, "=", "x", "key \"=\": '=' is not allowed in a properties key");
    BAD(KM_FMT_PROPERTIES, "a:b", "x", "key \"a:b\": ':' is not allowed in a properties key");
    BAD(KM_FMT_PROPERTIES, "#a", "x", "key \"#a\": a properties key must not start with '#'");
    BAD(KM_FMT_PROPERTIES, "!a", "x", "key \"!a\": a properties key must not start with '!'");
    BAD(KM_FMT_PROPERTIES, "a\tb", "x", "key \"a\\x09b\": control characters are not allowed in a key");
    BAD(KM_FMT_PROPERTIES, "k", "ab\rc", "item \"k\": line 1, column 3: a properties value must be one line (no CR or LF)");
    BAD(KM_FMT_PROPERTIES, "k", "\n", "item \"k\": line 1, column 1: a properties value must be one line (no CR or LF)");
    BAD(KM_FMT_PROPERTIES, "k", "\xc3\xa9\xe2\x82\xac\r\n",
        "item \"k\": line 1, column 3: a properties value must be one line (no CR or LF)");
    /* the key is checked first */
    BAD(KM_FMT_PROPERTIES, "a=b", "\n", "key \"a=b\": '=' is not allowed in a properties key");
    /* and none of it is a rule of the other formats */
    OK(KM_FMT_TEXT, "#a=b: c!", "x\ny\r\n");
    OK(KM_FMT_JSON, "a b", "1");
    OK(KM_FMT_YAML, "!a:b", "a: 1\n");
}
END_TEST

START_TEST(text)
{
    OK(KM_FMT_TEXT, "k", "");
    OK(KM_FMT_TEXT, "k", "any\x01thing\x7f\r\n\t\xc2\x85\xef\xbf\xbf\xf0\x9f\x98\x80 {[\"");
    BADN(KM_FMT_TEXT, "k", 1, "a\0", 2, "item \"k\": line 1, column 2: NUL is not allowed");
    BAD(KM_FMT_TEXT, "k", "\xe0\x80\x80", "item \"k\": line 1, column 1: not valid UTF-8");
}
END_TEST

/* Every shorter buffer holds a prefix of the whole message that is valid
 * UTF-8, cut between characters and escapes, and nothing is written past
 * it. */
static void cut(int fmt, const void *k, size_t kn, const void *v, size_t vn)
{
    char full[1024], buf[1100];
    int rc = km__fmt_check_item(fmt, k, kn, v, vn, full, sizeof full);
    ck_assert_int_ne(rc, 0);
    size_t len = strlen(full);
    ck_assert_uint_gt(len, 10);
    for (size_t n = 1; n <= len + 1; n++) {
        memset(buf, 'Z', sizeof buf);
        ck_assert_int_eq(km__fmt_check_item(fmt, k, kn, v, vn, buf, n), rc);
        size_t got = strlen(buf);
        ck_assert_uint_lt(got, n);
        ck_assert_msg(!memcmp(buf, full, got), "%zu: %s", n, buf);
        for (size_t i = n; i < sizeof buf; i++)
            ck_assert_int_eq(buf[i], 'Z');
        ck_assert(km__utf8_valid(buf, got));
        /* never half an escape (the cases' parser texts have no '\\') */
        for (size_t i = 0; i < got; i++)
            if (buf[i] == '\\') {
                i += buf[i + 1] == 'x' ? 3 : 1;
                ck_assert_msg(i < got, "%zu: %s", n, buf);
            }
        if (n == len + 1)
            ck_assert_str_eq(buf, full);
    }
    /* and no buffer at all */
    ck_assert_int_eq(km__fmt_check_item(fmt, k, kn, v, vn, NULL, 0), rc);
    buf[0] = 'Z';
    ck_assert_int_eq(km__fmt_check_item(fmt, k, kn, v, vn, buf, 0), rc);
    ck_assert_int_eq(buf[0], 'Z');
}

START_TEST(short_buffers)
{
    cut(KM_FMT_TEXT, "\xc3\xa9\x01\xe2\x82\xac\"\\\xf0\x9f\x98\x80", 13, "", 0);
    cut(KM_FMT_JSON, "\xc3\xa9t\xc3\xa9", 6, "{\"\xc3\xa9\":\x01}", 9);
    cut(KM_FMT_YAML, "k\"\\", 3, "a: [\xe2\x82\xac", 7);
    cut(KM_FMT_PROPERTIES, "k", 1, "\xc3\xa9\n", 3);
    static uint8_t k[300];
    memset(k, 0xe9, sizeof k);
    cut(KM_FMT_TEXT, k, sizeof k, "", 0);
    /* an error is overwritten by success */
    char buf[8] = "junk";
    ck_assert_int_eq(km__fmt_check_item(KM_FMT_TEXT, (const uint8_t *)"k", 1, NULL, 0, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(km__fmt_check_item(KM_FMT_JSON, (const uint8_t *)"k", 1, (const uint8_t *)"1", 1,
                                        NULL, 0), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("release/format");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, names);
    tcase_add_test(tc, keys_any_format);
    tcase_add_test(tc, keys_utf8);
    tcase_add_test(tc, key_and_value_limits);
    tcase_add_test(tc, values_utf8_and_nul);
    tcase_add_test(tc, json);
    tcase_add_test(tc, yaml);
    tcase_add_test(tc, yaml_anchors);
    tcase_add_test(tc, properties);
    tcase_add_test(tc, text);
    tcase_add_test(tc, short_buffers);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
