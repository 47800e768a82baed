/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request-head parser and chunked-body decoder (RFC 9112). */
#ifndef KM_HTTP_PARSE_H
#define KM_HTTP_PARSE_H

#include <kumo/http.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct { km_str name, value; } km__hdr;

typedef struct {
    km_str   method, target, path, query;
    int      version;           /* 10 or 11 */
    km__hdr *hdrs;              /* caller's array */
    size_t   nhdrs;
    int64_t  content_length;    /* -1: none */
    bool     chunked;
    bool     keep_alive;
    bool     expect_continue;
} km__head;

/* Parses the request head at the start of buf[0, len). *scanned carries
 * how far an earlier call looked for the end of the head (start at 0), so
 * a head that trickles in is not rescanned from the start each time.
 * Returns the head's length once complete (the body, if any, follows), 0
 * when more bytes are needed, or a negated HTTP status for a bad request:
 * -400 malformed (and every request-smuggling shape), -431 head larger
 * than max_bytes or more than max_hdrs headers, -417 unknown expectation,
 * -501 unsupported transfer coding, -505 HTTP version. Strings in *h point
 * into buf. */
int km__http_parse_head(const char *buf, size_t len, size_t *scanned, km__head *h,
                        km__hdr *hdrs, size_t max_hdrs, size_t max_bytes);

typedef struct {
    int      status;
    int      version;
    km__hdr *hdrs;
    size_t   nhdrs;
    int64_t  content_length;    /* -1: none */
    bool     chunked;
    bool     keep_alive;
} km__resp_head;

/* The same for a response head (the client side): > 0 head length, 0 need
 * more, -400 malformed (including both framings), -431 too large. */
int km__http_parse_resp_head(const char *buf, size_t len, size_t *scanned, km__resp_head *h,
                             km__hdr *hdrs, size_t max_hdrs, size_t max_bytes);

/* Incremental chunked-body decoder working in place: chunk data is moved
 * down over the framing, so the decoded body ends up contiguous. */
typedef struct {
    int      state;
    uint64_t left;              /* bytes left in the current chunk */
    size_t   rpos, wpos;        /* read and write offsets in the buffer */
    size_t   trailer_bytes;
} km__chunked;

/* Decodes buf[d->rpos, len); decoded bytes go to buf[d->wpos...]. Returns
 * 1 when the last chunk and trailers are complete (d->rpos is then just
 * past the body), 0 when more input is needed, -400 for bad framing, -413
 * when the decoded body would exceed max_body. */
int km__chunked_decode(km__chunked *d, char *buf, size_t len, size_t max_body);

/* Case-insensitive comparison of s with the NUL-terminated lower-case lit. */
bool km__str_ieq(km_str s, const char *lit);
/* The value of the first of hdrs[0, n) named name (len bytes, any case),
 * or {NULL, 0}. */
km_str km__hdr_findn(const km__hdr *hdrs, size_t n, const char *name, size_t len);
static inline km_str km__hdr_find(const km__hdr *hdrs, size_t n, const char *name)
{
    return km__hdr_findn(hdrs, n, name, strlen(name));
}

#endif
