/* SPDX-License-Identifier: MIT */
/* kumo txn's line parsers (compares and requests) into etcd v3 JSON. */
#ifndef KUMO_TXN_PARSE_H
#define KUMO_TXN_PARSE_H

#include <jansson.h>
#include "ctl.h"

/* Parses one compare line, e.g. `version("k") = "2"` or `value("k") > "x"`,
 * into an etcd v3 Compare object. 0 and *out (a new reference, the
 * caller's); -1 on a bad line or out of memory, *out left as it was. */
int ctl_txn_parse_compare(const char *line, json_t **out);

/* Parses one request line, "get|put|del ARGS" (words split on blanks,
 * double quotes group), into an etcd v3 RequestOp such as
 * {"request_put": {...}}, and fills op with how to print its answer
 * (op->req is then borrowed from *out). 0 and *out (the caller's); -1 on a
 * bad line (ctl_parse_get/put/del may have printed usage) or out of memory,
 * with nothing for the caller to free. put never reads stdin here. */
int ctl_txn_parse_request(const char *line, ctl_op *op, json_t **out);

#endif
