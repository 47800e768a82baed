/* SPDX-License-Identifier: MIT */
/* kumo get, put and del, and the parsers txn reuses for its requests. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "ctl.h"

#define GLOBALS \
    "global options:\n" \
    "  --endpoint HOST:PORT  server (default 127.0.0.1:2379, or $KUMO_ENDPOINT;\n" \
    "                        https://HOST:PORT for TLS)\n" \
    "  --cacert FILE         TLS: the CAs to verify the server with (default: the system's)\n" \
    "  --cert FILE, --key FILE  TLS: a client certificate and its key\n" \
    "  --user NAME[:PASSWORD] log in first (authentication enabled), as etcdctl\n" \
    "  --password PASSWORD   the password, when --user gives only the name\n" \
    "  --timeout DUR         per request, e.g. 500ms, 5s (default 5s)\n" \
    "  -w simple|json        output format (json: the server's responses)\n" \
    "Exit status: 0 ok, 1 the server said no or could not be reached, 2 bad usage.\n"

const char ctl_globals_help[] = GLOBALS;

static const char get_help[] =
    "usage: kumo get KEY [RANGE_END] [options]\n"
    "Prints each key and its value on a line of their own.\n"
    "  --prefix              every key starting with KEY\n"
    "  --rev N               read at revision N\n"
    "  --limit N             at most N keys\n"
    "  --keys-only           keys only\n"
    "  --count-only          only the number of keys\n"
    "  --sort-by TARGET      KEY, VERSION, CREATE, MODIFY or VALUE\n"
    "  --order ORDER         ASCEND or DESCEND (default ASCEND)\n";
static const char put_help[] =
    "usage: kumo put KEY [VALUE] [options]\n"
    "Stores VALUE (read from stdin when omitted) under KEY; prints OK.\n"
    "  --lease ID            attach to the lease ID (hex)\n"
    "  --prev-kv             print the previous key and value\n";
static const char del_help[] =
    "usage: kumo del KEY [RANGE_END] [options]\n"
    "Deletes KEY (or a range); prints how many keys were deleted.\n"
    "  --prefix              every key starting with KEY\n"
    "  --prev-kv             print the deleted keys and values\n";

/* Puts "key" and "range_end" for KEY [RANGE_END] [--prefix] into req. */
static int set_range(json_t *req, const char *key, const char *end, bool prefix)
{
    size_t kn = strlen(key);
    json_object_set_new(req, "key", km__etcd_json_b64(key, kn));
    if (prefix && end) {
        fprintf(stderr, "kumo: --prefix and RANGE_END do not go together\n");
        return 2;
    }
    if (prefix) {
        char *e = malloc(kn + 2);
        if (!e)
            return 2;
        size_t en = km__etcd_prefix_end(e, key, kn);
        json_object_set_new(req, "range_end", km__etcd_json_b64(e, en));
        free(e);
    } else if (end) {
        json_object_set_new(req, "range_end", km__etcd_json_b64(end, strlen(end)));
    }
    return 0;
}

static int bad(const char *help, const char *fmt, const char *arg)
{
    if (fmt) {
        fprintf(stderr, "kumo: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\n");
    }
    fputs(help, stderr);
    return 2;
}

int ctl_parse_get(int argc, char **argv, ctl_op *op)
{
    static const struct option lo[] = {
        { "prefix", no_argument, 0, 'p' }, { "rev", required_argument, 0, 'r' },
        { "limit", required_argument, 0, 'l' }, { "keys-only", no_argument, 0, 'k' },
        { "count-only", no_argument, 0, 'c' }, { "sort-by", required_argument, 0, 's' },
        { "order", required_argument, 0, 'o' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    static const char *targets[][2] = { { "KEY", "KEY" }, { "VERSION", "VERSION" },
        { "CREATE", "CREATE" }, { "MODIFY", "MOD" }, { "MOD", "MOD" }, { "VALUE", "VALUE" } };
    bool prefix = false;
    const char *sort = NULL, *order = NULL;
    int64_t rev = 0, limit = 0;
    int o;
    memset(op, 0, sizeof *op);
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'p': prefix = true; break;
        case 'k': op->keys_only = true; break;
        case 'c': op->count_only = true; break;
        case 'r':
            if (ctl_parse_i64(optarg, &rev) || rev < 0)
                return bad(get_help, "bad revision \"%s\"", optarg);
            break;
        case 'l':
            if (ctl_parse_i64(optarg, &limit) || limit < 0)
                return bad(get_help, "bad limit \"%s\"", optarg);
            break;
        case 's':
            sort = NULL;
            for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
                if (!strcasecmp(optarg, targets[i][0]))
                    sort = targets[i][1];
            if (!sort)
                return bad(get_help, "bad --sort-by \"%s\"", optarg);
            break;
        case 'o':
            if (strcasecmp(optarg, "ASCEND") && strcasecmp(optarg, "DESCEND"))
                return bad(get_help, "bad --order \"%s\" (ASCEND or DESCEND)", optarg);
            order = strcasecmp(optarg, "ASCEND") ? "DESCEND" : "ASCEND";
            break;
        case 'h':
            printf("%s%s", get_help, ctl_globals_help);
            return -1;
        default:
            return bad(get_help, NULL, NULL);
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2)
        return bad(get_help, npos < 1 ? "get needs a KEY" : "too many arguments%s", "");
    if (op->keys_only && op->count_only)
        return bad(get_help, "--keys-only and --count-only do not go together%s", "");
    op->req = json_object();
    if (!op->req)
        return 2;
    int rc = set_range(op->req, argv[optind], npos > 1 ? argv[optind + 1] : NULL, prefix);
    if (rc) {
        json_decref(op->req);
        op->req = NULL;
        return rc;
    }
    if (limit)
        json_object_set_new(op->req, "limit", json_integer(limit));
    if (rev)
        json_object_set_new(op->req, "revision", json_integer(rev));
    if (sort || order) {
        json_object_set_new(op->req, "sort_order", json_string(order ? order : "ASCEND"));
        json_object_set_new(op->req, "sort_target", json_string(sort ? sort : "KEY"));
    }
    if (op->keys_only)
        json_object_set_new(op->req, "keys_only", json_true());
    if (op->count_only)
        json_object_set_new(op->req, "count_only", json_true());
    return 0;
}

static char *read_stdin(size_t *n)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + len, 1, cap - len, stdin);
        len += r;
        if (r == 0)
            break;
        if (len == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    *n = len;
    return b;
}

int ctl_parse_put(int argc, char **argv, ctl_op *op, bool value_from_stdin)
{
    static const struct option lo[] = {
        { "lease", required_argument, 0, 'l' }, { "prev-kv", no_argument, 0, 'p' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    int64_t lease = 0;
    int o;
    memset(op, 0, sizeof *op);
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'l':
            if (ctl_parse_hex(optarg, &lease))
                return bad(put_help, "bad lease ID \"%s\" (hex)", optarg);
            break;
        case 'p': op->prev_kv = true; break;
        case 'h':
            printf("%s%s", put_help, ctl_globals_help);
            return -1;
        default:
            return bad(put_help, NULL, NULL);
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2 || (npos == 1 && !value_from_stdin))
        return bad(put_help, npos < 1 ? "put needs a KEY" :
                   npos > 2 ? "too many arguments%s" : "put needs a VALUE%s", "");
    const char *key = argv[optind];
    if (!*key)
        return bad(put_help, "the key must not be empty%s", "");
    op->req = json_object();
    if (!op->req)
        return 2;
    json_object_set_new(op->req, "key", km__etcd_json_b64(key, strlen(key)));
    if (npos == 2) {
        json_object_set_new(op->req, "value", km__etcd_json_b64(argv[optind + 1], strlen(argv[optind + 1])));
    } else {
        size_t n;
        char *v = read_stdin(&n);
        if (!v) {
            fprintf(stderr, "kumo: cannot read the value from stdin\n");
            return 2;
        }
        json_object_set_new(op->req, "value", km__etcd_json_b64(v, n));
        free(v);
    }
    if (lease)
        json_object_set_new(op->req, "lease", json_integer(lease));
    if (op->prev_kv)
        json_object_set_new(op->req, "prev_kv", json_true());
    return 0;
}

int ctl_parse_del(int argc, char **argv, ctl_op *op)
{
    static const struct option lo[] = {
        { "prefix", no_argument, 0, 'x' }, { "prev-kv", no_argument, 0, 'p' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    bool prefix = false;
    int o;
    memset(op, 0, sizeof *op);
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'x': prefix = true; break;
        case 'p': op->prev_kv = true; break;
        case 'h':
            printf("%s%s", del_help, ctl_globals_help);
            return -1;
        default:
            return bad(del_help, NULL, NULL);
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2)
        return bad(del_help, npos < 1 ? "del needs a KEY" : "too many arguments%s", "");
    op->req = json_object();
    if (!op->req)
        return 2;
    int rc = set_range(op->req, argv[optind], npos > 1 ? argv[optind + 1] : NULL, prefix);
    if (rc) {
        json_decref(op->req);
        op->req = NULL;
        return rc;
    }
    if (op->prev_kv)
        json_object_set_new(op->req, "prev_kv", json_true());
    return 0;
}

static void print_get(json_t *resp, void *ud)
{
    ctl_op *op = ud;
    ctl_print_range(resp, op->keys_only, op->count_only);
}

static void print_put(json_t *resp, void *ud)
{
    ctl_print_put(resp, ((ctl_op *)ud)->prev_kv);
}

static void print_del(json_t *resp, void *ud)
{
    ctl_print_del(resp, ((ctl_op *)ud)->prev_kv);
}

int kumo_get(int argc, char **argv)
{
    ctl c;
    ctl_op op;
    int rc = ctl_globals(&c, &argc, argv);
    if (rc || (rc = ctl_parse_get(argc, argv, &op)))
        return rc < 0 ? 0 : rc;
    ctl_req r = { "/v3/kv/range", op.req, print_get, &op };
    return ctl_simple(&c, &r);
}

int kumo_put(int argc, char **argv)
{
    ctl c;
    ctl_op op;
    int rc = ctl_globals(&c, &argc, argv);
    if (rc || (rc = ctl_parse_put(argc, argv, &op, true)))
        return rc < 0 ? 0 : rc;
    ctl_req r = { "/v3/kv/put", op.req, print_put, &op };
    return ctl_simple(&c, &r);
}

int kumo_del(int argc, char **argv)
{
    ctl c;
    ctl_op op;
    int rc = ctl_globals(&c, &argc, argv);
    if (rc || (rc = ctl_parse_del(argc, argv, &op)))
        return rc < 0 ? 0 : rc;
    ctl_req r = { "/v3/kv/deleterange", op.req, print_del, &op };
    return ctl_simple(&c, &r);
}
