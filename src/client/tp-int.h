/* SPDX-License-Identifier: MIT */
/* The seam between the client's calls and the wire: a table of operations
 * that each transport (etcd's gRPC API, its JSON gateway) fills. */
#ifndef KUMO_CLIENT_TP_INT_H
#define KUMO_CLIENT_TP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <kumo/client.h>

/* A key range in etcd's terms: key alone (end NULL), or [key, end). */
typedef struct {
    const char *key;
    size_t      key_len;
    const char *end;
    size_t      end_len;
} km__span;

/* What a watch asks for, the same on each stream it opens. */
typedef struct {
    km__span span;
    bool     prev_kv;
} km__watch_req;

/* One message of a watch stream, decoded. */
typedef struct {
    bool             created;       /* the answer to the create request */
    bool             canceled;      /* the server ended the watch */
    int64_t          header_rev;    /* the store's revision when sent */
    int64_t          compact_rev;   /* canceled because of compaction */
    int              err;           /* an error the server reported in band */
    size_t           n;
    km_client_event *ev;            /* n events in the stream's memory (the
                                       caller may reorder or drop them);
                                       valid until the stream's next call */
} km__watch_msg;

/* One open watch stream; each transport defines it. */
typedef struct km__wstream km__wstream;

/* Every operation returns 0 or -errno as client.h lists them, mapped the
 * same way by both transports; -EPROTONOSUPPORT says the server does not
 * speak this transport (an AUTO client then moves to the JSON one). The
 * unary ones fail over between endpoints until deadline themselves. */
typedef struct {
    km_client_transport kind;
    int (*range)(km_client *c, const km__span *s, int64_t rev, int64_t limit,
                 int64_t deadline, km_client_range *out);
    int (*put)(km_client *c, const void *key, size_t key_len, const void *value,
               size_t value_len, int64_t lease, int64_t deadline, int64_t *rev);
    int (*del)(km_client *c, const km__span *s, int64_t deadline, int64_t *deleted,
               int64_t *rev);
    /* cmp and ops were checked (known ops and targets). */
    int (*txn)(km_client *c, const km_client_cmp *cmp, size_t ncmp,
               const km_client_op *then_ops, size_t nthen,
               const km_client_op *else_ops, size_t nelse,
               int64_t deadline, bool *succeeded, int64_t *rev);
    int (*compact)(km_client *c, int64_t rev, int64_t deadline);
    int (*lease_grant)(km_client *c, int64_t ttl, int64_t deadline, int64_t *id,
                       int64_t *granted_ttl);
    /* An expired lease: -ENOENT. */
    int (*lease_keepalive)(km_client *c, int64_t id, int64_t deadline, int64_t *ttl);
    int (*lease_revoke)(km_client *c, int64_t id, int64_t deadline);
    /* Opens a watch stream to endpoint ep (an index into c's endpoints),
     * from start_rev (0: now), within deadline; no failover (the watch
     * moves on itself). 0 and *out, or -errno. */
    int  (*watch_open)(km_client *c, size_t ep, const km__watch_req *q, int64_t start_rev,
                       int64_t deadline, km__wstream **out);
    /* The next message. -ETIMEDOUT at deadline keeps the stream's place;
     * -ECANCELED, -ENOMEM; other errors: the stream is broken or over. */
    int  (*watch_next)(km__wstream *s, int64_t deadline, km__watch_msg *m);
    void (*watch_close)(km__wstream *s);
} km__client_tp;

extern const km__client_tp km__client_json_tp;
extern const km__client_tp km__client_grpc_tp;

/* The transport c uses now. */
const km__client_tp *km__client_transport(km_client *c);
/* After t failed with rc: true when the call is to be made again because
 * c has just moved (or had moved meanwhile) from t to the JSON transport. */
bool km__client_fallback(km_client *c, const km__client_tp *t, int rc);

#endif
