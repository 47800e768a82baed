/* SPDX-License-Identifier: MIT */
/* Store writes under injected faults: every failing hit of every point a
 * put, txn, prefix delete, compaction or lease call reaches leaves the
 * stored data as it was (an error) or as acknowledged (success). */
#include "st.h"
#include <stdarg.h>
#include "rt/fault.h"

/* The whole logical content: revisions, every live key, the history
 * left after compaction, the leases. */
typedef struct { char *p; size_t n, cap; } text;

static void put_text(text *t, const char *fmt, ...)
{
    va_list ap;
    char line[512];
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    REQUIRE(n >= 0 && (size_t)n < sizeof line);
    if (t->n + (size_t)n + 1 > t->cap) {
        t->cap = (t->n + (size_t)n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        REQUIRE(t->p != NULL);
    }
    memcpy(t->p + t->n, line, (size_t)n + 1);
    t->n += (size_t)n;
}

static void put_kv(text *t, const char *what, const km_kv *kv)
{
    put_text(t, "%s %.*s=%.*s c%ld m%ld v%ld l%ld\n", what, (int)kv->key.n, kv->key.p,
             (int)kv->value.n, kv->value.p, (long)kv->create_revision,
             (long)kv->mod_revision, (long)kv->version, (long)kv->lease);
}

static text state_of(km_store *s)
{
    text t = { 0 };
    km_store_stat st;
    REQUIRE_EQ(km_store_stat_read(s, &st), 0);
    put_text(&t, "rev %ld compact %ld keys %ld leases %ld\n", (long)st.revision,
             (long)st.compact_revision, (long)st.keys, (long)st.leases);
    km_op op = { .type = KM_OP_RANGE, .range = { .key = ALL, .range_end = ALL } };
    km_store_res res;
    REQUIRE_EQ(km_store_do(s, &op, &res), 0);
    km_range_resp *r = &res.txn.resp[0].range;
    for (size_t i = 0; i < r->nkvs; i++)
        put_kv(&t, "kv", &r->kvs[i]);
    km_store_res_free(&res);
    km_event *ev;
    size_t n;
    int64_t next;
    int64_t from = st.compact_revision ? st.compact_revision : 1;
    REQUIRE_EQ(km_store_history(s, from, 0, ALL, ALL, true, 0, &ev, &n, &next, &res), 0);
    for (size_t i = 0; i < n; i++) {
        put_kv(&t, ev[i].type == KM_EV_PUT ? "put" : "del", &ev[i].kv);
        if (ev[i].has_prev)
            put_kv(&t, " prev", &ev[i].prev_kv);
    }
    km_store_res_free(&res);
    int64_t *ids;
    REQUIRE_EQ(km_lease_list(s, &ids, &n, &res), 0);
    for (size_t i = 0; i < n; i++) {
        km_lease_info li;
        km_store_res kr;
        REQUIRE_EQ(km_lease_ttl(s, ids[i], true, &li, &kr), 0);
        put_text(&t, "lease %ld ttl %ld keys %zu\n", (long)li.id, (long)li.granted_ttl, li.nkeys);
        km_store_res_free(&kr);
    }
    km_store_res_free(&res);
    return t;
}

/* Known content: history to compact, a prefix to delete, a lease with a key. */
static void fill(km_store *s)
{
    int64_t id;
    REQUIRE_EQ(km_lease_grant(s, 100, 3600, &id, NULL), 0);
    REQUIRE_EQ(km_lease_grant(s, 200, 3600, &id, NULL), 0);
    REQUIRE_EQ(st_put(s, "a", "1", 0, NULL), 0);          /* 2 */
    REQUIRE_EQ(st_put(s, "a", "2", 0, NULL), 0);          /* 3 */
    static const km_op ops[] = {
        { .type = KM_OP_PUT, .put = { .key = B("p/1"), .value = B("x") } },
        { .type = KM_OP_PUT, .put = { .key = B("p/2"), .value = B("y") } },
        { .type = KM_OP_PUT, .put = { .key = B("p/3"), .value = B("z") } },
        { .type = KM_OP_PUT, .put = { .key = B("q"), .value = B("keep") } },
    };
    km_txn_req t = { .success = ops, .nsuccess = 4 };
    km_store_res res;
    REQUIRE_EQ(km_store_txn(s, &t, &res), 0);             /* 4 */
    km_store_res_free(&res);
    REQUIRE_EQ(st_put(s, "l", "leased", 100, NULL), 0);   /* 5 */
    REQUIRE_EQ(st_del(s, "a", NULL, NULL, NULL), 0);      /* 6 */
    REQUIRE_EQ(st_put(s, "a", "3", 0, NULL), 0);          /* 7 */
}

typedef int op_fn(km_store *s);

static int op_put(km_store *s)
{
    km_op op = { .type = KM_OP_PUT, .put = { .key = B("b"), .value = B("new"), .lease = 200, .prev_kv = true } };
    km_store_res res;
    int rc = km_store_do(s, &op, &res);
    km_store_res_free(&res);
    return rc;
}

static int op_txn(km_store *s)
{
    km_cmp cmp = { .result = KM_CMP_EQUAL, .target = KM_CMP_VALUE, .key = B("a"), .value = B("3") };
    km_op ok[] = {
        { .type = KM_OP_PUT, .put = { .key = B("a"), .value = B("4") } },
        { .type = KM_OP_DELETE, .del = { .key = B("q"), .prev_kv = true } },
        { .type = KM_OP_RANGE, .range = { .key = B("p/"), .range_end = B("p0") } },
    };
    km_txn_req t = { .cmp = &cmp, .ncmp = 1, .success = ok, .nsuccess = 3 };
    km_store_res res;
    int rc = km_store_txn(s, &t, &res);
    km_store_res_free(&res);
    return rc;
}

static int op_del_prefix(km_store *s)
{
    km_op op = { .type = KM_OP_DELETE, .del = { .key = B("p/"), .range_end = B("p0"), .prev_kv = true } };
    km_store_res res;
    int rc = km_store_do(s, &op, &res);
    km_store_res_free(&res);
    return rc;
}

static int op_compact(km_store *s)
{
    int64_t rev;
    return km_store_compact(s, 6, &rev);
}

static int op_grant(km_store *s)
{
    int64_t id;
    return km_lease_grant(s, 300, 60, &id, NULL);
}

static int op_revoke(km_store *s)
{
    return km_lease_revoke(s, 100, NULL);
}

static const struct { const char *name; op_fn *fn; } ops[] = {
    { "put", op_put }, { "txn", op_txn }, { "delete prefix", op_del_prefix },
    { "compact", op_compact }, { "lease grant", op_grant }, { "lease revoke", op_revoke },
};

static const char *const kinds[] = { "alloc", "commit", "fsync" };

static void reopen(st_env *e)
{
    if (e->s)
        km_store_close(e->s);
    st_rmdir(e->dir);
    st_open_in(e);
    fill(e->s);
}

static void faults_body(void *arg)
{
    size_t which = (size_t)(uintptr_t)arg;
    st_env e = { .s = NULL };
    strcpy(e.dir, "/dev/shm/kmfaultsXXXXXX");
    REQUIRE(mkdtemp(e.dir) != NULL);
    /* The reference: the operation without faults. */
    reopen(&e);
    text before = state_of(e.s);
    REQUIRE_EQ(ops[which].fn(e.s), 0);
    text after = state_of(e.s);
    REQUIRE(strcmp(before.p, after.p) != 0);
    long failed = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (long nth = 1; nth < 5000; nth++) {
            reopen(&e);
            char spec[32];
            snprintf(spec, sizeof spec, "%s:%ld", kinds[k], nth);
            REQUIRE_EQ(km__fault_arm(spec), 0);
            int rc = ops[which].fn(e.s);
            km__fault_disarm();
            long injected = km__fault_injected();
            const km__fault_site *site = km__fault_last();
            text now = state_of(e.s);
            if (!injected) {
                /* fewer hits than nth: the operation ran clean */
                ck_assert_msg(rc == 0, "%s, %s: %s without a fault", ops[which].name, spec, km_strerror(rc));
                ck_assert_str_eq(now.p, after.p);
                free(now.p);
                break;
            }
            if (rc == 0) {
                ck_assert_msg(strcmp(now.p, after.p) == 0,
                              "%s acknowledged with %s failing at %s:%d, but the store holds\n%s\nnot\n%s",
                              ops[which].name, spec, site->file, site->line, now.p, after.p);
            } else if (strcmp(kinds[k], "fsync") == 0) {
                /* A failed sync leaves the commit visible but not durable,
                 * and the store refuses every write after it. */
                ck_assert_msg(strcmp(now.p, before.p) == 0 || strcmp(now.p, after.p) == 0,
                              "%s: after a failed sync the store holds\n%s", ops[which].name, now.p);
                ck_assert_int_eq(st_put(e.s, "zz", "1", 0, NULL), rc);
                failed++;
            } else {
                ck_assert_msg(strcmp(now.p, before.p) == 0,
                              "%s refused (%s) with %s failing at %s:%d, but the store holds\n%s\nnot\n%s",
                              ops[which].name, km_strerror(rc), spec, site->file, site->line,
                              now.p, before.p);
                failed++;
            }
            free(now.p);
        }
    }
    /* at least the commit must have failed the operation */
    ck_assert_msg(failed > 0, "%s: no injected fault made it fail", ops[which].name);
    free(before.p);
    free(after.p);
    km_store_close(e.s);
    st_rmdir(e.dir);
}

START_TEST(op_faults) { t_run(faults_body, (void *)(uintptr_t)_i); }
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store/faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, op_faults, 0, (int)(sizeof ops / sizeof ops[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return t_main(suite); }
