/* SPDX-License-Identifier: MIT */
/* Redis connection internals: the send and reply queues shared by callers, the writer and the reader. */
#ifndef KM_REDIS_CONN_INT_H
#define KM_REDIS_CONN_INT_H

#include <kumo/redis.h>
#include <kumo/sync.h>
#include <stdatomic.h>
#include "redis/resp.h"

/* A caller's request, on its stack: one or more encoded commands and room
 * for their replies. It sits in sendq until the writer copies its bytes,
 * then in replyq until its last reply came; the conn's mutex guards both
 * queues and every field below but buf/len (read by the writer under the
 * mutex too). Once done, nobody but the caller touches it. */
typedef struct km__redis_req {
    struct km__redis_req *next;
    const char      *buf;
    size_t           len;
    size_t           want, got;     /* replies expected, received */
    km_redis_reply **replies;
    int              rc;
    bool             done;
    km_cond         *cond;          /* borrowed from the conn's free list */
} km__redis_req;

struct km_redis {
    int              fd;
    km_mutex        *mu;
    km_cond         *wcond;         /* the writer waits here for requests */
    km__redis_req   *sendq, **sendq_tail;
    km__redis_req   *replyq, **replyq_tail;
    km_cond        **conds;         /* free per-request conds (pooled) */
    size_t           nconds, capconds;
    atomic_bool      broken;
    int              err;           /* why it broke */
    km_wg           *wg;            /* the writer and the reader */
    int              calls;         /* callers inside submit */
    bool             closing;
    km_cond         *idle;          /* close waits here for calls == 0 */
    km__resp         parser;
};

/* Fails every queued request with err (first failure wins the conn's
 * error), marks the conn broken and wakes its goroutines. Under c->mu. */
void km__redis_break_locked(km_redis *c, int err);

/* Starts the writer and reader of a connected c. 0 or -errno. */
int  km__redis_start(km_redis *c);

/* Encodes argc arguments as a RESP array into out (which may be NULL
 * to measure). Returns the byte count. */
size_t km__redis_encode(char *out, int argc, const char *const *argv, const size_t *argvlen);

/* Queues req and waits until done or deadline. Returns req's rc. */
int  km__redis_submit(km_redis *c, km__redis_req *req, int64_t deadline);

#endif
