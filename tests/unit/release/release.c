/* SPDX-License-Identifier: MIT */
/* The release service at its API (km__rel_*) on an LMDB store: names,
 * drafts and their limits, diff and validation, publish and the stored
 * keys of docs/API.md, gray rules through the effective configuration,
 * promote, abandon, rollback, secrets, the audit trail and its paging,
 * hand-damaged documents, racing publishes and allocation failures. */
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <kumo/store.h>
#include "release/format.h"
#include "release/rel-int.h"
#include "release/release.h"
#include "release/secret.h"

typedef struct {
    char            dir[64];
    km_store       *s;
    km__secret_key *key;
    km_rel         *r;
} fx;

static const km_rel_who alice = { "alice", "192.0.2.1" };
static const km_rel_who bob = { "bob", "192.0.2.2" };

/* The error of the last call (each test is a process of its own). */
static km_rel_err e;

#define OK(x) do { e.msg[0] = 0; int rc_ = (x); \
    ck_assert_msg(rc_ == 0, "%s: %s: %s", #x, km_strerror(rc_), e.msg); } while (0)
/* The call fails with want and says why. */
#define FAILS(want, x) do { e.msg[0] = 0; int rc_ = (x); \
    ck_assert_msg(rc_ == (want), "%s: %s (want %s): %s", #x, km_strerror(rc_), \
                  km_strerror(want), e.msg); \
    ck_assert_msg(e.msg[0], "%s: %s without a message", #x, km_strerror(rc_)); } while (0)
#define HAS(s, sub) ck_assert_msg(strstr((s), (sub)), "\"%s\" lacks \"%s\"", (s), (sub))

/* ---- the fixture ---- */

static void write_key(const char *file, uint8_t salt)
{
    uint8_t k[32];
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)(i * 37 + salt);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0600), 0);
    ck_assert_int_eq(write(fd, k, sizeof k), (ssize_t)sizeof k);
    close(fd);
}

static km__secret_key *load_key(const char *dir, const char *name, uint8_t salt)
{
    char *file = t_path(dir, name), msg[256];
    write_key(file, salt);
    km__secret_key *k;
    int rc = km__secret_key_load(&k, file, msg, sizeof msg);
    ck_assert_msg(rc == 0, "key: %s", msg);
    return k;
}

static void up(fx *f, bool key)
{
    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/kumo-rel-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    km_store_config sc = { .dir = f->dir, .map_size = 64 << 20 };
    int rc = km_store_open(&f->s, &sc);
    ck_assert_msg(rc == 0, "store: %s", km_strerror(rc));
    if (key)
        f->key = load_key(f->dir, "secret.key", 1);
    ck_assert_int_eq(km__rel_new(&f->r, f->s, f->key), 0);
}

static void down(fx *f)
{
    km__rel_free(f->r);
    km_store_close(f->s);
    km__secret_key_free(f->key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- the store underneath ---- */

#define BS(s) ((km_bytes){ (const uint8_t *)(s), strlen(s) })

/* The raw value at key (a malloc'd string), NULL if absent. */
static char *sraw(fx *f, const char *key)
{
    km_op op = { .type = KM_OP_RANGE, .range = { .key = BS(key) } };
    km_store_res res = { 0 };
    REQUIRE_EQ(km_store_do(f->s, &op, &res), 0);
    char *v = NULL;
    if (res.txn.resp[0].range.nkvs) {
        km_bytes b = res.txn.resp[0].range.kvs[0].value;
        v = strndup((const char *)b.p, b.n);
    }
    km_store_res_free(&res);
    return v;
}

/* The JSON at key, NULL if absent. */
static json_t *sget(fx *f, const char *key)
{
    char *raw = sraw(f, key);
    if (!raw)
        return NULL;
    json_error_t je;
    json_t *v = json_loads(raw, 0, &je);
    ck_assert_msg(v, "%s: %s: %s", key, je.text, raw);
    free(raw);
    return v;
}

static void sput(fx *f, const char *key, const char *val)
{
    km_op op = { .type = KM_OP_PUT, .put = { .key = BS(key), .value = BS(val) } };
    km_store_res res = { 0 };
    REQUIRE_EQ(km_store_do(f->s, &op, &res), 0);
    km_store_res_free(&res);
}

static void sput_json(fx *f, const char *key, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    REQUIRE(s != NULL);
    sput(f, key, s);
    free(s);
    json_decref(v);
}

/* Every key in [lo, hi), each with its value, in key order. */
typedef void each_fn(void *ud, const char *key, size_t kn, const char *val, size_t vn);
static size_t sscan(fx *f, const char *lo, const char *hi, each_fn *fn, void *ud)
{
    km_op op = { .type = KM_OP_RANGE, .range = { .key = BS(lo), .range_end = BS(hi) } };
    km_store_res res = { 0 };
    REQUIRE_EQ(km_store_do(f->s, &op, &res), 0);
    const km_range_resp *rr = &res.txn.resp[0].range;
    for (size_t i = 0; fn && i < rr->nkvs; i++)
        fn(ud, (const char *)rr->kvs[i].key.p, rr->kvs[i].key.n,
           (const char *)rr->kvs[i].value.p, rr->kvs[i].value.n);
    size_t n = rr->nkvs;
    km_store_res_free(&res);
    return n;
}

static void find_text(void *ud, const char *key, size_t kn, const char *val, size_t vn)
{
    const char *needle = *(const char **)ud;
    ck_assert_msg(!memmem(val, vn, needle, strlen(needle)), "%.*s holds \"%s\": %.*s",
                  (int)kn, key, needle, (int)vn, val);
}

/* No value anywhere in the store holds text. */
static void nowhere(fx *f, const char *text)
{
    /* the whole store: key "\0" with range_end "\0" */
    km_op op = { .type = KM_OP_RANGE,
                 .range = { .key = { (const uint8_t *)"", 1 }, .range_end = { (const uint8_t *)"", 1 } } };
    km_store_res res = { 0 };
    REQUIRE_EQ(km_store_do(f->s, &op, &res), 0);
    const km_range_resp *rr = &res.txn.resp[0].range;
    ck_assert_uint_gt(rr->nkvs, 0);
    for (size_t i = 0; i < rr->nkvs; i++)
        find_text(&text, (const char *)rr->kvs[i].key.p, rr->kvs[i].key.n,
                  (const char *)rr->kvs[i].value.p, rr->kvs[i].value.n);
    km_store_res_free(&res);
}

/* got equals the JSON text want (fields of got named in drop removed first). */
static void same(json_t *got, const char *want, const char *const *drop)
{
    json_t *g = json_deep_copy(got);
    for (; drop && *drop; drop++)
        json_object_del(g, *drop);
    json_error_t je;
    json_t *w = json_loads(want, 0, &je);
    ck_assert_msg(w, "want: %s: %s", je.text, want);
    char *gs = json_dumps(g, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_msg(json_equal(g, w), "\ngot  %s\nwant %s", gs, want);
    free(gs);
    json_decref(g);
    json_decref(w);
}

static const char *const stamps[] = { "time", "created", NULL };

/* ---- calls ---- */

static void create(fx *f, const char *ns, const char *fmt)
{
    json_t *o = NULL;
    OK(km__rel_create(f->r, &alice, ns, fmt, &o, &e));
    json_decref(o);
}

static int set_as(fx *f, const km_rel_who *who, const char *ns, const char *k, const char *v,
                  bool secret)
{
    return km__rel_set(f->r, who, ns, (const uint8_t *)k, strlen(k), (const uint8_t *)v,
                       strlen(v), secret, NULL, &e);
}

static int set(fx *f, const char *ns, const char *k, const char *v)
{
    return set_as(f, &alice, ns, k, v, false);
}

static int del(fx *f, const char *ns, const char *k)
{
    return km__rel_del(f->r, &alice, ns, (const uint8_t *)k, strlen(k), NULL, &e);
}

/* Publishes ns: the release's id, or -errno. */
static int pub(fx *f, const char *ns, const char *name)
{
    json_t *o = NULL;
    int rc = km__rel_publish(f->r, &alice, ns, name, "why", &o, &e);
    if (rc < 0)
        return rc;
    ck_assert_ptr_null(json_object_get(o, "items"));
    rc = (int)json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return rc;
}

/* Starts gray release g of ns (labels and ips as strings, may be NULL):
 * its release id or -errno. */
static int gray(fx *f, const char *ns, const char *g, const char *labels, const char *ips)
{
    json_t *l = labels ? json_string(labels) : NULL, *i = ips ? json_string(ips) : NULL, *o = NULL;
    int rc = km__rel_gray(f->r, &alice, ns, g, l, i, "try", &o, &e);
    json_decref(l);
    json_decref(i);
    if (rc < 0)
        return rc;
    rc = (int)json_integer_value(json_object_get(o, "id"));
    json_decref(o);
    return rc;
}

static int abandon(fx *f, const char *ns, const char *g)
{
    return km__rel_abandon(f->r, &alice, ns, g, NULL, &e);
}

/* What an instance sees: "GRAY:ID" or "main:ID", or the error's name. */
static const char *seen(fx *f, const char *ns, const char *labels, const char *ip)
{
    static char buf[8][128];
    static int k;
    char *b = buf[k++ % 8];
    json_t *o = NULL;
    int rc = km__rel_config(f->r, ns, labels, ip, false, &o, &e);
    if (rc < 0) {
        snprintf(b, 128, "%s", km_strerror(rc));
        return b;
    }
    const char *g = json_string_value(json_object_get(o, "gray"));
    snprintf(b, 128, "%s:%lld", g ? g : "main",
             (long long)json_integer_value(json_object_get(o, "release")));
    json_decref(o);
    return b;
}

static char *key_of(const char *fmt, const char *ns)
{
    static char buf[8][KM__REL_KEY_MAX];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, KM__REL_KEY_MAX, fmt, ns);
    return b;
}

#define META(ns)  key_of("/kumo/meta/%s", ns)
#define DRAFT(ns) key_of("/kumo/ns/%s/draft", ns)
#define MAIN(ns)  key_of("/kumo/pub/%s/main", ns)

static char *rel_key(const char *ns, int64_t id)
{
    static char buf[4][KM__REL_KEY_MAX];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, KM__REL_KEY_MAX, "/kumo/ns/%s/rel/%010lld", ns, (long long)id);
    return b;
}

/* ---- consistency: what every committed change must leave ---- */

typedef struct {
    size_t n, publish, gray, promote, rollback;
    const char *ns;
} tally;

static void count_audit(void *ud, const char *key, size_t kn, const char *val, size_t vn)
{
    tally *t = ud;
    json_t *r = json_loadb(val, vn, 0, NULL);
    REQUIRE(r != NULL);
    const char *a = json_string_value(json_object_get(r, "action"));
    if (!strcmp(json_string_value(json_object_get(r, "ns")), t->ns)) {
        t->publish += !strcmp(a, "publish");
        t->gray += !strcmp(a, "gray");
        t->promote += !strcmp(a, "promote");
        t->rollback += !strcmp(a, "rollback");
    }
    json_decref(r);
}

static void count_kinds(void *ud, const char *key, size_t kn, const char *val, size_t vn)
{
    tally *t = ud;
    json_t *r = json_loadb(val, vn, 0, NULL);
    REQUIRE(r != NULL);
    const char *k = json_string_value(json_object_get(r, "kind"));
    t->n++;
    REQUIRE_EQ(json_integer_value(json_object_get(r, "id")), (long long)t->n);
    t->publish += !strcmp(k, "publish");
    t->gray += !strcmp(k, "gray");
    t->promote += !strcmp(k, "promote");
    t->rollback += !strcmp(k, "rollback");
    json_decref(r);
}

/* meta.last is the number of release keys (1..last, each its own id),
 * the main view is release meta.main's content, each gray in meta has its
 * key and no other gray key exists, and the audit holds one record per
 * release of each kind. */
static void consistent(fx *f, const char *ns)
{
    json_t *meta = sget(f, META(ns)), *mv = sget(f, MAIN(ns));
    ck_assert_ptr_nonnull(meta);
    int64_t last = json_integer_value(json_object_get(meta, "last"));
    int64_t main = json_integer_value(json_object_get(meta, "main"));
    char lo[KM__REL_KEY_MAX], hi[KM__REL_KEY_MAX];
    snprintf(lo, sizeof lo, "/kumo/ns/%s/rel/", ns);
    snprintf(hi, sizeof hi, "/kumo/ns/%s/rel0", ns);
    tally kinds = { 0 }, acts = { .ns = ns };
    ck_assert_uint_eq(sscan(f, lo, hi, count_kinds, &kinds), (size_t)last);
    sscan(f, "/kumo/audit/", "/kumo/audit0", count_audit, &acts);
    ck_assert_uint_eq(kinds.publish, acts.publish);
    ck_assert_uint_eq(kinds.gray, acts.gray);
    ck_assert_uint_eq(kinds.promote, acts.promote);
    ck_assert_uint_eq(kinds.rollback, acts.rollback);
    if (!main) {
        ck_assert_ptr_null(mv);
    } else {
        ck_assert_ptr_nonnull(mv);
        json_t *rel = sget(f, rel_key(ns, main));
        ck_assert_ptr_nonnull(rel);
        REQUIRE_EQ(json_integer_value(json_object_get(mv, "release")), main);
        REQUIRE(json_equal(json_object_get(mv, "items"), json_object_get(rel, "items")));
        REQUIRE(json_equal(json_object_get(mv, "secret"), json_object_get(rel, "secret")));
        REQUIRE(json_equal(json_object_get(mv, "name"), json_object_get(rel, "name")));
        REQUIRE(json_equal(json_object_get(mv, "format"), json_object_get(meta, "format")));
        json_decref(rel);
    }
    snprintf(lo, sizeof lo, "/kumo/pub/%s/gray/", ns);
    snprintf(hi, sizeof hi, "/kumo/pub/%s/gray0", ns);
    json_t *g = json_object_get(meta, "gray");
    ck_assert_uint_eq(sscan(f, lo, hi, NULL, NULL), json_array_size(g));
    size_t i;
    json_t *v;
    json_array_foreach(g, i, v) {
        char gk[KM__REL_KEY_MAX];
        snprintf(gk, sizeof gk, "%s%s", lo, json_string_value(v));
        json_t *doc = sget(f, gk);
        ck_assert_msg(doc, "%s missing", gk);
        json_decref(doc);
    }
    json_decref(meta);
    json_decref(mv);
}

/* ---- namespaces ---- */

static bool keep_not_b(void *ud, const char *ns)
{
    (void)ud;
    return strcmp(ns, "b/x") != 0;
}

static void create_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    json_t *o = NULL;
    OK(km__rel_create(f->r, &alice, "app/ns", "json", &o, &e));
    same(o, "{\"ns\":\"app/ns\",\"format\":\"json\"}", NULL);
    json_decref(o);

    static const char *const bad_ns[] = {
        "", "app", "app/", "/ns", "a/b/c", "app/.", "app/..", "./x", "../x", "app//ns",
        "app/ns x", "app/n\xc3\xa9", "app/ns/", "app\\ns",
        "a/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",   /* 65 */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/b",
    };
    for (size_t i = 0; i < sizeof bad_ns / sizeof bad_ns[0]; i++) {
        FAILS(-EINVAL, km__rel_create(f->r, &alice, bad_ns[i], "json", &o, &e));
        ck_assert(!km__rel_ns_valid(bad_ns[i], NULL));
    }
    const char *longest = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
                          "A.b_c-9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    size_t al = 0;
    ck_assert(km__rel_ns_valid(longest, &al));
    ck_assert_uint_eq(al, 64);
    create(f, longest, "text");
    create(f, "a.b/..x", "yaml");

    static const char *const bad_fmt[] = { "", "JSON", "xml", "json ", "propertie" };
    for (size_t i = 0; i < sizeof bad_fmt / sizeof bad_fmt[0]; i++)
        FAILS(-EINVAL, km__rel_create(f->r, &alice, "app/f", bad_fmt[i], &o, &e));
    FAILS(-EINVAL, km__rel_create(f->r, &alice, "app/f", NULL, &o, &e));
    create(f, "app/p", "properties");

    /* exists, whatever the format asked for now */
    FAILS(-EEXIST, km__rel_create(f->r, &bob, "app/ns", "yaml", &o, &e));
    HAS(e.msg, "app/ns");

    /* the stored meta and draft (docs/API.md) */
    json_t *meta = sget(f, "/kumo/meta/app/ns");
    ck_assert(json_integer_value(json_object_get(meta, "created")) > 1600000000000000000LL);
    same(meta, "{\"format\":\"json\",\"author\":\"alice\",\"last\":0,\"main\":0,\"gray\":[]}", stamps);
    json_decref(meta);
    json_t *draft = sget(f, "/kumo/ns/app/ns/draft");
    same(draft, "{\"items\":{},\"secret\":[]}", NULL);
    json_decref(draft);
    ck_assert_ptr_null(sraw(f, "/kumo/pub/app/ns/main"));

    OK(km__rel_show(f->r, "app/ns", &o, &e));
    ck_assert_int_gt(json_integer_value(json_object_get(o, "revision")), 0);
    same(o, "{\"ns\":\"app/ns\",\"format\":\"json\",\"author\":\"alice\",\"main\":0,\"last\":0,"
            "\"gray\":[],\"draft\":{\"items\":{},\"secret\":[]}}",
         (const char *const[]){ "created", "revision", NULL });
    json_decref(o);
    FAILS(-ENOENT, km__rel_show(f->r, "app/none", &o, &e));
    HAS(e.msg, "app/none");
    FAILS(-EINVAL, km__rel_show(f->r, "app", &o, &e));

    /* list: sorted, by app, through the caller's filter */
    create(f, "b/x", "text");
    create(f, "app0/z", "text");
    create(f, "ap/q", "text");
    OK(km__rel_list(f->r, NULL, NULL, NULL, &o, &e));
    json_t *nss = json_object_get(o, "namespaces");
    const char *want[] = { "a.b/..x", longest, "ap/q", "app/ns", "app/p", "app0/z", "b/x" };
    ck_assert_uint_eq(json_array_size(nss), 7);
    for (size_t i = 0; i < 7; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(nss, i), "ns")), want[i]);
    same(json_array_get(nss, 3), "{\"ns\":\"app/ns\",\"format\":\"json\",\"main\":0,\"last\":0,\"gray\":[]}",
         NULL);
    json_decref(o);
    OK(km__rel_list(f->r, "app", NULL, NULL, &o, &e));
    same(o, "{\"namespaces\":[{\"ns\":\"app/ns\",\"format\":\"json\",\"main\":0,\"last\":0,\"gray\":[]},"
            "{\"ns\":\"app/p\",\"format\":\"properties\",\"main\":0,\"last\":0,\"gray\":[]}]}", NULL);
    json_decref(o);
    OK(km__rel_list(f->r, "b", keep_not_b, NULL, &o, &e));
    same(o, "{\"namespaces\":[]}", NULL);
    json_decref(o);
    OK(km__rel_list(f->r, "none", NULL, NULL, &o, &e));
    same(o, "{\"namespaces\":[]}", NULL);
    json_decref(o);
    FAILS(-EINVAL, km__rel_list(f->r, "a/b", NULL, NULL, &o, &e));
    FAILS(-EINVAL, km__rel_list(f->r, "", NULL, NULL, &o, &e));
    down(f);
}

START_TEST(create_and_list) { t_run(create_body, NULL); }
END_TEST

/* ---- items ---- */

static json_t *draft_items(fx *f, const char *ns)
{
    json_t *d = sget(f, DRAFT(ns));
    json_t *items = json_incref(json_object_get(d, "items"));
    json_decref(d);
    return items;
}

static void items_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    create(f, "app/ns", "text");
    int64_t r1 = 0, r2 = 0;
    OK(km__rel_set(f->r, &alice, "app/ns", (const uint8_t *)"a", 1, (const uint8_t *)"1", 1,
                   false, &r1, &e));
    OK(km__rel_set(f->r, &alice, "app/ns", (const uint8_t *)"b", 1, (const uint8_t *)"", 0,
                   false, &r2, &e));
    ck_assert_int_gt(r1, 0);
    ck_assert_int_gt(r2, r1);
    /* a NULL value is the empty one */
    OK(km__rel_set(f->r, &alice, "app/ns", (const uint8_t *)"c", 1, NULL, 0, false, NULL, &e));
    OK(set(f, "app/ns", "a", "one"));
    OK(set(f, "app/ns", "k\xc3\xa9y with spaces", "v\ttab\nline"));
    json_t *it = draft_items(f, "app/ns");
    same(it, "{\"a\":\"one\",\"b\":\"\",\"c\":\"\",\"k\xc3\xa9y with spaces\":\"v\\ttab\\nline\"}", NULL);
    json_decref(it);

    /* the checks every format shares, before anything is read */
    FAILS(-EINVAL, set(f, "app/ns", "", "v"));
    FAILS(-EINVAL, set(f, "app/ns", "a\nb", "v"));
    FAILS(-EINVAL, set(f, "app/ns", "a\x7f", "v"));
    FAILS(-EINVAL, set(f, "app/ns", "\xff", "v"));
    FAILS(-EINVAL, set(f, "app/ns", "k", "\xc3"));
    FAILS(-EINVAL, km__rel_set(f->r, &alice, "app/ns", (const uint8_t *)"k", 1,
                               (const uint8_t *)"a\0b", 3, false, NULL, &e));
    FAILS(-EINVAL, km__rel_set(f->r, &alice, "app/ns", (const uint8_t *)"k\0", 2,
                               (const uint8_t *)"v", 1, false, NULL, &e));
    static char key[KM__FMT_KEY_MAX + 2], val[KM__FMT_VAL_MAX + 2];
    memset(key, 'k', KM__FMT_KEY_MAX + 1);
    memset(val, 'v', KM__FMT_VAL_MAX + 1);
    FAILS(-EMSGSIZE, set(f, "app/ns", key, "v"));
    key[KM__FMT_KEY_MAX] = 0;
    OK(set(f, "app/ns", key, "v"));
    FAILS(-EMSGSIZE, set(f, "app/ns", "big", val));
    val[KM__FMT_VAL_MAX] = 0;
    OK(set(f, "app/ns", "big", val));
    OK(del(f, "app/ns", "big"));
    OK(del(f, "app/ns", key));
    FAILS(-EINVAL, del(f, "app/ns", ""));
    key[KM__FMT_KEY_MAX] = 'k';
    FAILS(-EMSGSIZE, del(f, "app/ns", key));

    /* unknown namespaces and items */
    FAILS(-ENOENT, set(f, "app/none", "a", "1"));
    FAILS(-EINVAL, set(f, "app", "a", "1"));
    FAILS(-ENOENT, del(f, "app/none", "a"));
    FAILS(-ENOENT, del(f, "app/ns", "nope"));
    HAS(e.msg, "nope");
    int64_t r3 = 0;
    OK(km__rel_del(f->r, &alice, "app/ns", (const uint8_t *)"b", 1, &r3, &e));
    ck_assert_int_gt(r3, r2);
    FAILS(-ENOENT, del(f, "app/ns", "b"));
    it = draft_items(f, "app/ns");
    same(it, "{\"a\":\"one\",\"c\":\"\",\"k\xc3\xa9y with spaces\":\"v\\ttab\\nline\"}", NULL);
    json_decref(it);

    /* the items' bytes: keys and stored values, at most KM_REL_MAX_BYTES */
    create(f, "app/big", "text");
    memset(val, 'v', KM__FMT_VAL_MAX);
    val[KM__FMT_VAL_MAX] = 0;
    char k[2] = "a";
    for (int i = 0; i < 7; i++, k[0]++)
        OK(set(f, "app/big", k, val));                      /* 7 * 65537 */
    size_t used = 7 * (1 + KM__FMT_VAL_MAX), room = KM_REL_MAX_BYTES - used - 1;
    val[room + 1] = 0;
    FAILS(-EMSGSIZE, set(f, "app/big", "h", val));          /* one byte over */
    HAS(e.msg, "at most");
    val[room + 1] = 'v';
    val[room] = 0;
    OK(set(f, "app/big", "h", val));                        /* exactly the limit */
    FAILS(-EMSGSIZE, set(f, "app/big", "i", ""));           /* a key is bytes too */
    FAILS(-EMSGSIZE, set(f, "app/big", "hh", "v"));
    val[room] = 'v';
    val[room + 1] = 0;
    FAILS(-EMSGSIZE, set(f, "app/big", "h", val));
    val[1] = 0;
    OK(set(f, "app/big", "h", val));                        /* smaller is fine */
    OK(set(f, "app/big", "i", "v"));
    it = draft_items(f, "app/big");
    ck_assert_uint_eq(json_object_size(it), 9);
    json_decref(it);

    /* the items' count, at most KM_REL_MAX_ITEMS: a full draft written by hand */
    create(f, "app/many", "text");
    json_t *items = json_object();
    for (int i = 0; i < KM_REL_MAX_ITEMS; i++) {
        char kk[16];
        snprintf(kk, sizeof kk, "k%05d", i);
        json_object_set_new(items, kk, json_string("v"));
    }
    sput_json(f, DRAFT("app/many"), json_pack("{s:o,s:[]}", "items", items, "secret"));
    FAILS(-EMSGSIZE, set(f, "app/many", "one-more", "v"));
    HAS(e.msg, "10000 items");
    OK(set(f, "app/many", "k00042", "changed"));            /* replacing is no more */
    OK(del(f, "app/many", "k00000"));
    OK(set(f, "app/many", "one-more", "v"));
    FAILS(-EMSGSIZE, set(f, "app/many", "two-more", "v"));
    it = draft_items(f, "app/many");
    ck_assert_uint_eq(json_object_size(it), KM_REL_MAX_ITEMS);
    ck_assert_str_eq(json_string_value(json_object_get(it, "k00042")), "changed");
    json_decref(it);
    ck_assert_int_eq(pub(f, "app/many", "all of them"), 1);
    down(f);
}

START_TEST(items) { t_run(items_body, NULL); }
END_TEST

/* ---- diff and validation ---- */

static void diff_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    json_t *o = NULL;
    create(f, "app/j", "json");
    OK(km__rel_diff(f->r, "app/j", &o, &e));
    same(o, "{\"base\":0,\"diff\":[],\"valid\":true}", NULL);
    json_decref(o);
    OK(set(f, "app/j", "good", "{\"x\": [1, 2]}"));
    OK(set(f, "app/j", "bad", "{\"x\": 1,\n \"y\" 2}"));
    OK(km__rel_diff(f->r, "app/j", &o, &e));
    ck_assert(json_is_false(json_object_get(o, "valid")));
    const char *msg = json_string_value(json_object_get(o, "error"));
    ck_assert_ptr_nonnull(msg);
    HAS(msg, "item \"bad\"");
    HAS(msg, "line 2");
    same(o, "{\"base\":0,\"valid\":false,\"diff\":[{\"key\":\"bad\",\"op\":\"add\",\"new\":\"{\\\"x\\\": 1,\\n \\\"y\\\" 2}\"},"
            "{\"key\":\"good\",\"op\":\"add\",\"new\":\"{\\\"x\\\": [1, 2]}\"}]}",
         (const char *const[]){ "error", NULL });
    json_decref(o);
    FAILS(-EINVAL, pub(f, "app/j", "r1"));
    HAS(e.msg, "item \"bad\"");
    HAS(e.msg, "line 2");
    OK(set(f, "app/j", "bad", "null"));
    OK(set(f, "app/j", "gone", "\"soon\""));
    ck_assert_int_eq(pub(f, "app/j", "r1"), 1);

    /* against the main release: sorted, with old and new values */
    OK(set(f, "app/j", "good", "3"));
    OK(del(f, "app/j", "gone"));
    OK(set(f, "app/j", "added", "true"));
    OK(km__rel_diff(f->r, "app/j", &o, &e));
    same(o, "{\"base\":1,\"valid\":true,\"diff\":["
            "{\"key\":\"added\",\"op\":\"add\",\"new\":\"true\"},"
            "{\"key\":\"gone\",\"op\":\"delete\",\"old\":\"\\\"soon\\\"\"},"
            "{\"key\":\"good\",\"op\":\"change\",\"old\":\"{\\\"x\\\": [1, 2]}\",\"new\":\"3\"}]}", NULL);
    json_decref(o);
    FAILS(-ENOENT, km__rel_diff(f->r, "app/none", &o, &e));
    FAILS(-EINVAL, km__rel_diff(f->r, "bad name/x", &o, &e));

    /* each format's own rule, named by item at publish */
    static const struct { const char *fmt, *k, *v, *bad_k, *bad_v, *says; } fmts[] = {
        { "json", "k", "[1, {\"a\": null}]", "k2", "[1,", "item \"k2\"" },
        { "json", "k", "1", "dup", "{\"a\":1,\"a\":2}", "item \"dup\"" },
        { "yaml", "k", "a: [1, 2]\nb: c\n", "y", "a: [1, 2\n", "item \"y\"" },
        { "yaml", "k", "", "alias", "a: *nope\n", "item \"alias\"" },
        { "properties", "k.x", "v w", "a b", "v", "\"a b\"" },
        { "properties", "k.x", "v w", "k:y", "v", "\"k:y\"" },
        { "properties", "k.x", "v w", "#k", "v", "\"#k\"" },
        { "properties", "k.x", "v w", "nl", "a\nb", "item \"nl\"" },
    };
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        char ns[32];
        snprintf(ns, sizeof ns, "fmt/n%zu", i);
        create(f, ns, fmts[i].fmt);
        OK(set(f, ns, fmts[i].k, fmts[i].v));
        OK(set(f, ns, fmts[i].bad_k, fmts[i].bad_v));
        FAILS(-EINVAL, pub(f, ns, "r"));
        HAS(e.msg, fmts[i].says);
        OK(km__rel_diff(f->r, ns, &o, &e));
        ck_assert(json_is_false(json_object_get(o, "valid")));
        HAS(json_string_value(json_object_get(o, "error")), fmts[i].says);
        json_decref(o);
        OK(del(f, ns, fmts[i].bad_k));
        ck_assert_int_eq(pub(f, ns, "r"), 1);
    }
    /* text takes anything but NUL */
    create(f, "fmt/t", "text");
    OK(set(f, "fmt/t", "a b:c=#", "{[\n\x01"));
    ck_assert_int_eq(pub(f, "fmt/t", "r"), 1);
    down(f);
}

START_TEST(diff_and_validate) { t_run(diff_body, NULL); }
END_TEST

/* ---- publish ---- */

static void publish_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    json_t *o = NULL;
    create(f, "app/ns", "json");
    FAILS(-ENOENT, pub(f, "app/none", "r"));
    FAILS(-EINVAL, pub(f, "app", "r"));
    FAILS(-EINVAL, pub(f, "app/ns", NULL));
    FAILS(-EINVAL, pub(f, "app/ns", ""));
    static char name[202];
    memset(name, 'n', 201);
    FAILS(-EINVAL, pub(f, "app/ns", name));
    name[200] = 0;

    OK(set(f, "app/ns", "a", "1"));
    OK(set(f, "app/ns", "b", "2"));
    OK(km__rel_publish(f->r, &alice, "app/ns", "first", "notes 1", &o, &e));
    ck_assert(json_integer_value(json_object_get(o, "time")) > 1600000000000000000LL);
    same(o, "{\"id\":1,\"name\":\"first\",\"notes\":\"notes 1\",\"author\":\"alice\",\"addr\":\"192.0.2.1\","
            "\"kind\":\"publish\",\"secret\":[],\"base\":0,"
            "\"diff\":[{\"key\":\"a\",\"op\":\"add\"},{\"key\":\"b\",\"op\":\"add\"}]}", stamps);
    json_decref(o);
    FAILS(-EALREADY, pub(f, "app/ns", "again"));
    HAS(e.msg, "release 1");
    OK(set(f, "app/ns", "a", "1"));                     /* the same value: still nothing */
    FAILS(-EALREADY, pub(f, "app/ns", "again"));

    OK(set(f, "app/ns", "a", "10"));
    OK(del(f, "app/ns", "b"));
    OK(km__rel_publish(f->r, NULL, "app/ns", name, NULL, &o, &e));
    same(o, "{\"id\":2,\"notes\":\"\",\"author\":\"\",\"addr\":\"\",\"kind\":\"publish\",\"secret\":[],"
            "\"base\":1,\"diff\":[{\"key\":\"a\",\"op\":\"change\"},{\"key\":\"b\",\"op\":\"delete\"}]}",
         (const char *const[]){ "time", "name", NULL });
    ck_assert_str_eq(json_string_value(json_object_get(o, "name")), name);
    json_decref(o);
    OK(set(f, "app/ns", "c", "{}"));
    ck_assert_int_eq(pub(f, "app/ns", "third"), 3);

    /* what the store holds (docs/API.md, "Where it lives in the store") */
    json_t *meta = sget(f, "/kumo/meta/app/ns");
    same(meta, "{\"format\":\"json\",\"author\":\"alice\",\"last\":3,\"main\":3,\"gray\":[]}", stamps);
    json_decref(meta);
    json_t *rel = sget(f, "/kumo/ns/app/ns/rel/0000000003");
    same(rel, "{\"id\":3,\"name\":\"third\",\"notes\":\"why\",\"author\":\"alice\",\"addr\":\"192.0.2.1\","
              "\"kind\":\"publish\",\"items\":{\"a\":\"10\",\"c\":\"{}\"},\"secret\":[],"
              "\"diff\":[{\"key\":\"c\",\"op\":\"add\"}],\"base\":2}", stamps);
    json_decref(rel);
    rel = sget(f, "/kumo/ns/app/ns/rel/0000000001");
    same(rel, "{\"id\":1,\"name\":\"first\",\"notes\":\"notes 1\",\"author\":\"alice\",\"addr\":\"192.0.2.1\","
              "\"kind\":\"publish\",\"items\":{\"a\":\"1\",\"b\":\"2\"},\"secret\":[],"
              "\"diff\":[{\"key\":\"a\",\"op\":\"add\"},{\"key\":\"b\",\"op\":\"add\"}],\"base\":0}", stamps);
    json_decref(rel);
    json_t *view = sget(f, "/kumo/pub/app/ns/main");
    same(view, "{\"release\":3,\"name\":\"third\",\"format\":\"json\",\"items\":{\"a\":\"10\",\"c\":\"{}\"},"
               "\"secret\":[]}", NULL);
    json_decref(view);
    ck_assert_uint_eq(sscan(f, "/kumo/ns/app/ns/rel/", "/kumo/ns/app/ns/rel0", NULL, NULL), 3);
    consistent(f, "app/ns");

    /* the history, newest first, without items */
    OK(km__rel_releases(f->r, "app/ns", 0, &o, &e));
    json_t *rs = json_object_get(o, "releases");
    ck_assert_uint_eq(json_array_size(rs), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rs, i), "id")), 3 - (int)i);
        ck_assert_ptr_null(json_object_get(json_array_get(rs, i), "items"));
    }
    json_decref(o);
    OK(km__rel_releases(f->r, "app/ns", 2, &o, &e));
    ck_assert_uint_eq(json_array_size(json_object_get(o, "releases")), 2);
    json_decref(o);
    FAILS(-ENOENT, km__rel_releases(f->r, "app/none", 0, &o, &e));

    /* one release, items included, its diff with values against its base */
    OK(km__rel_release(f->r, "app/ns", 2, &o, &e));
    same(o, "{\"id\":2,\"notes\":\"\",\"author\":\"\",\"addr\":\"\",\"kind\":\"publish\",\"secret\":[],"
            "\"base\":1,\"items\":{\"a\":\"10\"},\"diff\":[{\"key\":\"a\",\"op\":\"change\",\"old\":\"1\","
            "\"new\":\"10\"},{\"key\":\"b\",\"op\":\"delete\",\"old\":\"2\"}]}",
         (const char *const[]){ "time", "name", NULL });
    json_decref(o);
    OK(km__rel_release(f->r, "app/ns", 1, &o, &e));
    same(json_object_get(o, "diff"), "[{\"key\":\"a\",\"op\":\"add\",\"new\":\"1\"},"
                                     "{\"key\":\"b\",\"op\":\"add\",\"new\":\"2\"}]", NULL);
    json_decref(o);
    FAILS(-ENOENT, km__rel_release(f->r, "app/ns", 4, &o, &e));
    FAILS(-ENOENT, km__rel_release(f->r, "app/ns", 0, &o, &e));
    FAILS(-ENOENT, km__rel_release(f->r, "app/ns", -1, &o, &e));
    FAILS(-ENOENT, km__rel_release(f->r, "app/none", 1, &o, &e));

    /* the first publish may be of an empty draft; then there is nothing */
    create(f, "app/empty", "yaml");
    ck_assert_int_eq(pub(f, "app/empty", "nothing yet"), 1);
    FAILS(-EALREADY, pub(f, "app/empty", "still nothing"));
    view = sget(f, MAIN("app/empty"));
    same(view, "{\"release\":1,\"name\":\"nothing yet\",\"format\":\"yaml\",\"items\":{},\"secret\":[]}", NULL);
    json_decref(view);
    consistent(f, "app/empty");
    down(f);
}

START_TEST(publish) { t_run(publish_body, NULL); }
END_TEST

/* ---- gray releases ---- */

static void gray_parse_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    json_t *o = NULL, *v;
    create(f, "app/ns", "json");
    OK(set(f, "app/ns", "a", "1"));
    ck_assert_int_eq(pub(f, "app/ns", "r1"), 1);
    OK(set(f, "app/ns", "a", "2"));

    /* labels and ips as strings */
    ck_assert_int_eq(gray(f, "app/ns", "g1", " zone = east ,canary=true", "10.0.0.0/8, ::1 ,"), 2);
    json_t *meta = sget(f, META("app/ns"));
    same(meta, "{\"format\":\"json\",\"author\":\"alice\",\"last\":2,\"main\":1,\"gray\":[\"g1\"]}", stamps);
    json_decref(meta);
    json_t *doc = sget(f, "/kumo/pub/app/ns/gray/g1");
    same(doc, "{\"release\":2,\"name\":\"g1\",\"format\":\"json\",\"items\":{\"a\":\"2\"},\"secret\":[],"
              "\"gray\":\"g1\",\"labels\":{\"zone\":\"east\",\"canary\":\"true\"},"
              "\"ips\":[\"10.0.0.0/8\",\"::1\"]}", NULL);
    json_decref(doc);
    json_t *rel = sget(f, rel_key("app/ns", 2));
    same(rel, "{\"id\":2,\"name\":\"g1\",\"notes\":\"try\",\"author\":\"alice\",\"addr\":\"192.0.2.1\","
              "\"kind\":\"gray\",\"items\":{\"a\":\"2\"},\"secret\":[],\"diff\":[{\"key\":\"a\",\"op\":\"change\"}],"
              "\"base\":1,\"gray\":\"g1\",\"labels\":{\"zone\":\"east\",\"canary\":\"true\"},"
              "\"ips\":[\"10.0.0.0/8\",\"::1\"]}", stamps);
    json_decref(rel);
    /* main is untouched */
    json_t *mv = sget(f, MAIN("app/ns"));
    ck_assert_int_eq(json_integer_value(json_object_get(mv, "release")), 1);
    json_decref(mv);
    consistent(f, "app/ns");

    /* labels as an object, ips as an array */
    json_t *l = json_pack("{s:s}", "tier", "web"), *i = json_pack("[s,s]", "2001:DB8::/32", "::FFFF:10.1.2.3");
    OK(km__rel_gray(f->r, &alice, "app/ns", "g2", l, i, NULL, &o, &e));
    same(o, "{\"id\":3,\"name\":\"g2\",\"notes\":\"\",\"author\":\"alice\",\"addr\":\"192.0.2.1\",\"kind\":\"gray\","
            "\"secret\":[],\"diff\":[{\"key\":\"a\",\"op\":\"change\"}],\"base\":1,\"gray\":\"g2\","
            "\"labels\":{\"tier\":\"web\"},\"ips\":[\"2001:db8::/32\",\"10.1.2.3\"]}", stamps);
    json_decref(o);
    json_decref(l);
    json_decref(i);
    OK(km__rel_gray_list(f->r, "app/ns", &o, &e));
    same(o, "{\"gray\":[{\"gray\":\"g1\",\"release\":2,\"name\":\"g1\",\"labels\":{\"zone\":\"east\","
            "\"canary\":\"true\"},\"ips\":[\"10.0.0.0/8\",\"::1\"]},{\"gray\":\"g2\",\"release\":3,"
            "\"name\":\"g2\",\"labels\":{\"tier\":\"web\"},\"ips\":[\"2001:db8::/32\",\"10.1.2.3\"]}]}", NULL);
    json_decref(o);
    FAILS(-ENOENT, km__rel_gray_list(f->r, "app/none", &o, &e));

    /* refused */
    FAILS(-EEXIST, gray(f, "app/ns", "g1", "a=b", NULL));
    FAILS(-EINVAL, gray(f, "app/ns", "g3", NULL, NULL));
    FAILS(-EINVAL, gray(f, "app/ns", "g3", "", ""));
    static const char *const bad_names[] = {
        "", ".", "..", "a b", "a/b", "g\xc3\xa9",
        "ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg" };
    for (size_t k = 0; k < sizeof bad_names / sizeof bad_names[0]; k++)
        FAILS(-EINVAL, gray(f, "app/ns", bad_names[k], "a=b", NULL));
    FAILS(-EINVAL, km__rel_gray(f->r, &alice, "app/ns", NULL, NULL, NULL, NULL, &o, &e));
    static const char *const bad_labels[] = {
        "zone", "=east", "zone=east,", "zone=east,,a=b", ",a=b", "a=b,a=c", "a b=c", "a=b c",
        "a=\xc3\xa9", "a=b=c", "a=b;c=d",
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
        "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=v" };
    for (size_t k = 0; k < sizeof bad_labels / sizeof bad_labels[0]; k++) {
        if (!strcmp(bad_labels[k], "zone=east,"))
            continue;       /* a trailing comma is allowed, see below */
        FAILS(-EINVAL, gray(f, "app/ns", "g3", bad_labels[k], NULL));
    }
    static const char *const bad_ips[] = {
        "10.0.0.300", "10.0.0.0/33", "::1/129", "10.0.0.0/08", "10.0.0.0/", "10.0.0.0/-1",
        "10.0.0", "1.2.3.4,,5.6.7.8", "fe80::1%eth0", "host.example", "10.0.0.0/8/8",
        "010.0.0.1", "::1/", "1.2.3.4/ 8", "1.2.3.4/+8", "1.2.3.4/-0" };
    for (size_t k = 0; k < sizeof bad_ips / sizeof bad_ips[0]; k++) {
        FAILS(-EINVAL, gray(f, "app/ns", "g3", NULL, bad_ips[k]));
        ck_assert_msg(strstr(e.msg, "is not an IP address or CIDR"), "%s: %s", bad_ips[k], e.msg);
    }
    json_t *bad_json[] = { json_integer(1), json_pack("[i]", 1), json_pack("{s:i}", "a", 1),
                           json_true(), json_pack("[s,n]", "10.0.0.1") };
    OK(km__rel_labels(NULL, &v, &e));
    json_decref(v);
    for (size_t k = 0; k < sizeof bad_json / sizeof bad_json[0]; k++) {
        FAILS(-EINVAL, km__rel_gray(f->r, &alice, "app/ns", "g3", bad_json[k], NULL, NULL, &o, &e));
        FAILS(-EINVAL, km__rel_gray(f->r, &alice, "app/ns", "g3", NULL, bad_json[k], NULL, &o, &e));
        json_decref(bad_json[k]);
    }
    FAILS(-ENOENT, gray(f, "app/none", "g3", "a=b", NULL));
    OK(set(f, "app/ns", "bad", "{"));
    FAILS(-EINVAL, gray(f, "app/ns", "g3", "a=b", NULL));
    HAS(e.msg, "item \"bad\"");
    OK(del(f, "app/ns", "bad"));
    meta = sget(f, META("app/ns"));
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "last")), 3);
    json_decref(meta);

    /* the rules' parsers: normalized, strict */
    static const struct { const char *in, *out; } ips[] = {
        { " 10.0.0.1 , 10.0.0.0/8", "[\"10.0.0.1\",\"10.0.0.0/8\"]" },
        { "10.0.0.0/32", "[\"10.0.0.0\"]" },
        { "10.1.2.3/8", "[\"10.1.2.3/8\"]" },
        { "0.0.0.0/0", "[\"0.0.0.0/0\"]" },
        { "::/0", "[\"::/0\"]" },
        { "::1/128", "[\"::1\"]" },
        { "2001:DB8:0:0::/32", "[\"2001:db8::/32\"]" },
        { "::FFFF:10.1.2.3", "[\"10.1.2.3\"]" },
        { "::ffff:10.0.0.0/104", "[\"10.0.0.0/8\"]" },
        { "::ffff:0:0/96", "[\"0.0.0.0/0\"]" },
        { "::ffff:0:0/95", "[\"::ffff:0.0.0.0/95\"]" },
        { "::ffff:1.2.3.4/128", "[\"1.2.3.4\"]" },
        { "10.0.0.1,", "[\"10.0.0.1\"]" },
        { "", "[]" },
    };
    for (size_t k = 0; k < sizeof ips / sizeof ips[0]; k++) {
        json_t *in = json_string(ips[k].in);
        OK(km__rel_ips(in, &v, &e));
        same(v, ips[k].out, NULL);
        /* and again from what was stored */
        json_t *again;
        OK(km__rel_ips(v, &again, &e));
        ck_assert(json_equal(again, v));
        json_decref(again);
        json_decref(v);
        json_decref(in);
    }
    OK(km__rel_labels_str("a=, b = c ,d/e=f.g_h-i,", &v, &e));
    same(v, "{\"a\":\"\",\"b\":\"c\",\"d/e\":\"f.g_h-i\"}", NULL);
    json_decref(v);
    OK(km__rel_labels_str(NULL, &v, &e));
    same(v, "{}", NULL);
    json_decref(v);
    /* what they echo is UTF-8 without control characters, for JSON */
    FAILS(-EINVAL, km__rel_labels_str("\xff\x01=x", &v, &e));
    HAS(e.msg, "label \"\\xff\\x01=x\"");
    FAILS(-EINVAL, km__rel_labels_str("k\xc3\xa9\xc2\x85", &v, &e));
    HAS(e.msg, "label \"k\xc3\xa9\\xc2\\x85\" is not");
    json_t *bad = json_pack("[s]", "\xc3\xa9\t");
    FAILS(-EINVAL, km__rel_ips(bad, &v, &e));
    HAS(e.msg, "\"\xc3\xa9\\x09\" is not an IP");
    json_decref(bad);
    /* a JSON string may hold NUL: not cut there, refused */
    json_t *nul[] = { json_stringn("10.0.0.1\0/8", 11), json_pack("[o]", json_stringn("10.0.0.1\0", 9)),
                      json_stringn("a=b\0c", 5) };
    FAILS(-EINVAL, km__rel_ips(nul[0], &v, &e));
    FAILS(-EINVAL, km__rel_ips(nul[1], &v, &e));
    HAS(e.msg, "\"10.0.0.1\\x00\" is not");
    FAILS(-EINVAL, km__rel_labels(nul[2], &v, &e));
    for (size_t k = 0; k < 3; k++)
        json_decref(nul[k]);
    down(f);
}

START_TEST(gray_parse) { t_run(gray_parse_body, NULL); }
END_TEST

/* One rule at a time: an instance sees the gray release exactly when the
 * rule says so, else main. */
static const struct {
    const char *labels, *ips, *inst, *ip;
    bool match;
} rules[] = {
    /* every label must be equal; more on the instance do not matter */
    { "zone=east,canary=true", NULL, "canary=true, zone=east", NULL, true },
    { "zone=east,canary=true", NULL, "zone=east,canary=true,rack=7", "10.0.0.1", true },
    { "zone=east,canary=true", NULL, "zone=east", NULL, false },
    { "zone=east,canary=true", NULL, "zone=west,canary=true", NULL, false },
    { "zone=east", NULL, NULL, NULL, false },
    { "zone=east", NULL, "", "10.0.0.1", false },
    { "zone=east", NULL, "zone=East", NULL, false },
    { "zone=east", NULL, "Zone=east", NULL, false },
    { "zone=", NULL, "zone=", NULL, true },
    { "zone=", NULL, "zone=x", NULL, false },
    /* with labels and ips both must hold */
    { "zone=east", "10.1.0.0/16", "zone=east", "10.1.2.3", true },
    { "zone=east", "10.1.0.0/16", NULL, "10.1.2.3", false },
    { "zone=east", "10.1.0.0/16", "zone=east", "10.2.0.1", false },
    { "zone=east", "10.1.0.0/16", "zone=east", NULL, false },
    /* any of the ips */
    { NULL, "10.0.0.1, 192.168.0.0/24", NULL, "192.168.0.77", true },
    { NULL, "10.0.0.1, 192.168.0.0/24", "zone=east", "10.0.0.1", true },
    { NULL, "10.0.0.1, 192.168.0.0/24", NULL, "10.0.0.2", false },
    { NULL, "10.0.0.1, 192.168.0.0/24", NULL, "192.168.1.0", false },
    /* IPv6 */
    { NULL, "2001:db8::/32", NULL, "2001:db8:ffff::1", true },
    { NULL, "2001:db8::/32", NULL, "2001:DB8::", true },
    { NULL, "2001:db8::/32", NULL, "2001:db9::1", false },
    { NULL, "2001:db8::/32", NULL, "10.0.0.1", false },
    { NULL, "2001:DB8:0::1", NULL, "2001:db8::1", true },
    { NULL, "fe80::/10", NULL, "febf::1", true },
    { NULL, "fe80::/10", NULL, "fec0::1", false },
    /* IPv4-mapped addresses are IPv4, on either side */
    { NULL, "192.168.1.0/24", NULL, "::ffff:192.168.1.7", true },
    { NULL, "192.168.1.0/24", NULL, "::FFFF:c0a8:0107", true },
    { NULL, "192.168.1.0/24", NULL, "::ffff:192.168.2.7", false },
    { NULL, "::ffff:192.168.1.0/120", NULL, "192.168.1.200", true },
    { NULL, "::ffff:172.16.0.1", NULL, "172.16.0.1", true },
    { NULL, "::ffff:172.16.0.1", NULL, "172.16.0.2", false },
    { NULL, "::ffff:0:0/96", NULL, "203.0.113.9", true },
    { NULL, "::ffff:0:0/96", NULL, "2001:db8::1", false },
    /* boundaries: /0, /32, /128 and a prefix inside a byte */
    { NULL, "0.0.0.0/0", NULL, "255.255.255.255", true },
    { NULL, "0.0.0.0/0", NULL, "0.0.0.0", true },
    { NULL, "0.0.0.0/0", NULL, "::1", false },
    { NULL, "::/0", NULL, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true },
    { NULL, "::/0", NULL, "::", true },
    { NULL, "::/0", NULL, "10.0.0.1", false },
    { NULL, "10.9.9.9/32", NULL, "10.9.9.9", true },
    { NULL, "10.9.9.9/32", NULL, "10.9.9.8", false },
    { NULL, "10.9.9.9/32", NULL, "10.9.9.10", false },
    { NULL, "10.9.9.9/31", NULL, "10.9.9.8", true },
    { NULL, "10.9.9.9/31", NULL, "10.9.9.10", false },
    { NULL, "2001:db8::5/128", NULL, "2001:db8::5", true },
    { NULL, "2001:db8::5/128", NULL, "2001:db8::4", false },
    { NULL, "2001:db8::5/128", NULL, "2001:db8::5:0", false },
    { NULL, "2001:db8::4/127", NULL, "2001:db8::5", true },
    { NULL, "2001:db8::4/127", NULL, "2001:db8::6", false },
    { NULL, "10.0.0.0/9", NULL, "10.127.255.255", true },
    { NULL, "10.0.0.0/9", NULL, "10.128.0.0", false },
    { NULL, "10.0.0.0/8", NULL, "9.255.255.255", false },
    { NULL, "10.0.0.0/8", NULL, "11.0.0.0", false },
    /* an instance address that is none matches no IP rule */
    { NULL, "0.0.0.0/0", NULL, "not-an-ip", false },
    { NULL, "0.0.0.0/0", NULL, "", false },
    { NULL, "0.0.0.0/0", NULL, "10.0.0.1 ", false },
    { NULL, "::/0", NULL, "fe80::1%eth0", false },
};

static void gray_match_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    create(f, "app/ns", "text");
    json_t *o = NULL;
    FAILS(-ENOENT, km__rel_config(f->r, "app/ns", NULL, NULL, false, &o, &e));
    HAS(e.msg, "no published release");
    OK(set(f, "app/ns", "v", "main"));
    ck_assert_int_eq(pub(f, "app/ns", "r1"), 1);
    OK(set(f, "app/ns", "v", "gray"));
    int id = 1;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        ck_assert_int_eq(gray(f, "app/ns", "t", rules[i].labels, rules[i].ips), ++id);
        char want[32];
        snprintf(want, sizeof want, rules[i].match ? "t:%d" : "main:1", id);
        const char *got = seen(f, "app/ns", rules[i].inst, rules[i].ip);
        ck_assert_msg(!strcmp(got, want), "rule labels %s ips %s, instance labels %s ip %s: %s (want %s)",
                      rules[i].labels, rules[i].ips, rules[i].inst, rules[i].ip, got, want);
        OK(abandon(f, "app/ns", "t"));
    }

    /* the newest matching gray release wins; none matching: main */
    OK(set(f, "app/ns", "v", "old"));
    int old = gray(f, "app/ns", "old", NULL, "10.0.0.0/8");
    OK(set(f, "app/ns", "v", "new"));
    int new = gray(f, "app/ns", "new", NULL, "10.1.0.0/16");
    int lab = gray(f, "app/ns", "lab", "zone=east", NULL);
    ck_assert_int_eq(new, old + 1);
    ck_assert_int_eq(lab, new + 1);
    char w[32];
    snprintf(w, sizeof w, "new:%d", new);
    ck_assert_str_eq(seen(f, "app/ns", NULL, "10.1.1.1"), w);
    ck_assert_str_eq(seen(f, "app/ns", "zone=west", "10.1.1.1"), w);
    snprintf(w, sizeof w, "lab:%d", lab);
    ck_assert_str_eq(seen(f, "app/ns", "zone=east", "10.1.1.1"), w);
    ck_assert_str_eq(seen(f, "app/ns", "zone=east", NULL), w);
    snprintf(w, sizeof w, "old:%d", old);
    ck_assert_str_eq(seen(f, "app/ns", NULL, "10.2.0.1"), w);
    ck_assert_str_eq(seen(f, "app/ns", NULL, "11.0.0.1"), "main:1");
    ck_assert_str_eq(seen(f, "app/ns", "zone=west", NULL), "main:1");

    /* what the instance gets */
    OK(km__rel_config(f->r, "app/ns", NULL, "10.2.3.4", false, &o, &e));
    ck_assert_int_gt(json_integer_value(json_object_get(o, "revision")), 0);
    ck_assert_int_gt(json_integer_value(json_object_get(o, "mod_revision")), 0);
    ck_assert_int_le(json_integer_value(json_object_get(o, "mod_revision")),
                     json_integer_value(json_object_get(o, "revision")));
    char want[512];
    snprintf(want, sizeof want, "{\"ns\":\"app/ns\",\"format\":\"text\",\"release\":%d,\"name\":\"old\","
                                "\"gray\":\"old\",\"items\":{\"v\":\"old\"}}", old);
    same(o, want, (const char *const[]){ "revision", "mod_revision", NULL });
    json_decref(o);
    OK(km__rel_config(f->r, "app/ns", NULL, NULL, false, &o, &e));
    same(o, "{\"ns\":\"app/ns\",\"format\":\"text\",\"release\":1,\"name\":\"r1\",\"gray\":null,"
            "\"items\":{\"v\":\"main\"}}", (const char *const[]){ "revision", "mod_revision", NULL });
    json_decref(o);
    FAILS(-EINVAL, km__rel_config(f->r, "app/ns", "zone", NULL, false, &o, &e));
    FAILS(-EINVAL, km__rel_config(f->r, "app", NULL, NULL, false, &o, &e));
    FAILS(-ENOENT, km__rel_config(f->r, "app/none", NULL, NULL, false, &o, &e));

    /* abandon the newest: the older one again */
    FAILS(-ENOENT, abandon(f, "app/ns", "nope"));
    HAS(e.msg, "nope");
    FAILS(-EINVAL, abandon(f, "app/ns", "a b"));
    FAILS(-ENOENT, abandon(f, "app/none", "new"));
    int64_t rev = 0;
    OK(km__rel_abandon(f->r, &bob, "app/ns", "new", &rev, &e));
    ck_assert_int_gt(rev, 0);
    FAILS(-ENOENT, abandon(f, "app/ns", "new"));
    snprintf(w, sizeof w, "old:%d", old);
    ck_assert_str_eq(seen(f, "app/ns", NULL, "10.1.1.1"), w);
    ck_assert_ptr_null(sraw(f, "/kumo/pub/app/ns/gray/new"));
    consistent(f, "app/ns");

    /* promote: the gray's content becomes main, the gray is gone */
    FAILS(-ENOENT, km__rel_promote(f->r, &alice, "app/ns", "nope", NULL, &o, &e));
    FAILS(-EINVAL, km__rel_promote(f->r, &alice, "app/ns", "..", NULL, &o, &e));
    FAILS(-EINVAL, km__rel_promote(f->r, &alice, "app/ns", NULL, NULL, &o, &e));
    FAILS(-ENOENT, km__rel_promote(f->r, &alice, "app/none", "old", NULL, &o, &e));
    OK(km__rel_promote(f->r, &bob, "app/ns", "old", "ship it", &o, &e));
    int prom = lab + 1;
    snprintf(want, sizeof want,
             "{\"id\":%d,\"name\":\"old\",\"notes\":\"ship it\",\"author\":\"bob\",\"addr\":\"192.0.2.2\","
             "\"kind\":\"promote\",\"secret\":[],\"diff\":[{\"key\":\"v\",\"op\":\"change\"}],\"base\":1,"
             "\"gray\":\"old\",\"from\":%d}", prom, old);
    same(o, want, stamps);
    json_decref(o);
    FAILS(-ENOENT, km__rel_promote(f->r, &alice, "app/ns", "old", NULL, &o, &e));
    snprintf(w, sizeof w, "main:%d", prom);
    ck_assert_str_eq(seen(f, "app/ns", NULL, "10.2.0.1"), w);
    snprintf(w, sizeof w, "lab:%d", lab);
    ck_assert_str_eq(seen(f, "app/ns", "zone=east", "10.2.0.1"), w);
    json_t *meta = sget(f, META("app/ns"));
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "main")), prom);
    ck_assert_int_eq(json_integer_value(json_object_get(meta, "last")), prom);
    same(json_object_get(meta, "gray"), "[\"lab\"]", NULL);
    json_decref(meta);
    json_t *mv = sget(f, MAIN("app/ns"));
    same(json_object_get(mv, "items"), "{\"v\":\"old\"}", NULL);
    ck_assert_ptr_null(json_object_get(mv, "gray"));
    json_decref(mv);
    consistent(f, "app/ns");
    /* a gray name may be used again once it is gone */
    ck_assert_int_eq(gray(f, "app/ns", "old", "a=b", NULL), prom + 1);
    consistent(f, "app/ns");
    down(f);
}

START_TEST(gray_match) { t_run(gray_match_body, NULL); }
END_TEST

/* ---- rollback ---- */

static void rollback_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    json_t *o = NULL;
    create(f, "app/ns", "properties");
    FAILS(-ENOENT, km__rel_rollback(f->r, &alice, "app/ns", 1, &o, &e));
    for (int i = 1; i <= 3; i++) {
        char v[8];
        snprintf(v, sizeof v, "%d", i);
        OK(set(f, "app/ns", "a", v));
        if (i == 2)
            OK(set(f, "app/ns", "b", "x"));
        ck_assert_int_eq(pub(f, "app/ns", v), i);
    }
    FAILS(-EALREADY, km__rel_rollback(f->r, &alice, "app/ns", 3, &o, &e));
    HAS(e.msg, "release 3");
    FAILS(-ENOENT, km__rel_rollback(f->r, &alice, "app/ns", 4, &o, &e));
    FAILS(-ENOENT, km__rel_rollback(f->r, &alice, "app/ns", 0, &o, &e));
    FAILS(-ENOENT, km__rel_rollback(f->r, &alice, "app/ns", -5, &o, &e));
    FAILS(-ENOENT, km__rel_rollback(f->r, &alice, "app/none", 1, &o, &e));
    FAILS(-EINVAL, km__rel_rollback(f->r, &alice, "none", 1, &o, &e));

    OK(km__rel_rollback(f->r, &bob, "app/ns", 1, &o, &e));
    same(o, "{\"id\":4,\"name\":\"rollback to 1\",\"notes\":\"\",\"author\":\"bob\",\"addr\":\"192.0.2.2\","
            "\"kind\":\"rollback\",\"secret\":[],\"base\":3,\"from\":1,"
            "\"diff\":[{\"key\":\"a\",\"op\":\"change\"},{\"key\":\"b\",\"op\":\"delete\"}]}", stamps);
    json_decref(o);
    json_t *mv = sget(f, MAIN("app/ns"));
    same(mv, "{\"release\":4,\"name\":\"rollback to 1\",\"format\":\"properties\",\"items\":{\"a\":\"1\"},"
             "\"secret\":[]}", NULL);
    json_decref(mv);
    ck_assert_str_eq(seen(f, "app/ns", NULL, NULL), "main:4");
    /* the draft is the draft still: it differs from main now */
    OK(km__rel_diff(f->r, "app/ns", &o, &e));
    same(json_object_get(o, "diff"), "[{\"key\":\"a\",\"op\":\"change\",\"old\":\"1\",\"new\":\"3\"},"
                                     "{\"key\":\"b\",\"op\":\"add\",\"new\":\"x\"}]", NULL);
    json_decref(o);
    FAILS(-EALREADY, km__rel_rollback(f->r, &alice, "app/ns", 4, &o, &e));
    /* forward again, to a rollback too */
    OK(km__rel_rollback(f->r, &alice, "app/ns", 3, &o, &e));
    ck_assert_int_eq(json_integer_value(json_object_get(o, "id")), 5);
    json_decref(o);
    ck_assert_str_eq(seen(f, "app/ns", NULL, NULL), "main:5");
    FAILS(-EALREADY, pub(f, "app/ns", "same as main"));
    /* a gray release's content can be rolled back to as well */
    OK(set(f, "app/ns", "g", "1"));
    ck_assert_int_eq(gray(f, "app/ns", "g", "a=b", NULL), 6);
    OK(km__rel_rollback(f->r, &alice, "app/ns", 6, &o, &e));
    json_decref(o);
    mv = sget(f, MAIN("app/ns"));
    same(json_object_get(mv, "items"), "{\"a\":\"3\",\"b\":\"x\",\"g\":\"1\"}", NULL);
    json_decref(mv);
    consistent(f, "app/ns");
    down(f);
}

START_TEST(rollback) { t_run(rollback_body, NULL); }
END_TEST

/* ---- secrets ---- */

static void secrets_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, true);
    json_t *o = NULL;
    create(f, "app/ns", "json");
    OK(set(f, "app/ns", "url", "\"db.example\""));
    OK(set_as(f, &alice, "app/ns", "pass", "\"hunter2\"", true));
    json_t *d = sget(f, DRAFT("app/ns"));
    const char *sealed = json_string_value(json_object_get(json_object_get(d, "items"), "pass"));
    ck_assert_msg(km__secret_is_sealed(sealed, strlen(sealed)), "%s", sealed);
    same(json_object_get(d, "secret"), "[\"pass\"]", NULL);
    json_decref(d);
    nowhere(f, "hunter2");

    OK(km__rel_show(f->r, "app/ns", &o, &e));
    same(json_object_get(o, "draft"), "{\"items\":{\"url\":\"\\\"db.example\\\"\",\"pass\":\"******\"},"
                                      "\"secret\":[\"pass\"]}", NULL);
    json_decref(o);
    OK(km__rel_diff(f->r, "app/ns", &o, &e));
    same(o, "{\"base\":0,\"valid\":true,\"diff\":[{\"key\":\"pass\",\"op\":\"add\",\"new\":\"******\","
            "\"secret\":true},{\"key\":\"url\",\"op\":\"add\",\"new\":\"\\\"db.example\\\"\"}]}", NULL);
    json_decref(o);
    ck_assert_int_eq(pub(f, "app/ns", "r1"), 1);
    nowhere(f, "hunter2");
    json_t *mv = sget(f, MAIN("app/ns"));
    sealed = json_string_value(json_object_get(json_object_get(mv, "items"), "pass"));
    ck_assert(km__secret_is_sealed(sealed, strlen(sealed)));
    same(json_object_get(mv, "secret"), "[\"pass\"]", NULL);
    json_decref(mv);

    /* instances: in clear when asked, masked otherwise */
    OK(km__rel_config(f->r, "app/ns", NULL, NULL, true, &o, &e));
    same(json_object_get(o, "items"), "{\"url\":\"\\\"db.example\\\"\",\"pass\":\"\\\"hunter2\\\"\"}", NULL);
    json_decref(o);
    OK(km__rel_config(f->r, "app/ns", NULL, NULL, false, &o, &e));
    same(json_object_get(o, "items"), "{\"url\":\"\\\"db.example\\\"\",\"pass\":\"******\"}", NULL);
    json_decref(o);
    OK(km__rel_release(f->r, "app/ns", 1, &o, &e));
    same(json_object_get(o, "items"), "{\"url\":\"\\\"db.example\\\"\",\"pass\":\"******\"}", NULL);
    same(json_object_get(o, "diff"), "[{\"key\":\"pass\",\"op\":\"add\",\"new\":\"******\",\"secret\":true},"
                                     "{\"key\":\"url\",\"op\":\"add\",\"new\":\"\\\"db.example\\\"\"}]", NULL);
    json_decref(o);

    /* sealed anew, the same plain value is no change; another is one */
    OK(set_as(f, &alice, "app/ns", "pass", "\"hunter2\"", true));
    FAILS(-EALREADY, pub(f, "app/ns", "r2"));
    OK(set_as(f, &alice, "app/ns", "pass", "\"hunter3\"", true));
    OK(km__rel_diff(f->r, "app/ns", &o, &e));
    same(json_object_get(o, "diff"), "[{\"key\":\"pass\",\"op\":\"change\",\"old\":\"******\","
                                     "\"new\":\"******\",\"secret\":true}]", NULL);
    json_decref(o);
    /* validated opened: a sealed value that is not JSON is refused */
    OK(set_as(f, &alice, "app/ns", "pass", "hunter3", true));
    FAILS(-EINVAL, pub(f, "app/ns", "r2"));
    HAS(e.msg, "item \"pass\"");
    ck_assert_msg(!strstr(e.msg, "hunter"), "the error shows the secret: %s", e.msg);
    OK(km__rel_diff(f->r, "app/ns", &o, &e));
    ck_assert_msg(!strstr(json_string_value(json_object_get(o, "error")), "hunter"),
                  "the diff shows the secret: %s", json_string_value(json_object_get(o, "error")));
    json_decref(o);
    OK(set_as(f, &alice, "app/ns", "pass", "\"hunter3\"", true));
    ck_assert_int_eq(pub(f, "app/ns", "r2"), 2);
    /* a secret made plain: in the clear from now, and a change */
    OK(set(f, "app/ns", "pass", "\"open\""));
    d = sget(f, DRAFT("app/ns"));
    same(d, "{\"items\":{\"url\":\"\\\"db.example\\\"\",\"pass\":\"\\\"open\\\"\"},\"secret\":[]}", NULL);
    json_decref(d);
    OK(km__rel_diff(f->r, "app/ns", &o, &e));
    same(json_object_get(o, "diff"), "[{\"key\":\"pass\",\"op\":\"change\",\"old\":\"******\","
                                     "\"new\":\"\\\"open\\\"\",\"secret\":true}]", NULL);
    json_decref(o);
    OK(set_as(f, &alice, "app/ns", "pass", "\"hunter4\"", true));
    OK(del(f, "app/ns", "pass"));
    d = sget(f, DRAFT("app/ns"));
    same(json_object_get(d, "secret"), "[]", NULL);
    json_decref(d);
    OK(set_as(f, &alice, "app/ns", "pass", "\"hunter3\"", true));

    /* the audit never holds a secret's value */
    km_rel_audit_q q = { .ns = "app/ns", .limit = 1000 };
    OK(km__rel_audit(f->r, &q, &o, &e));
    size_t i, secret_sets = 0;
    json_t *rec;
    json_array_foreach(json_object_get(o, "records"), i, rec)
        if (json_is_true(json_object_get(rec, "secret"))) {
            ck_assert_ptr_null(json_object_get(rec, "value"));
            secret_sets++;
        }
    ck_assert_uint_eq(secret_sets, 8);     /* 7 sets and a delete */
    json_decref(o);
    nowhere(f, "hunter");

    /* a sealed value moved to another item does not open */
    d = sget(f, DRAFT("app/ns"));
    json_t *items = json_object_get(d, "items");
    json_object_set(items, "moved", json_object_get(items, "pass"));
    json_array_append_new(json_object_get(d, "secret"), json_string("moved"));
    sput_json(f, DRAFT("app/ns"), d);
    FAILS(-EIO, pub(f, "app/ns", "r3"));
    HAS(e.msg, "moved");
    OK(del(f, "app/ns", "moved"));

    /* without the key: no new secrets; masked views still work */
    km_rel *nokey;
    ck_assert_int_eq(km__rel_new(&nokey, f->s, NULL), 0);
    FAILS(-ENOKEY, km__rel_set(nokey, &alice, "app/ns", (const uint8_t *)"s", 1,
                               (const uint8_t *)"1", 1, true, NULL, &e));
    HAS(e.msg, "--secret-key-file");
    OK(km__rel_set(nokey, &alice, "app/ns", (const uint8_t *)"plain", 5, (const uint8_t *)"1", 1,
                   false, NULL, &e));
    FAILS(-ENOKEY, km__rel_publish(nokey, &alice, "app/ns", "r3", NULL, &o, &e));
    HAS(e.msg, "pass");
    FAILS(-EIO, km__rel_config(nokey, "app/ns", NULL, NULL, true, &o, &e));
    OK(km__rel_config(nokey, "app/ns", NULL, NULL, false, &o, &e));
    same(json_object_get(o, "items"), "{\"url\":\"\\\"db.example\\\"\",\"pass\":\"******\"}", NULL);
    json_decref(o);
    OK(km__rel_show(nokey, "app/ns", &o, &e));
    json_decref(o);
    km__rel_free(nokey);

    /* another key opens nothing */
    km__secret_key *k2 = load_key(f->dir, "other.key", 2);
    km_rel *other;
    ck_assert_int_eq(km__rel_new(&other, f->s, k2), 0);
    FAILS(-EIO, km__rel_config(other, "app/ns", NULL, NULL, true, &o, &e));
    FAILS(-EIO, km__rel_publish(other, &alice, "app/ns", "r3", NULL, &o, &e));
    km__rel_free(other);
    km__secret_key_free(k2);

    ck_assert_int_eq(pub(f, "app/ns", "r3"), 3);
    consistent(f, "app/ns");
    down(f);
}

START_TEST(secrets) { t_run(secrets_body, NULL); }
END_TEST

/* ---- the audit trail ---- */

static json_t *audit(fx *f, const km_rel_audit_q *q)
{
    json_t *o = NULL;
    OK(km__rel_audit(f->r, q, &o, &e));
    json_t *r = json_incref(json_object_get(o, "records"));
    json_decref(o);
    return r;
}

static void audit_actions_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    json_t *o = NULL;
    create(f, "app/ns", "text");
    OK(set_as(f, &bob, "app/ns", "k", "v", false));
    OK(set(f, "app/ns", "x", "y"));
    OK(del(f, "app/ns", "x"));
    ck_assert_int_eq(pub(f, "app/ns", "r1"), 1);
    OK(set(f, "app/ns", "k", "w"));
    ck_assert_int_eq(gray(f, "app/ns", "g", "a=b", "10.0.0.1"), 2);
    OK(km__rel_promote(f->r, &alice, "app/ns", "g", NULL, &o, &e));
    json_decref(o);
    ck_assert_int_eq(gray(f, "app/ns", "h", NULL, "::1"), 4);
    OK(abandon(f, "app/ns", "h"));
    OK(km__rel_rollback(f->r, NULL, "app/ns", 1, &o, &e));
    json_decref(o);
    /* refused calls leave no record */
    FAILS(-EALREADY, km__rel_rollback(f->r, &alice, "app/ns", 5, &o, &e));
    FAILS(-ENOENT, del(f, "app/ns", "x"));

    km_rel_audit_q q = { 0 };
    json_t *recs = audit(f, &q);
    static const char *const want[] = {
        "{\"user\":\"\",\"addr\":\"\",\"action\":\"rollback\",\"ns\":\"app/ns\",\"release\":5,\"to\":1}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"abandon\",\"ns\":\"app/ns\",\"gray\":\"h\",\"release\":4}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"gray\",\"ns\":\"app/ns\",\"release\":4,\"gray\":\"h\","
        "\"labels\":{},\"ips\":[\"::1\"]}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"promote\",\"ns\":\"app/ns\",\"release\":3,\"gray\":\"g\","
        "\"from\":2}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"gray\",\"ns\":\"app/ns\",\"release\":2,\"gray\":\"g\","
        "\"labels\":{\"a\":\"b\"},\"ips\":[\"10.0.0.1\"]}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"set\",\"ns\":\"app/ns\",\"key\":\"k\",\"value\":\"w\"}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"publish\",\"ns\":\"app/ns\",\"release\":1,\"name\":\"r1\"}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"delete-item\",\"ns\":\"app/ns\",\"key\":\"x\"}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"set\",\"ns\":\"app/ns\",\"key\":\"x\",\"value\":\"y\"}",
        "{\"user\":\"bob\",\"addr\":\"192.0.2.2\",\"action\":\"set\",\"ns\":\"app/ns\",\"key\":\"k\",\"value\":\"v\"}",
        "{\"user\":\"alice\",\"addr\":\"192.0.2.1\",\"action\":\"create\",\"ns\":\"app/ns\",\"format\":\"text\"}",
    };
    size_t n = sizeof want / sizeof want[0];
    ck_assert_uint_eq(json_array_size(recs), n);
    int64_t prev = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(recs, i);
        int64_t t = json_integer_value(json_object_get(r, "time"));
        ck_assert_int_le(t, prev);
        ck_assert(t > 1600000000000000000LL);
        prev = t;
        same(r, want[i], stamps);
    }
    json_decref(recs);
    q.user = "bob";
    recs = audit(f, &q);
    ck_assert_uint_eq(json_array_size(recs), 1);
    json_decref(recs);
    q.user = "";
    recs = audit(f, &q);
    ck_assert_uint_eq(json_array_size(recs), 1);
    json_decref(recs);
    q.user = NULL;
    q.ns = "app/none";
    recs = audit(f, &q);
    ck_assert_uint_eq(json_array_size(recs), 0);
    json_decref(recs);
    q.ns = "app";
    FAILS(-EINVAL, km__rel_audit(f->r, &q, &o, &e));
    q.ns = NULL;
    q.limit = -1;
    FAILS(-EINVAL, km__rel_audit(f->r, &q, &o, &e));
    q.limit = 0;
    q.since = -1;
    FAILS(-EINVAL, km__rel_audit(f->r, &q, &o, &e));
    q.since = 0;
    q.until = -1;
    FAILS(-EINVAL, km__rel_audit(f->r, &q, &o, &e));
    down(f);
}

START_TEST(audit_actions) { t_run(audit_actions_body, NULL); }
END_TEST

#define WRITERS 8
#define PER_WRITER 80       /* 640 records: three pages of the audit's 256 */

typedef struct {
    fx *f;
    int w;
} writer;

static void audit_writer(void *arg)
{
    writer *a = arg;
    km_rel_err err;
    char user[8];
    snprintf(user, sizeof user, "u%d", a->w);
    km_rel_who who = { user, "198.51.100.1" };
    for (int i = 0; i < PER_WRITER; i++) {
        char ns[32];
        snprintf(ns, sizeof ns, "a%d/n%02d", a->w, i);
        json_t *o = NULL;
        int rc = km__rel_create(a->f->r, &who, ns, "text", &o, &err);
        REQUIRE_EQ(rc, 0);
        json_decref(o);
    }
}

static void audit_paging_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    writer ws[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        ws[i] = (writer){ f, i };
    t_go_all(WRITERS, audit_writer, ws, sizeof ws[0]);
    size_t total = WRITERS * PER_WRITER;
    ck_assert_uint_eq(sscan(f, "/kumo/audit/", "/kumo/audit0", NULL, NULL), total);

    /* all of them in one answer, newest first, each once */
    km_rel_audit_q q = { .limit = 1000 };
    json_t *all = audit(f, &q);
    ck_assert_uint_eq(json_array_size(all), total);
    int64_t prev = INT64_MAX;
    size_t i;
    json_t *r;
    int seen_ns[WRITERS][PER_WRITER] = { { 0 } };
    json_array_foreach(all, i, r) {
        int64_t t = json_integer_value(json_object_get(r, "time"));
        ck_assert_int_le(t, prev);
        prev = t;
        int w, n;
        ck_assert_int_eq(sscanf(json_string_value(json_object_get(r, "ns")), "a%d/n%d", &w, &n), 2);
        ck_assert_int_eq(seen_ns[w][n]++, 0);
        char user[8];
        snprintf(user, sizeof user, "u%d", w);
        ck_assert_str_eq(json_string_value(json_object_get(r, "user")), user);
    }
    /* more than exist, and more than 1000: the same */
    q.limit = 5000;
    json_t *again = audit(f, &q);
    ck_assert(json_equal(again, all));
    json_decref(again);
    /* the default: the newest 100 */
    q.limit = 0;
    json_t *some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 100);
    for (i = 0; i < 100; i++)
        ck_assert(json_equal(json_array_get(some, i), json_array_get(all, i)));
    json_decref(some);
    q.limit = 257;
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 257);
    ck_assert(json_equal(json_array_get(some, 256), json_array_get(all, 256)));
    json_decref(some);

    /* one user's, found across pages */
    q = (km_rel_audit_q){ .user = "u0", .limit = 1000 };
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), PER_WRITER);
    json_decref(some);
    q.limit = 10;
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 10);
    json_decref(some);
    /* the oldest record's namespace: on the last page */
    json_t *oldest = json_array_get(all, total - 1);
    q = (km_rel_audit_q){ .ns = json_string_value(json_object_get(oldest, "ns")) };
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 1);
    ck_assert(json_equal(json_array_get(some, 0), oldest));
    json_decref(some);

    /* since is inclusive, until exclusive, in the records' time */
    size_t at = 300;
    int64_t t = json_integer_value(json_object_get(json_array_get(all, at), "time"));
    size_t newer = 0, older = 0;
    json_array_foreach(all, i, r) {
        int64_t rt = json_integer_value(json_object_get(r, "time"));
        newer += rt >= t;
        older += rt < t;
    }
    q = (km_rel_audit_q){ .since = t, .limit = 1000 };
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), newer);
    json_decref(some);
    q = (km_rel_audit_q){ .until = t, .limit = 1000 };
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), older);
    if (older)
        ck_assert_int_lt(json_integer_value(json_object_get(json_array_get(some, 0), "time")), t);
    json_decref(some);
    q = (km_rel_audit_q){ .since = t, .until = t + 1, .limit = 1000 };
    some = audit(f, &q);
    ck_assert_uint_ge(json_array_size(some), 1);
    json_array_foreach(some, i, r)
        ck_assert_int_eq(json_integer_value(json_object_get(r, "time")), t);
    json_decref(some);
    q = (km_rel_audit_q){ .since = t, .until = t };
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 0);
    json_decref(some);
    /* with ns and user */
    q = (km_rel_audit_q){ .ns = "a3/n07", .user = "u3" };
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 1);
    json_decref(some);
    q.user = "u4";
    some = audit(f, &q);
    ck_assert_uint_eq(json_array_size(some), 0);
    json_decref(some);
    json_decref(all);
    down(f);
}

START_TEST(audit_paging) { t_run(audit_paging_body, NULL); }
END_TEST

/* ---- damaged documents ---- */

/* Every call on ns (those that would change it only where they must
 * fail): none may crash; those that read the damaged key (bad: which of
 * meta, draft and main view it is) answer -EIO naming it. */
enum { M = 1, D = 2, V = 4 };

static void calls(fx *f, const char *ns, unsigned bad, const char *key)
{
    json_t *o = NULL;
#define EXPECT(mask, x) do { \
        e.msg[0] = 0; o = NULL; int rc_ = (x); \
        if (bad & (mask)) { \
            ck_assert_msg(rc_ == -EIO, "%s with %s damaged: %s: %s", #x, key, km_strerror(rc_), e.msg); \
            ck_assert_msg(strstr(e.msg, key), "%s: the message does not name %s: %s", #x, key, e.msg); \
        } else { \
            ck_assert_msg(rc_ != -EIO, "%s with %s damaged: %s: %s", #x, key, km_strerror(rc_), e.msg); \
        } \
        if (rc_ == 0) json_decref(o); \
    } while (0)
    EXPECT(M | D, km__rel_show(f->r, ns, &o, &e));
    EXPECT(M | D, km__rel_set(f->r, &alice, ns, (const uint8_t *)"z", 1, (const uint8_t *)"1", 1,
                              false, NULL, &e));
    EXPECT(M | D, km__rel_del(f->r, &alice, ns, (const uint8_t *)"z", 1, NULL, &e));
    EXPECT(M | D | V, km__rel_diff(f->r, ns, &o, &e));
    EXPECT(M | D | V, km__rel_publish(f->r, &alice, ns, "p", NULL, &o, &e));
    EXPECT(M, km__rel_releases(f->r, ns, 0, &o, &e));
    EXPECT(M, km__rel_release(f->r, ns, 1, &o, &e));
    if (bad & (M | V))      /* else it would change the namespace */
        EXPECT(M | V, km__rel_rollback(f->r, &alice, ns, 1, &o, &e));
    json_t *ips = json_string("10.0.0.9");
    EXPECT(M | D | V, km__rel_gray(f->r, &alice, ns, "new", NULL, ips, NULL, &o, &e));
    json_decref(ips);
    EXPECT(M, km__rel_gray_list(f->r, ns, &o, &e));
    EXPECT(M | V, km__rel_promote(f->r, &alice, ns, "nope", NULL, &o, &e));
    EXPECT(M, km__rel_abandon(f->r, &alice, ns, "nope", NULL, &e));
    EXPECT(V, km__rel_config(f->r, ns, NULL, NULL, false, &o, &e));
    EXPECT(V, km__rel_config(f->r, ns, "a=b", "10.0.0.1", true, &o, &e));
    EXPECT(0, km__rel_create(f->r, &alice, ns, "json", &o, &e));
    EXPECT(0, km__rel_list(f->r, NULL, NULL, NULL, &o, &e));
    km_rel_audit_q q = { .ns = ns };
    EXPECT(0, km__rel_audit(f->r, &q, &o, &e));
#undef EXPECT
}

static void damaged_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    const char *ns = "app/ns";
    create(f, ns, "json");
    OK(set(f, ns, "a", "1"));
    ck_assert_int_eq(pub(f, ns, "r1"), 1);
    OK(set(f, ns, "a", "2"));
    ck_assert_int_eq(pub(f, ns, "r2"), 2);
    OK(set(f, ns, "a", "3"));
    ck_assert_int_eq(gray(f, ns, "g", NULL, "10.0.0.0/8"), 3);
    create(f, "app/fine", "text");

    static const char *const garbage[] = { "", "{", "nul\0l", "\xff\xfe", "{\"a\":1}x", "[1,2" };
    static const char *const meta_shapes[] = {
        "null", "[]", "\"x\"", "{}", "{\"format\":\"json\",\"last\":2,\"main\":2}",
        "{\"format\":\"json\",\"last\":\"2\",\"main\":2,\"gray\":[]}",
        "{\"format\":\"json\",\"last\":2,\"main\":2.0,\"gray\":[]}",
        "{\"format\":1,\"last\":2,\"main\":2,\"gray\":[]}",
        "{\"format\":\"json\",\"last\":2,\"main\":2,\"gray\":[1]}",
        "{\"format\":\"json\",\"last\":2,\"main\":2,\"gray\":{}}",
        "{\"format\":\"xml\",\"last\":3,\"main\":2,\"gray\":[\"g\"]}",
        "{\"format\":\"json\",\"last\":-1,\"main\":2,\"gray\":[\"g\"]}",
        "{\"format\":\"json\",\"last\":3,\"main\":-2,\"gray\":[\"g\"]}",
        "{\"format\":\"json\",\"last\":3,\"main\":4,\"gray\":[\"g\"]}",
        "{\"format\":\"json\",\"last\":9223372036854775807,\"main\":2,\"gray\":[\"g\"]}",
        "{\"format\":\"json\",\"last\":10000000000,\"main\":2,\"gray\":[\"g\"]}",
    };
    static const char *const doc_shapes[] = {
        "null", "[]", "{}", "\"x\"", "{\"items\":[]}", "{\"items\":{\"a\":1}}",
        "{\"items\":{\"a\":null}}", "{\"items\":{},\"secret\":{}}", "{\"items\":{},\"secret\":[1]}",
        "{\"items\":{},\"secret\":\"a\"}",
    };
    static const char *const view_shapes[] = {
        "{\"items\":{\"a\":\"1\"},\"secret\":[]}",
        "{\"release\":\"2\",\"name\":\"r2\",\"format\":\"json\",\"items\":{},\"secret\":[]}",
        "{\"release\":2,\"name\":2,\"format\":\"json\",\"items\":{},\"secret\":[]}",
        "{\"release\":2,\"name\":\"r2\",\"format\":null,\"items\":{},\"secret\":[]}",
    };
    const char *keys[3] = { META(ns), DRAFT(ns), MAIN(ns) };
    unsigned which[3] = { M, D, V };
    for (int k = 0; k < 3; k++) {
        char *orig = sraw(f, keys[k]);
        ck_assert_ptr_nonnull(orig);
        for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
            sput(f, keys[k], garbage[g]);
            calls(f, ns, which[k], keys[k]);
        }
        const char *const *shapes = k == 0 ? meta_shapes : doc_shapes;
        size_t n = k == 0 ? sizeof meta_shapes / sizeof meta_shapes[0]
                          : sizeof doc_shapes / sizeof doc_shapes[0];
        for (size_t s = 0; s < n; s++) {
            sput(f, keys[k], shapes[s]);
            calls(f, ns, which[k], keys[k]);
        }
        /* a view whose items are fine but not the rest: only what an
         * instance sees reads the rest */
        for (size_t s = 0; k == 2 && s < sizeof view_shapes / sizeof view_shapes[0]; s++) {
            sput(f, keys[k], view_shapes[s]);
            json_t *o = NULL;
            FAILS(-EIO, km__rel_config(f->r, ns, NULL, NULL, false, &o, &e));
            HAS(e.msg, keys[k]);
            OK(km__rel_diff(f->r, ns, &o, &e));
            json_decref(o);
        }
        /* put back, all is well again */
        sput(f, keys[k], orig);
        free(orig);
        calls(f, ns, 0, keys[k]);
        consistent(f, ns);
    }
    /* a damaged namespace does not hide the others from the list */
    sput(f, META(ns), "{");
    json_t *o = NULL;
    OK(km__rel_list(f->r, "app", NULL, NULL, &o, &e));
    same(o, "{\"namespaces\":[{\"ns\":\"app/fine\",\"format\":\"text\",\"main\":0,\"last\":0,\"gray\":[]}]}",
         NULL);
    json_decref(o);
    sput(f, META(ns), "{\"format\":1,\"last\":2,\"main\":2,\"gray\":[]}");
    OK(km__rel_list(f->r, "app", NULL, NULL, &o, &e));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(o, "namespaces"), 0),
                                                       "ns")), "app/fine");
    json_decref(o);

    /* releases: the one read answers -EIO, the list leaves it out */
    create(f, "app/r", "json");
    for (int i = 1; i <= 3; i++) {
        char v[4];
        snprintf(v, sizeof v, "%d", i);
        OK(set(f, "app/r", "a", v));
        ck_assert_int_eq(pub(f, "app/r", v), i);
    }
    char *r1 = rel_key("app/r", 1);
    char *orig = sraw(f, r1);
    const char *rel_bad[] = { "{", "", "[]", "{\"items\":{\"a\":[]}}", "{\"items\":7}" };
    for (size_t i = 0; i < sizeof rel_bad / sizeof rel_bad[0]; i++) {
        sput(f, r1, rel_bad[i]);
        FAILS(-EIO, km__rel_release(f->r, "app/r", 1, &o, &e));
        HAS(e.msg, r1);
        FAILS(-EIO, km__rel_release(f->r, "app/r", 2, &o, &e));     /* its base */
        HAS(e.msg, r1);
        FAILS(-EIO, km__rel_rollback(f->r, &alice, "app/r", 1, &o, &e));
        HAS(e.msg, r1);
        OK(km__rel_release(f->r, "app/r", 3, &o, &e));
        json_decref(o);
        OK(km__rel_releases(f->r, "app/r", 0, &o, &e));
        ck_assert_uint_eq(json_array_size(json_object_get(o, "releases")), 2);
        json_decref(o);
    }
    sput(f, r1, orig);
    free(orig);
    OK(km__rel_rollback(f->r, &alice, "app/r", 1, &o, &e));
    json_decref(o);

    /* a gray release's document */
    create(f, "app/g", "json");
    OK(set(f, "app/g", "a", "1"));
    ck_assert_int_eq(pub(f, "app/g", "r1"), 1);
    ck_assert_int_eq(gray(f, "app/g", "g", "a=b", NULL), 2);
    const char *gk = "/kumo/pub/app/g/gray/g";
    orig = sraw(f, gk);
    const char *gray_bad[] = { "{", "[]", "{\"items\":[]}",
                               "{\"release\":2,\"name\":\"g\",\"format\":\"json\",\"items\":{},"
                               "\"secret\":[],\"gray\":\"g\",\"labels\":[],\"ips\":{}}" };
    for (size_t i = 0; i < sizeof gray_bad / sizeof gray_bad[0]; i++) {
        sput(f, gk, gray_bad[i]);
        if (i < 3) {        /* the last one's items would do for a promote */
            FAILS(-EIO, km__rel_promote(f->r, &alice, "app/g", "g", NULL, &o, &e));
            HAS(e.msg, gk);
            FAILS(-EIO, abandon(f, "app/g", "g"));
            HAS(e.msg, gk);
        }
        FAILS(-EIO, km__rel_config(f->r, "app/g", "a=b", NULL, false, &o, &e));
        HAS(e.msg, gk);
        e.msg[0] = 0;
        int rc = km__rel_gray_list(f->r, "app/g", &o, &e);
        ck_assert_msg(rc == 0 || (rc == -EIO && strstr(e.msg, gk)), "%s: %s", km_strerror(rc), e.msg);
        if (rc == 0)
            json_decref(o);
    }
    sput(f, gk, orig);
    free(orig);
    ck_assert_str_eq(seen(f, "app/g", "a=b", NULL), "g:2");
    OK(abandon(f, "app/g", "g"));
    consistent(f, "app/g");
    down(f);
}

START_TEST(damaged) { t_run(damaged_body, NULL); }
END_TEST

/* ---- conflicts ---- */

typedef struct {
    fx *f;
    const char *ns;
    int rc, what;       /* what: 0 publish, 1 set */
    char val[16];
    int64_t delay;      /* ns to wait first: the race's start varies */
} racer;

static void race_one(void *arg)
{
    racer *a = arg;
    km_rel_err err;
    if (a->delay)
        km_sleep(a->delay);
    if (a->what == 0) {
        json_t *o = NULL;
        a->rc = km__rel_publish(a->f->r, &alice, a->ns, "race", NULL, &o, &err);
        json_decref(o);
    } else {
        a->rc = km__rel_set(a->f->r, &bob, a->ns, (const uint8_t *)"other", 5,
                            (const uint8_t *)a->val, strlen(a->val), false, NULL, &err);
    }
}

static void conflict_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, false);
    const char *ns = "app/ns";
    create(f, ns, "text");
    OK(set(f, ns, "k", "0"));
    ck_assert_int_eq(pub(f, ns, "r1"), 1);

    /* a publish's read, then the draft changed behind its back: its
     * guarded write is refused and nothing of it lands */
    OK(set(f, ns, "k", "1"));
    km__rel_ns st;
    OK(km__rel_load(f->r, ns, KM__REL_META | KM__REL_DRAFT | KM__REL_MAIN, &st, &e));
    OK(set(f, ns, "k", "2"));
    int64_t id = km__rel_next_id(&st);
    json_t *items = json_object_get(st.draft, "items"), *sec = json_object_get(st.draft, "secret");
    json_t *rel = km__rel_new_release(&st, &alice, id, "publish", "stale", NULL, items, sec, json_array());
    json_t *view = km__rel_view(&st, rel), *meta = km__rel_next_meta(&st, id, true);
    char rk[KM__REL_KEY_MAX];
    km__rel_release_key(&st, id, rk);
    km__rel_batch b = { 0 };
    km__rel_expect(&b, st.meta_key, st.meta_mod);
    km__rel_expect(&b, st.draft_key, st.draft_mod);
    km__rel_put(&b, st.meta_key, meta);
    km__rel_put(&b, rk, rel);
    km__rel_put(&b, st.main_key, view);
    km__rel_audit_put(&b, &alice, "publish", ns, NULL);
    FAILS(-EBUSY, km__rel_commit(f->r, &b, NULL, &e));
    json_decref(rel);
    json_decref(view);
    json_decref(meta);
    km__rel_ns_free(&st);
    ck_assert_ptr_null(sraw(f, rel_key(ns, 2)));
    consistent(f, ns);
    /* publish proper sees the new draft */
    ck_assert_int_eq(pub(f, ns, "r2"), 2);
    json_t *mv = sget(f, MAIN(ns));
    same(json_object_get(mv, "items"), "{\"k\":\"2\"}", NULL);
    json_decref(mv);

    /* two publishes of one draft at once: exactly one wins */
    int busy = 0, already = 0;
    for (int round = 0; round < 40; round++) {
        char v[16];
        snprintf(v, sizeof v, "r%d", round);
        OK(set(f, ns, "k", v));
        racer rs[2] = { { f, ns, 1, 0, "", 0 }, { f, ns, 1, 0, "", (round % 8) * 40000 } };
        t_go_all(2, race_one, rs, sizeof rs[0]);
        int won = (rs[0].rc == 0) + (rs[1].rc == 0);
        ck_assert_msg(won == 1, "round %d: %s, %s", round, km_strerror(rs[0].rc), km_strerror(rs[1].rc));
        for (int i = 0; i < 2; i++) {
            ck_assert_msg(rs[i].rc == 0 || rs[i].rc == -EBUSY || rs[i].rc == -EALREADY, "%s",
                          km_strerror(rs[i].rc));
            busy += rs[i].rc == -EBUSY;
            already += rs[i].rc == -EALREADY;
        }
        consistent(f, ns);
        mv = sget(f, MAIN(ns));
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(mv, "items"), "k")), v);
        json_decref(mv);
    }
    ck_assert_int_eq(busy + already, 40);

    /* a publish and an edit at once: the edit always lands; the publish
     * lands with or without it, or is refused as stale */
    int with = 0, without = 0, stale = 0;
    for (int round = 0; round < 40; round++) {
        char v[16];
        snprintf(v, sizeof v, "p%d", round);
        OK(set(f, ns, "k", v));
        racer rs[2] = { { f, ns, 1, 0, "", (round % 2) * (round % 16) * 40000 },
                        { f, ns, 1, 1, "", !(round % 2) * (round % 16) * 40000 } };
        snprintf(rs[1].val, sizeof rs[1].val, "o%d", round);
        t_go_all(2, race_one, rs, sizeof rs[0]);
        ck_assert_int_eq(rs[1].rc, 0);
        ck_assert_msg(rs[0].rc == 0 || rs[0].rc == -EBUSY, "%s", km_strerror(rs[0].rc));
        consistent(f, ns);
        json_t *d = sget(f, DRAFT(ns));
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "items"), "other")),
                         rs[1].val);
        json_decref(d);
        mv = sget(f, MAIN(ns));
        const char *o = json_string_value(json_object_get(json_object_get(mv, "items"), "other"));
        bool got = rs[0].rc == 0 && o && !strcmp(o, rs[1].val);
        if (rs[0].rc == -EBUSY) {
            stale++;
        } else if (got) {
            with++;
        } else {
            without++;
            /* what was published is what was validated: the draft before the edit */
            ck_assert_str_eq(json_string_value(json_object_get(json_object_get(mv, "items"), "k")), v);
        }
        json_decref(mv);
        json_t *df = NULL;
        OK(km__rel_diff(f->r, ns, &df, &e));
        /* the draft differs from main exactly when the edit missed it */
        ck_assert_int_eq(json_array_size(json_object_get(df, "diff")) > 0, !got);
        json_decref(df);
        if (!got)
            ck_assert_int_gt(pub(f, ns, "catch up"), 0);
    }
    ck_assert_int_eq(with + without + stale, 40);
    consistent(f, ns);
    down(f);
}

START_TEST(conflict)
{
    t_procs(4);
    t_run(conflict_body, NULL);
}
END_TEST

/* ---- allocation failures ---- */

/* t_fail_alloc_after reaches kumo's allocator: the store's and the
 * service's own allocations (kumo strdups, key lists, sealing, the
 * config's document table). jansson allocates with libc (src/rt/fault.c
 * points it at a failing malloc only in the KM_FAULTS build), so its
 * allocations never fail here, and they must not: jansson 2.14 is not
 * safe when they do. Its lexer drops a character of a string whose buffer
 * failed to grow and answers the document ("0123456789abcdefghij..."
 * reads back as "0123456789abcdfghij..."), json_dumps leaves text out
 * ({"author":"alice",:183}: a key gone, written to the store, the
 * namespace damaged), and json_loads can write out of bounds (ASan:
 * SEGV in libjansson under json_loads). */

enum { OP_PUBLISH, OP_SET, OP_GRAY, OP_PROMOTE, OP_ROLLBACK, OP_CONFIG, OP_AUDIT, OP_N };
static const char *const op_names[OP_N] = { "publish", "set", "gray", "promote", "rollback",
                                            "config", "audit" };

/* Runs op with the n-th allocation failing, for n = 1, 2, ... until it
 * succeeds 8 times in a row (the failure comes after all it allocates):
 * every call answers 0 or -ENOMEM with a message, and the namespace stays
 * consistent and usable. */
static void sweep(fx *f, const char *ns, int op)
{
    int failed = 0, clean = 0;
    long n;
    for (n = 1; n < 2000 && clean < 8; n++) {
        char v[32];
        json_t *o = NULL;
        snprintf(v, sizeof v, "%ld", n);
        if (op == OP_PUBLISH || op == OP_GRAY || op == OP_PROMOTE || op == OP_ROLLBACK) {
            OK(set(f, ns, "k", v));
            OK(set_as(f, &alice, ns, "s", v, true));
        }
        if (op == OP_PROMOTE)
            ck_assert_int_gt(gray(f, ns, "p", "a=b", NULL), 0);
        if (op == OP_ROLLBACK)
            ck_assert_int_gt(pub(f, ns, v), 1);
        km_rel_audit_q q = { .ns = ns, .limit = 10 };
        e.msg[0] = 0;
        t_fail_alloc_after(n);
        int rc;
        switch (op) {
        case OP_PUBLISH:
            rc = km__rel_publish(f->r, &alice, ns, "under pressure", v, &o, &e);
            break;
        case OP_SET:
            rc = set_as(f, &alice, ns, "s", v, true);
            break;
        case OP_GRAY:
            rc = gray(f, ns, "g", "a=b", "10.0.0.0/8");
            rc = rc > 0 ? 0 : rc;
            break;
        case OP_PROMOTE:
            rc = km__rel_promote(f->r, &alice, ns, "p", NULL, &o, &e);
            break;
        case OP_ROLLBACK:
            rc = km__rel_rollback(f->r, &alice, ns, 1, &o, &e);
            break;
        case OP_CONFIG:
            rc = km__rel_config(f->r, ns, "a=b", "10.1.1.1", true, &o, &e);
            break;
        default:
            rc = km__rel_audit(f->r, &q, &o, &e);
            break;
        }
        t_fail_alloc_after(0);
        ck_assert_msg(rc == 0 || rc == -ENOMEM, "%s n=%ld: %s: %s", op_names[op], n,
                      km_strerror(rc), e.msg);
        ck_assert_msg(rc == 0 || e.msg[0], "%s n=%ld: no message", op_names[op], n);
        if (rc == 0 && o)
            json_decref(o);
        failed += rc < 0;
        clean = rc == 0 ? clean + 1 : 0;
        consistent(f, ns);
        if (op == OP_PUBLISH && rc == 0) {
            /* what went out is what the draft was */
            json_t *mv = sget(f, MAIN(ns)), *d = sget(f, DRAFT(ns));
            ck_assert(json_equal(json_object_get(mv, "items"), json_object_get(d, "items")));
            json_decref(mv);
            json_decref(d);
        }
        if (op == OP_CONFIG && rc == 0)
            ck_assert_str_eq(seen(f, ns, "a=b", "10.1.1.1"), "g:2");
        /* undone unhindered, so the next round starts alike */
        if (op == OP_GRAY && rc == 0)
            OK(abandon(f, ns, "g"));
        if (op == OP_PROMOTE && rc < 0)
            OK(abandon(f, ns, "p"));
        if (op == OP_PUBLISH && rc < 0)
            ck_assert_int_gt(pub(f, ns, "again"), 0);
    }
    ck_assert_msg(failed > 0, "%s: no allocation failed", op_names[op]);
    ck_assert_msg(clean == 8, "%s: still failing at n=%ld", op_names[op], n);
    consistent(f, ns);
}

static void nomem_body(void *arg)
{
    fx ff, *f = &ff;
    up(f, true);
    for (int op = 0; op < OP_N; op++) {
        char ns[32];
        snprintf(ns, sizeof ns, "app/%s", op_names[op]);
        create(f, ns, "json");
        OK(set(f, ns, "fixed", "{\"a\":[1,2,3]}"));
        ck_assert_int_eq(pub(f, ns, "first"), 1);
        if (op == OP_CONFIG) {
            OK(set_as(f, &alice, ns, "s", "\"hidden\"", true));
            ck_assert_int_eq(gray(f, ns, "g", "a=b", "10.0.0.0/8"), 2);
        }
        sweep(f, ns, op);
    }
    down(f);
}

START_TEST(nomem) { t_run(nomem_body, NULL); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("release/release");
    TCase *tc = tcase_create("release");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, create_and_list);
    tcase_add_test(tc, items);
    tcase_add_test(tc, diff_and_validate);
    tcase_add_test(tc, publish);
    tcase_add_test(tc, gray_parse);
    tcase_add_test(tc, gray_match);
    tcase_add_test(tc, rollback);
    tcase_add_test(tc, secrets);
    tcase_add_test(tc, audit_actions);
    tcase_add_test(tc, audit_paging);
    tcase_add_test(tc, damaged);
    tcase_add_test(tc, conflict);
    tcase_add_test(tc, nomem);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
