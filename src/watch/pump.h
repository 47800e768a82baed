/* SPDX-License-Identifier: MIT */
/* Streams a watch to an HTTP client: the loop shared by etcd's /v3/watch
 * and the native Server-Sent Events endpoint. */
#ifndef KUMO_WATCH_PUMP_H
#define KUMO_WATCH_PUMP_H

#include <kumo/http.h>
#include <kumo/hub.h>

typedef struct {
    int              fmt;           /* shared encoding slot, or -1: encode per watcher */
    km_watch_enc_fn *enc;           /* one message's wire form */
    void            *ud;            /* passed to the callbacks */
    /* Written after idle_interval without a message (etcd's progress
     * notification, an SSE comment); NULL or interval 0: never. */
    int            (*idle)(void *ud, km_http_resp *w);
    int64_t          idle_interval; /* ns */
    /* Written when the history the watch needs was compacted; the stream
     * then ends. */
    int            (*compacted)(void *ud, km_http_resp *w, int64_t compact_rev);
} km__pump_ops;

/* Writes every message of wt to w until the client leaves, a write fails
 * or the watch is compacted away. Returns 0 or -errno (a failed write). */
int km__watch_pump(km_watch *wt, const km_http_req *r, km_http_resp *w, const km__pump_ops *ops);

#endif
