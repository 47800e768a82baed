/* SPDX-License-Identifier: MIT */
/* kumo txn: etcdctl's interactive transaction syntax, read from stdin. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "ctl.h"
#include "txn-parse.h"

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

enum { MAXOPS = 128 };

typedef struct {
    json_t *req;
    ctl_op  ops[2][MAXOPS];     /* success, failure: how to print each answer */
    size_t  nops[2];
} txn;

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
            if (ctl_txn_parse_compare(s, &item)) {
                fprintf(stderr, "kumo: txn line %d: bad compare \"%s\"\n", lineno, s);
                rc = 2;
                break;
            }
        } else {
            size_t b = (size_t)section - 1;
            ctl_op *op = &t->ops[b][t->nops[b]];
            if (t->nops[b] == MAXOPS || ctl_txn_parse_request(s, op, &item)) {
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
