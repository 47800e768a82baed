/* SPDX-License-Identifier: MIT */
/* RESP2/RESP3 reply parser: incremental, bounded, one arena per reply tree. */
#ifndef KM_REDIS_RESP_H
#define KM_REDIS_RESP_H

#include <kumo/redis.h>
#include <stddef.h>
#include <stdint.h>

#define KM__RESP_DEPTH_MAX 128

/* Parser state for one stream of replies. The scan of a reply resumes
 * where it stopped (token by token), so feeding a reply in pieces costs
 * linear time; the tree is built in a second pass once every byte of it
 * has come, into one allocation sized by the scan. */
typedef struct {
    km_redis_limits lim;        /* defaults filled in */
    size_t  pos;                /* bytes of the current reply scanned */
    size_t  nodes, ptrs, bytes; /* what the tree will need so far */
    int     depth;              /* frames in use */
    int     skipping;           /* attribute frames among them */
    struct { int64_t left; int attr; } st[KM__RESP_DEPTH_MAX];
} km__resp;

/* Resets p for a new stream with limits lim (NULL or 0 fields: defaults).
 * 0, or -EINVAL (max_depth above KM__RESP_DEPTH_MAX or negative). */
int  km__resp_init(km__resp *p, const km_redis_limits *lim);

/* buf holds every byte received since the start of the current reply
 * (len of them: the caller appends and calls again). Returns 1 and the
 * tree in *out (the caller's: km_redis_reply_free) with *used = the bytes
 * it took; 0 when more bytes are needed (nothing is kept but the scan
 * position); -EPROTO (malformed), -EMSGSIZE (over a limit), -ENOMEM. After
 * an error the stream is unusable: km__resp_init again for a new one. */
int  km__resp_feed(km__resp *p, const char *buf, size_t len,
                   km_redis_reply **out, size_t *used);

#endif
