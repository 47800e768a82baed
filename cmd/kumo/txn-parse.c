/* SPDX-License-Identifier: MIT */
/* kumo txn's line parsers: compares and requests in etcdctl's syntax, to etcd v3 JSON. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "txn-parse.h"

enum { MAXARGS = 32 };

/* Reads a double-quoted string at *p (backslash escapes); advances *p. */
static char *quoted(const char **p, size_t *n)
{
    const char *s = *p;
    if (*s != '"')
        return NULL;
    char *out = malloc(strlen(s) + 1);
    size_t l = 0;
    if (!out)
        return NULL;
    for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            out[l++] = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
        } else {
            out[l++] = *s;
        }
    }
    if (*s != '"') {
        free(out);
        return NULL;
    }
    out[l] = 0;
    *n = l;
    *p = s + 1;
    return out;
}

int ctl_txn_parse_compare(const char *line, json_t **out)
{
    static const struct { const char *name, *target, *field; } tg[] = {
        { "value", "VALUE", "value" }, { "val", "VALUE", "value" },
        { "version", "VERSION", "version" }, { "ver", "VERSION", "version" },
        { "create", "CREATE", "create_revision" }, { "c", "CREATE", "create_revision" },
        { "mod", "MOD", "mod_revision" }, { "m", "MOD", "mod_revision" },
        { "lease", "LEASE", "lease" },
    };
    static const struct { const char *op, *result; } ops[] = {
        { "==", "EQUAL" }, { "!=", "NOT_EQUAL" }, { "=", "EQUAL" },
        { "<", "LESS" }, { ">", "GREATER" },
    };
    const char *p = line;
    size_t tl = strcspn(p, "(");
    int t = -1;
    for (size_t i = 0; i < sizeof tg / sizeof tg[0]; i++)
        if (strlen(tg[i].name) == tl && !strncmp(p, tg[i].name, tl))
            t = (int)i;
    if (t < 0 || p[tl] != '(')
        return -1;
    p += tl + 1;
    size_t kn, vn;
    char *key = quoted(&p, &kn);
    if (!key)
        return -1;
    if (*p++ != ')') {
        free(key);
        return -1;
    }
    while (*p == ' ' || *p == '\t') p++;
    int o = -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0] && o < 0; i++)
        if (!strncmp(p, ops[i].op, strlen(ops[i].op)))
            o = (int)i;
    if (o < 0) {
        free(key);
        return -1;
    }
    p += strlen(ops[o].op);
    while (*p == ' ' || *p == '\t') p++;
    char *val = quoted(&p, &vn);
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
    if (!val || *p) {
        free(key);
        free(val);
        return -1;
    }
    json_t *c = json_pack("{s:o,s:s,s:s}", "key", km__etcd_json_b64(key, kn),
                          "target", tg[t].target, "result", ops[o].result);
    int rc = c ? 0 : -1;
    if (c && !strcmp(tg[t].target, "VALUE")) {
        json_object_set_new(c, "value", km__etcd_json_b64(val, vn));
    } else if (c) {
        int64_t v;
        rc = !strcmp(tg[t].target, "LEASE") ? ctl_parse_hex(val, &v) : ctl_parse_i64(val, &v);
        if (!rc)
            json_object_set_new(c, tg[t].field, json_integer(v));
    }
    free(key);
    free(val);
    if (rc) {
        json_decref(c);
        return -1;
    }
    *out = c;
    return 0;
}

/* Splits a request line into words (double quotes group, backslash escapes).
 * The number of words, each the caller's to free; -1 with none left
 * allocated on an unterminated quote, more than max words or no memory. */
static int split(const char *line, char **argv, int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p)
            return n;
        if (n == max)
            break;
        size_t l;
        if (*p == '"') {
            if (!(argv[n] = quoted(&p, &l)))
                break;
        } else {
            size_t w = strcspn(p, " \t\r");
            if (!(argv[n] = strndup(p, w)))
                break;
            p += w;
        }
        n++;
    }
    while (n > 0)
        free(argv[--n]);
    return -1;
}

int ctl_txn_parse_request(const char *line, ctl_op *op, json_t **out)
{
    char *argv[MAXARGS + 1] = { 0 };
    int argc = split(line, argv, MAXARGS), rc = 2;
    const char *wrap = NULL;
    if (argc > 0) {
        opterr = 0;             /* the caller reports the line */
        if (!strcmp(argv[0], "get")) {
            rc = ctl_parse_get(argc, argv, op);
            wrap = "request_range";
        } else if (!strcmp(argv[0], "put")) {
            rc = ctl_parse_put(argc, argv, op, false);
            wrap = "request_put";
        } else if (!strcmp(argv[0], "del") || !strcmp(argv[0], "delete")) {
            rc = ctl_parse_del(argc, argv, op);
            wrap = "request_delete_range";
        }
        opterr = 1;
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    if (rc || !op->req)
        return -1;
    *out = json_pack("{s:o}", wrap, op->req);
    return *out ? 0 : -1;
}
