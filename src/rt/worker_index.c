/* SPDX-License-Identifier: MIT */
/* The calling worker's index, for data sharded per worker (metrics). */
#include "sched-int.h"

/* Why the P's id: a worker owns its P for life, and a goroutine cannot move
 * to another worker between reading this and a store that follows without
 * a call that may park, so a shard indexed by it has a single writer. */
int km__worker_index(void)
{
    km__p *p = km__getp();
    return p ? p->id : -1;
}
