/* SPDX-License-Identifier: MIT */
/* Channels and select with Go's semantics. */
#ifndef KUMO_CHAN_H
#define KUMO_CHAN_H

#include "rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque channel of fixed-size elements. */
typedef struct km_chan km_chan;

/* Creates a channel of elem_size-byte elements holding up to cap buffered
 * elements (cap 0: unbuffered, each send meets a receive). elem_size may be 0
 * (signals only; elem pointers may then be NULL). The caller owns *out and
 * frees it with km_chan_free. 0, -EINVAL or -ENOMEM. */
int km_chan_new(km_chan **out, size_t elem_size, size_t cap);

/* Sends a copy of *elem, blocking until a receiver takes it or buffer space is
 * free. 0; -EPIPE if the channel is or becomes closed (the value was not
 * sent); -EINVAL for a NULL channel; -ECANCELED if the goroutine's group is
 * cancelled; -ETIMEDOUT (the _dl variant) once the deadline passes. */
int km_chan_send(km_chan *c, const void *elem);
int km_chan_send_dl(km_chan *c, const void *elem, int64_t deadline);

/* Receives into *elem. 0; -EPIPE once the channel is closed and drained (*elem
 * is zeroed); other errors as for send. */
int km_chan_recv(km_chan *c, void *elem);
int km_chan_recv_dl(km_chan *c, void *elem, int64_t deadline);

/* Closes the channel: buffered values stay receivable; every parked sender
 * and receiver wakes with -EPIPE (receivers after the buffer drains).
 * 0, or -EPIPE if already closed, -EINVAL for NULL. */
int km_chan_close(km_chan *c);

/* Elements buffered now, and the capacity. */
size_t km_chan_len(km_chan *c);
size_t km_chan_cap(km_chan *c);

/* Frees the channel. Nobody may be using it or start using it (see the
 * lifetime rule in docs/ARCHITECTURE.md: peers woken by this goroutine's last
 * call may still be returning from theirs; that is fine). */
void km_chan_free(km_chan *c);

enum { KM_RECV = 1, KM_SEND = 2 };

/* One select case: op on chan with elem as source (send) or destination
 * (recv). A case whose chan is NULL is never ready, like a nil channel in Go. */
typedef struct {
    km_chan *chan;
    int      op;
    void    *elem;
    int      rc;   /* out: 0, or -EPIPE for a closed channel */
} km_case;

/* Waits until one case can complete, completes it and returns its index;
 * its rc says 0 or -EPIPE. Among ready cases one is chosen uniformly at
 * random. deadline 0: never block, -EAGAIN when none is ready (Go's default);
 * -ETIMEDOUT when another deadline passes; -ECANCELED; -EINVAL for a bad op,
 * NULL cases with n > 0; -ENOMEM for very large n when memory is short. */
int km_select(km_case *cases, size_t n, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif
