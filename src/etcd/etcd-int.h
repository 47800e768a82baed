/* SPDX-License-Identifier: MIT */
/* Internals of the etcd JSON API: the API object, a JSON writer and the
 * encoders and error answers shared by every endpoint (watch included). */
#ifndef KUMO_ETCD_INT_H
#define KUMO_ETCD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <kumo/etcd.h>
#include "store/arena.h"

/* etcd's default --max-request-bytes (1.5 MiB). */
#define KM__ETCD_MAX_REQUEST (1536 * 1024)
/* The version /v3/maintenance/status reports (the gateway we answer like). */
#define KM__ETCD_VERSION "3.4.23"

struct km_etcd {
    km_store *store;
    km_hub   *hub;
    km_auth  *auth;                 /* NULL: authentication is never on */
    km_etcd_mirror *mirror;         /* auth mirrors etcd's users: changes go there */
    uint64_t  cluster_id, member_id;
    uint64_t  raft_term;            /* a single member: constant, as etcd's after its election */
    size_t    max_request_bytes;    /* never 0 once built */
    int64_t   progress_interval;    /* ns, never 0 once built */
    char      name[256];            /* the member's, for MemberList */
    char      client_url[256];      /* "" when not known */
};

/* ---- a JSON writer into a growing buffer ----
 * Appends never fail loudly: the first allocation failure sets err
 * (-ENOMEM) and later appends do nothing; check err once at the end. */
typedef struct {
    char  *p;       /* km__malloc'd; NULL while empty */
    size_t n, cap;
    int    err;     /* 0 or -ENOMEM */
} km__jbuf;

#define KM__JBUF_INIT { NULL, 0, 0, 0 }

/* Frees the buffer and resets it to empty. */
void km__jbuf_free(km__jbuf *b);
/* Room for n more bytes; 0 or -ENOMEM (also recorded in err). */
int  km__jbuf_reserve(km__jbuf *b, size_t n);
void km__jbuf_put(km__jbuf *b, const void *p, size_t n);
void km__jbuf_puts(km__jbuf *b, const char *s);
void km__jbuf_putc(km__jbuf *b, char c);
/* Starts a member: a comma unless the buffer ends in '{' or '[', then
 * "name": (name must need no escaping). */
void km__jbuf_key(km__jbuf *b, const char *name);
/* A comma unless the buffer ends in '{' or '[' (between array items). */
void km__jbuf_sep(km__jbuf *b);
/* 64-bit integers as protobuf's JSON writes them: decimal in quotes. */
void km__jbuf_i64(km__jbuf *b, int64_t v);
void km__jbuf_u64(km__jbuf *b, uint64_t v);
/* A bare decimal number (for int32 fields such as "code"). */
void km__jbuf_int(km__jbuf *b, long v);
/* Bytes as a quoted standard base64 string. */
void km__jbuf_b64(km__jbuf *b, const uint8_t *p, size_t n);
/* A quoted JSON string with the escapes Go's encoder writes
 * (\" \\ \n \r \t, \u00XX for other controls, \u003c \u003e \u0026). */
void km__jbuf_str(km__jbuf *b, const char *s, size_t n);

/* ---- encoders (field order and omitted zero values as etcd's gateway) ---- */

/* {"cluster_id":"..","member_id":"..","revision":"..","raft_term":".."}
 * with revision omitted when 0. Write the "header" key first. */
void km__etcd_header(km__jbuf *b, const km_etcd *e, int64_t revision);
/* A mvccpb.KeyValue object: key, create_revision, mod_revision, version,
 * value, lease; zero and empty fields left out. */
void km__etcd_kv(km__jbuf *b, const km_kv *kv);
/* A mvccpb.Event object: {"type":"DELETE","kv":{..},"prev_kv":{..}};
 * type is left out for PUT (its zero value), prev_kv when !has_prev. */
void km__etcd_event(km__jbuf *b, const km_event *ev);

/* ---- answers ---- */

/* What etcd answers for an error from the store or the decoder: HTTP
 * status, gRPC code and message (static strings). Never fails: unknown
 * errors map to code 2 (Unknown), HTTP 500, with km_strerror's text. */
typedef struct { int status, code; const char *msg; } km__etcd_err;
km__etcd_err km__etcd_errinfo(int err);
/* The HTTP status etcd's gateway answers a gRPC code with. */
int  km__etcd_http_status(int code);
/* err as a Go client prints a gRPC status: "rpc error: code = NAME desc
 * = MESSAGE" (etcd's watch cancel reasons carry it so). */
void km__etcd_err_text(int err, char *buf, size_t n);
/* Writes the gateway's error body {"error":msg,"message":msg,"code":code}. */
void km__etcd_errbody(km__jbuf *b, int code, const char *msg);
/* Answers w with err's status and error body. */
void km__etcd_fail(km_http_resp *w, int err);
/* Answers w with a given status, code and message (decoder errors). */
void km__etcd_fail_msg(km_http_resp *w, int status, int code, const char *msg);
/* Answers 200 with b as the JSON body (or 500 if b->err), then frees b. */
void km__etcd_send(km_http_resp *w, km__jbuf *b);

/* Checks the method (the gateway matches POST only) and reads the body
 * within e->max_request_bytes. 0 and *body; otherwise the answer has been
 * sent and the handler must return. */
int  km__etcd_read(const km_etcd *e, km_http_req *r, km_http_resp *w, km_str *body);

/* Reads and parses the request body (after km__etcd_read's checks) into
 * *o, with a fresh arena in *a for the decoded bytes. 0; otherwise the
 * error answer was sent and nothing is left to free. */
int  km__etcd_begin(const km_etcd *e, km_http_req *r, km_http_resp *w, km__arena **a,
                    json_t **o);
/* Frees what km__etcd_begin returned (either may be NULL). */
void km__etcd_end(km__arena *a, json_t *o);

/* etcd's request validation (its gRPC layer, before the store sees the
 * request): NULL when valid, else the message to answer with code 3. */
const char *km__etcd_check_range(const km_range_req *r);
const char *km__etcd_check_put(const km_put_req *r);
const char *km__etcd_check_del(const km_del_req *r);
const char *km__etcd_check_txn(const km_txn_req *r);
/* Sort fields as etcd reads them: an order outside the enum sorts nothing,
 * a target outside it is the key. NONE with another target stays NONE: the
 * store then sorts ascending as etcd does (km_range_req). */
void km__etcd_range_sort(km_range_req *r);

/* ---- decoding (jansson into the store's requests) ----
 * A decoder fills req from obj, copying bytes into arena a. On error it
 * returns -EINVAL (or -ENOMEM) and sets *msg to a message like Go's JSON
 * decoder's (static or in a). */

/* Go's name for a JSON value's kind in "cannot unmarshal X" messages. */
const char *km__etcd_json_kind(const json_t *v);
/* Parses body as a JSON object; an empty body is {}. NULL and *msg on
 * error (caller json_decref's the result). */
json_t *km__etcd_parse(const char *p, size_t n, km__arena *a, const char **msg);
int km__etcd_dec_range(json_t *o, km__arena *a, km_range_req *req, const char **msg);
int km__etcd_dec_put(json_t *o, km__arena *a, km_put_req *req, const char **msg);
int km__etcd_dec_del(json_t *o, km__arena *a, km_del_req *req, const char **msg);
int km__etcd_dec_txn(json_t *o, km__arena *a, km_txn_req *req, const char **msg);
/* int64 field name of o into *v (absent: 0): a JSON number or a string
 * holding one, as the gateway accepts. Messages are static (less exact). */
int km__etcd_dec_i64(json_t *o, const char *name, int64_t *v, const char **msg);
/* The same with Go's exact message (which quotes the input) built in a. */
int km__etcd_dec_i64a(json_t *o, const char *name, km__arena *a, int64_t *v, const char **msg);
/* bool field (absent: false). */
int km__etcd_dec_bool(json_t *o, const char *name, bool *v, const char **msg);
/* bytes field: base64 string into arena (absent or null: empty). */
int km__etcd_dec_bytes(json_t *o, const char *name, km__arena *a, km_bytes *v,
                       const char **msg);

/* Response bodies (the "header" member included) for the kv endpoints. */
void km__etcd_enc_range(km__jbuf *b, const km_range_resp *r);
void km__etcd_enc_put(km__jbuf *b, const km_put_resp *r);
void km__etcd_enc_del(km__jbuf *b, const km_del_resp *r);
void km__etcd_enc_txn(km__jbuf *b, int64_t rev, const km_txn_resp *r);
/* Whether r changed the store (a put, or a delete that deleted), nested
 * txns included: its operations' headers then start at the revision before. */
bool km__etcd_txn_changed(const km_txn_resp *r);

/* ---- handlers (ud is the km_etcd) ---- */
void km__etcd_range(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_put(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_delete(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_txn(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_compact(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_lease_grant(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_lease_revoke(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_lease_keepalive(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_lease_ttl(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_lease_leases(km_http_req *r, km_http_resp *w, void *etcd);
void km__etcd_status(km_http_req *r, km_http_resp *w, void *etcd);
/* POST /v3/auth/... (every path of etcd's Auth service; the operation
 * from the route's pattern), in auth-json.c. */
void km__etcd_auth(km_http_req *r, km_http_resp *w, void *etcd);
/* POST /v3/watch, in watch.c. */
void km__etcd_watch(km_http_req *r, km_http_resp *w, void *etcd);

#endif
