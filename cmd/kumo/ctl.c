/* SPDX-License-Identifier: MIT */
/* Client commands' shared helpers: global options, JSON calls, base64, output. */
#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "ctl.h"
#include "enc/b64.h"

volatile int ctl_interrupted;
static volatile int sig_fd = -1;

static int opt_value(int *i, int argc, char **argv, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t l = strlen(name);
    if (strncmp(a, name, l))
        return 0;
    if (a[l] == '=') {
        *val = a + l + 1;
        return 1;
    }
    if (a[l])
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kumo: %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int ctl_global_words(const char *arg)
{
    static const char *const names[] = { "--endpoint", "--endpoints", "--timeout", "-w",
                                         "--write-out", "--cacert", "--cert", "--key",
                                         "--user", "--password" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t l = strlen(names[i]);
        if (!strncmp(arg, names[i], l) && (!arg[l] || arg[l] == '='))
            return arg[l] ? 1 : 2;
    }
    return 0;
}

int ctl_globals(ctl *c, int *argc, char **argv)
{
    const char *env = getenv("KUMO_ENDPOINT");
    c->endpoint = env && *env ? env : "127.0.0.1:2379";
    c->timeout = 5000000000LL;
    c->json = false;
    c->cacert = c->cert = c->key = NULL;
    c->https = false;
    c->tls = NULL;
    c->user = c->password = c->token = NULL;
    int o = 1;
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "--")) {       /* the rest is positional */
            while (i < *argc)
                argv[o++] = argv[i++];
            break;
        }
        if ((r = opt_value(&i, *argc, argv, "--endpoint", &v)) ||
            (r = opt_value(&i, *argc, argv, "--endpoints", &v))) {
            if (r < 0)
                return 2;
            if (!*v || !strchr(v, ':')) {
                fprintf(stderr, "kumo: bad endpoint \"%s\" (want HOST:PORT)\n", v);
                return 2;
            }
            if (!strncmp(v, "http://", 7))
                v += 7;
            else if (!strncmp(v, "https://", 8))
                v += 8, c->https = true;
            c->endpoint = v;
        } else if ((r = opt_value(&i, *argc, argv, "--cacert", &v)) > 0) {
            c->cacert = v;
        } else if (r == 0 && (r = opt_value(&i, *argc, argv, "--cert", &v)) > 0) {
            c->cert = v;
        } else if (r == 0 && (r = opt_value(&i, *argc, argv, "--key", &v)) > 0) {
            c->key = v;
        } else if (r == 0 && (r = opt_value(&i, *argc, argv, "--user", &v)) > 0) {
            c->user = v;
        } else if (r == 0 && (r = opt_value(&i, *argc, argv, "--password", &v)) > 0) {
            c->password = v;
        } else if (r < 0) {
            return 2;
        } else if ((r = opt_value(&i, *argc, argv, "--timeout", &v))) {
            if (r < 0)
                return 2;
            if (ctl_parse_dur(v, &c->timeout) || c->timeout <= 0) {
                fprintf(stderr, "kumo: bad duration \"%s\" for --timeout\n", v);
                return 2;
            }
        } else if ((r = opt_value(&i, *argc, argv, "-w", &v)) ||
                   (r = opt_value(&i, *argc, argv, "--write-out", &v))) {
            if (r < 0)
                return 2;
            if (strcmp(v, "simple") && strcmp(v, "json")) {
                fprintf(stderr, "kumo: unknown output format \"%s\" (simple or json)\n", v);
                return 2;
            }
            c->json = !strcmp(v, "json");
        } else {
            argv[o++] = argv[i];
        }
    }
    argv[o] = NULL;
    *argc = o;
    if (c->password && !c->user) {
        fprintf(stderr, "kumo: --password needs --user\n");
        return 2;
    }
    return 0;
}

size_t ctl_headers(const ctl *c, const char *ctype, km_http_kv *h)
{
    size_t n = 0;
    h[n++] = (km_http_kv){ "Content-Type", ctype };
    if (c->token)
        h[n++] = (km_http_kv){ "Authorization", c->token };
    return n;
}

/* Logs in as --user (NAME:PASSWORD, or NAME with --password) and keeps
 * the token for every request: 0, or 1 after saying why not. */
static int login(ctl *c)
{
    char name[256];
    const char *pw = c->password, *colon = strchr(c->user, ':');
    size_t n = colon && !pw ? (size_t)(colon - c->user) : strlen(c->user);
    if (colon && !pw)
        pw = colon + 1;
    if (!pw || n >= sizeof name) {
        fprintf(stderr, "kumo: --user wants NAME:PASSWORD (or --password)\n");
        return 1;
    }
    memcpy(name, c->user, n);
    name[n] = 0;
    json_t *resp;
    if (ctl_call(c, "/v3/auth/authenticate", json_pack("{s:s,s:s}", "name", name, "password", pw),
                 &resp))
        return 1;
    const char *t = json_string_value(json_object_get(resp, "token"));
    c->token = t ? strdup(t) : NULL;
    json_decref(resp);
    if (!c->token) {
        fprintf(stderr, "kumo: the server gave no token (is authentication enabled?)\n");
        return 1;
    }
    return 0;
}

typedef struct { ctl *c; ctl_fn *fn; void *arg; int rc; } run_ctx;

static void run(void *p)
{
    run_ctx *r = p;
    ctl *c = r->c;
    if (c->https || c->cacert || c->cert || c->key) {
        char err[512];
        km_tls_config tc = { .trusted_ca_file = c->cacert, .cert_file = c->cert,
                             .key_file = c->key };
        if (km_tls_client_new(&c->tls, &tc, err, sizeof err) < 0) {
            fprintf(stderr, "kumo: TLS: %s\n", err[0] ? err : "out of memory");
            r->rc = 2;
            return;
        }
    }
    km_http_client_config cc = { .max_per_host = 4, .max_idle_per_host = 4,
                                 .connect_timeout = c->timeout, .tls = c->tls };
    int rc = km_http_client_new(&c->http, &cc);
    if (rc) {
        fprintf(stderr, "kumo: %s\n", km_strerror(rc));
        km_tls_free(c->tls);
        c->tls = NULL;
        r->rc = 1;
        return;
    }
    r->rc = c->user && login(c) ? 1 : r->fn(c, r->arg);
    free(c->token);
    c->token = NULL;
    fflush(stdout);
    km_http_client_free(c->http);
    c->http = NULL;
    km_tls_free(c->tls);
    c->tls = NULL;
}

int ctl_run(ctl *c, ctl_fn *fn, void *arg)
{
    run_ctx r = { c, fn, arg, 1 };
    int rc = km_main(run, &r);
    if (rc) {
        fprintf(stderr, "kumo: %s\n", km_strerror(rc));
        return 1;
    }
    return r.rc;
}

void ctl_unreachable(const ctl *c, int err)
{
    /* km_strerror says "ECONNREFUSED: Connection refused"; users want the
     * plain words. */
    if (err == -EKEYREJECTED) {
        fprintf(stderr, "kumo: TLS with %s failed: a certificate was refused (the server's "
                "by --cacert, or ours by the server: --cert, --key)\n", c->endpoint);
        return;
    }
    const char *s = km_strerror(err), *d = strstr(s, ": ");
    char msg[96];
    snprintf(msg, sizeof msg, "%s", d ? d + 2 : s);
    if (d && msg[0] && isupper((unsigned char)msg[0]) && !isupper((unsigned char)msg[1]))
        msg[0] = (char)tolower((unsigned char)msg[0]);
    fprintf(stderr, "kumo: cannot reach %s: %s\n", c->endpoint, msg);
}

void ctl_server_error(int status, const char *body, size_t n)
{
    json_error_t je;
    json_t *root = n ? json_loadb(body, n, 0, &je) : NULL, *j = root;
    const char *m = NULL;
    if (j) {
        json_t *e = json_object_get(j, "error");
        if (json_is_object(e))      /* a stream's error frame */
            j = e;
        m = json_string_value(json_object_get(j, "message"));
        if (!m || !*m)
            m = json_string_value(json_object_get(j, "error"));
    }
    if (m && *m)
        fprintf(stderr, "kumo: %s\n", m);
    else if (n && n < 200 && !memchr(body, '\n', n - 1))
        fprintf(stderr, "kumo: HTTP %d %s: %.*s\n", status, km_http_reason(status),
                (int)(body[n - 1] == '\n' ? n - 1 : n), body);
    else
        fprintf(stderr, "kumo: HTTP %d %s\n", status, km_http_reason(status));
    json_decref(root);
}

int ctl_call(ctl *c, const char *path, json_t *req, json_t **out)
{
    *out = NULL;
    char *body = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(req);
    if (!body) {
        fprintf(stderr, "kumo: out of memory\n");
        return 1;
    }
    char url[512];
    snprintf(url, sizeof url, "%s://%s%s", c->tls ? "https" : "http", c->endpoint, path);
    km_http_kv h[2];
    size_t nh = ctl_headers(c, "application/json", h);
    km_http_response *r;
    int rc = km_http_do(c->http, "POST", url, h, nh, body, strlen(body),
                        km_now() + c->timeout, &r);
    free(body);
    if (rc) {
        if (rc == -EINVAL)
            fprintf(stderr, "kumo: bad endpoint \"%s\"\n", c->endpoint);
        else
            ctl_unreachable(c, rc);
        return 1;
    }
    int st = km_http_response_status(r);
    km_str b = km_http_response_body(r);
    json_error_t je;
    json_t *j = st == 200 ? json_loadb(b.p, b.n, 0, &je) : NULL;
    if (st == 200 && json_is_object(j) && !json_object_get(j, "error")) {
        km_http_response_free(r);
        *out = j;
        return 0;
    }
    json_decref(j);
    if (st == 200 && !j)
        fprintf(stderr, "kumo: bad response from %s: %s\n", c->endpoint, je.text);
    else
        ctl_server_error(st, b.p, b.n);
    km_http_response_free(r);
    return 1;
}

void ctl_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
}

char *ctl_unb64(json_t *o, const char *key, size_t *n)
{
    json_t *v = json_object_get(o, key);
    const char *s = json_string_value(v);
    size_t l = s ? json_string_length(v) : 0;
    char *out = malloc(km__b64_dec_max(l) + 1);
    if (!out)
        return NULL;
    long d = l ? km__b64_decode((uint8_t *)out, s, l) : 0;
    if (d < 0) {
        free(out);
        return NULL;
    }
    out[d] = 0;
    *n = (size_t)d;
    return out;
}

int ctl_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return -EINVAL;
    *out = v;
    return 0;
}

int ctl_parse_hex(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (!*s || *end || errno || *s == '-')
        return -EINVAL;
    *out = (int64_t)v;
    return 0;
}

int ctl_parse_dur(const char *s, int64_t *ns)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -EINVAL;
    double mul;
    if (!*end || !strcmp(end, "s")) mul = 1e9;
    else if (!strcmp(end, "ms")) mul = 1e6;
    else if (!strcmp(end, "us")) mul = 1e3;
    else if (!strcmp(end, "m")) mul = 60e9;
    else if (!strcmp(end, "h")) mul = 3600e9;
    else return -EINVAL;
    if (v * mul > 9e18)
        return -EINVAL;
    *ns = (int64_t)(v * mul);
    return 0;
}

void ctl_print_kv(json_t *kv, bool keys_only)
{
    size_t n;
    char *k = ctl_unb64(kv, "key", &n);
    if (k) {
        fwrite(k, 1, n, stdout);
        putchar('\n');
        free(k);
    }
    if (keys_only) {            /* etcdctl keeps the (empty) value line */
        putchar('\n');
        return;
    }
    char *v = ctl_unb64(kv, "value", &n);
    if (v) {
        fwrite(v, 1, n, stdout);
        putchar('\n');
        free(v);
    }
}

void ctl_print_range(json_t *resp, bool keys_only, bool count_only)
{
    if (count_only) {
        printf("%lld\n", (long long)km__etcd_json_i64(resp, "count"));
        return;
    }
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(resp, "kvs"), i, kv)
        ctl_print_kv(kv, keys_only);
}

void ctl_print_del(json_t *resp, bool prev_kv)
{
    printf("%lld\n", (long long)km__etcd_json_i64(resp, "deleted"));
    if (!prev_kv)
        return;
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(resp, "prev_kvs"), i, kv)
        ctl_print_kv(kv, false);
}

void ctl_print_put(json_t *resp, bool prev_kv)
{
    puts("OK");
    json_t *p = json_object_get(resp, "prev_kv");
    if (prev_kv && json_is_object(p))
        ctl_print_kv(p, false);
}

static void on_signal(int sig)
{
    (void)sig;
    ctl_interrupted = 1;
    if (sig_fd >= 0)
        shutdown(sig_fd, SHUT_RDWR);
}

void ctl_on_signal(int fd)
{
    sig_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int simple_fn(ctl *c, void *arg)
{
    ctl_req *r = arg;
    json_t *resp;
    if (ctl_call(c, r->path, r->req, &resp))
        return 1;
    if (c->json)
        ctl_print_json(resp);
    else
        r->print(resp, r->ud);
    json_decref(resp);
    return 0;
}

int ctl_simple(ctl *c, ctl_req *r)
{
    if (!r->req) {
        fprintf(stderr, "kumo: out of memory\n");
        return 1;
    }
    return ctl_run(c, simple_fn, r);
}
