/* SPDX-License-Identifier: MIT */
/* Logging internals: the logger, the record buffer, encoders and time formatting. */
#ifndef KM_LOG_INT_H
#define KM_LOG_INT_H

#include <kumo.h>
#include <kumo/log.h>
#include <stdatomic.h>

#define KM__LOG_RECBUF 4096         /* records up to this size never allocate */
#define KM__LOG_MAXREC (1u << 20)   /* larger records are dropped */

struct km_logger {
    km__log_head   head;            /* first: read inline by km_log_enabled */
    km_logger     *root;            /* sink, format, level, clock live there */
    /* root only */
    int            level;
    int            format;
    int            fd;
    bool           own_fd;
    km_log_clock  *clock;
    void          *clock_ud;
    atomic_ulong   dropped;
    struct km__log_async *async;    /* NULL: records written at once */
    /* every logger: its bound fields, already encoded in the root's format,
     * each with its leading separator (`,"k":v` or ` k=v`) */
    char          *bound;
    size_t         nbound;
};

/* async.c: buffered writing from a thread of the logger's own. */
int  km__log_async_start(km_logger *root, int64_t interval);
/* Takes a whole record (waiting while the buffer is full); false for a
 * record larger than the buffer, to be written directly. */
bool km__log_async_put(km_logger *root, const char *p, size_t n);
/* Writes what is buffered and stops the thread. */
void km__log_async_stop(km_logger *root);
/* Writes p fully to the root's fd (counts a failure as dropped). */
void km__log_write_fd(km_logger *root, const char *p, size_t n);

/* A record being built: starts in a given buffer, moves to the heap when
 * it outgrows it. */
typedef struct {
    char   *p;
    size_t  n, cap;
    bool    heap;
    bool    failed;         /* out of memory or over KM__LOG_MAXREC */
} km__lbuf;

void km__lbuf_init(km__lbuf *b, char *stack, size_t cap);
/* Starts a record in this thread's buffer (KM__LOG_RECBUF bytes), for a
 * record built and handed to the sink with no goroutine switch between
 * (nothing in between may yield). Not on the goroutine's stack: a 4 KiB
 * buffer there, in a middleware's frame, would push the handler's frames
 * 4 KiB deeper on every connection's stack, which cost kumo serve 1.7%
 * of its range requests/s. */
void km__lbuf_init_thread(km__lbuf *b);
/* Makes room for need more bytes; false (and b->failed) if impossible. */
bool km__lbuf_grow(km__lbuf *b, size_t need);
void km__lbuf_free(km__lbuf *b);

static inline bool km__lbuf_room(km__lbuf *b, size_t need)
{
    return b->n + need <= b->cap || km__lbuf_grow(b, need);
}
static inline void km__lbuf_put(km__lbuf *b, const void *p, size_t n)
{
    if (n && km__lbuf_room(b, n)) {
        memcpy(b->p + b->n, p, n);
        b->n += n;
    }
}
static inline void km__lbuf_ch(km__lbuf *b, char c)
{
    if (km__lbuf_room(b, 1))
        b->p[b->n++] = c;
}

/* Unchecked writing, into room made with km__lbuf_room: each writes at o
 * and returns the end of what it wrote. */
static inline char *km__put(char *o, const void *p, size_t n)
{
    memcpy(o, p, n);
    return o + n;
}
char *km__put_uint(char *o, uint64_t v);                        /* 20 bytes at most */
static inline char *km__put_int(char *o, int64_t v)              /* 21 bytes at most */
{
    if (v >= 0)
        return km__put_uint(o, (uint64_t)v);
    *o = '-';
    /* Through uint64_t so that INT64_MIN negates without overflow. */
    return km__put_uint(o + 1, 0 - (uint64_t)v);
}
char *km__put_json_str(char *o, const char *p, size_t n);       /* 6n bytes at most */
char *km__put_logfmt_str(char *o, const char *p, size_t n);     /* 6n + 2 at most */

/* escape.c: string bodies (without the surrounding quotes for JSON). */
void km__json_str(km__lbuf *b, const char *p, size_t n);     /* UTF-8, invalid -> \ufffd */
void km__json_bytes(km__lbuf *b, const char *p, size_t n);   /* octets -> \u00XX */
/* logfmt: quotes the value only when it must (empty, space, '=', '"',
 * control characters, invalid UTF-8). */
void km__logfmt_str(km__lbuf *b, const char *p, size_t n);
void km__logfmt_bytes(km__lbuf *b, const char *p, size_t n);
/* logfmt keys: bytes a key cannot hold become '_'. */
void km__logfmt_key(km__lbuf *b, const char *p, size_t n);

/* encode.c */
extern const char km__digit_pairs[201];     /* "00" to "99" */
void km__enc_int(km__lbuf *b, int64_t v);
/* Appends the field with its leading separator, in the given format. */
void km__enc_field(km__lbuf *b, int format, const km_log_field *f);

/* logger.c: km_log_write with the fields of two arrays. */
void km__log_write2(km_logger *l, int level, const char *msg, const km_log_field *f, size_t n,
                    const km_log_field *f2, size_t n2);
/* A record in two halves, for writers that append their fields directly:
 * time, level, message and bound fields; then the end, to the sink. */
void km__log_begin(km__lbuf *b, km_logger *l, int level, const char *msg, int64_t wall);
void km__log_end(km__lbuf *b, km_logger *l);
/* The record time for a moment read from km_now(): with the default clock,
 * from a wall-clock offset refreshed each second (no second clock read);
 * the logger's own clock otherwise. */
int64_t km__log_wall(km_logger *l, int64_t mono);

/* time.c */
int64_t km__log_realtime(void *ud);
/* Wall-clock time minus monotonic time, as of the kernel's last tick. */
int64_t km__log_wall_offset(void);
/* "2006-01-02T15:04:05.000000Z": 27 bytes, no NUL. */
#define KM__RFC3339_LEN 27
void km__rfc3339(char out[KM__RFC3339_LEN], int64_t ns);

/* Fills out with 16 random lower-case hex digits, never all zero, and a NUL. */
void km__span_id(char out[17]);
/* Starts sp as the span ctx already names (its ids kept), from now. */
void km__span_adopt(km_span *sp, km_logger *l, const km_http_trace_ctx *ctx);


#endif
