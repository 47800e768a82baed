/* SPDX-License-Identifier: MIT */
/* Checksums of the store's contents, as etcd's Hash and HashKV report them. */
#include <string.h>
#include "enc/crc32c.h"
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

typedef struct {
    km__lmdb *s;
    int64_t   rev;          /* HashKV: the revision asked (<= 0: current); -1: Hash */
    uint32_t  hash;
    int64_t   revision, compact;
    int       rc;
} hash_arg;

/* Every entry of one table, name first, so that two tables holding the
 * same bytes under different names do not hash alike. */
static int hash_table(MDB_txn *t, MDB_dbi dbi, const char *name, uint32_t *h)
{
    *h = km__crc32c(*h, name, strlen(name));
    MDB_cursor *c;
    int rc = km__mdb_err(mdb_cursor_open(t, dbi, &c));
    if (rc)
        return rc;
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(c, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        *h = km__crc32c(*h, k.mv_data, k.mv_size);
        *h = km__crc32c(*h, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(c);
    return g == MDB_NOTFOUND ? 0 : km__mdb_err(g);
}

/* The history up to rev: after a compaction only the versions it kept
 * are left at or below it, which is what etcd's HashKV covers too (it
 * skips the ones its compaction is about to remove). */
static int hash_history(hash_arg *a, MDB_txn *t)
{
    uint32_t h = km__crc32c(0, "key", 3);
    MDB_cursor *c;
    int rc = km__mdb_err(mdb_cursor_open(t, a->s->rev, &c));
    if (rc)
        return rc;
    MDB_val k, v;
    int g;
    for (g = mdb_cursor_get(c, &k, &v, MDB_FIRST); g == 0;
         g = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16)
            break;
        if (km__get_be64(k.mv_data) > a->rev)
            break;          /* keys are big-endian: the rest is later */
        h = km__crc32c(h, k.mv_data, k.mv_size);
        h = km__crc32c(h, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(c);
    if (g != 0 && g != MDB_NOTFOUND)
        return km__mdb_err(g);
    if (g == 0 && k.mv_size != 16)
        return -EBADMSG;
    a->hash = h;
    return 0;
}

static void hash_fn(void *arg)
{
    hash_arg *a = arg;
    km__lmdb *s = a->s;
    MDB_txn *t;
    if ((a->rc = km__rtxn_get(s, &t)))
        return;
    int rc = km__snap_revs(s, t, &a->revision, &a->compact);
    if (!rc && a->rev < 0) {
        struct { MDB_dbi dbi; const char *name; } tabs[] = {
            { s->meta, "meta" }, { s->cur, "cur" }, { s->rev, "rev" }, { s->hist, "hist" },
            { s->lease, "lease" }, { s->leasekeys, "leasekeys" },
        };
        uint32_t h = 0;
        for (size_t i = 0; !rc && i < sizeof tabs / sizeof tabs[0]; i++)
            rc = hash_table(t, tabs[i].dbi, tabs[i].name, &h);
        a->hash = h;
    } else if (!rc) {
        /* as etcd checks HashKV's revision: the compacted one itself is
         * refused too, unlike a range's */
        if (a->rev > 0 && a->rev <= a->compact)
            rc = -ENODATA;
        else if (a->rev > a->revision)
            rc = -ERANGE;
        else {
            if (a->rev <= 0)
                a->rev = a->revision;
            rc = hash_history(a, t);
        }
    }
    km__rtxn_put(s, t);
    a->rc = rc;
}

/* Offloaded: a large store takes a while to walk, and no worker thread
 * may spend that long away from its goroutines. */
static int run(hash_arg *a)
{
    int rc = km__blocking(hash_fn, a, false);
    return rc ? rc : a->rc;
}

int km__lmdb_hash_kv(km_store *st, int64_t rev, uint32_t *hash, int64_t *revision,
                     int64_t *compact_revision)
{
    km__lmdb *s = (km__lmdb *)st;
    hash_arg a = { .s = s, .rev = rev > 0 ? rev : 0 };
    int rc = run(&a);
    *hash = rc ? 0 : a.hash;
    if (revision)
        *revision = a.revision;
    if (compact_revision)
        *compact_revision = a.compact;
    return rc;
}

int km__lmdb_hash(km_store *st, uint32_t *hash, int64_t *revision)
{
    km__lmdb *s = (km__lmdb *)st;
    hash_arg a = { .s = s, .rev = -1 };
    int rc = run(&a);
    *hash = rc ? 0 : a.hash;
    if (revision)
        *revision = a.revision;
    return rc;
}
