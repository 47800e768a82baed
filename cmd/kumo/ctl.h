/* SPDX-License-Identifier: MIT */
/* Shared pieces of the etcd-style client commands (get, put, del, txn, ...). */
#ifndef KUMO_CTL_H
#define KUMO_CTL_H

#include <kumo.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "etcd/wire.h"

/* Global options and the connection every client command uses. */
typedef struct {
    const char     *endpoint;   /* HOST:PORT */
    int64_t         timeout;    /* ns, per request */
    bool            json;       /* -w json */
    /* TLS, as etcdctl: an https:// endpoint or any of these turns it on */
    const char     *cacert, *cert, *key;
    bool            https;
    struct km_tls  *tls;        /* made by ctl_run when TLS is on */
    /* authentication, as etcdctl: --user NAME[:PASSWORD], --password */
    const char     *user, *password;
    char           *token;      /* from logging in (ctl_run); NULL: none */
    km_http_client *http;
} ctl;

/* A command body run as the first goroutine; returns the exit status. */
typedef int ctl_fn(ctl *c, void *arg);

/* The headers of a request to the server: Content-Type ctype and, once
 * logged in, the token (bare, as etcd's gateway takes it; the native API
 * takes it too). How many of h (>= 2) it filled. */
size_t ctl_headers(const ctl *c, const char *ctype, km_http_kv *h);

/* Removes the global options (--endpoint, --timeout, -w/--write-out,
 * --cacert, --cert, --key, --user, --password) from
 * argv wherever they are, fills c from them and KUMO_ENDPOINT. 0, or 2
 * after printing what was wrong. */
int ctl_globals(ctl *c, int *argc, char **argv);
/* How many words of argv the global option at arg takes: 1 ("--timeout=2s"),
 * 2 ("--timeout 2s"), or 0 when arg is not a global option. */
int ctl_global_words(const char *arg);
/* Starts the runtime and an HTTP client, runs fn; its exit status. */
int ctl_run(ctl *c, ctl_fn *fn, void *arg);

/* One request and its simple-format printer (unused with -w json). */
typedef struct {
    const char *path;
    json_t     *req;            /* consumed; NULL means out of memory */
    void      (*print)(json_t *resp, void *ud);
    void       *ud;
} ctl_req;
/* Runs the runtime for the single request r; the exit status. */
int ctl_simple(ctl *c, ctl_req *r);

/* POSTs req (consumed) as JSON to path. 0 and *out (the caller's to
 * decref) on a 200 answer; 1 after printing the server's error or why it
 * could not be reached. */
int ctl_call(ctl *c, const char *path, json_t *req, json_t **out);
/* Prints "kumo: cannot reach ENDPOINT: reason" for a transport error. */
void ctl_unreachable(const ctl *c, int err);
/* Prints "kumo: message" from an error body (or the HTTP status). */
void ctl_server_error(int status, const char *body, size_t n);
/* Prints v as one line of compact JSON. */
void ctl_print_json(json_t *v);

/* Decodes the base64 string member key of o into a new NUL-terminated
 * buffer (empty if absent); *n its length. NULL on bad data. */
char *ctl_unb64(json_t *o, const char *key, size_t *n);

/* Strict parsers for option values: 0 or -EINVAL. */
int ctl_parse_i64(const char *s, int64_t *out);
int ctl_parse_hex(const char *s, int64_t *out);
int ctl_parse_dur(const char *s, int64_t *ns);

/* Prints a key and its value, each followed by a newline (simple output). */
void ctl_print_kv(json_t *kv, bool keys_only);
/* Simple output of a range, put and delete-range response. */
void ctl_print_range(json_t *resp, bool keys_only, bool count_only);
void ctl_print_del(json_t *resp, bool prev_kv);
void ctl_print_put(json_t *resp, bool prev_kv);

/* A parsed get, put or del: its request and how to print the answer. */
typedef struct {
    json_t *req;
    bool    keys_only, count_only, prev_kv;
} ctl_op;
/* Parse "get|put|del ARGS" (argv[0] is the verb). 0 with op->req set;
 * 2 bad usage (printed); -1 when -h printed the help. put takes its value
 * from stdin when value_from_stdin and VALUE is omitted. */
int ctl_parse_get(int argc, char **argv, ctl_op *op);
int ctl_parse_put(int argc, char **argv, ctl_op *op, bool value_from_stdin);
int ctl_parse_del(int argc, char **argv, ctl_op *op);
/* Help for the global options, appended to every command's -h. */
extern const char ctl_globals_help[];

/* Set by SIGINT/SIGTERM once ctl_on_signal installed the handler; fd (if
 * >= 0) is shut down so that a goroutine reading it wakes up. */
extern volatile int ctl_interrupted;
void ctl_on_signal(int fd);

#endif
