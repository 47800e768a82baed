/* SPDX-License-Identifier: MIT */
/* Subcommands of the kumo binary: each takes argv from its own name on. */
#ifndef KUMO_CMD_H
#define KUMO_CMD_H

/* Exit codes: 0 success, 1 the work failed (e.g. some probes failed),
 * 2 bad usage. */
int kumo_probe(int argc, char **argv);
/* The configuration center (serve.c). */
int kumo_serve(int argc, char **argv);
/* etcdctl-like client commands for an etcd v3 JSON API server (ctl*.c). */
int kumo_get(int argc, char **argv);
int kumo_put(int argc, char **argv);
int kumo_del(int argc, char **argv);
int kumo_txn(int argc, char **argv);
int kumo_watch(int argc, char **argv);
int kumo_compact(int argc, char **argv);
int kumo_lease(int argc, char **argv);
/* A data directory from a snapshot file (snapshot.c). */
int kumo_snapshot(int argc, char **argv);
/* Keeps a directory of files in sync with a key prefix (ctl-mirror.c). */
int kumo_mirror(int argc, char **argv);
/* Configuration namespaces and their releases (ctl-ns.c). */
int kumo_ns(int argc, char **argv);

#endif
