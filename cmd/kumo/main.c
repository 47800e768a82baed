/* SPDX-License-Identifier: MIT */
/* kumo: the single binary; dispatches to its subcommands. */
#include <stdio.h>
#include <string.h>
#include "cmd.h"

static const struct { const char *name; int (*run)(int argc, char **argv); const char *help; } cmds[] = {
    { "serve", kumo_serve, "run the configuration center (etcd v3 API, watches)" },
    { "probe", kumo_probe, "check many URLs concurrently (health checker)" },
    { "get", kumo_get, "read keys from an etcd v3 server" },
    { "put", kumo_put, "write a key" },
    { "del", kumo_del, "delete keys" },
    { "txn", kumo_txn, "run a transaction read from stdin (etcdctl syntax)" },
    { "watch", kumo_watch, "stream changes to keys" },
    { "compact", kumo_compact, "compact the key history up to a revision" },
    { "lease", kumo_lease, "grant, revoke, inspect and keep alive leases" },
    { "snapshot", kumo_snapshot, "restore a data directory from a snapshot (etcdctl snapshot save)" },
    { "mirror", kumo_mirror, "keep a directory of files in sync with a key prefix" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kumo COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\n'kumo COMMAND -h' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kumo: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
