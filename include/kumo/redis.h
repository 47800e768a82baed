/* SPDX-License-Identifier: MIT */
/* Redis client on goroutines: RESP2/RESP3 connections with deadlines, pipelining, automatic pipelining, a pooled client. */
#ifndef KUMO_REDIS_H
#define KUMO_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "rt.h"
#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- replies ---- */

/* Reply types: RESP2's five plus RESP3's. Attributes (|) are parsed and
 * dropped; out-of-band pushes (>) are dropped by connections, which have
 * no subscriber to hand them to, and kept only by the bare parser. */
enum {
    KM_REDIS_STATUS = 1,    /* +OK: str */
    KM_REDIS_ERROR,         /* -ERR ... and RESP3 !blob errors: str */
    KM_REDIS_INTEGER,       /* :n: integer */
    KM_REDIS_STRING,        /* $bulk: str, len (binary safe) */
    KM_REDIS_NIL,           /* $-1, *-1 and RESP3 _ */
    KM_REDIS_ARRAY,         /* *: elem, len */
    KM_REDIS_MAP,           /* %: elem holds key, value, key, value...; len = 2 * pairs */
    KM_REDIS_SET,           /* ~: elem, len */
    KM_REDIS_DOUBLE,        /* ,: dval (str holds the text) */
    KM_REDIS_BOOL,          /* #t / #f: integer 1 or 0 */
    KM_REDIS_BIGNUM,        /* (: str holds the digits */
    KM_REDIS_VERBATIM,      /* =: str (the text, without "txt:"), format */
    KM_REDIS_PUSH,          /* >: elem, len */
};
/* "status", "error", ..., "push"; "?" otherwise. */
const char *km_redis_type_name(int type);

/* A reply tree: one allocation (an arena) per top-level reply, read-only
 * for its holder. Strings are NUL-terminated (and may hold NULs: use len). */
typedef struct km_redis_reply km_redis_reply;
struct km_redis_reply {
    int              type;      /* KM_REDIS_* */
    size_t           len;       /* bytes of str, or entries of elem */
    const char      *str;       /* status, error, string, double, bignum, verbatim; else NULL */
    long long        integer;   /* integer; bool: 1 or 0 */
    double           dval;      /* double */
    char             format[4]; /* verbatim: "txt", "mkd" (NUL-terminated) */
    km_redis_reply **elem;      /* array, map, set, push */
};

/* Frees a top-level reply (a node inside a tree is not freed alone).
 * NULL is ignored. */
void km_redis_reply_free(km_redis_reply *r);

/* Returned by the calls below when the server answered with an error
 * reply (-ERR, -WRONGTYPE, -NOAUTH, !blob...). *reply is then set (the
 * caller frees it) and its str holds the server's text. */
#define KM_REDIS_ESERVER (-EREMOTEIO)

/* Parser limits; 0 fields take the defaults. Going over one is a protocol
 * error (-EMSGSIZE) that closes the connection, never a huge allocation. */
typedef struct {
    size_t max_bulk;    /* bytes of one bulk or verbatim string; 0: 512 MiB (Redis's proto-max-bulk-len) */
    size_t max_elems;   /* entries of one aggregate (map: pairs x 2); 0: 16 Mi */
    size_t max_line;    /* bytes of one simple string, error, number line; 0: 64 KiB */
    int    max_depth;   /* nesting of aggregates (attributes included); 0: 32; at most 128 */
} km_redis_limits;

/* ---- connections ---- */

/* One connection to a Redis server. Calls on it from several goroutines at
 * once are pipelined automatically: a writer goroutine gathers the commands
 * queued meanwhile into one write and a reader goroutine hands the replies
 * back in order to the waiting callers (parked on the runtime). After an
 * I/O or protocol error the connection is broken for good: every call in
 * flight and every later call fails (km_redis_broken tells), and the
 * caller (or the pool) makes a new one. */
typedef struct km_redis km_redis;

typedef struct {
    const char     *addr;       /* "127.0.0.1:6379", "unix:/path"; required */
    const char     *user;       /* AUTH user (Redis 6 ACL); NULL: "default" when password is set */
    const char     *password;   /* AUTH password; NULL: no AUTH */
    int             db;         /* SELECT db when > 0 */
    bool            resp3;      /* send HELLO 3 (with AUTH in it when a password is set) */
    km_redis_limits limits;
} km_redis_config;

/* Dials cfg->addr, authenticates, selects the database (and says HELLO 3
 * when asked), all before deadline (absolute, monotonic ns; KM_FOREVER).
 * Strings of cfg are copied. Must run in a goroutine. The caller owns *out
 * (km_redis_close). 0; -EINVAL; -ENOMEM; the dial's error (-ECONNREFUSED,
 * -ETIMEDOUT...); KM_REDIS_ESERVER (AUTH, SELECT or HELLO refused: the
 * reply is dropped); -EPROTO / -EMSGSIZE (a malformed reply). */
int  km_redis_connect(km_redis **out, const km_redis_config *cfg, int64_t deadline);

/* Closes the connection: calls in flight in other goroutines fail with
 * -ECONNABORTED; close waits until they have returned and the connection's
 * goroutines have exited, then frees everything. No call may start once
 * close has begun. NULL is ignored. */
void km_redis_close(km_redis *c);

/* True once the connection failed (I/O, protocol error, timeout of a call
 * in flight): it will never work again. */
bool km_redis_broken(const km_redis *c);

/* Runs one command: argv[0..argc-1], each argvlen[i] bytes (argvlen NULL:
 * NUL-terminated strings), waiting for its reply until deadline. On 0 or
 * KM_REDIS_ESERVER the caller owns *reply (km_redis_reply_free); otherwise
 * *reply is NULL. 0; KM_REDIS_ESERVER; -ETIMEDOUT (the deadline passed: the
 * connection is then broken, since its reply would come out of order);
 * -ECANCELED (the caller's group was cancelled: handled as -ETIMEDOUT);
 * -ECONNRESET, -EPIPE... (I/O); -EPROTO / -EMSGSIZE (bad reply);
 * -ECONNABORTED (the connection failed or is closing); -EINVAL; -ENOMEM.
 * A call whose deadline passes before the writer took its command leaves
 * the connection working. */
int  km_redis_do(km_redis *c, int argc, const char *const *argv, const size_t *argvlen,
                 int64_t deadline, km_redis_reply **reply);

/* Explicit pipelining: n commands sent in one write, replies read in order.
 * cmds[i] is an argument vector as for km_redis_do; replies[i] receives
 * each reply (an error reply is a KM_REDIS_ERROR node, not a failure).
 * 0 when every reply came (the caller frees them all); otherwise -errno
 * and every replies[i] is NULL. */
typedef struct {
    int                argc;
    const char *const *argv;
    const size_t      *argvlen;
} km_redis_cmd;
int  km_redis_pipeline(km_redis *c, const km_redis_cmd *cmds, size_t n,
                       int64_t deadline, km_redis_reply **replies);

/* ---- the pooled client ---- */

/* A client: a km_pool of connections (open = connect + AUTH + SELECT,
 * validate = PING, close) with every call bounded by its deadline,
 * the wait for a connection included. */
typedef struct km_redis_client km_redis_client;

/* pool->name NULL: "redis". cfg and pool are copied. Must run while
 * km_main runs. The caller owns *out (km_redis_client_free).
 * 0; -EINVAL; -ENOMEM; km_pool_new's errors. */
int  km_redis_client_new(km_redis_client **out, const km_redis_config *cfg,
                         const km_pool_config *pool);
/* Closes the pool (waiting until deadline for connections on loan), then
 * frees the client. 0, or -ETIMEDOUT (some were still on loan: the client
 * is not freed; call again). */
int  km_redis_client_free(km_redis_client *cl, int64_t deadline);
/* The client's pool, for stats. */
km_pool *km_redis_client_pool(km_redis_client *cl);

/* km_redis_do on a connection from the pool. A connection that failed
 * under the call is evicted (released as broken); one found dead when
 * taken (it died while idle) is evicted and another taken, so a restarted
 * server costs only the calls that were in flight. Errors of km_redis_do
 * and of km_pool_acquire (-ETIMEDOUT when no connection came in time). */
int  km_redis_client_do(km_redis_client *cl, int argc, const char *const *argv,
                        const size_t *argvlen, int64_t deadline, km_redis_reply **reply);

/* ---- typed helpers (on a client) ---- */

/* GET key: 0 and *val (the caller frees it with km_redis_free_str; *len
 * its length) when the key exists; -ENOENT when it does not; -EPROTO (a
 * reply of another type); errors of km_redis_client_do (KM_REDIS_ESERVER
 * for WRONGTYPE: the text is not kept). */
int  km_redis_get(km_redis_client *cl, const char *key, char **val, size_t *len,
                  int64_t deadline);
void km_redis_free_str(char *s);

/* SET key value with options: ttl (ns, 0: none) sent as PX when it is not a
 * whole number of seconds, else EX; only one of KM_REDIS_NX / KM_REDIS_XX.
 * 0 (set); -EEXIST (NX: the key exists; XX: it does not: nothing set);
 * errors of km_redis_client_do. */
#define KM_REDIS_NX 1u
#define KM_REDIS_XX 2u
int  km_redis_set(km_redis_client *cl, const char *key, const void *val, size_t len,
                  int64_t ttl, unsigned flags, int64_t deadline);

/* DEL key: *removed (may be NULL) = 1 or 0. 0 or an error of km_redis_client_do. */
int  km_redis_del(km_redis_client *cl, const char *key, long long *removed, int64_t deadline);

/* INCR key: *val (may be NULL) = the new value. 0; KM_REDIS_ESERVER (not an
 * integer); errors of km_redis_client_do. */
int  km_redis_incr(km_redis_client *cl, const char *key, long long *val, int64_t deadline);

/* EXPIRE key in ttl ns (rounded up to whole seconds; PEXPIRE when not whole
 * seconds). 0; -ENOENT (no such key); errors of km_redis_client_do. */
int  km_redis_expire(km_redis_client *cl, const char *key, int64_t ttl, int64_t deadline);

#ifdef __cplusplus
}
#endif
#endif
