/* SPDX-License-Identifier: MIT */
/* The informer's snapshot file: written atomically (temp file, fsync, rename,
 * fsync of the directory), read back with a checksum. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <kumo/net.h>
#include "client/client-int.h"
#include "rt/rt-int.h"

/* Format: "kumo-snapshot 1 REV N\n", then per kv a line
 * "CREATE MOD VERSION LEASE KEYLEN VALUELEN\n" followed by the key and the
 * value bytes and "\n"; last "end FNV1A64HEX\n" over everything before it. */
#define MAGIC "kumo-snapshot 1"

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h;
}

typedef struct {
    const char *path;
    const void *p;
    size_t      n;
    int         rc;
} wjob;

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = KM__FAULT(KM__F_WRITE) ? (errno = ENOSPC, -1) : write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Runs on the offload pool: nothing here may park a goroutine. */
static void write_job(void *arg)
{
    wjob *j = arg;
    size_t pl = strlen(j->path);
    char *tmp = km__malloc(pl + 32), *dir = km__malloc(pl + 2);
    if (!tmp || !dir) {
        km__free(tmp);
        km__free(dir);
        j->rc = -ENOMEM;
        return;
    }
    snprintf(tmp, pl + 32, "%s.tmp.%d", j->path, (int)getpid());
    memcpy(dir, j->path, pl + 1);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = -errno;
    if (!rc)
        rc = write_all(fd, j->p, j->n);
    if (!rc && (KM__FAULT(KM__F_FSYNC) ? (errno = EIO, -1) : fsync(fd)) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && !rc)
        rc = -errno;
    /* The rename makes the new file visible whole or not at all; the
     * directory's fsync makes the rename itself survive a crash. */
    if (!rc && rename(tmp, j->path) < 0)
        rc = -errno;
    if (rc && fd >= 0)
        unlink(tmp);
    if (!rc) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (fsync(dfd) < 0)
                rc = -errno;
            close(dfd);
        }
    }
    km__free(tmp);
    km__free(dir);
    j->rc = rc;
}

int km_client_write_atomic(const char *path, const void *p, size_t n)
{
    wjob j = { path, p, n, 0 };
    int rc = km__blocking(write_job, &j, false);     /* j lives on this stack */
    return rc ? rc : j.rc;
}

int km_client_snapshot_write(const char *path, int64_t revision, const km_client_kv *kvs,
                             size_t n)
{
    size_t cap = 64;
    for (size_t i = 0; i < n; i++)
        cap += kvs[i].key_len + kvs[i].value_len + 6 * 21 + 8;
    cap += 32;
    char *b = km__malloc(cap);
    if (!b)
        return -ENOMEM;
    size_t o = (size_t)snprintf(b, cap, MAGIC " %lld %zu\n", (long long)revision, n);
    for (size_t i = 0; i < n; i++) {
        const km_client_kv *kv = &kvs[i];
        o += (size_t)snprintf(b + o, cap - o, "%lld %lld %lld %lld %zu %zu\n",
                              (long long)kv->create_revision, (long long)kv->mod_revision,
                              (long long)kv->version, (long long)kv->lease,
                              kv->key_len, kv->value_len);
        memcpy(b + o, kv->key, kv->key_len);
        o += kv->key_len;
        if (kv->value_len)
            memcpy(b + o, kv->value, kv->value_len);
        o += kv->value_len;
        b[o++] = '\n';
    }
    o += (size_t)snprintf(b + o, cap - o, "end %016llx\n", (unsigned long long)fnv(b, o));
    int rc = km_client_write_atomic(path, b, o);
    km__free(b);
    return rc;
}

typedef struct {
    const char *path;
    char       *p;
    size_t      n;
    int         rc;
} rjob;

static void read_job(void *arg)
{
    rjob *j = arg;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        j->rc = -errno;
        return;
    }
    off_t sz = lseek(fd, 0, SEEK_END);
    if (sz < 0 || sz > (off_t)1 << 34) {
        j->rc = sz < 0 ? -errno : -EFBIG;
        close(fd);
        return;
    }
    j->p = km__malloc((size_t)sz + 1);
    if (!j->p) {
        j->rc = -ENOMEM;
        close(fd);
        return;
    }
    size_t got = 0;
    while (got < (size_t)sz) {
        ssize_t r = pread(fd, j->p + got, (size_t)sz - got, (off_t)got);
        if (r <= 0) {
            j->rc = r < 0 ? -errno : -EBADMSG;
            break;
        }
        got += (size_t)r;
    }
    j->n = got;
    close(fd);
}

/* Parses "%lld..." fields of a line at *o; advances past its newline. */
static int line_fields(const char *p, size_t n, size_t *o, long long *f, int nf)
{
    const char *nl = memchr(p + *o, '\n', n - *o);
    if (!nl)
        return -EBADMSG;
    const char *s = p + *o;
    for (int i = 0; i < nf; i++) {
        char *end;
        errno = 0;
        f[i] = strtoll(s, &end, 10);
        if (end == s || errno || end > nl || f[i] < 0)
            return -EBADMSG;
        s = end;
    }
    if (s != nl)
        return -EBADMSG;
    *o = (size_t)(nl - p) + 1;
    return 0;
}

int km_client_snapshot_read(const char *path, km_client_range *out)
{
    memset(out, 0, sizeof *out);
    rjob j = { path, NULL, 0, 0 };
    int rc = km__blocking(read_job, &j, false);
    if (!rc)
        rc = j.rc;
    char *p = j.p;
    size_t n = j.n, ml = strlen(MAGIC), o;
    long long hdr[2];
    /* The checksum line closes the file; anything torn fails it. */
    if (!rc && (n < ml + 24 || memcmp(p, MAGIC " ", ml + 1)))
        rc = -EBADMSG;
    if (!rc) {
        const char *end = p + n - 21;
        unsigned long long sum;
        if (memcmp(end, "end ", 4) || p[n - 1] != '\n' ||
            sscanf(end + 4, "%16llx", &sum) != 1 || sum != fnv(p, (size_t)(end - p)))
            rc = -EBADMSG;
        n = (size_t)(end - p);
    }
    o = ml;
    if (!rc && (rc = line_fields(p, n, &o, hdr, 2)) == 0 && (size_t)hdr[1] > n)
        rc = -EBADMSG;
    if (rc) {
        km__free(p);
        return rc;
    }
    size_t cnt = (size_t)hdr[1];
    /* kvs point into the file's own bytes, kept as the result's storage. */
    char *blk = km__malloc(cnt * sizeof(km_client_kv) + 1);
    km_client_kv *kvs = (km_client_kv *)blk;
    if (!blk) {
        km__free(p);
        return -ENOMEM;
    }
    for (size_t i = 0; !rc && i < cnt; i++) {
        long long f[6];
        if ((rc = line_fields(p, n, &o, f, 6)))
            break;
        size_t kl = (size_t)f[4], vl = (size_t)f[5];
        if (o + kl + vl + 1 > n || p[o + kl + vl] != '\n') {
            rc = -EBADMSG;
            break;
        }
        kvs[i] = (km_client_kv){ .key = p + o, .key_len = kl, .value = p + o + kl,
                                 .value_len = vl, .create_revision = f[0],
                                 .mod_revision = f[1], .version = f[2], .lease = f[3] };
        o += kl + vl + 1;
    }
    if (rc) {
        km__free(p);
        km__free(blk);
        return rc;
    }
    /* One block for the result: copy the strings behind the array. */
    size_t bytes = 0;
    for (size_t i = 0; i < cnt; i++)
        bytes += kvs[i].key_len + kvs[i].value_len + 2;
    char *all = km__malloc(cnt * sizeof(km_client_kv) + bytes + 1);
    if (!all) {
        km__free(p);
        km__free(blk);
        return -ENOMEM;
    }
    km_client_kv *dst = (km_client_kv *)all;
    char *s = all + cnt * sizeof(km_client_kv);
    for (size_t i = 0; i < cnt; i++) {
        dst[i] = kvs[i];
        memcpy(s, kvs[i].key, kvs[i].key_len);
        s[kvs[i].key_len] = 0;
        dst[i].key = s;
        s += kvs[i].key_len + 1;
        if (kvs[i].value_len)
            memcpy(s, kvs[i].value, kvs[i].value_len);
        s[kvs[i].value_len] = 0;
        dst[i].value = s;
        s += kvs[i].value_len + 1;
    }
    km__free(p);
    km__free(blk);
    out->priv_ = all;
    out->kvs = dst;
    out->n = cnt;
    out->count = (int64_t)cnt;
    out->revision = hdr[0];
    return 0;
}
