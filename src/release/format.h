/* SPDX-License-Identifier: MIT */
/* What an item of a configuration namespace may hold in each format
 * (docs/API.md, "Namespaces and releases"): checked before publishing. */
#ifndef KUMO_RELEASE_FORMAT_H
#define KUMO_RELEASE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

enum { KM_FMT_JSON, KM_FMT_YAML, KM_FMT_PROPERTIES, KM_FMT_TEXT };

/* Limits of one item, in bytes. */
#define KM__FMT_KEY_MAX 256
#define KM__FMT_VAL_MAX (64 * 1024)

/* The format named s ("json", "yaml", "properties", "text", exactly):
 * its KM_FMT_*, or -EINVAL (NULL included). */
int km__fmt_parse(const char *s);
/* The name of fmt (a static string), or NULL for no KM_FMT_*. */
const char *km__fmt_name(int fmt);

/* Checks one item of a namespace in format fmt: key[0..klen) and
 * val[0..vlen), not NUL-terminated, any bytes. Every key is 1 to 256 bytes
 * of UTF-8 without control characters, every value UTF-8 without NUL, and
 * then: json, one JSON document of any type without duplicate object keys;
 * yaml, at most one YAML document (empty: a null one) whose aliases name
 * earlier anchors; properties, a key without space, '=' or ':', not
 * starting with '#' or '!', and a value without CR or LF; text, nothing
 * more. 0; -EINVAL (an invalid item or fmt); -EMSGSIZE (a key over
 * KM__FMT_KEY_MAX or a value over KM__FMT_VAL_MAX bytes); -ENOMEM. On
 * failure err (errn bytes; may be NULL when errn is 0) gets a message
 * naming the item and, for a value, the line and column (1-based, counted
 * in characters), e.g. "item \"db.url\": line 2, column 5: did not find
 * expected ',' or '}' (while parsing a flow mapping at line 1, column 1)";
 * "" on success. The message is always NUL-terminated, valid UTF-8 free of
 * control characters (the key's and parsers' odd bytes are \xHH escaped),
 * and cut at a character or escape when errn is short. */
int km__fmt_check_item(int fmt, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       char *err, size_t errn);

#endif
