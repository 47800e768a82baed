/* SPDX-License-Identifier: MIT */
/* HTTP/2 connection core: an nghttp2 session on a socket, driven by goroutines; the client and the server share it. */
#ifndef KM_H2_INT_H
#define KM_H2_INT_H

#include <kumo/rt.h>
#include <kumo/sync.h>
#include <kumo/group.h>
#include <kumo/http.h>
#include <nghttp2/nghttp2.h>
#include <stdatomic.h>
#include <stdbool.h>

/* How the core is driven (h2-conn.c has the details):
 *
 * - one mutex (km__h2_conn.mu) guards the nghttp2 session and every
 *   stream's state; nghttp2 is not thread-safe and stream goroutines on any
 *   worker submit through it. It is never held across a socket call.
 * - a reader goroutine: km_read, then nghttp2_session_mem_recv under the
 *   lock; nghttp2's callbacks (h2-cb.c) fill the streams' buffers and wake
 *   their waiters.
 * - a writer goroutine, woken when the session has something to send:
 *   nghttp2_session_mem_send into one buffer under the lock, then one
 *   km_write without it, so the frames of many streams share one write. It
 *   also sends the keepalive PINGs and notices when their ACK is late.
 * - streams wait on their own condition variable, under the same mutex.
 *
 * Role: the session is a client or a server one; everything else is the
 * same. A server learns of the streams peers open through hooks.stream_new
 * (with a reference it owns) and answers with km__h2_respond. */

typedef struct km__h2_conn km__h2_conn;
/* Small blocks nghttp2 freed, kept per connection by size class (h2-mem.c). */
#define KM__H2_MEM_CLASSES 4
typedef struct { void *free[KM__H2_MEM_CLASSES]; size_t bytes; } km__h2_memcache;
typedef struct km__h2_stream km__h2_stream;

enum { KM__H2_CLIENT, KM__H2_SERVER };

/* Called by the core's goroutines (or by whoever made the change) after
 * the session lock is released; they must not block for long. */
typedef struct {
    /* Server role: a peer opened st and its request head is complete.
     * The callee owns one reference to st (km__h2_stream_release). */
    void (*stream_new)(km__h2_conn *c, km__h2_stream *st, void *ud);
    /* Something an opener may wait for changed: a stream slot came free,
     * the peer's concurrency limit changed, GOAWAY came, or the
     * connection failed (km__h2_conn_usable tells which). */
    void (*changed)(km__h2_conn *c, void *ud);
    /* st's memory is about to be freed (not kept for reuse): the layer
     * above frees what its own fields hold. No locks. A layer that sets
     * this keeps its fields across reuse and resets them itself (without
     * it, a kept stream's fields start from zero). */
    void (*stream_gone)(km__h2_stream *st, void *ud);
    void *ud;
} km__h2_hooks;

typedef struct {
    int       role;                 /* KM__H2_CLIENT or KM__H2_SERVER */
    uint32_t  stream_window;        /* receive window per stream: the most a
                                       stream buffers before its reader reads */
    uint32_t  conn_window;          /* receive window of the connection */
    uint32_t  max_concurrent;       /* streams the peer may open (server) */
    size_t    max_header_bytes;     /* a received header list, RFC 9113 sizes
                                       (name + value + 32 per field) */
    size_t    send_buffer;          /* bytes a stream's writer may queue */
    size_t    stream_size;          /* bytes allocated per stream, at least
                                       sizeof(km__h2_stream): the layer above
                                       puts its own fields behind the core's */
    int64_t   keepalive_interval;   /* ns without input before a PING; 0 off */
    bool      keepalive_idle;       /* PING also with no stream open */
    int64_t   keepalive_timeout;    /* ns the PING's ACK may take */
    int64_t   write_timeout;        /* ns one socket write may block */
    /* Server role: a connection with no stream open for this long gets
     * GOAWAY and closes (0: never); one whose peer sent no SETTINGS
     * within settings_timeout of the start is closed (0: never). */
    int64_t   idle_timeout;
    int64_t   settings_timeout;
    bool      borrowed_fd;          /* the caller closes fd, after km__h2_conn_wait */
    struct km__tls_conn *tls;       /* TLS over fd, freed with the connection unless
                                       borrowed_fd; NULL: plain */
    /* Server role: each stream_new starts a goroutine whose first call
     * into the core is km__h2_stream_set_group. The writer, woken by the
     * first answer to an input, then waits for every handler that input
     * started to begin, so that their answers share one write. */
    bool      batch_answers;
    _Atomic uint64_t *nread, *nwritten;  /* bytes moved are added here (may be NULL) */
    km__h2_hooks hooks;
} km__h2_cfg;

/* Fills cfg's zero fields with the defaults (1 MiB stream window, 16 MiB
 * connection window, 100 peer streams, 64 KiB headers, 256 KiB send
 * buffer, 20 s keepalive timeout, 30 s write timeout). */
void km__h2_cfg_defaults(km__h2_cfg *cfg);

/* ---- byte FIFO (h2-buf.c) ---- */

/* Grows by doubling up to a bound given at each put; empty ones hold no memory. */
typedef struct {
    char  *p;
    size_t cap, head, len;
} km__h2_ring;

/* Appends n bytes. 0, -ENOBUFS (would pass max: nothing appended), -ENOMEM. */
int    km__h2_ring_put(km__h2_ring *r, const void *src, size_t n, size_t max);
/* Moves up to n bytes out; returns how many. */
size_t km__h2_ring_get(km__h2_ring *r, void *dst, size_t n);
void   km__h2_ring_free(km__h2_ring *r);

/* ---- received header blocks (h2-buf.c) ---- */

typedef struct { uint32_t no, nl, vo, vl; } km__h2_field;

typedef struct {
    char         *buf;
    size_t        len, cap;
    km__h2_field *f;
    size_t        n, fcap;
    size_t        size;         /* RFC 9113 size: the bound applies to it */
} km__h2_hblock;

/* Appends a field. 0, -EMSGSIZE (past max: the block is unchanged), -ENOMEM. */
int    km__h2_hblock_add(km__h2_hblock *b, const uint8_t *name, size_t nl,
                         const uint8_t *value, size_t vl, size_t max);
/* First field called name (exact bytes: HTTP/2 names are lower case). */
km_str km__h2_hblock_get(const km__h2_hblock *b, const char *name);
int    km__h2_hblock_at(const km__h2_hblock *b, size_t i, km_str *name, km_str *value);
void   km__h2_hblock_reset(km__h2_hblock *b);
void   km__h2_hblock_free(km__h2_hblock *b);

/* ---- streams ---- */

struct km__h2_stream {
    km__h2_conn   *c;
    int32_t        id;          /* 0 until submitted */
    int            refs;        /* under c->mu: the user's, the session's */
    bool           user;        /* the user's reference is held */
    bool           in_session;  /* the session's reference is held */
    bool           counted;     /* counts against the peer's concurrency limit */
    km_cond       *cv;          /* any change below */
    int            nwait;       /* goroutines waiting on cv */
    /* receiving */
    km__h2_hblock  head, trail;
    bool           head_done, trail_done, head_1xx;
    km__h2_ring    in;
    bool           in_end;      /* END_STREAM received */
    /* sending */
    km__h2_ring    out;
    bool           has_body;    /* submitted with a data source */
    bool           out_end;     /* the writer ended its side */
    bool           deferred;    /* nghttp2's data item waits for a resume */
    nghttp2_nv    *tr;          /* trailers to end with (server); one allocation */
    size_t         ntr;
    /* state */
    int            err;         /* first error; every call returns it */
    uint32_t       rst_code;    /* RST_STREAM code received (or sent) */
    bool           closed;      /* the session closed it */
    bool           end_sent;    /* our END_STREAM went out */
    bool           unstarted;   /* server: counted in c->unstarted */
    bool           rst_after_end; /* server: reset (NO_ERROR) once it has */
    bool           drain_wake;  /* server: a read that would wait returns
                                   -ESHUTDOWN once c->drain_notice is set */
    km_group      *grp;         /* cancelled when the stream is reset or its
                                   connection fails before it is done */
    km__h2_stream *prev, *next; /* c->streams */
    km__h2_stream *fresh_next;  /* c->fresh */
};

/* Wakes st's waiters, if any (lock held): most frames find none. */
static inline void km__h2_wake(km__h2_stream *st)
{
    if (st->nwait)
        km_cond_broadcast(st->cv);
}

/* ---- connections ---- */

struct km__h2_conn {
    km_mutex       *mu;
    km_cond        *wcv;        /* the writer waits here */
    km_cond        *slot_cv;    /* openers wait for a slot here */
    nghttp2_session *s;
    km__h2_cfg      cfg;
    int             fd;
    atomic_int      refs;       /* owner, reader, writer, user streams */
    int             io_live;    /* reader and writer still running */
    int             err;        /* the connection failed: why */
    bool            goaway;     /* GOAWAY received: no new streams */
    bool            draining;   /* closing gracefully: no new streams */
    bool            exhausted;  /* stream ids used up */
    bool            proto_err;  /* nghttp2 found a protocol error */
    bool            settings;   /* the peer's first SETTINGS came */
    bool            writer_idle;
    bool            writer_held; /* waits for c->unstarted to reach 0 */
    bool            drain_notice; /* server: the server that owns it is draining */
    bool            drain_pinged; /* ... the notice and a PING behind it are queued */
    bool            drain_acked;  /* ... and the PING's ACK came back */
    bool            notify;     /* call hooks.changed after unlocking */
    uint32_t        goaway_code;
    int             active;     /* counted streams (ours, open or queued) */
    int             nstreams;   /* streams the session has open, either side's */
    int             unstarted;  /* server: streams whose handler has not run yet */
    km__h2_stream  *streams;    /* every stream the session references */
    km__h2_stream  *fresh;      /* server: streams to hand to stream_new */
    nghttp2_mem     mem;        /* the session's allocator, with its cache: */
    km__h2_memcache memc;
    int32_t         last_id;    /* h2-cb.c's last lookup (0: none) */
    km__h2_stream  *last_st;
    km__h2_stream  *cache;      /* released streams, kept for new ones */
    int             ncache;
    char           *rbuf;
    char           *wbuf;
    size_t          wlen, wcap;
    int64_t         last_read;  /* km_now() of the last input */
    int64_t         started;    /* km_now() at km__h2_conn_new */
    int64_t         idle_since; /* when the last stream went (streams NULL) */
    /* Server: flood accounting (h2-flood.c). */
    int64_t         flood_tokens, flood_at;
    int             flood_empty;
    bool            flooded;    /* GOAWAY ENHANCE_YOUR_CALM sent */
    int64_t         ping_sent;  /* 0 when no keepalive PING is outstanding */
};

/* Takes fd (closed by the core from now on, also on failure) and makes a
 * session on it; cfg is copied. Nothing runs until km__h2_conn_start. The
 * caller owns one reference. 0, -EINVAL, -ENOMEM. */
int  km__h2_conn_new(km__h2_conn **out, int fd, const km__h2_cfg *cfg);
/* Queues the preface and SETTINGS and starts the reader and writer as
 * members of grp (NULL: of the caller's group, as km_go). The goroutines
 * run until the connection ends; a cancelled grp ends it. 0, or the
 * errors of km_group_go / km_go (the connection has then failed). */
int  km__h2_conn_start(km__h2_conn *c, km_group *grp);
/* The same, with n bytes already read from the socket (a server that
 * sniffed the client's preface) processed before anything read later. */
int  km__h2_conn_start_with(km__h2_conn *c, km_group *grp, const void *initial, size_t n);
/* Waits until the reader and writer have both returned: the connection
 * is over (a borrowed fd may be closed now). */
void km__h2_conn_wait(km__h2_conn *c);
/* Waits for the peer's first SETTINGS (its limits are known from then
 * on; a peer that does not speak HTTP/2 fails here). 0, the connection's
 * error, -ETIMEDOUT, -ECANCELED. */
int  km__h2_conn_ready(km__h2_conn *c, int64_t deadline);
void km__h2_conn_ref(km__h2_conn *c);
/* Drops a reference; the last one frees the connection and whatever
 * streams only the session still held. */
void km__h2_conn_release(km__h2_conn *c);
/* Fails the connection now with err: every unfinished stream returns it. */
void km__h2_conn_close(km__h2_conn *c, int err);
/* Graceful close: GOAWAY, no new streams; the connection ends once its
 * streams have. */
void km__h2_conn_shutdown(km__h2_conn *c);
/* 0 while new streams may open; else why not: the failure, or -EAGAIN
 * (GOAWAY, draining, stream ids used up). */
int  km__h2_conn_usable(km__h2_conn *c);
/* Streams counted against the peer's limit, and that limit. These two
 * run no hooks, so a hook's own lock may be held around them. */
void km__h2_conn_load(km__h2_conn *c, int *active, int *limit);

/* Locking helpers for h2-*.c: unlock runs the hooks a change asked for. */
void km__h2_lock(km__h2_conn *c);
void km__h2_unlock(km__h2_conn *c);
/* Wakes the writer if the session has something to send (lock held). */
void km__h2_kick(km__h2_conn *c);
/* Fails the connection (lock held). The first error sticks. */
void km__h2_fail(km__h2_conn *c, int err);
/* h2-flood.c: a server's limits on frames that ask for nothing.
 * options: nghttp2's own; frame: accounts one received frame, false when
 * the peer floods (the session is then ended); earn: the peer got a
 * frame of answer. Lock held. */
void km__h2_flood_options(nghttp2_option *opt);
bool km__h2_flood_frame(km__h2_conn *c, const nghttp2_frame *f);
void km__h2_flood_earn(km__h2_conn *c);
/* Installs the nghttp2 callbacks (h2-cb.c). */
void km__h2_callbacks(nghttp2_session_callbacks *cb);
/* nghttp2's memory, through kumo's allocator hook (h2-mem.c): km__h2_mem
 * shares nothing; a connection's own (init) keeps small freed blocks in mc
 * for its next ones, until drop. */
extern nghttp2_mem km__h2_mem;
void km__h2_mem_init(nghttp2_mem *m, km__h2_memcache *mc);
void km__h2_mem_drop(km__h2_memcache *mc);

/* ---- stream operations (h2-stream.c) ---- */

/* Client role: opens a stream with headers nv (pseudo-headers first, as
 * nghttp2 wants them; they are copied). end: no body follows (END_STREAM
 * on HEADERS). Waits for a slot under the peer's concurrency limit until
 * deadline. The caller owns one reference to *out. 0; -ETIMEDOUT (no slot
 * came), -ECANCELED; -EAGAIN (no new streams on this connection: GOAWAY,
 * draining, ids used up); the connection's error; -ENOMEM. */
int     km__h2_open(km__h2_conn *c, const nghttp2_nv *nv, size_t n, bool end,
                    int64_t deadline, km__h2_stream **out);
/* Server role: answers st with headers nv; end: no body follows. 0,
 * -EALREADY, st's error, -ENOMEM. */
int     km__h2_respond(km__h2_stream *st, const nghttp2_nv *nv, size_t n, bool end);
/* Server role: answers st with headers nv and the whole body (n > 0, at
 * most the send buffer), then the trailers tr if ntr > 0, in one go.
 * Errors as km__h2_respond. */
int     km__h2_respond_body(km__h2_stream *st, const nghttp2_nv *nv, size_t n,
                            const void *body, size_t len, const nghttp2_nv *tr, size_t ntr);
/* Queues n bytes of body, end: the last ones. Blocks while st's send
 * buffer is full. 0; -EPIPE (the body was ended or the stream closed);
 * st's error; -ETIMEDOUT or -ECANCELED (then part of p may have been
 * queued, and the stream is reset). */
int     km__h2_write(km__h2_stream *st, const void *p, size_t n, bool end, int64_t deadline);
/* Ends the body with trailers nv (copied). Errors as km__h2_write. */
int     km__h2_write_trailers(km__h2_stream *st, const nghttp2_nv *nv, size_t n);
/* Waits for the head block. 0, st's error, -ETIMEDOUT, -ECANCELED. */
int     km__h2_wait_head(km__h2_stream *st, int64_t deadline);
/* Reads body bytes: > 0, 0 at the end, st's error, -ETIMEDOUT (the stream
 * stays usable), -ECANCELED (a client's stream is reset; a server's is
 * left to its handler), -ESHUTDOWN (server: st asked for drain wake-ups
 * and the connection was told of a drain; the stream stays usable). */
ssize_t km__h2_read(km__h2_stream *st, void *buf, size_t n, int64_t deadline);
/* Server role: st's reads that would wait return -ESHUTDOWN once the
 * connection is told its server drains (data that came first is still
 * read). */
void    km__h2_stream_drain_wake(km__h2_stream *st);
/* Server role: the server drains. Wakes the reads of the streams that
 * asked (km__h2_stream_drain_wake) and sends the first GOAWAY (a notice:
 * new streams still welcome) with a PING behind it. Idempotent. */
void    km__h2_conn_drain_notice(km__h2_conn *c);
/* Whether the client answered that PING: it has seen the notice, and
 * every stream it opened before has come in (the final GOAWAY may go). */
bool    km__h2_conn_drain_acked(km__h2_conn *c);
/* The PING's payload, told apart from keepalive PINGs by its ACK. */
#define KM__H2_DRAIN_PING "kmdrain."
/* The group to cancel if st is reset or its connection fails before it
 * is done (NULL: none; cleared before the group goes away). Returns
 * whether all of st's input has come (END_STREAM received). */
bool    km__h2_stream_set_group(km__h2_stream *st, km_group *grp);
/* Waits until st's output can go out whole without waiting for the peer's
 * flow-control window (or has: END_STREAM sent). 0; st's error;
 * -ETIMEDOUT or -ECANCELED (then st is reset). */
int     km__h2_drain(km__h2_stream *st, int64_t deadline);
/* Resets st with RST_STREAM code unless it closed; its calls return err
 * from now on. Idempotent. */
void    km__h2_reset(km__h2_stream *st, uint32_t code, int err);
/* Drops the user's reference; a stream not finished both ways is reset
 * (CANCEL) first. */
void    km__h2_stream_release(km__h2_stream *st);
/* Server role: km__h2_drain (waiting timeout ns at most, from when it
 * starts to wait) then km__h2_stream_release, under one lock. Returns
 * the drain's result. */
int     km__h2_stream_finish(km__h2_stream *st, int64_t timeout);

/* Internal to h2-*.c: */
/* A new stream, or a kept one (lock held). */
km__h2_stream *km__h2_stream_new(km__h2_conn *c);
void km__h2_stream_cache_free(km__h2_conn *c);
void km__h2_stream_link(km__h2_stream *st);             /* lock held */
/* Drops one reference (lock held); the last frees st. */
void km__h2_stream_unref(km__h2_stream *st);
/* The session let go of st (closed, or the session is going away). */
void km__h2_stream_detach(km__h2_stream *st, uint32_t code);
/* Maps a received RST_STREAM code to the error the stream's calls return. */
int  km__h2_rst_err(uint32_t code);
/* nghttp2's data source reading st->out. */
ssize_t km__h2_data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud);

#endif
