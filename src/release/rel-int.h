/* SPDX-License-Identifier: MIT */
/* Internals of the release service: a namespace's keys, reading its state
 * at one revision, guarded write batches, item maps and audit records. */
#ifndef KUMO_RELEASE_REL_INT_H
#define KUMO_RELEASE_REL_INT_H

#include <stdarg.h>
#include "release/release.h"

struct km_rel {
    km_store             *store;
    const km__secret_key *key;      /* NULL: no secrets */
};

#define KM__REL_KEY_MAX 320         /* every key this service writes fits */

/* Fills err and returns code (negative). */
int km__rel_fail(km_rel_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A store error as a message. */
int km__rel_store_fail(km_rel_err *err, int rc);

/* ---- a namespace's state at one revision ---- */
enum { KM__REL_META = 1, KM__REL_DRAFT = 2, KM__REL_MAIN = 4 };
typedef struct {
    char    ns[140];
    size_t  app_len;
    char    meta_key[KM__REL_KEY_MAX], draft_key[KM__REL_KEY_MAX], main_key[KM__REL_KEY_MAX];
    json_t *meta, *draft, *main;    /* NULL when absent (not asked for, or no key) */
    int64_t meta_mod, draft_mod, main_mod;
    int64_t revision;
} km__rel_ns;

/* Checks ns, fills the keys and reads what `what` asks for. A missing
 * namespace (no meta) is -ENOENT when KM__REL_META is asked for. Free
 * with km__rel_ns_free, even on error. */
int  km__rel_load(km_rel *r, const char *ns, unsigned what, km__rel_ns *st, km_rel_err *err);
void km__rel_ns_free(km__rel_ns *st);
/* The key of release id, or of gray release g. */
void km__rel_release_key(const km__rel_ns *st, int64_t id, char *buf);
void km__rel_gray_key(const km__rel_ns *st, const char *g, char *buf);
/* Reads one JSON value at key: 0 and *out (NULL if absent) and *mod. */
int  km__rel_get(km_rel *r, const char *key, json_t **out, int64_t *mod, km_rel_err *err);

/* ---- one guarded change ---- */
#define KM__REL_OPS 8
typedef struct {
    km_cmp  cmp[4];
    size_t  ncmp;
    km_op   ops[KM__REL_OPS];
    size_t  nops;
    char   *owned[2 * KM__REL_OPS + 4];
    size_t  nowned;
    bool    nomem;
} km__rel_batch;

/* The key must still have mod revision mod (0: must not exist). */
void km__rel_expect(km__rel_batch *b, const char *key, int64_t mod);
void km__rel_put(km__rel_batch *b, const char *key, const json_t *v);
void km__rel_del_key(km__rel_batch *b, const char *key);
/* An audit record of action on ns by who (detail: extra fields, stolen). */
void km__rel_audit_put(km__rel_batch *b, const km_rel_who *who, const char *action,
                       const char *ns, json_t *detail);
/* Commits b: 0 and *revision; -EBUSY when a compare failed. Frees b. */
int  km__rel_commit(km_rel *r, km__rel_batch *b, int64_t *revision, km_rel_err *err);
void km__rel_batch_free(km__rel_batch *b);

/* ---- items ---- */
/* Whether key k is in the "secret" array s. */
bool km__rel_is_secret(const json_t *s, const char *k);
/* Whether doc's "items" is an object of strings and its "secret" (if
 * any) an array of strings: what a stored draft, release or published
 * view must hold (anyone with write access to the keys could break one). */
bool km__rel_doc_ok(const json_t *doc);
/* Seals secret value v of item k in ns: 0 and *out (km__free it);
 * -ENOKEY without a key file, -ENOMEM, -EIO. */
int  km__rel_seal(km_rel *r, const char *ns, const char *k, const uint8_t *v, size_t n,
                  char **out);
/* The plain value of item k of (items, secret) in ns: 0 and *out (a new
 * string, km__free it); -ENOKEY, -EBADMSG (cannot open). */
int  km__rel_plain(km_rel *r, const char *ns, const json_t *secret, const char *k,
                   const char *v, char **out);
/* The diff from (oi, os) to (ni, ns_) sorted by key: ops only, or with
 * values (secret ones masked). NULL without memory. */
/* The same between items of two namespaces (secrets opened in each). */
json_t *km__rel_diff_between(km_rel *r, const char *ons, const json_t *oi, const json_t *os,
                             const char *nns, const json_t *ni, const json_t *nsec, bool values);
json_t *km__rel_diff_items(km_rel *r, const char *ns, const json_t *oi, const json_t *os,
                           const json_t *ni, const json_t *nsec, bool values);
/* Checks every item of items against format fmt (KM_FMT_*): 0 or -EINVAL
 * (err says which item, line and column) or -ENOKEY. */
int  km__rel_validate(km_rel *r, const char *ns, int fmt, const json_t *items,
                      const json_t *secret, km_rel_err *err);
/* A copy of items with secret values masked ("******"), or decrypted when
 * clear. NULL without memory; *rc gets a decryption error. */
json_t *km__rel_items_view(km_rel *r, const char *ns, const json_t *items, const json_t *secret,
                           bool clear, int *rc);

/* ---- releases ---- */
/* A new release record of st's namespace (diff stolen); base is the
 * current main release. NULL without memory. */
json_t *km__rel_new_release(const km__rel_ns *st, const km_rel_who *who, int64_t id,
                            const char *kind, const char *name, const char *notes,
                            const json_t *items, const json_t *secret, json_t *diff);
/* The published view of release rel (what /kumo/pub/.../main holds). */
json_t *km__rel_view(const km__rel_ns *st, const json_t *rel);
/* rel without its items (what lists and answers show). */
json_t *km__rel_summary(const json_t *rel);
/* st's meta with last, and main too if main, moved on to id. */
json_t *km__rel_next_meta(const km__rel_ns *st, int64_t id, bool main);
int64_t km__rel_next_id(const km__rel_ns *st);
/* A release name given and st's draft valid for its format. */
int     km__rel_check_draft(km_rel *r, const km__rel_ns *st, const char *name, km_rel_err *err);

/* ---- gray rules ---- */
/* Parses labels ("k=v,..." or an object of strings) into a new object. */
int  km__rel_labels(const json_t *in, json_t **out, km_rel_err *err);
int  km__rel_labels_str(const char *s, json_t **out, km_rel_err *err);
/* Parses ips ("a,b/n" or an array of strings) into a new array of
 * normalized addresses and CIDRs. */
int  km__rel_ips(const json_t *in, json_t **out, km_rel_err *err);
/* Whether an instance (labels, ip: may be NULL) matches a gray release's rules. */
bool km__rel_gray_match(const json_t *gray, const json_t *labels, const char *ip);

/* Gray and namespace names: 1-64 of [A-Za-z0-9._-]. */
bool km__rel_name_valid(const char *s);
/* Wall-clock time in ns. */
int64_t km__rel_now(void);

#endif
