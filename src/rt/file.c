/* SPDX-License-Identifier: MIT */
/* File helpers: open, read, write, fsync and close on the offload pool. */
#include <kumo/net.h>
#include "rt-int.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* One request; runs on a helper thread. File calls are not cancellable
 * once queued: a buffer must not be written after its owner moved on. */
typedef struct {
    int         op;
    int         fd, flags, mode;
    const char *path;
    void       *buf;
    size_t      n;
    off_t       off;
    ssize_t     rc;
} file_req;

enum { OPEN, READ, WRITE, FSYNC, CLOSE };

static ssize_t write_all(file_req *r)
{
    size_t done = 0;
    while (done < r->n) {
        ssize_t w = r->off < 0
            ? write(r->fd, (char *)r->buf + done, r->n - done)
            : pwrite(r->fd, (char *)r->buf + done, r->n - done, r->off + (off_t)done);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        done += (size_t)w;
    }
    return (ssize_t)done;
}

static void run(void *arg)
{
    file_req *r = arg;
    ssize_t v;
    do {
        switch (r->op) {
        case OPEN:  v = open(r->path, r->flags | O_CLOEXEC, r->mode); break;
        case READ:  v = r->off < 0 ? read(r->fd, r->buf, r->n) : pread(r->fd, r->buf, r->n, r->off); break;
        case WRITE: r->rc = write_all(r); return;
        case FSYNC: v = fsync(r->fd); break;
        default:    v = close(r->fd); if (v < 0 && errno == EINTR) v = 0; break;
        }
    } while (v < 0 && errno == EINTR && r->op != CLOSE);
    r->rc = v < 0 ? -errno : v;
}

static ssize_t submit(file_req *r)
{
    int rc = km__blocking(run, r, false);
    return rc ? rc : r->rc;
}

int km_file_open(const char *path, int flags, int mode)
{
    if (!path)
        return -EINVAL;
    file_req r = { .op = OPEN, .path = path, .flags = flags, .mode = mode };
    return (int)submit(&r);
}

ssize_t km_file_read(int fd, void *buf, size_t n, off_t off)
{
    file_req r = { .op = READ, .fd = fd, .buf = buf, .n = n, .off = off };
    return submit(&r);
}

ssize_t km_file_write(int fd, const void *buf, size_t n, off_t off)
{
    if (KM__FAULT(KM__F_WRITE))
        return -ENOSPC;
    file_req r = { .op = WRITE, .fd = fd, .buf = (void *)buf, .n = n, .off = off };
    return submit(&r);
}

int km_file_fsync(int fd)
{
    if (KM__FAULT(KM__F_FSYNC))
        return -EIO;
    file_req r = { .op = FSYNC, .fd = fd };
    return (int)submit(&r);
}

int km_file_close(int fd)
{
    file_req r = { .op = CLOSE, .fd = fd };
    return (int)submit(&r);
}

int km__mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -errno;
            buf[i] = c;
        }
    }
    return 0;
}
