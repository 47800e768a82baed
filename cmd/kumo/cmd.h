/* SPDX-License-Identifier: MIT */
/* Subcommands of the kumo binary: each takes argv from its own name on. */
#ifndef KUMO_CMD_H
#define KUMO_CMD_H

/* Exit codes: 0 success, 1 the work failed (e.g. some probes failed),
 * 2 bad usage. */
int kumo_probe(int argc, char **argv);

#endif
