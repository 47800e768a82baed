/* SPDX-License-Identifier: MIT */
/* kumo snapshot restore: a data directory from a snapshot saved over
 * etcd's API (`etcdctl snapshot save`). */
#include <kumo.h>
#include <kumo/store.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"

static const char help[] =
    "usage: kumo snapshot restore FILE --data-dir DIR [--skip-hash-check]\n"
    "Makes DIR a data directory for `kumo serve` from FILE, a snapshot that\n"
    "`etcdctl snapshot save` fetched from kumo serve. Its SHA-256 (the last\n"
    "32 bytes) is checked first. DIR must not hold a store already.\n"
    "  --data-dir DIR        where the store goes (created if missing)\n"
    "  --skip-hash-check     do not check the digest (also takes a file without one)\n";

typedef struct {
    const char *file, *dir;
    bool        skip;
    int         rc;
} restore_args;

static void run(void *arg)
{
    restore_args *a = arg;
    a->rc = km_store_restore(a->file, a->dir, a->skip);
}

int kumo_snapshot(int argc, char **argv)
{
    static const struct option lo[] = {
        { "data-dir", required_argument, 0, 'd' },
        { "skip-hash-check", no_argument, 0, 's' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 } };
    restore_args a = { 0 };
    int o;
    optind = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'd': a.dir = optarg; break;
        case 's': a.skip = true; break;
        case 'h': fputs(help, stdout); return 0;
        default: fputs(help, stderr); return 2;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "restore")) {
        fprintf(stderr, "kumo: snapshot needs \"restore FILE\"\n%s", help);
        return 2;
    }
    if (!a.dir) {
        fprintf(stderr, "kumo: snapshot restore needs --data-dir\n%s", help);
        return 2;
    }
    a.file = argv[optind + 1];
    int rc = km_main(run, &a);
    if (rc == 0)
        rc = a.rc;
    switch (rc) {
    case 0:
        printf("restored %s into %s\n", a.file, a.dir);
        return 0;
    case -ENODATA:
        fprintf(stderr, "kumo: %s has no SHA-256 at its end (--skip-hash-check takes it as it is)\n",
                a.file);
        break;
    case -EBADMSG:
        fprintf(stderr, "kumo: %s is not a snapshot of kumo's store, or its SHA-256 does not match\n",
                a.file);
        break;
    case -EEXIST:
        fprintf(stderr, "kumo: %s holds a store already\n", a.dir);
        break;
    default:
        fprintf(stderr, "kumo: snapshot restore %s into %s: %s\n", a.file, a.dir, km_strerror(rc));
    }
    return 1;
}
