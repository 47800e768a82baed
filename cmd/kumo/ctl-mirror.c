/* SPDX-License-Identifier: MIT */
/* kumo mirror: keeps a directory of files in sync with a key prefix (one file
 * per key, written atomically), as config agents render files for apps. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <kumo/client.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo mirror --prefix P --dir D [options]\n"
    "Keeps directory D in sync with every key starting with P: the key P/a/b is\n"
    "the file D/a/b (written atomically), a deleted key removes its file. Keys\n"
    "whose rest is not a safe relative path (empty, absolute, \"..\", \".\",\n"
    "empty components) are skipped with a warning. Runs until interrupted.\n"
    "  --prefix P            the key prefix (required)\n"
    "  --dir D               the directory (required; created if missing)\n"
    "  --snapshot FILE       keep the cache in FILE and start from it when no\n"
    "                        endpoint answers\n"
    "  --once                exit once the directory reflects the server\n"
    "  --idle-timeout D      a watch stream silent this long is reconnected (30m)\n";

typedef struct {
    const char *prefix, *dir, *snapshot;
    bool        once;
    int64_t     idle_timeout;
    int         errors;
} mirror;

/* The file for kv below the prefix, or NULL (unsafe; warned). */
static char *file_for(mirror *m, const km_client_kv *kv)
{
    size_t pl = strlen(m->prefix);
    const char *rel = kv->key + pl;
    size_t rl = kv->key_len - pl;
    bool ok = rl > 0 && !memchr(rel, 0, rl) && rel[0] != '/';
    for (size_t i = 0; ok && i <= rl;) {
        size_t j = i;
        while (j < rl && rel[j] != '/')
            j++;
        size_t cl = j - i;
        if (cl == 0 || (cl == 1 && rel[i] == '.') || (cl == 2 && rel[i] == '.' && rel[i + 1] == '.'))
            ok = false;
        i = j + 1;
    }
    if (!ok) {
        fprintf(stderr, "kumo: mirror: skipping key \"%.*s\": not a safe relative path\n",
                (int)kv->key_len, kv->key);
        return NULL;
    }
    size_t dl = strlen(m->dir);
    char *p = malloc(dl + rl + 2);
    if (p)
        sprintf(p, "%s/%.*s", m->dir, (int)rl, rel);
    return p;
}

static void render(void *ud, const km_client_kv *kv)
{
    mirror *m = ud;
    char *p = file_for(m, kv);
    if (!p)
        return;
    /* Parent directories first. */
    for (char *s = p + strlen(m->dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
    int rc = km_client_write_atomic(p, kv->value, kv->value_len);
    if (rc) {
        fprintf(stderr, "kumo: mirror: writing %s: %s\n", p, km_strerror(rc));
        m->errors++;
    }
    free(p);
}

static void on_update(void *ud, const km_client_kv *old, const km_client_kv *kv)
{
    render(ud, kv);
}

static void on_delete(void *ud, const km_client_kv *kv)
{
    mirror *m = ud;
    char *p = file_for(m, kv);
    if (!p)
        return;
    unlink(p);
    /* Directories left empty go too, up to (not including) the mirror's. */
    size_t dl = strlen(m->dir);
    for (char *s; (s = strrchr(p, '/')) && (size_t)(s - p) > dl;) {
        *s = 0;
        if (rmdir(p) < 0)
            break;
    }
    free(p);
}

static void on_synced(void *ud, bool from_snapshot)
{
    if (from_snapshot)
        fprintf(stderr, "kumo: mirror: no endpoint answers; serving from the snapshot\n");
}

static int run(ctl *c, void *arg)
{
    mirror *m = arg;
    char *epbuf = strdup(c->endpoint);
    const char *eps[16];
    size_t neps = 0;
    for (char *save = NULL, *t = epbuf ? strtok_r(epbuf, ",", &save) : NULL; t && neps < 16;
         t = strtok_r(NULL, ",", &save))
        eps[neps++] = t;
    km_client_config cc = { .endpoints = eps, .nendpoints = neps, .dial_timeout = c->timeout,
                            .tls = c->tls };
    km_client *cl = NULL;
    km_informer *inf = NULL;
    km_informer_config ic = {
        .prefix = m->prefix, .snapshot_path = m->snapshot, .idle_timeout = m->idle_timeout,
        .handlers = { render, on_update, on_delete, on_synced, m },
    };
    int rc = neps ? km_client_new(&cl, &cc) : -EINVAL;
    if (!rc)
        rc = km_informer_start(cl, &ic, &inf);
    if (rc) {
        fprintf(stderr, "kumo: mirror: %s\n", km_strerror(rc));
        km_client_free(cl);
        free(epbuf);
        return 1;
    }
    ctl_on_signal(-1);
    int status = 0;
    while (!ctl_interrupted) {
        if (m->once && km_informer_has_synced(inf))
            break;
        km_sleep(50000000LL);
    }
    km_informer_stop(inf);
    if (m->errors && m->once)
        status = 1;
    km_client_free(cl);
    free(epbuf);
    return status;
}

int kumo_mirror(int argc, char **argv)
{
    static const struct option lo[] = {
        { "prefix", required_argument, 0, 'x' }, { "dir", required_argument, 0, 'd' },
        { "snapshot", required_argument, 0, 's' }, { "once", no_argument, 0, 'o' },
        { "idle-timeout", required_argument, 0, 'i' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    ctl c;
    mirror m = { 0 };
    int o, rc = ctl_globals(&c, &argc, argv);
    if (rc)
        return rc;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'x': m.prefix = optarg; break;
        case 'd': m.dir = optarg; break;
        case 's': m.snapshot = optarg; break;
        case 'o': m.once = true; break;
        case 'i':
            if (ctl_parse_dur(optarg, &m.idle_timeout) || m.idle_timeout <= 0) {
                fprintf(stderr, "kumo: bad duration \"%s\" for --idle-timeout\n", optarg);
                return 2;
            }
            break;
        case 'h': printf("%s%s", help, ctl_globals_help); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (!m.prefix || !m.dir || !*m.dir || optind != argc) {
        fprintf(stderr, "kumo: %s\n%s", optind != argc ? "too many arguments" :
                "mirror needs --prefix and --dir", help);
        return 2;
    }
    if (mkdir(m.dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "kumo: mirror: cannot create %s: %s\n", m.dir, strerror(errno));
        return 1;
    }
    return ctl_run(&c, run, &m);
}
