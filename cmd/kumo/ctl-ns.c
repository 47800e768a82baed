/* SPDX-License-Identifier: MIT */
/* kumo ns: configuration namespaces, their drafts, releases, gray releases
 * and audit trail through the native API's /api/v1/ns (docs/API.md). */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo ns COMMAND [ARGS] [options]\n"
    "Configuration namespaces APP/NAME: edit a draft, publish releases, gray\n"
    "release to some instances, roll back, read what an instance sees.\n"
    "  create APP/NAME --format F   a namespace; F: json, yaml, properties or text\n"
    "  set APP/NAME KEY VALUE [--secret]  set an item of the draft (VALUE -: stdin,\n"
    "                               less one trailing newline; --secret: stored\n"
    "                               encrypted, shown as ******)\n"
    "  del APP/NAME KEY             delete an item of the draft\n"
    "  diff APP/NAME                the draft against the main release (exit 1\n"
    "                               when the draft would not publish)\n"
    "  compare APP/NAME OTHER/NAME  the main releases of two namespaces (two\n"
    "                               environments' copies: prod.shop/db staging.shop/db)\n"
    "  publish APP/NAME --name N [--notes TEXT]  the draft as the next release\n"
    "  releases APP/NAME            the releases, newest first\n"
    "  rollback APP/NAME --to ID    make release ID the main one again\n"
    "  gray APP/NAME --name G [--labels k=v,...] [--ips CIDR,...] [--notes TEXT]\n"
    "                               the draft as gray release G, for instances\n"
    "                               with all those labels and one of those addresses\n"
    "  promote APP/NAME --gray G [--notes TEXT]  gray release G becomes main\n"
    "  abandon APP/NAME --gray G    drop gray release G\n"
    "  get APP/NAME [--labels k=v,...] [--ip A]  the configuration an instance sees\n"
    "  show APP/NAME                the namespace and its draft\n"
    "  list [--app A]               the namespaces (of app A)\n"
    "  audit [APP/NAME] [--user U] [--since T] [--limit N]  who changed what, newest\n"
    "                               first; T: RFC 3339 time or how long ago (1h, 30m)\n"
    "Lists print one JSON document per line; -w json prints the server's answers.\n";

enum {
    O_FORMAT = 1 << 0, O_SECRET = 1 << 1, O_NAME = 1 << 2, O_NOTES = 1 << 3,
    O_LABELS = 1 << 4, O_IPS = 1 << 5, O_IP = 1 << 6, O_TO = 1 << 7, O_GRAY = 1 << 8,
    O_USER = 1 << 9, O_SINCE = 1 << 10, O_APP = 1 << 11, O_LIMIT = 1 << 12,
};

typedef struct {
    const char *ns, *key, *value;
    char       *in;             /* VALUE "-": stdin, malloc'd */
    size_t      vn;
    const char *format, *name, *notes, *labels, *ips, *ip, *gray, *user, *app;
    bool        secret;
    int64_t     to, since, limit;
} ns_args;

typedef struct sub sub;
struct sub {
    const char *name;
    const char *args;           /* the usage line after "kumo ns NAME" */
    int         min, max;       /* positional arguments */
    unsigned    opts, need;     /* options allowed, required */
    int       (*run)(ctl *c, const ns_args *a);
};

/* ---- URLs ---- */

/* A path and query, percent-encoded as it is built. */
typedef struct {
    char   p[4096];
    size_t n;
    bool   over;
} url;

static void u_raw(url *u, const char *s)
{
    size_t l = strlen(s);
    if (u->n + l >= sizeof u->p) {
        u->over = true;
        return;
    }
    memcpy(u->p + u->n, s, l + 1);
    u->n += l;
}

/* s[0..n) as one path segment or query value: only RFC 3986's unreserved
 * characters stay, so '/', '+', '&', '=' and ',' arrive as data. */
static void u_enc(url *u, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char e[4] = { (char)ch, 0 };
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_' || ch == '~')) {
            e[0] = '%';
            e[1] = hex[ch >> 4];
            e[2] = hex[ch & 15];
            e[3] = 0;
        }
        u_raw(u, e);
    }
}

/* "?name=value" or "&name=value" when value is set. */
static void u_query(url *u, const char *name, const char *value)
{
    if (!value)
        return;
    u_raw(u, strchr(u->p, '?') ? "&" : "?");
    u_raw(u, name);
    u_raw(u, "=");
    u_enc(u, value, strlen(value));
}

/* /api/v1/ns/APP/NAME, then "/" and rest if any. */
static void u_ns(url *u, const char *ns, const char *rest)
{
    const char *slash = strchr(ns, '/');
    u->n = 0;
    u->over = false;
    u->p[0] = 0;
    u_raw(u, "/api/v1/ns/");
    u_enc(u, ns, (size_t)(slash - ns));
    u_raw(u, "/");
    u_enc(u, slash + 1, strlen(slash + 1));
    if (rest) {
        u_raw(u, "/");
        u_raw(u, rest);
    }
}

/* ---- calls ---- */

/* Sends method u with body (NULL: none; JSON unless raw) and parses the
 * 2xx answer into *out (an empty answer is {}). 0, or 1 after printing
 * the server's error or why it could not be reached. */
static int call(ctl *c, const char *method, const url *u, const char *body, size_t n, bool raw,
                json_t **out)
{
    *out = NULL;
    if (u->over) {
        fprintf(stderr, "kumo: request URL too long\n");
        return 1;
    }
    char full[sizeof u->p + 300];
    snprintf(full, sizeof full, "%s://%s%s", c->tls ? "https" : "http", c->endpoint, u->p);
    km_http_kv h[2];
    size_t nh = ctl_headers(c, raw ? "application/octet-stream" : "application/json", h);
    km_http_response *r;
    int rc = km_http_do(c->http, method, full, body ? h : h + 1, body ? nh : nh - 1, body,
                        body ? n : 0,
                        km_now() + c->timeout, &r);
    if (rc) {
        if (rc == -EINVAL)
            fprintf(stderr, "kumo: bad endpoint \"%s\"\n", c->endpoint);
        else
            ctl_unreachable(c, rc);
        return 1;
    }
    int st = km_http_response_status(r);
    km_str b = km_http_response_body(r);
    if (st < 200 || st > 299) {
        ctl_server_error(st, b.p, b.n);
        km_http_response_free(r);
        return 1;
    }
    json_error_t je;
    *out = b.n ? json_loadb(b.p, b.n, 0, &je) : json_object();
    if (!json_is_object(*out)) {
        if (*out)
            fprintf(stderr, "kumo: bad response from %s: not a JSON object\n", c->endpoint);
        else
            fprintf(stderr, "kumo: bad response from %s: %s\n", c->endpoint,
                    b.n ? je.text : "out of memory");
        json_decref(*out);
        *out = NULL;
        rc = 1;
    }
    km_http_response_free(r);
    return rc;
}

/* POSTs the JSON object o (consumed). */
static int post(ctl *c, const url *u, json_t *o, json_t **out)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        fprintf(stderr, "kumo: out of memory\n");
        return 1;
    }
    int rc = call(c, "POST", u, s, strlen(s), false, out);
    free(s);
    return rc;
}

static int64_t num(json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* A mutating command's end: the server's answer with -w json (the caller
 * printed its line otherwise), freed; rc passed on. */
static int done(ctl *c, json_t *resp, int rc)
{
    if (!rc && c->json)
        ctl_print_json(resp);
    json_decref(resp);
    return rc;
}

/* With -w simple, each element of the array member k on a line of its
 * own (JSON Lines: easy to grep and to feed to jq); else the answer. */
static int lines(ctl *c, json_t *resp, const char *k)
{
    json_t *arr = json_object_get(resp, k), *v;
    size_t i;
    if (c->json || !json_is_array(arr))
        ctl_print_json(resp);
    else
        json_array_foreach(arr, i, v)
            ctl_print_json(v);
    json_decref(resp);
    return 0;
}

/* ---- commands ---- */

static int do_create(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, NULL);
    int rc = post(c, &u, json_pack("{ss}", "format", a->format), &resp);
    if (!rc && !c->json)
        printf("created %s (format %s)\n", a->ns, str(resp, "format")[0] ? str(resp, "format")
                                                                         : a->format);
    return done(c, resp, rc);
}

static int do_set(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "items/");
    u_enc(&u, a->key, strlen(a->key));
    if (a->secret)
        u_raw(&u, "?secret");
    const char *v = a->in ? a->in : a->value;
    int rc = call(c, "PUT", &u, v, a->vn, true, &resp);
    if (!rc && !c->json)
        printf("set %s%s in the draft of %s (revision %lld)\n", a->key,
               a->secret ? " (secret)" : "", a->ns, (long long)num(resp, "revision"));
    return done(c, resp, rc);
}

static int do_del(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "items/");
    u_enc(&u, a->key, strlen(a->key));
    int rc = call(c, "DELETE", &u, NULL, 0, false, &resp);
    if (!rc && !c->json)
        printf("deleted %s from the draft of %s (revision %lld)\n", a->key, a->ns,
               (long long)num(resp, "revision"));
    return done(c, resp, rc);
}

/* A value as typed when it is one plain line, else as a JSON string (so
 * that newlines and trailing spaces show). */
static void put_val(json_t *v)
{
    const char *s = json_string_value(v);
    bool plain = s && *s && s[0] != ' ' && s[strlen(s) - 1] != ' ' &&
                 strlen(s) == json_string_length(v);
    for (const char *p = s; plain && *p; p++)
        plain = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (plain) {
        fputs(s, stdout);
        return;
    }
    char *j = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    fputs(j ? j : "?", stdout);
    free(j);
}

static void print_diff(json_t *diff);
static bool ns_valid(const char *ns);

static int do_diff(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "diff");
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    json_t *diff = json_object_get(resp, "diff");
    if (c->json)
        ctl_print_json(resp);
    else if (!json_array_size(diff))
        printf("no changes against release %lld\n", (long long)num(resp, "base"));
    else
        print_diff(diff);
    int rc = 0;
    if (json_is_false(json_object_get(resp, "valid"))) {
        fflush(stdout);
        fprintf(stderr, "kumo: the draft would not publish: %s\n", str(resp, "error"));
        rc = 1;
    }
    json_decref(resp);
    return rc;
}

/* The main releases of two namespaces (two environments' copies). */
static int do_compare(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    if (!ns_valid(a->key)) {
        fprintf(stderr, "kumo: \"%s\" is not APP/NAME\n", a->key);
        return 2;
    }
    u_ns(&u, a->ns, "compare");
    u_query(&u, "with", a->key);
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    json_t *diff = json_object_get(resp, "diff");
    if (c->json)
        ctl_print_json(resp);
    else if (!json_array_size(diff))
        printf("%s release %lld and %s release %lld hold the same items\n", a->ns,
               (long long)num(resp, "release"), a->key, (long long)num(resp, "with_release"));
    else
        print_diff(diff);
    json_decref(resp);
    return 0;
}

/* One line per entry: "+ key = v", "- key", "~ key: old -> new". */
static void print_diff(json_t *diff)
{
    json_t *e;
    size_t i;
    json_array_foreach(diff, i, e) {
        const char *op = str(e, "op"), *k = str(e, "key");
        if (!strcmp(op, "add")) {
            printf("+ %s = ", k);
            put_val(json_object_get(e, "new"));
        } else if (!strcmp(op, "delete")) {
            printf("- %s", k);
        } else {
            printf("~ %s: ", k);
            put_val(json_object_get(e, "old"));
            fputs(" -> ", stdout);
            put_val(json_object_get(e, "new"));
        }
        putchar('\n');
    }
}

static int do_publish(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "publish");
    int rc = post(c, &u, json_pack("{ss ss}", "name", a->name, "notes", a->notes ? a->notes : ""),
                  &resp);
    if (!rc && !c->json)
        printf("published release %lld (%s)\n", (long long)num(resp, "id"), str(resp, "name"));
    return done(c, resp, rc);
}

static int do_releases(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "releases");
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    return lines(c, resp, "releases");
}

static int do_rollback(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "rollback");
    int rc = post(c, &u, json_pack("{sI}", "to", (json_int_t)a->to), &resp);
    if (!rc && !c->json)
        printf("rolled back to release %lld: release %lld (%s)\n", (long long)a->to,
               (long long)num(resp, "id"), str(resp, "name"));
    return done(c, resp, rc);
}

static int do_gray(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp, *o = json_pack("{ss ss}", "name", a->name, "notes", a->notes ? a->notes : "");
    u_ns(&u, a->ns, "gray");
    /* the server splits "k=v,..." and "a,b" itself (docs/API.md) */
    if (o && a->labels)
        json_object_set_new(o, "labels", json_string(a->labels));
    if (o && a->ips)
        json_object_set_new(o, "ips", json_string(a->ips));
    int rc = post(c, &u, o, &resp);
    if (!rc && !c->json)
        printf("gray release %lld (%s)\n", (long long)num(resp, "id"), a->name);
    return done(c, resp, rc);
}

static int do_promote(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "gray/");
    u_enc(&u, a->gray, strlen(a->gray));
    u_raw(&u, "/promote");
    int rc = post(c, &u, json_pack("{ss}", "notes", a->notes ? a->notes : ""), &resp);
    if (!rc && !c->json)
        printf("promoted gray %s: release %lld is main\n", a->gray, (long long)num(resp, "id"));
    return done(c, resp, rc);
}

static int do_abandon(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "gray/");
    u_enc(&u, a->gray, strlen(a->gray));
    int rc = call(c, "DELETE", &u, NULL, 0, false, &resp);
    if (!rc && !c->json)
        printf("abandoned gray %s\n", a->gray);
    return done(c, resp, rc);
}

static int do_get(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, "config");
    u_query(&u, "labels", a->labels);
    u_query(&u, "ip", a->ip);
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    ctl_print_json(resp);
    json_decref(resp);
    return 0;
}

static int do_show(ctl *c, const ns_args *a)
{
    url u;
    json_t *resp;
    u_ns(&u, a->ns, NULL);
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    ctl_print_json(resp);
    json_decref(resp);
    return 0;
}

static int do_list(ctl *c, const ns_args *a)
{
    url u = { "/api/v1/ns", 10, false };
    json_t *resp;
    u_query(&u, "app", a->app);
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    return lines(c, resp, "namespaces");
}

static int do_audit(ctl *c, const ns_args *a)
{
    url u = { "/api/v1/audit", 13, false };
    json_t *resp;
    char since[24], limit[24];
    snprintf(since, sizeof since, "%lld", (long long)a->since);
    snprintf(limit, sizeof limit, "%lld", (long long)a->limit);
    u_query(&u, "ns", a->ns);
    u_query(&u, "user", a->user);
    u_query(&u, "since", a->since ? since : NULL);
    u_query(&u, "limit", a->limit ? limit : NULL);
    if (call(c, "GET", &u, NULL, 0, false, &resp))
        return 1;
    return lines(c, resp, "records");
}

static const sub subs[] = {
    { "create", "APP/NAME --format json|yaml|properties|text", 1, 1, O_FORMAT, O_FORMAT, do_create },
    { "set", "APP/NAME KEY VALUE [--secret]", 3, 3, O_SECRET, 0, do_set },
    { "del", "APP/NAME KEY", 2, 2, 0, 0, do_del },
    { "diff", "APP/NAME", 1, 1, 0, 0, do_diff },
    { "compare", "APP/NAME OTHER/NAME", 2, 2, 0, 0, do_compare },
    { "publish", "APP/NAME --name N [--notes TEXT]", 1, 1, O_NAME | O_NOTES, O_NAME, do_publish },
    { "releases", "APP/NAME", 1, 1, 0, 0, do_releases },
    { "rollback", "APP/NAME --to RELEASE", 1, 1, O_TO, O_TO, do_rollback },
    { "gray", "APP/NAME --name G [--labels k=v,...] [--ips CIDR,...] [--notes TEXT]", 1, 1,
      O_NAME | O_LABELS | O_IPS | O_NOTES, O_NAME, do_gray },
    { "promote", "APP/NAME --gray G [--notes TEXT]", 1, 1, O_GRAY | O_NOTES, O_GRAY, do_promote },
    { "abandon", "APP/NAME --gray G", 1, 1, O_GRAY, O_GRAY, do_abandon },
    { "get", "APP/NAME [--labels k=v,...] [--ip A]", 1, 1, O_LABELS | O_IP, 0, do_get },
    { "show", "APP/NAME", 1, 1, 0, 0, do_show },
    { "list", "[--app A]", 0, 0, O_APP, 0, do_list },
    { "audit", "[APP/NAME] [--user U] [--since T] [--limit N]", 0, 1,
      O_USER | O_SINCE | O_LIMIT, 0, do_audit },
};

/* ---- arguments ---- */

static int usage(const sub *s, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs("kumo: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    if (s)
        fprintf(stderr, "usage: kumo ns %s %s\n", s->name, s->args);
    else
        fputs("usage: kumo ns COMMAND [ARGS] [options] ('kumo ns --help' lists them)\n", stderr);
    return 2;
}

/* docs/API.md's names: APP/NAME, each part 1-64 of A-Z a-z 0-9 . _ - */
static bool ns_valid(const char *ns)
{
    const char *slash = strchr(ns, '/');
    if (!slash || slash == ns || slash - ns > 64 || !slash[1] || strlen(slash + 1) > 64)
        return false;
    for (const char *p = ns; *p; p++)
        if (p != slash && !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-", *p))
            return false;
    return true;
}

/* RFC 3339 (2026-12-07T21:00:00Z, with a fraction or an offset) to ns
 * since the epoch. 0 or -EINVAL. */
static int parse_time(const char *s, int64_t *ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (!p || (*p != 'T' && *p != 't' && *p != ' '))
        return -EINVAL;
    if (!(p = strptime(p + 1, "%H:%M:%S", &tm)))
        return -EINVAL;
    int64_t frac = 0, scale = 1000000000;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return -EINVAL;
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale > 1)
                frac += (*p - '0') * (scale /= 10);
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
               isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
               isdigit((unsigned char)p[5])) {
        int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
        if (h > 23 || m > 59)
            return -EINVAL;
        off = (h * 60 + m) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    time_t t = timegm(&tm);
    if (t < 0)
        return -EINVAL;
    *ns = ((int64_t)t - off) * 1000000000 + frac;
    return 0;
}

/* --since: a time, or a duration meaning that long before now. */
static int parse_since(const char *s, int64_t *ns)
{
    int64_t d;
    if (!parse_time(s, ns))
        return 0;
    if (ctl_parse_dur(s, &d) || d <= 0)
        return -EINVAL;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    *ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - d;
    return *ns > 0 ? 0 : -EINVAL;
}

/* VALUE "-": all of stdin, less one trailing newline (what a shell's
 * echo, a here-string or a typed line adds). NULL when out of memory. */
static char *read_stdin(size_t *n)
{
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    for (size_t r; b && (r = fread(b + len, 1, cap - len, stdin)) > 0;) {
        len += r;
        if (len == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    if (len && b && b[len - 1] == '\n')
        len -= len > 1 && b[len - 2] == '\r' ? 2 : 1;
    *n = len;
    return b;
}

static int run(ctl *c, void *arg)
{
    void **p = arg;
    return ((const sub *)p[0])->run(c, p[1]);
}

int kumo_ns(int argc, char **argv)
{
    static const struct option lo[] = {
        { "format", required_argument, 0, O_FORMAT }, { "secret", no_argument, 0, O_SECRET },
        { "name", required_argument, 0, O_NAME }, { "notes", required_argument, 0, O_NOTES },
        { "labels", required_argument, 0, O_LABELS }, { "ips", required_argument, 0, O_IPS },
        { "ip", required_argument, 0, O_IP }, { "to", required_argument, 0, O_TO },
        { "gray", required_argument, 0, O_GRAY }, { "user", required_argument, 0, O_USER },
        { "since", required_argument, 0, O_SINCE }, { "app", required_argument, 0, O_APP },
        { "limit", required_argument, 0, O_LIMIT }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    ctl c;
    ns_args a;
    memset(&a, 0, sizeof a);
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    unsigned seen = 0;
    const char *to = NULL, *since = NULL, *limit = NULL;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        seen |= o > 0 && o != 'h' && o != '?' ? (unsigned)o : 0;
        switch (o) {
        case O_FORMAT: a.format = optarg; break;
        case O_SECRET: a.secret = true; break;
        case O_NAME: a.name = optarg; break;
        case O_NOTES: a.notes = optarg; break;
        case O_LABELS: a.labels = optarg; break;
        case O_IPS: a.ips = optarg; break;
        case O_IP: a.ip = optarg; break;
        case O_TO: to = optarg; break;
        case O_GRAY: a.gray = optarg; break;
        case O_USER: a.user = optarg; break;
        case O_SINCE: since = optarg; break;
        case O_APP: a.app = optarg; break;
        case O_LIMIT: limit = optarg; break;
        case 'h': printf("%s%s", help, ctl_globals_help); return 0;
        default: return usage(NULL, NULL);     /* getopt said why */
        }
    }
    int npos = argc - optind;
    char **pos = argv + optind;
    if (npos < 1)
        return usage(NULL, "ns needs a COMMAND");
    const sub *s = NULL;
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(pos[0], subs[i].name))
            s = &subs[i];
    if (!s && !strcmp(pos[0], "help")) {
        printf("%s%s", help, ctl_globals_help);
        return 0;
    }
    if (!s)
        return usage(NULL, "unknown ns command \"%s\"", pos[0]);
    npos--;
    pos++;
    if (npos < s->min || npos > s->max)
        return usage(s, npos < s->min ? "too few arguments for ns %s" :
                     "too many arguments for ns %s", s->name);
    for (const struct option *l = lo; l->name; l++) {
        if ((seen & (unsigned)l->val) && !(s->opts & (unsigned)l->val))
            return usage(s, "ns %s takes no --%s", s->name, l->name);
        if ((s->need & (unsigned)l->val) && !(seen & (unsigned)l->val))
            return usage(s, "--%s is required", l->name);
    }
    if (npos > 0 && !ns_valid(pos[0]))
        return usage(s, "bad namespace \"%s\" (APP/NAME, each 1-64 of A-Z a-z 0-9 . _ -)",
                     pos[0]);
    a.ns = npos > 0 ? pos[0] : NULL;
    a.key = npos > 1 ? pos[1] : NULL;
    if (a.key && !*a.key)
        return usage(s, "an empty KEY");
    if (a.format && strcmp(a.format, "json") && strcmp(a.format, "yaml") &&
        strcmp(a.format, "properties") && strcmp(a.format, "text"))
        return usage(s, "bad format \"%s\" (json, yaml, properties or text)", a.format);
    if (a.name && !*a.name)
        return usage(s, "an empty --name");
    if (to && (ctl_parse_i64(to, &a.to) || a.to <= 0))
        return usage(s, "bad release \"%s\" for --to (a release number)", to);
    if (since && parse_since(since, &a.since))
        return usage(s, "bad time \"%s\" for --since (RFC 3339, or how long ago: 1h, 30m)",
                     since);
    if (limit && (ctl_parse_i64(limit, &a.limit) || a.limit <= 0))
        return usage(s, "bad number \"%s\" for --limit", limit);
    if (npos > 2) {
        a.value = pos[2];
        a.vn = strlen(a.value);
        if (!strcmp(a.value, "-") && !(a.in = read_stdin(&a.vn))) {
            fprintf(stderr, "kumo: out of memory reading stdin\n");
            return 1;
        }
    }
    void *arg[2] = { (void *)s, &a };
    rc = ctl_run(&c, run, arg);
    free(a.in);
    return rc;
}
