/* SPDX-License-Identifier: MIT */
/* Configuration namespaces on a store: drafts, releases, gray releases,
 * rollback, the effective configuration of an instance, and the audit
 * trail (docs/API.md, "Namespaces and releases", is the data model). Every
 * change is one store txn guarded by compares, so a change, its release
 * and its audit record land together or not at all, on either backend. */
#ifndef KUMO_RELEASE_H
#define KUMO_RELEASE_H

#include <jansson.h>
#include <kumo/store.h>
#include "release/secret.h"

typedef struct km_rel km_rel;

/* Who makes a change, for releases and the audit ("" user: anonymous). */
typedef struct {
    const char *user;
    const char *addr;
} km_rel_who;

/* Why a call failed, for people. */
typedef struct {
    char msg[384];
} km_rel_err;

/* A namespace's limits (the etcd backend's 1.5 MiB request must hold a
 * release and its published view together). */
#define KM_REL_MAX_ITEMS  10000
#define KM_REL_MAX_BYTES  (512 * 1024)

/* The service on store s; key (may be NULL: secrets refused) is the
 * caller's and outlives it. 0 or -ENOMEM. */
int  km__rel_new(km_rel **out, km_store *s, const km__secret_key *key);
void km__rel_free(km_rel *r);

/* Every call below: 0 and, where it has one, *out (a new JSON value the
 * caller json_decref's), or -errno with err->msg:
 *  -EINVAL   bad name, format, item or option (400)
 *  -ENOENT   no such namespace, item, release or gray release (404)
 *  -EEXIST   the namespace or gray name exists (409)
 *  -EBUSY    the namespace changed during the call (409: try again)
 *  -EALREADY nothing to do (409: nothing to publish, already main)
 *  -EMSGSIZE over a limit (413)
 *  -ENOKEY   a secret without a key file (400)
 *  store errors (-ENOMEM, -EIO, -ENOSPC, -ETIMEDOUT, ...) as they come.
 * ns is "APP/NAME"; user-facing values are returned as stored except that
 * secret values are "******" unless a call says otherwise. */

/* ---- namespaces and drafts ---- */
int km__rel_create(km_rel *r, const km_rel_who *who, const char *ns, const char *format,
                   json_t **out, km_rel_err *err);
/* Namespaces whose APP is app (NULL: all), sorted; a namespace is kept
 * only if keep (may be NULL) says so (the caller's permission filter). */
int km__rel_list(km_rel *r, const char *app, bool (*keep)(void *ud, const char *ns), void *ud,
                 json_t **out, km_rel_err *err);
int km__rel_show(km_rel *r, const char *ns, json_t **out, km_rel_err *err);
int km__rel_set(km_rel *r, const km_rel_who *who, const char *ns, const uint8_t *key, size_t kn,
                const uint8_t *val, size_t vn, bool secret, int64_t *revision, km_rel_err *err);
int km__rel_del(km_rel *r, const km_rel_who *who, const char *ns, const uint8_t *key, size_t kn,
                int64_t *revision, km_rel_err *err);
/* The draft against the main release: {"base","diff","valid"[,"error"]}. */
int km__rel_diff(km_rel *r, const char *ns, json_t **out, km_rel_err *err);

/* The main release of ns against the main release of other (another
 * environment's copy, say "prod.shop/db" and "staging.shop/db"):
 * {"ns","release","with","with_release","diff"}, the diff from ns to other,
 * values in (secrets masked, compared opened). -ENOENT for either missing
 * or unpublished. */
int km__rel_compare(km_rel *r, const char *ns, const char *other, json_t **out, km_rel_err *err);

/* ---- releases ---- */
int km__rel_publish(km_rel *r, const km_rel_who *who, const char *ns, const char *name,
                    const char *notes, json_t **out, km_rel_err *err);
int km__rel_releases(km_rel *r, const char *ns, int64_t limit, json_t **out, km_rel_err *err);
int km__rel_release(km_rel *r, const char *ns, int64_t id, json_t **out, km_rel_err *err);
int km__rel_rollback(km_rel *r, const km_rel_who *who, const char *ns, int64_t to,
                     json_t **out, km_rel_err *err);

/* ---- gray releases ---- */
/* labels: a JSON object of strings, or a string "k=v,..."; ips: an array
 * of strings or a string "a,b" (addresses or CIDRs); either may be NULL. */
int km__rel_gray(km_rel *r, const km_rel_who *who, const char *ns, const char *name,
                 json_t *labels, json_t *ips, const char *notes, json_t **out, km_rel_err *err);
int km__rel_gray_list(km_rel *r, const char *ns, json_t **out, km_rel_err *err);
int km__rel_promote(km_rel *r, const km_rel_who *who, const char *ns, const char *gray,
                    const char *notes, json_t **out, km_rel_err *err);
int km__rel_abandon(km_rel *r, const km_rel_who *who, const char *ns, const char *gray,
                    int64_t *revision, km_rel_err *err);

/* ---- what an instance sees ---- */
/* The instance: labels "k=v,..." (may be NULL) and address ip (text, may
 * be NULL: matches no IP rule). clear: secret values decrypted. */
int km__rel_config(km_rel *r, const char *ns, const char *labels, const char *ip, bool clear,
                   json_t **out, km_rel_err *err);
/* The store keys a config depends on: [*key, *end) (static storage per
 * call in buf, n >= 300). */
void km__rel_pub_range(const char *ns, char *buf, size_t n, km_bytes *key, km_bytes *end);

/* ---- audit ---- */
typedef struct {
    const char *ns, *user;       /* NULL: any */
    int64_t     since, until;    /* wall-clock ns; 0: unbounded */
    int64_t     limit;           /* 0: 100; at most 1000 */
} km_rel_audit_q;
int km__rel_audit(km_rel *r, const km_rel_audit_q *q, json_t **out, km_rel_err *err);
/* Records a change made elsewhere (to users and roles: ns "") in the
 * trail, action and detail (stolen; may be NULL) as given. */
int km__rel_note(km_rel *r, const km_rel_who *who, const char *action, const char *ns,
                 json_t *detail, km_rel_err *err);

/* ---- names ---- */
/* Whether ns is "APP/NAME" with valid parts; *app_len gets APP's length. */
bool km__rel_ns_valid(const char *ns, size_t *app_len);

#endif
