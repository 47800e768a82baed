/* SPDX-License-Identifier: MIT */
/* kumo watch: prints every change to a key or range, through the client SDK's watch. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <kumo/client.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo watch KEY [RANGE_END] [options]\n"
    "       kumo watch --prefix P [--rev R]\n"
    "Prints every change: PUT or DELETE, then the key and the value lines\n"
    "(-w json: one {\"type\",\"key\",\"value\",\"mod_revision\"} line per event).\n"
    "Runs until interrupted, across dropped connections and server restarts,\n"
    "resuming after the last event printed: no event is lost or printed twice.\n"
    "  --prefix              every key starting with KEY (or P)\n"
    "  --rev N               start at revision N (replays history)\n"
    "  --prev-kv             also print each previous key and value\n"
    "  --no-resume           stop instead (exit 1) when the stream ends or fails\n"
    "  --idle-timeout D      a stream silent this long is taken as\n"
    "                        dead and reconnected (default 30m; the server sends\n"
    "                        progress notifications every --progress-interval)\n";

typedef struct {
    km_client_watch_opts o;
    const char          *prefix_key;
} watch_args;

/* A string member: the bytes as text, or base64 when not UTF-8. */
static void set_str(json_t *o, const char *name, const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    json_object_set_new(o, name, s ? s : km__etcd_json_b64(p, n));
}

static void print_simple_kv(const km_client_kv *kv)
{
    fwrite(kv->key, 1, kv->key_len, stdout);
    putchar('\n');
    fwrite(kv->value, 1, kv->value_len, stdout);
    putchar('\n');
}

static void print_event(ctl *c, bool prev_kv, const km_client_event *e)
{
    const char *type = e->type == KM_CLIENT_DELETE ? "DELETE" : "PUT";
    bool has_prev = prev_kv && e->prev_kv.key;
    if (!c->json) {
        puts(type);
        if (has_prev)
            print_simple_kv(&e->prev_kv);
        print_simple_kv(&e->kv);
        return;
    }
    json_t *o = json_object();
    if (!o)
        return;
    json_object_set_new(o, "type", json_string(type));
    set_str(o, "key", e->kv.key, e->kv.key_len);
    set_str(o, "value", e->kv.value, e->kv.value_len);
    json_object_set_new(o, "mod_revision", json_integer(e->kv.mod_revision));
    if (has_prev)
        set_str(o, "prev_value", e->prev_kv.value, e->prev_kv.value_len);
    ctl_print_json(o);
    json_decref(o);
}

/* Splits "a:1,b:2" into endpoints (in place). */
static size_t split_endpoints(char *s, const char **eps, size_t max)
{
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        eps[n++] = t;
    return n;
}

static int run(ctl *c, void *arg)
{
    watch_args *a = arg;
    char *epbuf = strdup(c->endpoint);
    const char *eps[16];
    size_t neps = epbuf ? split_endpoints(epbuf, eps, 16) : 0;
    km_client_config cc = { .endpoints = eps, .nendpoints = neps, .dial_timeout = c->timeout,
                            .tls = c->tls };
    km_client *cl = NULL;
    km_client_watch *w = NULL;
    int rc = neps ? km_client_new(&cl, &cc) : -EINVAL;
    if (!rc)
        rc = km_client_watch_open(cl, &a->o, &w);
    if (rc) {
        fprintf(stderr, "kumo: %s\n", rc == -EINVAL ? "bad endpoint" : km_strerror(rc));
        km_client_free(cl);
        free(epbuf);
        return 1;
    }
    ctl_on_signal(-1);
    int status = 0;
    for (;;) {
        const km_client_event *ev;
        size_t n;
        int64_t crev = 0;
        /* Short waits, so that an interrupt is noticed promptly. */
        rc = km_client_watch_next(w, km_now() + 100000000LL, &ev, &n, &crev);
        if (ctl_interrupted)
            break;
        if (rc == -ETIMEDOUT)
            continue;
        if (rc) {
            status = 1;
            if (rc == -ENODATA)
                fprintf(stderr, "kumo: watch canceled: required revision has been compacted "
                        "(compacted at %lld)\n", (long long)crev);
            else if (rc == -ECONNRESET && km_client_watch_streams(w) > 0)
                fprintf(stderr, "kumo: the server ended the watch stream\n");
            else if (km_client_watch_streams(w) == 0 && rc != -EINVAL && rc != -ERANGE &&
                     rc != -EIO && rc != -ENOSPC)
                ctl_unreachable(c, rc);
            else
                fprintf(stderr, "kumo: watch: %s\n", km_strerror(rc));
            break;
        }
        for (size_t i = 0; i < n; i++)
            print_event(c, a->o.prev_kv, &ev[i]);
        fflush(stdout);
    }
    km_client_watch_close(w);
    km_client_free(cl);
    free(epbuf);
    return status;
}

int kumo_watch(int argc, char **argv)
{
    static const struct option lo[] = {
        { "prefix", no_argument, 0, 'x' }, { "rev", required_argument, 0, 'r' },
        { "prev-kv", no_argument, 0, 'p' }, { "resume", no_argument, 0, 'R' },
        { "no-resume", no_argument, 0, 'N' },
        { "idle-timeout", required_argument, 0, 'i' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    ctl c;
    watch_args a = { 0 };
    bool prefix = false;
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'x': prefix = true; break;
        case 'p': a.o.prev_kv = true; break;
        case 'R': a.o.no_resume = false; break;     /* the default; kept for scripts */
        case 'N': a.o.no_resume = true; break;
        case 'r':
            if (ctl_parse_i64(optarg, &a.o.start_revision) || a.o.start_revision < 0) {
                fprintf(stderr, "kumo: bad revision \"%s\"\n%s", optarg, help);
                return 2;
            }
            break;
        case 'i':
            if (ctl_parse_dur(optarg, &a.o.idle_timeout) || a.o.idle_timeout <= 0) {
                fprintf(stderr, "kumo: bad duration \"%s\" for --idle-timeout\n", optarg);
                return 2;
            }
            break;
        case 'h': printf("%s%s", help, ctl_globals_help); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2 || (prefix && npos == 2)) {
        fprintf(stderr, "kumo: %s\n%s", npos < 1 ? "watch needs a KEY" :
                npos > 2 ? "too many arguments" : "--prefix and RANGE_END do not go together", help);
        return 2;
    }
    a.o.key = argv[optind];
    a.o.prefix = prefix;
    a.o.range_end = npos == 2 ? argv[optind + 1] : NULL;
    return ctl_run(&c, run, &a);
}
