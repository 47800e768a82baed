/* SPDX-License-Identifier: MIT */
/* kumo txn: etcdctl's interactive transaction syntax, read from stdin. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo txn < FILE\n"
    "Reads a transaction from stdin in etcdctl's syntax: compares, a blank\n"
    "line, the requests run on success, a blank line, those run on failure.\n"
    "  compares:  value(\"k\") = \"v\"   mod(\"k\") > \"3\"   create|version|lease(\"k\") ...\n"
    "             operators = != < >\n"
    "  requests:  put KEY VALUE [--lease ID] [--prev-kv]\n"
    "             get KEY [RANGE_END] [--prefix] [--limit N] ...\n"
    "             del KEY [RANGE_END] [--prefix] [--prev-kv]\n"
    "Prints SUCCESS or FAILURE, then each response after a blank line.\n";

enum { MAXOPS = 128, MAXARGS = 32 };

typedef struct {
    json_t *req;
    ctl_op  ops[2][MAXOPS];     /* success, failure: how to print each answer */
    size_t  nops[2];
} txn;

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

static int parse_compare(const char *line, json_t **out)
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
    json_t *c = json_pack("{s:o,s:s,s:s}", "key", ctl_b64(key, kn),
                          "target", tg[t].target, "result", ops[o].result);
    int rc = c ? 0 : -1;
    if (c && !strcmp(tg[t].target, "VALUE")) {
        json_object_set_new(c, "value", ctl_b64(val, vn));
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

/* Splits a request line into words (double quotes group, backslash escapes). */
static int split(const char *line, char **argv, int max)
{
    int n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p)
            return n;
        if (n == max)
            return -1;
        size_t l;
        if (*p == '"') {
            if (!(argv[n] = quoted(&p, &l)))
                return -1;
        } else {
            size_t w = strcspn(p, " \t\r");
            if (!(argv[n] = strndup(p, w)))
                return -1;
            p += w;
        }
        n++;
    }
}

static int parse_request(const char *line, ctl_op *op, json_t **out)
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

static const char *prompts[] = { "compares:", "success requests (get, put, del):",
                                 "failure requests (get, put, del):" };
static const char *fields[] = { "compare", "success", "failure" };

/* Reads the three sections. 0, or 2 after printing the bad line. */
static int read_txn(txn *t)
{
    bool tty = isatty(0);
    char *line = NULL;
    size_t cap = 0;
    int section = 0, lineno = 0, rc = 0;
    json_t *arr[3] = { json_array(), json_array(), json_array() };
    t->req = json_object();
    if (tty)
        puts(prompts[0]);
    while (section < 3 && getline(&line, &cap, stdin) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) {
            if (++section < 3 && tty)
                puts(prompts[section]);
            continue;
        }
        json_t *item = NULL;
        if (section == 0) {
            if (parse_compare(s, &item)) {
                fprintf(stderr, "kumo: txn line %d: bad compare \"%s\"\n", lineno, s);
                rc = 2;
                break;
            }
        } else {
            size_t b = (size_t)section - 1;
            ctl_op *op = &t->ops[b][t->nops[b]];
            if (t->nops[b] == MAXOPS || parse_request(s, op, &item)) {
                fprintf(stderr, "kumo: txn line %d: bad request \"%s\"\n", lineno, s);
                rc = 2;
                break;
            }
            t->nops[b]++;
        }
        json_array_append_new(arr[section], item);
    }
    free(line);
    for (int i = 0; i < 3; i++)
        if (json_array_size(arr[i]))
            json_object_set(t->req, fields[i], arr[i]);
    for (int i = 0; i < 3; i++)
        json_decref(arr[i]);
    if (rc) {
        fputs(help, stderr);
        json_decref(t->req);
        t->req = NULL;
    }
    return rc;
}

static void print(json_t *resp, void *ud)
{
    txn *t = ud;
    bool ok = json_is_true(json_object_get(resp, "succeeded"));
    puts(ok ? "SUCCESS" : "FAILURE");
    size_t b = ok ? 0 : 1, i;
    json_t *r;
    json_array_foreach(json_object_get(resp, "responses"), i, r) {
        ctl_op *op = i < t->nops[b] ? &t->ops[b][i] : &(ctl_op){ 0 };
        json_t *v;
        putchar('\n');
        if ((v = json_object_get(r, "response_range")))
            ctl_print_range(v, op->keys_only, op->count_only);
        else if ((v = json_object_get(r, "response_put")))
            ctl_print_put(v, op->prev_kv);
        else if ((v = json_object_get(r, "response_delete_range")))
            ctl_print_del(v, op->prev_kv);
    }
}

int kumo_txn(int argc, char **argv)
{
    static const struct option lo[] = { { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    ctl c;
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    optind = 0;
    while ((o = getopt_long(argc, argv, "hi", lo, NULL)) != -1) {
        switch (o) {
        case 'i': break;        /* etcdctl's "interactive": always so here */
        case 'h': printf("%s%s", help, ctl_globals_help); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "kumo: txn takes no arguments\n%s", help);
        return 2;
    }
    static txn t;
    if ((rc = read_txn(&t)))
        return rc;
    ctl_req r = { "/v3/kv/txn", t.req, print, &t };
    return ctl_simple(&c, &r);
}
