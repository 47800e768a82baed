/* SPDX-License-Identifier: MIT */
/* Loggers, child loggers with bound fields, and writing one record per write(2). */
#include "log-int.h"
#include "rt/rt-int.h"
#include <fcntl.h>
#include <unistd.h>

int km_log_new(km_logger **out, const km_log_config *cfg)
{
    static const km_log_config defaults = { 0 };
    if (!out)
        return -EINVAL;
    if (!cfg)
        cfg = &defaults;
    if (cfg->format != KM_LOG_JSON && cfg->format != KM_LOG_LOGFMT)
        return -EINVAL;
    if (cfg->fd < 0 || cfg->level < KM_LOG_DEBUG - 100 || cfg->level > KM_LOG_ERROR + 100)
        return -EINVAL;
    km_logger *l = km__calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->fd = cfg->fd ? cfg->fd : STDERR_FILENO;
    if (cfg->path) {
        /* A setup-time call, made once: not worth offloading. */
        int fd = open(cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            km__free(l);
            return -e;
        }
        l->fd = fd;
        l->own_fd = true;
    }
    l->root = l;
    l->head.level = &l->level;
    l->level = cfg->level;
    l->format = cfg->format;
    l->clock = cfg->clock ? cfg->clock : km__log_realtime;
    l->clock_ud = cfg->clock_ud;
    int rc = cfg->flush_interval > 0 ? km__log_async_start(l, cfg->flush_interval) : 0;
    if (rc < 0) {
        if (l->own_fd)
            close(l->fd);
        km__free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int km_log_child(km_logger **out, km_logger *parent, const km_log_field *f, size_t n)
{
    if (!out || !parent || (n && !f))
        return -EINVAL;
    km_logger *root = parent->root;
    char stack[1024];
    km__lbuf b;
    km__lbuf_init(&b, stack, sizeof stack);
    km__lbuf_put(&b, parent->bound, parent->nbound);
    for (size_t i = 0; i < n; i++)
        km__enc_field(&b, root->format, &f[i]);
    km_logger *l = b.failed ? NULL : km__calloc(1, sizeof *l);
    if (l && b.n && !(l->bound = km__malloc(b.n))) {
        km__free(l);
        l = NULL;
    }
    if (!l) {
        km__lbuf_free(&b);
        return -ENOMEM;
    }
    if (b.n)
        memcpy(l->bound, b.p, b.n);
    l->nbound = b.n;
    km__lbuf_free(&b);
    l->root = root;
    l->head.level = &root->level;
    *out = l;
    return 0;
}

void km_log_free(km_logger *l)
{
    if (!l)
        return;
    if (l->root == l && l->async)
        km__log_async_stop(l);
    if (l->root == l && l->own_fd)
        close(l->fd);
    km__free(l->bound);
    km__free(l);
}

void km_log_set_level(km_logger *l, int level)
{
    if (l)
        __atomic_store_n(&l->root->level, level, __ATOMIC_RELAXED);
}

uint64_t km_log_dropped(const km_logger *l)
{
    return l ? atomic_load_explicit(&l->root->dropped, memory_order_relaxed) : 0;
}

static const char *level_name(int level, size_t *n)
{
    *n = level < KM_LOG_WARN && level >= KM_LOG_INFO ? 4 : 5;
    if (level < KM_LOG_INFO)
        return "debug";
    if (level < KM_LOG_WARN)
        return "info";
    if (level < KM_LOG_ERROR) {
        *n = 4;
        return "warn";
    }
    return "error";
}

/* One write(2) per record: with O_APPEND, or a pipe and a record under
 * PIPE_BUF, the kernel keeps it whole however many threads write. The loop
 * only finishes what a signal or a huge record split. */
static void sink(km_logger *root, const char *p, size_t n)
{
    if (root->async && km__log_async_put(root, p, n))
        return;
    km__log_write_fd(root, p, n);
}

void km__log_write_fd(km_logger *root, const char *p, size_t n)
{
    while (n) {
        ssize_t w = KM__FAULT(KM__F_WRITE) ? (errno = ENOSPC, -1) : write(root->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            /* A log that cannot be written must not fail the caller. */
            atomic_fetch_add_explicit(&root->dropped, 1, memory_order_relaxed);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void km_log_write(km_logger *l, int level, const char *msg, const km_log_field *f, size_t n)
{
    km__log_write2(l, level, msg, f, n, NULL, 0);
}

void km__log_write2(km_logger *l, int level, const char *msg, const km_log_field *f, size_t n,
                    const km_log_field *f2, size_t n2)
{
    if (!km_log_enabled(l, level))
        return;
    km_logger *root = l->root;
    int64_t now = root->clock(root->clock_ud);
    km__lbuf b;
    km__lbuf_init_thread(&b);
    km__log_begin(&b, l, level, msg, now);
    for (size_t i = 0; i < n; i++)
        km__enc_field(&b, root->format, &f[i]);
    for (size_t i = 0; i < n2; i++)
        km__enc_field(&b, root->format, &f2[i]);
    km__log_end(&b, l);
}

int64_t km__log_wall(km_logger *l, int64_t mono)
{
    km_logger *root = l->root;
    if (root->clock != km__log_realtime)
        return root->clock(root->clock_ud);
    /* The wall-clock offset, read again each second of this thread's
     * records: a clock step shows within a second, and no record pays a
     * second clock read (the caller runs no goroutine switch in here). */
    static _Thread_local int64_t offset, until;
    if (mono >= until) {
        offset = km__log_wall_offset();
        until = mono + 1000000000;
    }
    return mono + offset;
}

/* What comes before the time, the level and the message, per format. */
typedef struct { const char *p; size_t n; } lit;
#define LIT(s) { s, sizeof s - 1 }
static const lit head[2][3] = {
    [KM_LOG_JSON]   = { LIT("{\"time\":\""), LIT("\",\"level\":\""), LIT("\",\"msg\":\"") },
    [KM_LOG_LOGFMT] = { LIT("time="), LIT(" level="), LIT(" msg=") },
};

void km__log_begin(km__lbuf *b, km_logger *l, int level, const char *msg, int64_t wall)
{
    km_logger *root = l->root;
    bool json = root->format == KM_LOG_JSON;
    const lit *h = head[json ? KM_LOG_JSON : KM_LOG_LOGFMT];
    char ts[KM__RFC3339_LEN];
    km__rfc3339(ts, wall);
    size_t ln;
    const char *lv = level_name(level, &ln);
    if (!msg)
        msg = "";
    km__lbuf_put(b, h[0].p, h[0].n);
    km__lbuf_put(b, ts, sizeof ts);
    km__lbuf_put(b, h[1].p, h[1].n);
    km__lbuf_put(b, lv, ln);
    km__lbuf_put(b, h[2].p, h[2].n);
    if (json) {
        km__json_str(b, msg, strlen(msg));
        km__lbuf_ch(b, '"');
    } else {
        km__logfmt_str(b, msg, strlen(msg));
    }
    km__lbuf_put(b, l->bound, l->nbound);
}

void km__log_end(km__lbuf *b, km_logger *l)
{
    km_logger *root = l->root;
    if (root->format == KM_LOG_JSON)
        km__lbuf_put(b, "}\n", 2);
    else
        km__lbuf_ch(b, '\n');
    if (b->failed)
        atomic_fetch_add_explicit(&root->dropped, 1, memory_order_relaxed);
    else
        sink(root, b->p, b->n);
    km__lbuf_free(b);
}
