/* SPDX-License-Identifier: MIT */
/* gRPC's wire pieces, independent of any transport: message framing, grpc-message, grpc-timeout, -bin metadata. */
#ifndef KM_GRPC_WIRE_INT_H
#define KM_GRPC_WIRE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <kumo/http.h>
#include "enc/b64.h"

/* ---- length-prefixed messages (frame.c) ---- */

/* Every message goes on the wire after five bytes: a flag (1: compressed
 * with the call's grpc-encoding) and its length, 32-bit big-endian. */
#define KM__GRPC_PREFIX 5

static inline void km__grpc_prefix(uint8_t out[KM__GRPC_PREFIX], bool compressed, uint32_t len)
{
    out[0] = compressed ? 1 : 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

/* An incremental reader of length-prefixed messages: the transport's bytes
 * go in as they come (km__grpc_rd_room, then _fill), whole messages come
 * out (km__grpc_rd_next), each contiguous in the reader's buffer. The
 * buffer starts as one the owner lends (on its stack, in its struct), so
 * small messages cost no allocation; it moves to the heap for a message
 * that does not fit, and back once the reader is empty again. */
typedef struct {
    char   *buf;
    size_t  cap;
    size_t  off, len;           /* unconsumed bytes: buf[off, off + len) */
    size_t  max;                /* the largest message accepted */
    char   *lent;               /* the owner's buffer */
    size_t  lent_cap;
} km__grpc_rd;

/* lent may be NULL (lent_cap 0). max: the largest message (its length
 * field); at most UINT32_MAX. */
void km__grpc_rd_init(km__grpc_rd *rd, char *lent, size_t lent_cap, size_t max);
/* Frees the heap buffer, if any; the reader may be initialised again. */
void km__grpc_rd_free(km__grpc_rd *rd);
/* The next whole message: 1, with *msg pointing into the buffer (valid
 * until the next _room) and *compressed its flag; 0 when more bytes are
 * needed; -EMSGSIZE when its length is over max (known from the prefix
 * alone, before the message is read); -EBADMSG for a flag other than 0
 * or 1. An error leaves the reader unusable (the call ends). */
int  km__grpc_rd_next(km__grpc_rd *rd, km_str *msg, bool *compressed);
/* Where the next bytes go: *p and *room (> 0). The room reaches at least
 * to the end of the message begun, so that one read may complete it.
 * Moves the unconsumed bytes (invalidating messages handed out). 0 or
 * -ENOMEM. */
int  km__grpc_rd_room(km__grpc_rd *rd, char **p, size_t *room);
/* n bytes were written at the place _room gave. */
void km__grpc_rd_fill(km__grpc_rd *rd, size_t n);
/* Bytes of an unfinished message are held: at the end of the stream,
 * that message was cut short. */
static inline bool km__grpc_rd_partial(const km__grpc_rd *rd) { return rd->len != 0; }

/* Writes v in decimal and a NUL (out has room for 21 bytes); returns the
 * length. A status or a timeout on every call: printf is too slow. */
static inline size_t km__grpc_utoa(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
    return n;
}

/* ---- grpc-message (percent.c) ---- */

/* Room km__grpc_pct_encode needs for n bytes (with the NUL). */
static inline size_t km__grpc_pct_room(size_t n) { return 3 * n + 1; }
/* Percent-encodes a status message as gRPC wants it: every byte outside
 * 0x20..0x7E and '%' becomes %XX (upper-case hex); so do spaces at either
 * end, which some HTTP/2 stacks refuse in a field value. Writes a
 * NUL-terminated string to out; returns its length. */
size_t km__grpc_pct_encode(char *out, const char *in, size_t n);
/* Decodes %XX (either case) into out (room for n bytes); anything else,
 * a '%' not followed by two hex digits included, is kept as it is (the
 * spec: never fail, never drop the message). Returns the length. */
size_t km__grpc_pct_decode(char *out, const char *in, size_t n);

/* ---- grpc-timeout (timeout.c) ---- */

/* "99999999H" and a NUL. */
#define KM__GRPC_TIMEOUT_MAX 10
/* Parses a grpc-timeout value: 1 to 8 digits and a unit (H M S m u n),
 * nothing else. *ns: the timeout in nanoseconds, INT64_MAX for one that
 * does not fit. 0, or -EINVAL. */
int    km__grpc_timeout_parse(const char *s, size_t n, int64_t *ns);
/* Formats a timeout of ns nanoseconds (<= 0: "0n") in the finest unit
 * that holds it in 8 digits, rounded up (never shorter than asked).
 * Returns the length written to out (NUL-terminated). */
size_t km__grpc_timeout_format(int64_t ns, char out[KM__GRPC_TIMEOUT_MAX]);

/* ---- base64 for -bin metadata (src/enc/b64.c) ---- */

/* Encoded length of n bytes, unpadded (without a NUL). */
static inline size_t km__grpc_b64_len(size_t n) { return km__b64_raw_len(n); }
/* Writes n bytes as unpadded base64 (what gRPC implementations should
 * emit) and a NUL; returns the length. */
static inline size_t km__grpc_b64_encode(char *out, const void *in, size_t n)
{
    size_t e = km__b64_encode_as(out, in, n, false);
    out[e] = 0;
    return e;
}
/* Decodes n characters, padded or not (gRPC receivers must take both),
 * into out (room for n * 3 / 4 + 2 bytes). The decoded length, or -EINVAL
 * for a character outside the alphabet, a misplaced '=', a length no
 * encoding has, or leftover bits that are not zero. */
static inline ssize_t km__grpc_b64_decode(void *out, const char *in, size_t n)
{
    return km__b64_decode_as(out, in, n, false);
}

/* ---- metadata keys and values (md.c) ---- */

/* A key gRPC lets an application use: 1+ of [0-9a-z_.-], and not one the
 * protocol reserves (grpc-*, content-type, te, user-agent, and HTTP/2's
 * connection fields). */
bool km__grpc_md_key_ok(const char *k, size_t n);
/* A key kept from an application's view of received metadata: not a
 * pseudo-header, content-type, te or grpc-*. */
bool km__grpc_md_key_visible(const char *k, size_t n);
/* The key is binary ("-bin" at its end): its values travel in base64. */
bool km__grpc_md_key_bin(const char *k, size_t n);
/* An ASCII value gRPC can carry as is: printable ASCII (0x20..0x7E). */
bool km__grpc_md_value_ok(const char *v, size_t n);

#endif
