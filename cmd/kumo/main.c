/* SPDX-License-Identifier: MIT */
/* kumo: the single binary; dispatches to its subcommands. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "ctl.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    bool client;                /* takes the global options */
    const char *help;
} cmds[] = {
    { "serve", kumo_serve, false, "run the configuration center (etcd v3 API, watches)" },
    { "probe", kumo_probe, false, "check many URLs concurrently (health checker)" },
    { "get", kumo_get, true, "read keys from an etcd v3 server" },
    { "put", kumo_put, true, "write a key" },
    { "del", kumo_del, true, "delete keys" },
    { "txn", kumo_txn, true, "run a transaction read from stdin (etcdctl syntax)" },
    { "watch", kumo_watch, true, "stream changes to keys" },
    { "compact", kumo_compact, true, "compact the key history up to a revision" },
    { "lease", kumo_lease, true, "grant, revoke, inspect and keep alive leases" },
    { "snapshot", kumo_snapshot, false, "restore a data directory from a snapshot (etcdctl snapshot save)" },
    { "mirror", kumo_mirror, true, "keep a directory of files in sync with a key prefix or a namespace" },
    { "ns", kumo_ns, true, "configuration namespaces: drafts, releases, gray releases, audit" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: kumo [GLOBAL OPTIONS] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "\nThe client commands (");
    const char *sep = "";
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (cmds[i].client) {
            fprintf(f, "%s%s", sep, cmds[i].name);
            sep = ", ";
        }
    fprintf(f, ")\ntake the global options before or after their own arguments:\n%s\n"
               "'kumo COMMAND -h' describes a command.\n",
            ctl_globals_help + strlen("global options:\n"));
}

static bool is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "--help");
}

int main(int argc, char **argv)
{
    /* Global options typed before the command (etcdctl's habit) are found
     * here and moved to just after the command's name, where ctl_globals
     * picks them up as if typed there, and ahead of any "--". */
    int first = 1;
    while (first < argc && argv[first][0] == '-' && !is_help(argv[first])) {
        int w = ctl_global_words(argv[first]);
        if (!w) {
            fprintf(stderr, "kumo: unknown global option \"%s\" (--endpoint, --timeout, -w, "
                            "--cacert, --cert, --key, --user or --password go before the command; "
                            "the command's "
                            "own options after it)\n",
                    argv[first]);
            return 2;
        }
        if (first + w > argc) {
            fprintf(stderr, "kumo: %s needs a value\n", argv[first]);
            return 2;
        }
        first += w;
    }
    if (first >= argc || is_help(argv[first])) {
        if (first >= argc && first > 1)
            fprintf(stderr, "kumo: no command after the global options\n\n");
        usage(first < argc ? stdout : stderr);
        return first < argc ? 0 : 2;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[first], cmds[i].name))
            continue;
        if (first > 1 && !cmds[i].client) {
            fprintf(stderr, "kumo: %s takes no global options (\"%s\")\n", cmds[i].name, argv[1]);
            return 2;
        }
        char *name = argv[first];
        memmove(argv + 2, argv + 1, (size_t)(first - 1) * sizeof *argv);
        argv[1] = name;
        return cmds[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "kumo: unknown command \"%s\"\n\n", argv[first]);
    usage(stderr);
    return 2;
}
