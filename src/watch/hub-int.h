/* SPDX-License-Identifier: MIT */
/* Functions shared by the hub's files. */
#ifndef KUMO_WATCH_HUB_INT_H
#define KUMO_WATCH_HUB_INT_H

#include "watch/watch-int.h"

uint64_t km__hub_hash(km_bytes k);
/* key in [start, end) with etcd's conventions (end empty: key == start;
 * end "\0": every key >= start). */
bool     km__key_in_range(km_bytes key, km_bytes start, km_bytes end);
void     km__revmsg_release(revmsg *m);

/* Under the hub lock: the group for (key, range_end, flags), created if
 * missing (NULL: no memory), and its release when a member leaves. */
group   *km__group_get(km_hub *h, km_bytes key, km_bytes end, unsigned flags);
void     km__group_leave(km_hub *h, group *g);
/* Under the hub lock: adds a watcher to / removes it from its group's
 * synced list. */
void     km__hub_link(km_hub *h, km_watch *w);
void     km__hub_unlink(km_hub *h, km_watch *w);
/* km_watch_new, for a set (NULL: a watch waited for alone). */
int      km__watch_open(km_hub *h, km_watch_set *set, void *ud, const km_watch_opts *o,
                        km_watch **out, int64_t *created_rev);
/* Under the hub lock: tells w's consumer to look at w (its channel, or
 * its set's ready list). */
void     km__watch_ready(km_watch *w);
/* Under the hub lock: hands out w's first queued message if it is one
 * to hand out (true and *out), as km_watch_try would. */
bool     km__watch_take(km_watch *w, km_watch_msg **out);
/* Under the hub lock: takes w off its set's ready list, if on it. */
void     km__watch_unready(km_watch *w);

#endif
