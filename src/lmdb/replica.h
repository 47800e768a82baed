/* SPDX-License-Identifier: MIT */
/* The embedded store as a local replica of another store's keyspace (the
 * etcd backend's cache), for backends only: not in the public API. */
#ifndef KUMO_LMDB_REPLICA_H
#define KUMO_LMDB_REPLICA_H

#include <kumo/store.h>

/* Opens an empty replica in a private temporary directory (under /dev/shm
 * when it exists, else $TMPDIR or /tmp), removed as soon as it is open. It
 * never fsyncs: it is a cache, rebuilt at every start. Its files stay
 * reachable only through the open environment, so nothing outlives the
 * process however it ends. Reads, history and
 * the change feed work as on any store; its own writes (txn writes,
 * compaction, leases) fail with -EROFS: it changes only through the calls
 * below, made by one goroutine of its owner. map_size 0: 8 GiB of address
 * space. Call from a goroutine. 0 or -errno. */
int  km__replica_open(km_store **out, size_t map_size);

/* Loads one page of a consistent copy of the source at revision rev: each
 * kv as the source returned it (create, mod, version, lease; a lease named
 * is recorded as existing). first clears whatever the replica held (a
 * reload); last sets the replica's revision and compact revision to rev
 * (no history before it). Pages between first and last must not be read.
 * 0; -EBADMSG (a kv modified after rev); -EMSGSIZE (a key the store cannot
 * hold); -ENOSPC; -ECANCELED; -ENOMEM. */
int  km__replica_load(km_store *s, int64_t rev, const km_kv *kvs, size_t n, bool first,
                      bool last);

/* Applies the source's revision rev, which must be the replica's revision
 * + 1, from its events (puts with their full kv; deletes with the key),
 * written as the store's own writes would be, so ranges at a revision,
 * history and the feed see it as a local write; the replica's feed
 * publishes it before this returns. 0; -ERANGE (rev is not the next
 * revision); -EBADMSG (no events, an event of another revision, a delete
 * of a key the replica lacks: the replica has diverged); -ENOSPC;
 * -ECANCELED; -ENOMEM. */
int  km__replica_apply(km_store *s, int64_t rev, const km_event *ev, size_t n);

/* Compacts the replica's own history at rev (its window). 0 or -errno. */
int  km__replica_compact(km_store *s, int64_t rev);
/* The replica's compact revision (its oldest readable revision). */
int64_t km__replica_compacted(km_store *s);

#endif
