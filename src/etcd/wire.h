/* SPDX-License-Identifier: MIT */
/* etcd's JSON conventions as a caller of the API writes and reads them:
 * bytes as base64 strings, int64 members as decimal strings, and the range
 * end that selects every key under a prefix. Shared by the client SDK and
 * the kumo CLI. */
#ifndef KUMO_ETCD_WIRE_H
#define KUMO_ETCD_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* n bytes as a JSON base64 string; NULL when out of memory. */
json_t *km__etcd_json_b64(const void *p, size_t n);
/* Member key of o as an int64: etcd sends them as strings, numbers are
 * taken too, true is 1; 0 when missing. */
int64_t km__etcd_json_i64(json_t *o, const char *key);
/* Writes to out (room for n + 2 bytes) the range end that, with key as the
 * start, selects every key beginning with key[0..n); returns its length.
 * Trailing 0xff bytes are dropped and the last other byte bumped; a key of
 * only 0xff bytes (or none) gives "\0", etcd's "to the end of the keyspace".
 * out[length] is a NUL. */
size_t  km__etcd_prefix_end(char *out, const char *key, size_t n);

#endif
