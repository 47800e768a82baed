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

#endif
