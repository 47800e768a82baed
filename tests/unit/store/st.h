/* SPDX-License-Identifier: MIT */
/* Helpers for the store tests: a store in a fresh temp dir, one-line ops. */
#ifndef KUMO_TEST_STORE_H
#define KUMO_TEST_STORE_H

#include "util.h"
#include <kumo/store.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B(s) ((km_bytes){ (const uint8_t *)(s), sizeof(s) - 1 })
#define BS(s) ((km_bytes){ (const uint8_t *)(s), strlen(s) })
#define ALL ((km_bytes){ (const uint8_t *)"", 1 })

typedef struct {
    char      dir[64];
    km_store *s;
} st_env;

static inline void st_rmdir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    REQUIRE(system(cmd) == 0);
}

static inline void st_open_in(st_env *e)
{
    km_store_config cfg = { .dir = e->dir };
    int rc = km_store_open(&e->s, &cfg);
    ck_assert_msg(rc == 0, "open: %s", km_strerror(rc));
}

static inline void st_open(st_env *e)
{
    strcpy(e->dir, "/tmp/kmstoreXXXXXX");
    REQUIRE(mkdtemp(e->dir) != NULL);
    st_open_in(e);
}

static inline void st_close(st_env *e)
{
    km_store_close(e->s);
    e->s = NULL;
    st_rmdir(e->dir);
}

static inline bool bytes_is(km_bytes b, const char *s)
{
    return b.n == strlen(s) && (b.n == 0 || memcmp(b.p, s, b.n) == 0);
}

/* put: returns rc, *rev the header revision */
static inline int st_put(km_store *s, const char *k, const char *v, int64_t lease, int64_t *rev)
{
    km_op op = { .type = KM_OP_PUT, .put = { .key = BS(k), .value = BS(v), .lease = lease } };
    km_store_res res;
    int rc = km_store_do(s, &op, &res);
    if (rev)
        *rev = res.revision;
    km_store_res_free(&res);
    return rc;
}

static inline int st_del(km_store *s, const char *k, const char *end, int64_t *deleted, int64_t *rev)
{
    km_op op = { .type = KM_OP_DELETE, .del = { .key = BS(k) } };
    if (end)
        op.del.range_end = end[0] ? BS(end) : ALL;
    km_store_res res;
    int rc = km_store_do(s, &op, &res);
    if (rev)
        *rev = res.revision;
    if (deleted)
        *deleted = rc ? -1 : res.txn.resp[0].del.deleted;
    km_store_res_free(&res);
    return rc;
}

/* get one key at revision at (0: current): 1 found, 0 missing, <0 error */
static inline int st_get(km_store *s, const char *k, int64_t at, km_kv *out, char *val, size_t vn)
{
    km_op op = { .type = KM_OP_RANGE, .range = { .key = BS(k), .revision = at } };
    km_store_res res;
    int rc = km_store_do(s, &op, &res);
    if (rc) {
        km_store_res_free(&res);
        return rc;
    }
    km_range_resp *r = &res.txn.resp[0].range;
    int found = r->nkvs == 1;
    if (found && out)
        *out = r->kvs[0];
    if (found && val) {
        size_t n = r->kvs[0].value.n < vn - 1 ? r->kvs[0].value.n : vn - 1;
        memcpy(val, r->kvs[0].value.p, n);
        val[n] = 0;
    }
    if (out) {
        out->key.p = NULL;
        out->value.p = NULL;
    }
    km_store_res_free(&res);
    return found;
}

static inline int64_t st_rev(km_store *s)
{
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    return st.revision;
}

#endif
