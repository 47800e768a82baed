/* SPDX-License-Identifier: MIT */
/* Checking a namespace's items against its format: jansson for JSON,
 * libyaml's event parser for YAML, byte rules for properties and text. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include <yaml.h>
#include "enc/utf8.h"
#include "release/format.h"
#include "rt/alloc.h"

static const char *const names[] = { "json", "yaml", "properties", "text" };

/* How much of an over-long key a message shows. */
#define KEY_SHOWN 32

int km__fmt_parse(const char *s)
{
    for (int i = 0; s && i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(s, names[i]))
            return i;
    return -EINVAL;
}

const char *km__fmt_name(int fmt)
{
    return fmt >= 0 && fmt < (int)(sizeof names / sizeof names[0]) ? names[fmt] : NULL;
}

/* ---- messages ---- */

typedef struct {
    char  *p;
    size_t n, len;
    bool   full;
} msg;

/* Appends s[0..k) whole or, once something does not fit, nothing more: a
 * short buffer cuts the message between characters or escapes, never
 * inside one (the message goes into JSON, which wants valid UTF-8). */
static void put(msg *m, const char *s, size_t k)
{
    if (m->full || m->len + k >= m->n) {
        m->full = true;
        return;
    }
    memcpy(m->p + m->len, s, k);
    m->len += k;
    m->p[m->len] = '\0';
}

/* Appends s[0..k) as UTF-8 without control characters: control bytes (C1
 * too) and bytes of no well-formed sequence as \xHH; with quote also '"'
 * and '\' escaped, for a key between quotes. Keys are checked before they
 * are quoted, but the key a message refuses may be anything. */
static void put_text(msg *m, const uint8_t *s, size_t k, bool quote)
{
    for (size_t i = 0; i < k && !m->full;) {
        uint8_t c = s[i];
        size_t w = c < 0x80 ? 1 : km__utf8_seq(s + i, k - i);
        char e[16];
        if (c < 0x20 || c == 0x7f || !w) {
            snprintf(e, sizeof e, "\\x%02x", c);
            put(m, e, 4);
            i++;
        } else if (w == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
            snprintf(e, sizeof e, "\\x%02x\\x%02x", c, s[i + 1]);
            put(m, e, 8);
            i += 2;
        } else if (quote && (c == '"' || c == '\\')) {
            e[0] = '\\';
            e[1] = (char)c;
            put(m, e, 2);
            i++;
        } else {
            put(m, (const char *)s + i, w);
            i += w;
        }
    }
}

/* Appends printf's output (ASCII only: numbers and our own words). */
static void putf(msg *m, const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    for (int i = 0; i < k && i < (int)sizeof b - 1; i++)
        put(m, b + i, 1);
}

/* `what "KEY": ` with the key quoted (an over-long one cut, at a
 * character, and marked so). */
static void put_key(msg *m, const char *what, const uint8_t *key, size_t klen)
{
    size_t k = klen;
    if (k > KM__FMT_KEY_MAX) {
        k = KEY_SHOWN;
        while (k && (key[k] & 0xc0) == 0x80)
            k--;
    }
    putf(m, "%s \"", what);
    put_text(m, key, k, true);
    putf(m, "%s\": ", k < klen ? "..." : "");
}

/* Line and column (1-based, in characters) of byte off of s[0..n). With
 * yaml, CR, CR LF, NEL, LS and PS end lines too, as libyaml counts them. */
static void where(const uint8_t *s, size_t n, size_t off, bool yaml, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off && i < n; i++) {
        uint8_t b = s[i];
        bool brk = b == '\n' && !(yaml && i && s[i - 1] == '\r');
        if (yaml)
            brk = brk || b == '\r' || (b == 0xc2 && i + 1 < n && s[i + 1] == 0x85) ||
                  (b == 0xe2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] | 1) == 0xa9);
        if (brk)
            l++, c = 1;
        else if (b == '\n')
            c = 1;                      /* the LF of a CR LF */
        else if ((b & 0xc0) != 0x80)
            c++;
    }
    *line = l;
    *col = c;
}

/* `line L, column C: ` for byte off of the value. */
static void put_where(msg *m, const uint8_t *v, size_t n, size_t off, bool yaml)
{
    size_t line, col;
    where(v, n, off, yaml, &line, &col);
    putf(m, "line %zu, column %zu: ", line, col);
}

/* Offset of the first byte of s[0..n) in no well-formed sequence, or n. */
static size_t bad_utf8(const uint8_t *s, size_t n)
{
    if (km__utf8_valid(s, n))
        return n;
    size_t i = 0;
    while (i < n) {
        size_t w = s[i] < 0x80 ? 1 : km__utf8_seq(s + i, n - i);
        if (!w)
            break;
        i += w;
    }
    return i;
}

/* ---- keys ---- */

static int check_key(int fmt, const uint8_t *k, size_t n, msg *m)
{
    if (!n || n > KM__FMT_KEY_MAX) {
        put_key(m, "key", k, n);
        if (!n)
            return putf(m, "a key must not be empty"), -EINVAL;
        putf(m, "a key must be at most %d bytes (it is %zu)", KM__FMT_KEY_MAX, n);
        return -EMSGSIZE;
    }
    size_t at = bad_utf8(k, n);
    for (size_t i = 0; i < at; i++)
        if (k[i] < 0x20 || k[i] == 0x7f) {
            put_key(m, "key", k, n);
            return putf(m, "control characters are not allowed in a key"), -EINVAL;
        }
    if (at < n) {
        put_key(m, "key", k, n);
        return putf(m, "a key must be valid UTF-8 (byte %zu is not)", at + 1), -EINVAL;
    }
    if (fmt != KM_FMT_PROPERTIES)
        return 0;
    /* Java's Properties.load ends a key at the first space, '=' or ':'
     * (tab and form feed too, control characters refused above) and skips
     * lines starting with '#' or '!' as comments: such a key would not read
     * back as itself. Other Unicode spaces it keeps in the key. */
    const char *why = NULL;
    if (k[0] == '#' || k[0] == '!')
        why = k[0] == '#' ? "a properties key must not start with '#'"
                          : "a properties key must not start with '!'";
    for (size_t i = 0; i < n && !why; i++)
        if (k[i] == ' ')
            why = "whitespace is not allowed in a properties key";
        else if (k[i] == '=')
            why = "'=' is not allowed in a properties key";
        else if (k[i] == ':')
            why = "':' is not allowed in a properties key";
    if (!why)
        return 0;
    put_key(m, "key", k, n);
    return putf(m, "%s", why), -EINVAL;
}

/* ---- values ---- */

static int check_json(const uint8_t *v, size_t n, msg *m)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)v, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (j) {
        json_decref(j);
        return 0;
    }
    /* jansson reports the character it stopped at, 0 before the first */
    putf(m, "line %d, column %d: ", e.line > 0 ? e.line : 1, e.column > 0 ? e.column : 1);
    /* NUL is refused as a byte, so as an escape too; the reason jansson
     * gives names its flag, of no use to whoever wrote the value */
    static const char nul[] = "\\u0000 is not allowed without JSON_ALLOW_NUL";
    const char *t = e.text;
    if (!strncmp(t, nul, sizeof nul - 1)) {
        putf(m, "\\u0000 is not allowed");
        t += sizeof nul - 1;
    }
    /* the text quotes the value ("near '...'"), cut anywhere */
    put_text(m, (const uint8_t *)t, strlen(t), false);
    return json_error_code(&e) == json_error_out_of_memory ? -ENOMEM : -EINVAL;
}

/* The anchors of a YAML document so far, a set of copies with open
 * addressing: a value of 64 KiB can hold ten thousand of them, and as many
 * aliases, too many for a list. */
typedef struct {
    char **slot;
    size_t cap, n;                      /* cap: 0 or a power of 2 */
} anchors;

static char **slot_of(const anchors *a, const char *s)
{
    uint32_t h = 2166136261u;           /* FNV-1a */
    for (const char *p = s; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    size_t i = h & (a->cap - 1);
    while (a->slot[i] && strcmp(a->slot[i], s))
        i = (i + 1) & (a->cap - 1);
    return &a->slot[i];
}

static bool anchor_known(const anchors *a, const char *s)
{
    return a->cap && *slot_of(a, s);
}

static int anchor_add(anchors *a, const char *s)
{
    if (2 * (a->n + 1) > a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        anchors b = { km__calloc(cap, sizeof(char *)), cap, a->n };
        if (!b.slot)
            return -ENOMEM;
        for (size_t i = 0; i < a->cap; i++)
            if (a->slot[i])
                *slot_of(&b, a->slot[i]) = a->slot[i];
        km__free(a->slot);
        *a = b;
    }
    char **p = slot_of(a, s);
    if (*p)                             /* redefined: aliases after it mean the new node */
        return 0;
    if (!(*p = km__strdup(s)))
        return -ENOMEM;
    a->n++;
    return 0;
}

static void anchors_free(anchors *a)
{
    for (size_t i = 0; i < a->cap; i++)
        km__free(a->slot[i]);
    km__free(a->slot);
}

/* `line L, column C` of a libyaml mark (0-based, in characters). At the
 * end libyaml adds a line break of its own, and a mark past the input would
 * name a line the value does not have: that one is the input's end. */
static void put_mark(msg *m, const uint8_t *v, size_t n, const yaml_mark_t *mk)
{
    size_t chars = 0, line = mk->line + 1, col = mk->column + 1;
    for (size_t i = 0; i < n; i++)
        chars += (v[i] & 0xc0) != 0x80;
    if (mk->index >= chars)
        where(v, n, n, true, &line, &col);
    putf(m, "line %zu, column %zu", line, col);
}

/* What libyaml refused, where: reader errors (characters YAML does not
 * allow) come as a byte offset, the others as a mark. */
static int yaml_failed(const yaml_parser_t *p, const uint8_t *v, size_t n, msg *m)
{
    if (p->error == YAML_MEMORY_ERROR)
        return putf(m, "out of memory"), -ENOMEM;
    if (p->error == YAML_READER_ERROR) {
        put_where(m, v, n, p->problem_offset, true);
    } else {
        put_mark(m, v, n, &p->problem_mark);
        putf(m, ": ");
    }
    const char *t = p->problem ? p->problem : "not valid YAML";
    put_text(m, (const uint8_t *)t, strlen(t), false);
    if (p->error == YAML_READER_ERROR && p->problem_value >= 0)
        putf(m, " (U+%04X)", (unsigned)p->problem_value);
    if (p->context) {
        putf(m, " (");
        put_text(m, (const uint8_t *)p->context, strlen(p->context), false);
        putf(m, " at ");
        put_mark(m, v, n, &p->context_mark);
        putf(m, ")");
    }
    return -EINVAL;
}

/* The anchor a node event defines, or NULL. */
static const char *anchor_of(const yaml_event_t *e)
{
    switch (e->type) {
    case YAML_SCALAR_EVENT:         return (const char *)e->data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT: return (const char *)e->data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:  return (const char *)e->data.mapping_start.anchor;
    default:                        return NULL;
    }
}

/* Events only, no tree: the parser finds every syntax error; an alias of
 * no anchor (which libyaml's loader, PyYAML and Go's yaml refuse) and a
 * second document are this loop's to find. */
static int check_yaml(const uint8_t *v, size_t n, msg *m)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return putf(m, "out of memory"), -ENOMEM;
    yaml_parser_set_input_string(&p, v, n);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    anchors a = { NULL, 0, 0 };
    int docs = 0, rc = 0;
    for (bool end = false; !end && !rc;) {
        yaml_event_t e;
        if (!yaml_parser_parse(&p, &e)) {
            rc = yaml_failed(&p, v, n, m);
            break;
        }
        const char *anchor = anchor_of(&e);
        if (e.type == YAML_STREAM_END_EVENT) {
            end = true;
        } else if (e.type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            putf(m, "line %zu: more than one YAML document", e.start_mark.line + 1);
            rc = -EINVAL;
        } else if (e.type == YAML_ALIAS_EVENT && !anchor_known(&a, (const char *)e.data.alias.anchor)) {
            putf(m, "line %zu, column %zu: alias of no anchor: ", e.start_mark.line + 1,
                 e.start_mark.column + 1);
            put_text(m, e.data.alias.anchor, strlen((const char *)e.data.alias.anchor), false);
            rc = -EINVAL;
        } else if (anchor && (rc = anchor_add(&a, anchor))) {
            putf(m, "out of memory");
        }
        yaml_event_delete(&e);
    }
    anchors_free(&a);
    yaml_parser_delete(&p);
    return rc;
}

static int check_value(int fmt, const uint8_t *v, size_t n, msg *m)
{
    if (n > KM__FMT_VAL_MAX) {
        putf(m, "a value must be at most %d bytes (it is %zu)", KM__FMT_VAL_MAX, n);
        return -EMSGSIZE;
    }
    bool yaml = fmt == KM_FMT_YAML;
    size_t at = bad_utf8(v, n);
    const uint8_t *nul = memchr(v, 0, at);
    if (nul) {
        put_where(m, v, n, (size_t)(nul - v), yaml);
        return putf(m, "NUL is not allowed"), -EINVAL;
    }
    if (at < n) {
        put_where(m, v, n, at, yaml);
        return putf(m, "not valid UTF-8"), -EINVAL;
    }
    switch (fmt) {
    case KM_FMT_JSON:
        return check_json(v, n, m);
    case KM_FMT_YAML:
        return check_yaml(v, n, m);
    case KM_FMT_PROPERTIES:
        for (size_t i = 0; i < n; i++)
            if (v[i] == '\r' || v[i] == '\n') {
                put_where(m, v, n, i, false);
                return putf(m, "a properties value must be one line (no CR or LF)"), -EINVAL;
            }
        return 0;
    default:
        return 0;
    }
}

int km__fmt_check_item(int fmt, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                       char *err, size_t errn)
{
    msg m = { err, err ? errn : 0, 0, false };
    if (m.n)
        err[0] = '\0';
    if (!km__fmt_name(fmt))
        return putf(&m, "unknown format %d", fmt), -EINVAL;
    if (!key)
        key = (const uint8_t *)"";      /* libyaml and memchr want a pointer even for nothing */
    if (!val)
        val = (const uint8_t *)"";
    int rc = check_key(fmt, key, klen, &m);
    if (rc)
        return rc;
    put_key(&m, "item", key, klen);     /* ahead of a message there may be none of */
    rc = check_value(fmt, val, vlen, &m);
    if (!rc && m.n)
        err[0] = '\0';
    return rc;
}
