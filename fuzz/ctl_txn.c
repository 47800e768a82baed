/* SPDX-License-Identifier: MIT */
/* libFuzzer target for kumo txn's line parsers: one line, as a compare and as a request. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cmd/kumo/txn-parse.h"

/* jansson's allocations are counted so that a leaked JSON value fails the
 * replay test too, where LeakSanitizer does not run. */
static long live;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        live++;
    return p;
}

static void count_free(void *p)
{
    if (p)
        live--;
    free(p);
}

/* A base64 member that decodes to at most max bytes; its length or -1. */
static long b64_len(json_t *o, const char *key, size_t max)
{
    if (!json_is_string(json_object_get(o, key)))
        return -1;
    size_t n;
    char *s = ctl_unb64(o, key, &n);
    if (!s)
        return -1;
    free(s);
    return n <= max ? (long)n : -1;
}

static bool one_of(const char *s, const char *const *set)
{
    for (; s && *set; set++)
        if (!strcmp(s, *set))
            return true;
    return false;
}

static void check_compare(json_t *c, size_t size)
{
    static const char *const targets[] = { "VALUE", "VERSION", "CREATE", "MOD", "LEASE", NULL };
    static const char *const fields[] = { "value", "version", "create_revision",
                                          "mod_revision", "lease", NULL };
    static const char *const results[] = { "EQUAL", "NOT_EQUAL", "LESS", "GREATER", NULL };
    if (!json_is_object(c) || json_object_size(c) != 4 || b64_len(c, "key", size) < 0)
        abort();
    const char *t = json_string_value(json_object_get(c, "target"));
    if (!one_of(t, targets) || !one_of(json_string_value(json_object_get(c, "result")), results))
        abort();
    size_t i = 0;
    while (strcmp(t, targets[i]))
        i++;
    json_t *v = json_object_get(c, fields[i]);
    if (i == 0 ? b64_len(c, "value", size) < 0 : !json_is_integer(v))
        abort();
}

static void check_request(json_t *r, const ctl_op *op, size_t size)
{
    static const char *const wraps[] = { "request_range", "request_put",
                                         "request_delete_range", NULL };
    const char *w = json_object_iter_key(json_object_iter(r));
    json_t *req = json_object_get(r, w ? w : "");
    if (!json_is_object(r) || json_object_size(r) != 1 || !one_of(w, wraps) ||
        !json_is_object(req) || req != op->req)
        abort();
    long kn = b64_len(req, "key", size);
    if (kn < 0 || (json_object_get(req, "range_end") && b64_len(req, "range_end", size + 1) < 0))
        abort();
    bool range = !strcmp(w, "request_range"), put = !strcmp(w, "request_put");
    if ((op->keys_only || op->count_only) && !range)
        abort();
    if ((op->keys_only && op->count_only) || (op->prev_kv && range))
        abort();
    if (put && (kn == 0 || b64_len(req, "value", size) < 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null) {
        json_set_alloc_funcs(count_malloc, count_free);
        if (!(null = fopen("/dev/null", "w")))
            abort();
    }
    char *line = malloc(size + 1);
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = 0;

    /* The request parsers print usage and help; keep them off the fuzzer's
     * output (sanitizer reports write to fd 2 directly). */
    FILE *out = stdout, *err = stderr;
    stdout = stderr = null;
    json_t *c = NULL, *r = NULL;
    int crc = ctl_txn_parse_compare(line, &c);
    long after_compare = live;
    ctl_op op;
    int rrc = ctl_txn_parse_request(line, &op, &r);
    stdout = out;
    stderr = err;

    if (crc == 0)
        check_compare(c, size);
    else if (crc != -1 || c || after_compare)
        abort();
    if (rrc == 0)
        check_request(r, &op, size);
    else if (rrc != -1 || r)
        abort();
    json_decref(c);
    json_decref(r);
    free(line);
    if (live)
        abort();
    return 0;
}
