/* SPDX-License-Identifier: MIT */
/* Structured logging (JSON lines or logfmt), request logs and trace spans as log records. */
#ifndef KUMO_LOG_H
#define KUMO_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "rt.h"
#include "http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Levels, spaced as in Go's slog so that a zeroed config means info. */
enum { KM_LOG_DEBUG = -4, KM_LOG_INFO = 0, KM_LOG_WARN = 4, KM_LOG_ERROR = 8 };
enum { KM_LOG_JSON = 0, KM_LOG_LOGFMT = 1 };

/* Realtime clock: nanoseconds since the Unix epoch. */
typedef int64_t km_log_clock(void *ud);

typedef struct {
    int           level;        /* records below it are dropped; 0: info */
    int           format;       /* KM_LOG_JSON (default) or KM_LOG_LOGFMT */
    int           fd;           /* sink; 0: stderr (the logger never closes it) */
    const char   *path;         /* instead of fd: a file opened for append (created 0644) */
    km_log_clock *clock;        /* NULL: CLOCK_REALTIME; tests pin time with it. A
                                   custom clock also times spans (duration_us). */
    void         *clock_ud;
    /* 0: every record is written at once with its own write(2). > 0 (ns):
     * records are gathered in a buffer that a thread of the logger writes
     * out this often (or sooner when it fills), so a request costs a copy
     * instead of a system call; a crash loses at most this much. */
    int64_t       flush_interval;
} km_log_config;

/* A logger: a sink, a format, a level and fields bound to it. Safe to share
 * between goroutines and threads; nothing is locked to log.
 *
 * Each record is formatted into a buffer on the caller's stack (records over
 * 4 KiB move to the heap) and written with one write(2), straight from the
 * calling goroutine, as Go's slog and zap do: lines never interleave in a
 * file opened for append or in a pipe (records under PIPE_BUF). A write to a
 * regular file or /dev/null takes microseconds at most; a pipe whose reader
 * stalls blocks the worker thread, so log to a file for heavy volume. */
typedef struct km_logger km_logger;

/* Every logger starts with this, so that the level check below is inline.
 * Not for use by programs. */
typedef struct { const int *level; } km__log_head;

/* 0 and *out; -EINVAL (bad level or format), -errno from open(2), -ENOMEM.
 * cfg NULL: JSON at info to stderr. Free with km_log_free. */
int  km_log_new(km_logger **out, const km_log_config *cfg);
/* A child logger: the parent's sink, format and level (shared: setting the
 * level on either sets both), plus the given fields, formatted once now and
 * written with every record. Strings are copied. The parent must outlive the
 * child. 0, -EINVAL, -ENOMEM. Use km_log_with for the usual spelling. */
typedef struct km_log_field km_log_field;
int  km_log_child(km_logger **out, km_logger *parent, const km_log_field *f, size_t n);
/* Frees a logger made by km_log_new (closing a file it opened) or
 * km_log_child. NULL is ignored. */
void km_log_free(km_logger *l);
/* Changes the level of l, its parent and all their children (atomic). */
void km_log_set_level(km_logger *l, int level);
/* Records dropped because memory for a large record was missing or the sink
 * refused the write, since the root logger was made. */
uint64_t km_log_dropped(const km_logger *l);

/* Would a record at level be written? A load and a compare; NULL loggers
 * log nothing. */
static inline bool km_log_enabled(const km_logger *l, int level)
{
    return l && level >= __atomic_load_n(((const km__log_head *)l)->level, __ATOMIC_RELAXED);
}

/* ---- fields ---- */

enum { KM_LF_STR, KM_LF_INT, KM_LF_DBL, KM_LF_BOOL, KM_LF_BYTES };

/* A typed key/value. Keys and values are borrowed for the call only.
 * Strings are UTF-8 (invalid bytes are written as U+FFFD); bytes are any
 * octets, written as a string with every byte outside printable ASCII
 * escaped (JSON \u00XX, logfmt \xXX). Doubles that are not finite are
 * written as the strings "NaN", "+Inf", "-Inf" in JSON. */
struct km_log_field {
    const char *key;
    int         type;
    union {
        struct { const char *p; size_t n; } s;
        int64_t i;
        double  d;
        bool    b;
    } v;
};

static inline km_log_field km_lf_str(const char *k, const char *v)
{
    km_log_field f = { k, KM_LF_STR, { .s = { v ? v : "", v ? strlen(v) : 0 } } };
    return f;
}
static inline km_log_field km_lf_strn(const char *k, const char *p, size_t n)
{
    km_log_field f = { k, KM_LF_STR, { .s = { p ? p : "", p ? n : 0 } } };
    return f;
}
static inline km_log_field km_lf_kstr(const char *k, km_str s)
{
    return km_lf_strn(k, s.p, s.n);
}
static inline km_log_field km_lf_int(const char *k, int64_t v)
{
    km_log_field f = { k, KM_LF_INT, { .i = v } };
    return f;
}
static inline km_log_field km_lf_dbl(const char *k, double v)
{
    km_log_field f = { k, KM_LF_DBL, { .d = v } };
    return f;
}
static inline km_log_field km_lf_bool(const char *k, bool v)
{
    km_log_field f = { k, KM_LF_BOOL, { .b = v } };
    return f;
}
static inline km_log_field km_lf_bytes(const char *k, const void *p, size_t n)
{
    km_log_field f = { k, KM_LF_BYTES, { .s = { p ? (const char *)p : "", p ? n : 0 } } };
    return f;
}

/* ---- records ---- */

/* Writes one record: time, level, msg, the logger's bound fields, then f.
 * Checks the level itself; failures count in km_log_dropped. */
void km_log_write(km_logger *l, int level, const char *msg, const km_log_field *f, size_t n);

/* km_log(l, KM_LOG_INFO, "listening", km_lf_int("port", 80), ...): the field
 * arguments are not even evaluated when the level is disabled. */
#define km_log(l, level, msg, ...) do {                                         \
        km_logger *km_l_ = (l);                                                 \
        int km_v_ = (level);                                                    \
        if (km_log_enabled(km_l_, km_v_)) {                                     \
            const km_log_field km_f_[] = { { NULL, 0, { .i = 0 } }, __VA_ARGS__ }; \
            km_log_write(km_l_, km_v_, (msg), km_f_ + 1,                        \
                         sizeof km_f_ / sizeof km_f_[0] - 1);                   \
        }                                                                       \
    } while (0)
#define km_debug(l, msg, ...) km_log(l, KM_LOG_DEBUG, msg, __VA_ARGS__)
#define km_info(l, msg, ...)  km_log(l, KM_LOG_INFO, msg, __VA_ARGS__)
#define km_warn(l, msg, ...)  km_log(l, KM_LOG_WARN, msg, __VA_ARGS__)
#define km_error(l, msg, ...) km_log(l, KM_LOG_ERROR, msg, __VA_ARGS__)

/* km_log_with(&child, parent, km_lf_str("component", "store"), ...) */
#define km_log_with(out, parent, ...) __extension__ ({                          \
        const km_log_field km_f_[] = { __VA_ARGS__ };                           \
        km_log_child((out), (parent), km_f_, sizeof km_f_ / sizeof km_f_[0]);   \
    })

/* ---- spans ---- */

/* A span, written as one log record when it ends. Lives where the caller
 * puts it (usually the stack); name and ctx.tracestate are borrowed until
 * km_span_end. ctx holds this span's trace id, its own span id, its parent's
 * span id ("" for a root) and flags: pass &sp.ctx as the parent of a child. */
typedef struct {
    km_logger        *log;
    const char       *name;
    km_http_trace_ctx ctx;
    int64_t           start;        /* realtime ns */
    int64_t           start_mono;   /* for the duration */
} km_span;

/* Starts a span named name: a child of parent (its trace, parent_id =
 * parent->span_id, its flags and tracestate) or, parent NULL, the root of a
 * new trace. Gets a random span id. l may be NULL (ids only, nothing
 * written). 0, or -EINVAL (sp or name NULL). */
int  km_span_start(km_span *sp, km_logger *l, const char *name, const km_http_trace_ctx *parent);
/* A child of the request's span (km_http_mw_trace), for work a handler does,
 * such as an outgoing call; a new trace without the middleware. */
int  km_span_start_req(km_span *sp, km_logger *l, const char *name, const km_http_req *r);
/* Headers that make sp the parent of an outgoing call (traceparent and,
 * when the trace has one, tracestate): fills out[0..1] with strings stored
 * in buf; returns how many (1 or 2). */
size_t km_span_headers(const km_span *sp, km_http_kv out[2], char buf[KM_HTTP_TRACE_BUF]);

/* Span status: 0 is "ok"; a negative errno is "error" with an "error" field
 * naming it; 100..599 is an HTTP status, written as "code", and "error"
 * from 500 up. */
#define KM_SPAN_OK 0
/* Ends sp: writes one record (msg "span", info, or warn for errors) with
 * trace_id, span_id, parent_id, name, start (RFC 3339), duration_us,
 * status, then the n extra fields. */
void km_span_end_with(km_span *sp, int status, const km_log_field *f, size_t n);
static inline void km_span_end(km_span *sp, int status) { km_span_end_with(sp, status, NULL, 0); }

/* ---- HTTP middleware (ud: the km_logger) ---- */

/* One record per request after the handler returns (msg "request"; info,
 * warn for 5xx): method, path, status, latency_us, req_bytes (Content-Length,
 * when the request had a body), request_id (km_http_mw_request_id before it),
 * trace_id and span_id (km_http_mw_trace before it), remote. */
void km_log_mw_request(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);
/* The request's own span (ids from km_http_mw_trace, which must run before
 * it; without it the request goes on unrecorded) as a span record named
 * "METHOD /path", with the response status, so the caller's span id is its
 * parent_id and outgoing calls made with km_http_trace_headers are its
 * children. */
void km_log_mw_span(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next);

#ifdef __cplusplus
}
#endif
#endif
