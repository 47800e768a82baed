/* SPDX-License-Identifier: MIT */
/* kumo watch: streams POST /v3/watch, decoding the chunked body as it comes. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo watch KEY [RANGE_END] [options]\n"
    "Prints every change: PUT or DELETE, then the key and the value lines\n"
    "(-w json: one {\"type\",\"key\",\"value\",\"mod_revision\"} line per event).\n"
    "Runs until interrupted; exits 1 if the server ends the stream.\n"
    "  --prefix              every key starting with KEY\n"
    "  --rev N               start at revision N (replays history)\n"
    "  --prev-kv             also print each previous key and value\n";

typedef struct {
    json_t  *create;        /* create_request without start_revision */
    int64_t  start_rev;     /* as asked; 0: from now */
    int64_t  last_rev;      /* of the last event printed: a resume starts after it */
    bool     prev_kv;
} watch;

/* Buffered reads from the socket. */
typedef struct {
    int    fd;
    char   buf[16384];
    size_t r, w;
} rd;

static int fill(rd *b, int64_t deadline)
{
    if (b->r == b->w)
        b->r = b->w = 0;
    else if (b->w == sizeof b->buf) {
        memmove(b->buf, b->buf + b->r, b->w - b->r);
        b->w -= b->r;
        b->r = 0;
    }
    if (b->w == sizeof b->buf)
        return -EMSGSIZE;
    ssize_t n = km_read(b->fd, b->buf + b->w, sizeof b->buf - b->w, deadline);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return -ECONNRESET;     /* end of stream where more was due */
    b->w += (size_t)n;
    return 0;
}

/* The next CRLF-terminated line, NUL-terminated in place (no CRLF). */
static int line(rd *b, char **out, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(b->buf + b->r, '\n', b->w - b->r);
        if (nl) {
            *out = b->buf + b->r;
            size_t l = (size_t)(nl - *out);
            b->r += l + 1;
            if (l && (*out)[l - 1] == '\r')
                l--;
            (*out)[l] = 0;
            return 0;
        }
        int rc = fill(b, deadline);
        if (rc)
            return rc;
    }
}

/* Growable buffer of decoded body bytes not yet parsed as JSON. */
typedef struct { char *p; size_t n, cap; } body;

static int body_add(body *d, const char *p, size_t n)
{
    if (d->n + n + 1 > d->cap) {
        size_t nc = d->cap ? d->cap : 16384;
        while (nc < d->n + n + 1)
            nc *= 2;
        char *np = realloc(d->p, nc);
        if (!np)
            return -ENOMEM;
        d->p = np;
        d->cap = nc;
    }
    memcpy(d->p + d->n, p, n);
    d->n += n;
    return 0;
}

/* Moves up to n body bytes (n < 0: whatever arrives) from the socket. */
static int copy_body(rd *b, body *d, int64_t n)
{
    while (n != 0) {
        if (b->r == b->w) {
            int rc = fill(b, KM_FOREVER);
            if (rc)
                return rc;
        }
        size_t take = b->w - b->r;
        if (n > 0 && (int64_t)take > n)
            take = (size_t)n;
        if (body_add(d, b->buf + b->r, take))
            return -ENOMEM;
        b->r += take;
        if (n > 0)
            n -= (int64_t)take;
        else
            return 0;
    }
    return 0;
}

static void print_str(json_t *o, const char *name, const char *data, size_t n)
{
    json_t *s = json_stringn(data, n);
    json_object_set_new(o, name, s ? s : ctl_b64(data, n));   /* not UTF-8: base64 */
}

static void print_event(watch *w, ctl *c, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *kv = json_object_get(ev, "kv"), *prev = json_object_get(ev, "prev_kv");
    if (!type)
        type = "PUT";       /* the default enum value is left out of the JSON */
    int64_t rev = ctl_i64(kv, "mod_revision");
    if (rev > w->last_rev)
        w->last_rev = rev;
    if (!c->json) {
        puts(type);
        if (w->prev_kv && json_is_object(prev))
            ctl_print_kv(prev, false);
        ctl_print_kv(kv, false);
        return;
    }
    size_t kn = 0, vn = 0;
    char *k = ctl_unb64(kv, "key", &kn), *v = ctl_unb64(kv, "value", &vn);
    json_t *o = json_object();
    if (o && k && v) {
        json_object_set_new(o, "type", json_string(type));
        print_str(o, "key", k, kn);
        print_str(o, "value", v, vn);
        json_object_set_new(o, "mod_revision", json_integer(rev));
        if (w->prev_kv && json_is_object(prev)) {
            char *pv = ctl_unb64(prev, "value", &vn);
            if (pv)
                print_str(o, "prev_value", pv, vn);
            free(pv);
        }
        ctl_print_json(o);
    }
    json_decref(o);
    free(k);
    free(v);
}

/* Handles one message of the stream: 0 to go on, 1 to stop (printed). */
static int message(watch *w, ctl *c, json_t *m)
{
    json_t *res = json_object_get(m, "result");
    if (!json_is_object(res)) {
        char *s = json_dumps(m, JSON_COMPACT);
        ctl_server_error(200, s ? s : "", s ? strlen(s) : 0);
        free(s);
        return 1;
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        const char *why = json_string_value(json_object_get(res, "cancel_reason"));
        int64_t cr = ctl_i64(res, "compact_revision");
        if (why && *why)
            fprintf(stderr, "kumo: watch canceled: %s\n", why);
        else if (cr)
            fprintf(stderr, "kumo: watch canceled: required revision has been compacted "
                    "(compacted at %lld)\n", (long long)cr);
        else
            fprintf(stderr, "kumo: watch canceled by the server\n");
        return 1;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(res, "events"), i, ev)
        print_event(w, c, ev);
    fflush(stdout);
    return 0;
}

/* Parses every complete JSON value at the front of d. */
static int drain(watch *w, ctl *c, body *d)
{
    size_t off = 0;
    int rc = 0;
    while (!rc) {
        while (off < d->n && strchr(" \t\r\n", d->p[off]))
            off++;
        if (off == d->n)
            break;
        json_error_t je;
        json_t *m = json_loadb(d->p + off, d->n - off, JSON_DISABLE_EOF_CHECK, &je);
        if (!m) {
            if (json_error_code(&je) == json_error_premature_end_of_input)
                break;
            fprintf(stderr, "kumo: bad watch message: %s\n", je.text);
            rc = 1;
            break;
        }
        off += (size_t)je.position;
        rc = message(w, c, m);
        json_decref(m);
    }
    memmove(d->p, d->p + off, d->n - off);
    d->n -= off;
    return rc;
}

/* One watch stream, from dial to its end. The exit status. */
static int stream(watch *w, ctl *c)
{
    json_t *cr = json_deep_copy(w->create);
    int64_t from = w->last_rev ? w->last_rev + 1 : w->start_rev;
    if (cr && from)
        json_object_set_new(cr, "start_revision", json_integer(from));
    json_t *req = json_pack("{s:o}", "create_request", cr);
    char *js = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char head[512];
    int hl = js ? snprintf(head, sizeof head,
                           "POST /v3/watch HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n", c->endpoint, strlen(js)) : -1;
    if (hl < 0 || (size_t)hl >= sizeof head) {
        free(js);
        fprintf(stderr, "kumo: out of memory\n");
        return 1;
    }
    int64_t dl = km_now() + c->timeout;
    int fd = km_dial(c->endpoint, dl);
    if (fd < 0) {
        free(js);
        if (fd == -EINVAL)
            fprintf(stderr, "kumo: bad endpoint \"%s\"\n", c->endpoint);
        else
            ctl_unreachable(c, fd);
        return 1;
    }
    ctl_on_signal(fd);
    static rd b;
    body d = { 0 };
    b.fd = fd;
    b.r = b.w = 0;
    ssize_t wn = km_write(fd, head, (size_t)hl, dl);
    if (wn >= 0)
        wn = km_write(fd, js, strlen(js), dl);
    free(js);
    int rc = 1, err = (int)(wn < 0 ? wn : 0);
    char *l;
    int status = 0;
    bool chunked = false;
    int64_t clen = -1;
    if (!err && !(err = line(&b, &l, dl))) {
        if (sscanf(l, "HTTP/1.%*d %d", &status) != 1)
            err = -EBADMSG;
    }
    while (!err && !(err = line(&b, &l, dl)) && *l) {
        if (!strncasecmp(l, "transfer-encoding:", 18) && strcasestr(l + 18, "chunked"))
            chunked = true;
        else if (!strncasecmp(l, "content-length:", 15))
            clen = strtoll(l + 15, NULL, 10);
    }
    if (err) {
        if (!ctl_interrupted)
            ctl_unreachable(c, err);
        goto out;
    }
    if (status != 200) {
        /* An error answer is small and complete: read it whole. */
        if (chunked) {
            while (!line(&b, &l, dl)) {
                int64_t n = strtoll(l, NULL, 16);
                if (n <= 0 || copy_body(&b, &d, n) || line(&b, &l, dl))
                    break;
            }
        } else {
            while (clen < 0 || (int64_t)d.n < clen)
                if (copy_body(&b, &d, clen < 0 ? -1 : clen - (int64_t)d.n))
                    break;
        }
        ctl_server_error(status, d.p ? d.p : "", d.n);
        goto out;
    }
    for (;;) {
        if (ctl_interrupted) {
            rc = 0;
            break;
        }
        if (chunked) {
            if ((err = line(&b, &l, KM_FOREVER)))
                break;
            char *end;
            int64_t n = strtoll(l, &end, 16);
            if (end == l || n < 0) {
                err = -EBADMSG;
                break;
            }
            if (n == 0) {
                err = -ECONNRESET;      /* the server ended the stream */
                break;
            }
            if ((err = copy_body(&b, &d, n)) || (err = line(&b, &l, KM_FOREVER)))
                break;
        } else if ((err = copy_body(&b, &d, -1))) {
            break;
        }
        if ((rc = drain(w, c, &d)))
            goto out;
    }
    rc = ctl_interrupted ? 0 : 1;
    if (rc == 0)
        goto out;
    if (err == -ECONNRESET)
        fprintf(stderr, "kumo: the server ended the watch stream\n");
    else if (err == -EBADMSG)
        fprintf(stderr, "kumo: bad chunked framing in the watch stream\n");
    else
        fprintf(stderr, "kumo: watch stream from %s: %s\n", c->endpoint, km_strerror(err));
out:
    ctl_on_signal(-1);
    km_close(fd);
    free(d.p);
    return rc;
}

static int run(ctl *c, void *arg)
{
    return stream(arg, c);
}

int kumo_watch(int argc, char **argv)
{
    static const struct option lo[] = {
        { "prefix", no_argument, 0, 'x' }, { "rev", required_argument, 0, 'r' },
        { "prev-kv", no_argument, 0, 'p' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    ctl c;
    watch w = { 0 };
    bool prefix = false;
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'x': prefix = true; break;
        case 'p': w.prev_kv = true; break;
        case 'r':
            if (ctl_parse_i64(optarg, &w.start_rev) || w.start_rev < 0) {
                fprintf(stderr, "kumo: bad revision \"%s\"\n%s", optarg, help);
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
    const char *key = argv[optind];
    size_t kn = strlen(key);
    w.create = json_object();
    if (!w.create)
        return 1;
    json_object_set_new(w.create, "key", ctl_b64(key, kn));
    if (prefix) {
        size_t en;
        char *e = ctl_prefix_end(key, kn, &en);
        if (e)
            json_object_set_new(w.create, "range_end", ctl_b64(e, en));
        free(e);
    } else if (npos == 2) {
        json_object_set_new(w.create, "range_end", ctl_b64(argv[optind + 1], strlen(argv[optind + 1])));
    }
    if (w.prev_kv)
        json_object_set_new(w.create, "prev_kv", json_true());
    rc = ctl_run(&c, run, &w);
    json_decref(w.create);
    return rc;
}
