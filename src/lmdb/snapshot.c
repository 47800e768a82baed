/* SPDX-License-Identifier: MIT */
/* A consistent copy of the store written to a descriptor, and a data
 * directory made from such a copy (etcd's snapshot save and restore). */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "enc/sha256.h"
#include "rt/rt-int.h"
#include "lmdb/lmdb-int.h"

typedef struct {
    km__lmdb *s;
    int       fd;
    int       rc;
} copy_arg;

static void copy_fn(void *arg)
{
    copy_arg *a = arg;
    /* LMDB reads the copy in a read txn of its own: one revision, however
     * many commits land meanwhile. Compacting leaves free pages out, so
     * the copy is as small as the data (and renumbered, which no reader
     * of the store can tell). */
    a->rc = km__mdb_err(mdb_env_copyfd2(a->s->env, a->fd, MDB_CP_COMPACT));
}

int km__lmdb_snapshot(km_store *st, int fd)
{
    km__lmdb *s = (km__lmdb *)st;
    copy_arg a = { s, fd, 0 };
    /* Not cancellable: LMDB's copy has its own thread and read txn, and
     * must be waited for before fd or the store may go. */
    int rc = km__blocking(copy_fn, &a, false);
    return rc ? rc : a.rc;
}

typedef struct {
    km__lmdb *s;
    int       fd;
    int64_t   size;
    int       rc;
} file_arg;

static void file_fn(void *arg)
{
    file_arg *a = arg;
    /* Unlinked from the start (O_TMPFILE), beside the data it copies:
     * the same filesystem has room for it, and nothing is left behind
     * if the process dies while it is read. */
    char dir[PATH_MAX];
    size_t n = strlen(a->s->path) - strlen("/data.mdb");
    if (n >= sizeof dir) {
        a->rc = -ENAMETOOLONG;
        return;
    }
    memcpy(dir, a->s->path, n);
    dir[n] = 0;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        /* a filesystem without O_TMPFILE: a named file, unlinked at once */
        char tmp[PATH_MAX + 32];
        snprintf(tmp, sizeof tmp, "%s/snapshot.XXXXXX", dir);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd >= 0)
            unlink(tmp);
    }
    if (fd < 0) {
        a->rc = -errno;
        return;
    }
    int rc = km__mdb_err(mdb_env_copyfd2(a->s->env, fd, MDB_CP_COMPACT));
    struct stat st;
    if (!rc && fstat(fd, &st))
        rc = -errno;
    if (rc) {
        close(fd);
        a->rc = rc;
        return;
    }
    a->fd = fd;
    a->size = (int64_t)st.st_size;
    a->rc = 0;
}

int km__lmdb_snapshot_file(km_store *st, int *fd, int64_t *size)
{
    km__lmdb *s = (km__lmdb *)st;
    file_arg a = { s, -1, 0, 0 };
    int rc = km__blocking(file_fn, &a, false);
    if (!rc)
        rc = a.rc;
    *fd = rc ? -1 : a.fd;
    *size = rc ? 0 : a.size;
    return rc;
}

/* ---- restore ---- */

typedef struct {
    const char *file, *dir;
    bool        skip_hash;
    char        path[PATH_MAX], part[PATH_MAX];
    int         rc;
} restore_arg;

static int read_full(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EBADMSG;    /* the file shrank under us */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = KM__FAULT(KM__F_WRITE) ? (errno = ENOSPC, -1) : write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies the snapshot's first n bytes to out while hashing them; the
 * digest, when the file has one, must match. */
static int copy_checked(restore_arg *a, int in, int out, uint64_t n, bool has_hash)
{
    static const size_t chunk = 1 << 20;
    uint8_t *buf = km__malloc(chunk);
    if (!buf)
        return -ENOMEM;
    km__sha256 h;
    km__sha256_init(&h);
    int rc = 0;
    while (n && !rc) {
        size_t k = n < chunk ? (size_t)n : chunk;
        rc = read_full(in, buf, k);
        if (!rc)
            rc = write_full(out, buf, k);
        km__sha256_update(&h, buf, k);
        n -= k;
    }
    if (!rc && has_hash && !a->skip_hash) {
        uint8_t want[KM__SHA256_LEN], got[KM__SHA256_LEN];
        rc = read_full(in, want, sizeof want);
        km__sha256_final(&h, got);
        if (!rc && memcmp(want, got, sizeof got))
            rc = -EBADMSG;
    }
    km__free(buf);
    return rc;
}

static void restore_fn(void *arg)
{
    restore_arg *a = arg;
    int in = open(a->file, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        a->rc = -errno;
        return;
    }
    struct stat st;
    int rc = fstat(in, &st) ? -errno : 0;
    /* etcd's rule for whether a digest follows: the data is whole pages,
     * so a remainder of exactly a digest's length is one */
    bool has_hash = !rc && st.st_size % 512 == KM__SHA256_LEN;
    if (!rc && !has_hash && !a->skip_hash)
        rc = -ENODATA;
    if (!rc && access(a->path, F_OK) == 0)
        rc = -EEXIST;
    if (!rc)
        rc = km__mkdirs(a->dir);
    int out = -1;
    if (!rc && (out = open(a->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
        rc = -errno;
    if (!rc) {
        uint64_t n = (uint64_t)st.st_size - (has_hash ? KM__SHA256_LEN : 0);
        rc = copy_checked(a, in, out, n, has_hash);
    }
    /* durable before it takes the store's name, and the name durable too */
    if (!rc && (KM__FAULT(KM__F_FSYNC) ? (errno = EIO, -1) : fsync(out)))
        rc = -errno;
    if (out >= 0 && close(out) && !rc)
        rc = -errno;
    if (!rc && rename(a->part, a->path))
        rc = -errno;
    if (!rc) {
        int d = open(a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d >= 0) {
            fsync(d);
            close(d);
        }
    } else if (out >= 0) {
        unlink(a->part);
    }
    close(in);
    a->rc = rc;
}

static void unlink_fn(void *arg)
{
    restore_arg *a = arg;
    unlink(a->path);
    snprintf(a->part, sizeof a->part, "%s/lock.mdb", a->dir);
    unlink(a->part);
}

int km_store_restore(const char *file, const char *dir, bool skip_hash)
{
    if (!file || !dir || !dir[0])
        return -EINVAL;
    restore_arg *a = km__calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->file = file;
    a->dir = dir;
    a->skip_hash = skip_hash;
    int rc = 0;
    if ((size_t)snprintf(a->path, sizeof a->path, "%s/data.mdb", dir) >= sizeof a->path ||
        (size_t)snprintf(a->part, sizeof a->part, "%s/data.mdb.part", dir) >= sizeof a->part)
        rc = -ENAMETOOLONG;
    if (!rc)
        rc = km__blocking(restore_fn, a, false);
    if (!rc)
        rc = a->rc;
    if (!rc) {
        /* Opening proves it: LMDB checks its pages' header, the store its
         * format mark (an etcd bbolt file is refused here), and a
         * compaction the copy caught half done is finished now. */
        km_store *s;
        km_store_config cfg = { .dir = dir };
        rc = km__lmdb_open(&s, &cfg);
        if (!rc)
            km__lmdb_close(s);
        else
            km__blocking(unlink_fn, a, false);
    }
    km__free(a);
    return rc;
}
