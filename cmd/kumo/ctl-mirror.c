/* SPDX-License-Identifier: MIT */
/* kumo mirror: keeps a directory of files in sync with a key prefix (one file
 * per key, written atomically), or with an instance's configuration of a
 * namespace (one file per item, a release switched as a whole), as config
 * agents render files for apps. */
#include <fcntl.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <kumo/client.h>
#include "cmd.h"
#include "ctl.h"

static const char help[] =
    "usage: kumo mirror --prefix P [options] (--dir D | D)\n"
    "       kumo mirror --ns APP/NAME [--labels k=v,...] [--ip A] [options] (--dir D | D)\n"
    "Keeps directory D in sync with every key starting with P: the key P/a/b is\n"
    "the file D/a/b (written atomically), a deleted key removes its file. Keys\n"
    "whose rest is not a safe relative path (empty, absolute, \"..\", \".\",\n"
    "empty components) are skipped with a warning. Runs until interrupted.\n"
    "With --ns, D follows the configuration of namespace APP/NAME that an\n"
    "instance with these labels (and address) sees: the main release, or the\n"
    "gray release selecting it. Each item KEY is the file D/KEY (the same safe\n"
    "names; the item .kumo-release is skipped), and D/.kumo-release says which\n"
    "release the files are: {\"ns\",\"release\",\"name\",\"gray\",\"files\"}.\n"
    "\"Atomic\" there means: every file is replaced whole (a reader sees its old\n"
    "or its new content, never a mix), and a release is switched as a whole as\n"
    "far as a filesystem allows: all its new and changed files are first written\n"
    "beside their targets and flushed to disk (if one fails, nothing switches),\n"
    "then renamed into place one after another, then the files of removed items\n"
    "are deleted. No single step switches several files: a reader that opens\n"
    "files during the renames may see some of each release. To tell, .kumo-release\n"
    "is replaced first with \"switching\":N added (before any file changes) and\n"
    "last without it: read it, the files, then it again; if both reads are equal\n"
    "and have no \"switching\", the files were one release.\n"
    "  --prefix P            the key prefix\n"
    "  --ns APP/NAME         or the namespace (one of the two is required)\n"
    "  --labels k=v,...      the instance's labels (--ns)\n"
    "  --ip A                the instance's address for gray IP rules (--ns; default:\n"
    "                        the address the server sees)\n"
    "  --dir D               the directory (required; created if missing)\n"
    "  --snapshot FILE       keep the cache in FILE and start from it when no\n"
    "                        endpoint answers (--prefix; with --ns, D itself stays)\n"
    "  --once                exit once the directory reflects the server\n"
    "  --idle-timeout D      a stream silent this long is reconnected (30m; --ns: 45s)\n";

typedef struct {
    const char *prefix, *dir, *snapshot;
    const char *ns, *labels, *ip;
    bool        once;
    int64_t     idle_timeout;
    int         errors;
    /* --ns: the release on disk (a reference), the files a previous run
     * left (from .kumo-release, until the first release replaced them),
     * releases applied */
    const km_ns_config *prev;
    char      **old;
    size_t      nold;
    atomic_int  applied;
} mirror;

#define MARKER ".kumo-release"

/* Whether rel (rl bytes) is a safe relative path: no NUL, not absolute, no
 * empty, "." or ".." component. */
static bool safe_rel(const char *rel, size_t rl)
{
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
    return ok;
}

/* The file for kv below the prefix, or NULL (unsafe; warned). */
static char *file_for(mirror *m, const km_client_kv *kv)
{
    size_t pl = strlen(m->prefix);
    const char *rel = kv->key + pl;
    size_t rl = kv->key_len - pl;
    if (!safe_rel(rel, rl)) {
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

/* Makes the directories above p (a file below m->dir). */
static void parents(const mirror *m, char *p)
{
    for (char *s = p + strlen(m->dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(p, 0755);
        *s = '/';
    }
}

/* Removes file p (below m->dir) and the directories it leaves empty, up to
 * (not including) the mirror's. p is modified. */
static void remove_file(const mirror *m, char *p)
{
    unlink(p);
    size_t dl = strlen(m->dir);
    for (char *s; (s = strrchr(p, '/')) && (size_t)(s - p) > dl;) {
        *s = 0;
        if (rmdir(p) < 0)
            break;
    }
}

static void render(void *ud, const km_client_kv *kv)
{
    mirror *m = ud;
    char *p = file_for(m, kv);
    if (!p)
        return;
    parents(m, p);
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
    remove_file(m, p);
    free(p);
}

static void on_synced(void *ud, bool from_snapshot)
{
    if (from_snapshot)
        fprintf(stderr, "kumo: mirror: no endpoint answers; serving from the snapshot\n");
}

/* ---- --ns: a namespace's items ---- */

/* D/KEY for an item, or NULL (unsafe or reserved; warned). */
static char *item_file(const mirror *m, const char *key, size_t kn)
{
    if (!safe_rel(key, kn) || !strcmp(key, MARKER)) {
        fprintf(stderr, "kumo: mirror: skipping item \"%.*s\": %s\n", (int)kn, key,
                safe_rel(key, kn) ? "the name is the mirror's own" : "not a safe relative path");
        return NULL;
    }
    char *p = malloc(strlen(m->dir) + kn + 2);
    if (p)
        sprintf(p, "%s/%.*s", m->dir, (int)kn, key);
    return p;
}

/* Writes n bytes of p to path (created or truncated), fsync'd if sync.
 * 0 or -errno. */
static int write_file(const char *path, const char *p, size_t n, bool sync)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0)
        return -errno;
    while (n && !rc) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno != EINTR)
            rc = -errno;
        else if (w > 0)
            p += w, n -= (size_t)w;
    }
    if (!rc && sync && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (rc)
        unlink(path);
    return rc;
}

/* Flushes the filesystem holding dir: one call for every file written
 * below it (many items would otherwise cost an fsync each). 0 or -errno. */
static int sync_fs(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (syncfs(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Remembers key as a file a run may have left (freed by forget_old). */
static void add_old(mirror *m, const char *key)
{
    char **n = realloc(m->old, (m->nold + 1) * sizeof *n);
    if (!n)
        return;
    m->old = n;
    if ((m->old[m->nold] = strdup(key)))
        m->nold++;
}

static void forget_old(mirror *m)
{
    for (size_t i = 0; i < m->nold; i++)
        free(m->old[i]);
    free(m->old);
    m->old = NULL;
    m->nold = 0;
}

/* The files a previous run wrote, from its .kumo-release. */
static void read_marker(mirror *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/" MARKER, m->dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je), *v;
    size_t i;
    json_array_foreach(json_object_get(j, "files"), i, v)
        if (json_is_string(v))
            add_old(m, json_string_value(v));
    json_decref(j);
}

/* Appends the keys of cfg's items that are files to arr. */
static void add_files(json_t *arr, const km_ns_config *cfg)
{
    for (size_t i = 0; arr && cfg && i < cfg->nitems; i++) {
        const km_ns_item *it = &cfg->items[i];
        if (safe_rel(it->key, it->key_len) && strcmp(it->key, MARKER))
            json_array_append_new(arr, json_string(it->key));
    }
}

/* Replaces .kumo-release (written whole, flushed). Without switching: the
 * release now on disk (cfg) and its files. With it (the release about to
 * be put there): the one on disk until now, "switching":N and the files
 * of both (what a crash in between may leave, for the next run). */
static int write_marker(const mirror *m, const km_ns_config *cfg, const km_ns_config *switching)
{
    json_t *files = json_array();
    add_files(files, cfg);
    if (switching) {
        add_files(files, switching);
        for (size_t i = 0; files && !cfg && i < m->nold; i++)
            json_array_append_new(files, json_string(m->old[i]));
    }
    json_t *j = files ? json_pack("{s:s,s:I,s:s?,s:s?,s:o}", "ns", m->ns, "release",
                                  (json_int_t)(cfg ? cfg->release : 0), "name",
                                  cfg ? cfg->name : NULL, "gray", cfg ? cfg->gray : NULL,
                                  "files", files) : NULL;
    if (j && switching)
        json_object_set_new(j, "switching", json_integer(switching->release));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char path[4096], tmp[4128];
    snprintf(path, sizeof path, "%s/" MARKER, m->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int rc = s ? write_file(tmp, s, strlen(s), true) : -ENOMEM;
    free(s);
    if (!rc && rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
    }
    if (!rc)
        rc = sync_fs(m->dir);       /* the rename too */
    return rc;
}

typedef struct { char *tmp, *path; } staged;

typedef struct {
    mirror             *m;
    const km_ns_config *cfg;
    int                 rc;
} apply_job;

/* Whether item key of the release on disk holds value it already. */
static bool unchanged(const mirror *m, const km_ns_item *it)
{
    const km_ns_item *o = m->prev ? km_ns_config_get(m->prev, it->key) : NULL;
    return o && o->value_len == it->value_len && !memcmp(o->value, it->value, it->value_len);
}

/* Puts cfg on disk (on the offload pool: file I/O blocks): the new and
 * changed files written beside their targets, flushed, renamed into place;
 * removed items deleted; the marker last. */
static void apply_release(void *arg)
{
    apply_job *j = arg;
    mirror *m = j->m;
    const km_ns_config *cfg = j->cfg;
    staged *st = calloc(cfg->nitems ? cfg->nitems : 1, sizeof *st);
    size_t nst = 0;
    int rc = st ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < cfg->nitems; i++) {
        const km_ns_item *it = &cfg->items[i];
        if (unchanged(m, it))
            continue;
        char *path = item_file(m, it->key, it->key_len);
        if (!path)
            continue;
        char *tmp = malloc(strlen(path) + 32);
        if (!tmp) {
            free(path);
            rc = -ENOMEM;
            break;
        }
        sprintf(tmp, "%s.tmp.%d", path, (int)getpid());
        parents(m, path);
        if ((rc = write_file(tmp, it->value, it->value_len, false))) {
            fprintf(stderr, "kumo: mirror: writing %s: %s\n", path, km_strerror(rc));
            free(path);
            free(tmp);
            break;
        }
        st[nst++] = (staged){ tmp, path };
    }
    if (!rc && (rc = sync_fs(m->dir)))
        fprintf(stderr, "kumo: mirror: flushing %s: %s\n", m->dir, km_strerror(rc));
    /* Readers learn that files are about to change before the first does. */
    if (!rc && (rc = write_marker(m, m->prev, cfg)))
        fprintf(stderr, "kumo: mirror: %s/" MARKER ": %s\n", m->dir, km_strerror(rc));
    if (rc) {
        /* Nothing switched: the files are the previous release's still. */
        for (size_t i = 0; i < nst; i++)
            unlink(st[i].tmp);
    }
    for (size_t i = 0; !rc && i < nst; i++) {
        if (rename(st[i].tmp, st[i].path) < 0) {
            int e = -errno;
            fprintf(stderr, "kumo: mirror: renaming %s: %s\n", st[i].path, km_strerror(e));
            unlink(st[i].tmp);
            j->rc = e;          /* the others still go: the newest release wins */
        }
    }
    if (!rc) {
        /* The files of items gone: the previous release's, or at the first
         * one those a previous run listed. */
        size_t n = m->prev ? m->prev->nitems : m->nold;
        for (size_t i = 0; i < n; i++) {
            const char *k = m->prev ? m->prev->items[i].key : m->old[i];
            if (km_ns_config_get(cfg, k))
                continue;
            char *p = safe_rel(k, strlen(k)) && strcmp(k, MARKER) ? malloc(strlen(m->dir) + strlen(k) + 2) : NULL;
            if (p) {
                sprintf(p, "%s/%s", m->dir, k);
                remove_file(m, p);
                free(p);
            }
        }
        if ((rc = sync_fs(m->dir)) == 0)
            rc = write_marker(m, cfg, NULL);
        if (rc)
            fprintf(stderr, "kumo: mirror: %s/" MARKER ": %s\n", m->dir, km_strerror(rc));
    }
    for (size_t i = 0; i < nst; i++) {
        free(st[i].tmp);
        free(st[i].path);
    }
    free(st);
    if (!j->rc)
        j->rc = rc;
}

static void on_release(void *ud, const km_ns_config *cfg)
{
    mirror *m = ud;
    apply_job j = { m, cfg, 0 };
    int rc = km_blocking(apply_release, &j);
    if (rc || j.rc) {
        /* What is on disk is unsure: the next release rewrites every file
         * and deletes whatever either release had. */
        m->errors++;
        for (size_t i = 0; m->prev && i < m->prev->nitems; i++)
            add_old(m, m->prev->items[i].key);
        for (size_t i = 0; i < cfg->nitems; i++)
            add_old(m, cfg->items[i].key);
        km_ns_config_release(m->prev);
        m->prev = NULL;
    } else {
        km_ns_config_release(m->prev);
        m->prev = km_ns_config_ref(cfg);
        forget_old(m);
    }
    atomic_fetch_add(&m->applied, 1);
}

static int run_ns(ctl *c, mirror *m, km_client *cl)
{
    read_marker(m);
    km_ns_follow_config fc = { .ns = m->ns, .labels = m->labels, .ip = m->ip, .token = c->token,
                               .on_change = on_release, .ud = m,
                               .idle_timeout = m->idle_timeout };
    km_ns_follower *f;
    int rc = km_ns_follow(cl, &fc, &f);
    if (rc) {
        fprintf(stderr, "kumo: mirror: %s\n", km_strerror(rc));
        forget_old(m);
        return 1;
    }
    ctl_on_signal(-1);
    int status = 0;
    while (!ctl_interrupted) {
        if (m->once && atomic_load(&m->applied))
            break;
        rc = km_ns_follower_wait(f, 0, km_now() + 50000000LL);
        if (rc == -EINVAL || rc == -EACCES) {
            fprintf(stderr, "kumo: mirror: the server refused to follow %s: %s\n", m->ns,
                    rc == -EACCES ? "permission denied (--user: a user who may read it)"
                                  : "bad request (--labels k=v,..., --ip an address)");
            status = 1;
            break;
        }
        if (rc == 0)
            km_sleep(50000000LL);
    }
    km_ns_follower_stop(f);
    if (m->errors && m->once)
        status = 1;
    km_ns_config_release(m->prev);
    forget_old(m);
    return status;
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
    if (!rc && m->ns) {
        int st = run_ns(c, m, cl);
        km_client_free(cl);
        free(epbuf);
        return st;
    }
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
        { "ns", required_argument, 0, 'n' }, { "labels", required_argument, 0, 'l' },
        { "ip", required_argument, 0, 'a' }, { 0, 0, 0, 0 } };
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
        case 'n': m.ns = optarg; break;
        case 'l': m.labels = optarg; break;
        case 'a': m.ip = optarg; break;
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
    if (!m.dir && optind < argc)
        m.dir = argv[optind++];     /* the directory as the last word */
    const char *why = optind != argc ? "too many arguments" :
                      !m.prefix == !m.ns ? "mirror needs --prefix or --ns (one of them)" :
                      !m.dir || !*m.dir ? "mirror needs a directory (--dir D, or D)" :
                      !m.ns && (m.labels || m.ip) ? "--labels and --ip go with --ns" :
                      m.ns && m.snapshot ? "--snapshot goes with --prefix" : NULL;
    if (why) {
        fprintf(stderr, "kumo: %s\n%s", why, help);
        return 2;
    }
    if (mkdir(m.dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "kumo: mirror: cannot create %s: %s\n", m.dir, strerror(errno));
        return 1;
    }
    return ctl_run(&c, run, &m);
}
