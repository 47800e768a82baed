/* SPDX-License-Identifier: MIT */
/* Internals of the native API: query strings, JSON bits and permission
 * checks shared by the key-value and watch endpoints. */
#ifndef KUMO_SERVE_NATIVE_INT_H
#define KUMO_SERVE_NATIVE_INT_H

#include <kumo/auth.h>
#include <kumo/serve.h>
#include "etcd/etcd-int.h"

struct km_native {
    km_store *store;
    km_hub   *hub;
    km_auth  *auth;     /* NULL: everyone may do everything */
    bool      secure_cookies;   /* the listener is TLS: session cookies say Secure */
};

/* session.c: the cookie name of r's Cookie headers (p NULL if none);
 * whether r may act on a session cookie (a safe method, or the
 * X-Kumo-CSRF header); the /api/v1/auth/session routes. */
km_str km__native_cookie(km_http_req *r, const char *name);
bool   km__native_csrf_ok(km_http_req *r);
int    km__native_session_routes(km_native *n, km_http_router *rt);

/* Whether r's caller may do type on [key, end) (km_auth_perm's forms):
 * true, or false once the refusal was answered (401 without valid
 * credentials, 403 when the user lacks the permission). */
bool km__native_allowed(km_native *n, km_http_req *r, km_http_resp *w, km_perm_type type,
                        km_bytes key, km_bytes end);

/* km__native_allowed's check without an answer: 0 or the refusal. */
int  km__native_may(km_native *n, km_http_req *r, km_perm_type type, km_bytes key, km_bytes end);
/* With auth on, whether the caller is a known user: false once a 401 was
 * answered. */
bool km__native_identified(km_native *n, km_http_req *r, km_http_resp *w);
/* The caller's user name into buf: "" when anonymous (or without auth). */
void km__native_user(km_native *n, km_http_req *r, char *buf, size_t len);

/* Query parameter name: true if present; *val is its percent-decoded
 * value in a (empty for a bare "?prefix"). false also when the value is
 * badly encoded (*err = -EINVAL) or there is no memory to decode it
 * (-ENOMEM); *err keeps the first error, so one serves several calls. */
bool km__query_get(km_str query, const char *name, km__arena *a, km_bytes *val, int *err);
/* Percent-decodes s into a: 0, -EINVAL (a bad escape) or -ENOMEM. */
int  km__pct_decode(km_str s, km__arena *a, km_bytes *out);
/* The range_end that makes [key, end) every key starting with key, in a.
 * 0, or -ENOMEM (*end untouched). */
int km__prefix_end(km_bytes key, km__arena *a, km_bytes *end);
/* A decimal int64 in b (optional leading '-'); false if not one. */
bool km__parse_i64(km_bytes b, int64_t *v);

/* "name":"text" for valid UTF-8, else "name_base64":"..." (JSON strings
 * carry text only). */
void km__native_bytes(km__jbuf *b, const char *name, km_bytes v);
/* Answers {"error":msg} with status. */
void km__native_fail(km_http_resp *w, int status, const char *msg);
/* Answers with the status and message that fit a store error. */
void km__native_fail_errno(km_http_resp *w, int err);

void km__native_watch(km_http_req *r, km_http_resp *w, void *native);

#endif
