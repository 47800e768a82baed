/* SPDX-License-Identifier: MIT */
/* Decoding etcd's JSON requests (as the gateway's jsonpb reads them) into
 * the store's request structs, bytes copied into a per-request arena. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "etcd/etcd-int.h"
#include "enc/b64.h"

/* Nesting the parser accepts. jansson recurses per level on a goroutine
 * stack; real requests nest a few levels (txn in txn). */
#define MAX_DEPTH 64

static int fail(km__arena *a, const char **msg, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof tmp)
        n = sizeof tmp - 1;
    char *m = a ? km__arena_alloc(a, (size_t)n + 1) : NULL;
    if (!m) {
        *msg = "invalid request";
        return -EINVAL;
    }
    memcpy(m, tmp, (size_t)n);
    m[n] = 0;
    *msg = m;
    return -EINVAL;
}

const char *km__etcd_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: case JSON_REAL: return "number";
    case JSON_TRUE: case JSON_FALSE: return "bool";
    default: return "null";
    }
}

/* Depth of brackets outside strings, stopping early past MAX_DEPTH. */
static bool too_deep(const char *p, size_t n)
{
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '"') {
            for (i++; i < n && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
        } else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH)
                return true;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return false;
}

/* Go reads a token starting with n, t or f as the literal null, true or
 * false and names the first character that breaks it. tok is jansson's
 * quoted token; 0 once *msg is set, -1 if the token is not such a case. */
static int literal_error(const char *tok, km__arena *a, const char **msg)
{
    const char *lit = tok[0] == 'n' ? "null" : tok[0] == 't' ? "true" : "false";
    for (size_t j = 1; lit[j]; j++) {
        char c = tok[j];
        if (c == '\'' || c == 0)
            return -1;              /* cut short: the generic message */
        if (c != lit[j]) {
            if (c < 0x20 || c > 0x7e)
                c = '?';
            fail(a, msg, "invalid character '%c' in literal %s (expecting '%c')", c, lit, lit[j]);
            return 0;
        }
    }
    return -1;
}

json_t *km__etcd_parse(const char *p, size_t n, km__arena *a, const char **msg)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    if (i == n)
        return json_object();   /* empty body: an empty request, as the gateway reads it */
    if (too_deep(p + i, n - i)) {
        fail(a, msg, "exceeded max depth");
        return NULL;
    }
    json_error_t err;
    /* the gateway decodes one value from the stream and ignores the rest */
    json_t *v = json_loadb(p + i, n - i, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &err);
    if (!v) {
        /* jansson names the offending token ("... near 'x'"); Go names its first byte */
        const char *near = strstr(err.text, "near '");
        if (json_error_code(&err) == json_error_premature_end_of_input || !near || !near[6])
            fail(a, msg, "unexpected EOF");
        else if (json_error_code(&err) == json_error_numeric_overflow)
            fail(a, msg, "json: cannot unmarshal number %.40s into Go value of type int64", near + 6);
        else if (strchr("ntf", near[6]) && !literal_error(near + 6, a, msg)) {
            /* message set: a misspelt null, true or false */
        } else {
            char c = near[6];
            if (c < 0x20 || c > 0x7e)
                c = '?';
            fail(a, msg, "invalid character '%c' looking for beginning of value", c);
        }
        return NULL;
    }
    if (json_is_null(v)) {
        json_decref(v);
        return json_object();
    }
    if (!json_is_object(v)) {
        fail(a, msg, "json: cannot unmarshal %s into Go value of type map[string]json.RawMessage",
             km__etcd_json_kind(v));
        json_decref(v);
        return NULL;
    }
    return v;
}

/* A field by its proto name, else by its lowerCamelCase JSON name (jsonpb
 * accepts both, the proto name first). JSON null reads as absent. */
static json_t *field(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!v && strchr(name, '_')) {
        char camel[64];
        size_t j = 0;
        for (size_t i = 0; name[i] && j < sizeof camel - 1; i++) {
            if (name[i] == '_' && name[i + 1] >= 'a' && name[i + 1] <= 'z') {
                camel[j++] = (char)(name[++i] - 'a' + 'A');
            } else {
                camel[j++] = name[i];
            }
        }
        camel[j] = 0;
        v = json_object_get(o, camel);
    }
    return v && !json_is_null(v) ? v : NULL;
}

/* Parses s as Go parses an int64 inside a JSON string. */
static int parse_i64(const char *s, size_t n, int64_t *out, km__arena *a, const char **msg)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (!n)
        return fail(a, msg, "unexpected end of JSON input");
    if (s[0] != '-' && (s[0] < '0' || s[0] > '9'))
        return fail(a, msg, "invalid character '%c' looking for beginning of value",
                    s[0] >= 0x20 && s[0] < 0x7f ? s[0] : '?');
    size_t i = s[0] == '-';
    bool neg = i == 1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    bool ok = i < n && !(s[i] == '0' && i + 1 < n);
    for (; ok && i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (lim - (uint64_t)(s[i] - '0')) / 10) {
            ok = false;
            break;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (!ok)
        return fail(a, msg, "json: cannot unmarshal number %.*s into Go value of type int64",
                    (int)(n > 40 ? 40 : n), s);
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int km__etcd_dec_i64a(json_t *o, const char *name, km__arena *a, int64_t *v, const char **msg)
{
    *v = 0;
    json_t *f = field(o, name);
    if (!f)
        return 0;
    switch (json_typeof(f)) {
    case JSON_INTEGER:
        *v = (int64_t)json_integer_value(f);
        return 0;
    case JSON_STRING:
        break;
    case JSON_REAL:
        *msg = "json: cannot unmarshal number into Go value of type int64";
        return -EINVAL;
    default:
        return fail(a, msg, "json: cannot unmarshal %s into Go value of type int64",
            km__etcd_json_kind(f));
    }
    return parse_i64(json_string_value(f), json_string_length(f), v, a, msg);
}

int km__etcd_dec_i64(json_t *o, const char *name, int64_t *v, const char **msg)
{
    /* no arena on the common path: only a failure needs one, for its message */
    int rc = km__etcd_dec_i64a(o, name, NULL, v, msg);
    if (!rc)
        return 0;
    km__arena *a = km__arena_new();
    if (!a)
        return -ENOMEM;
    rc = km__etcd_dec_i64a(o, name, a, v, msg);
    if (rc && *msg) {
        /* the arena goes: keep the gist in a static message */
        *msg = strncmp(*msg, "invalid character", 17) == 0
                   ? "invalid character looking for beginning of value"
                   : strncmp(*msg, "json: cannot unmarshal number", 29) == 0
                         ? "json: cannot unmarshal number into Go value of type int64"
                         : strncmp(*msg, "unexpected end", 14) == 0
                               ? "unexpected end of JSON input"
                               : "json: cannot unmarshal value into Go value of type int64";
    }
    km__arena_free(a);
    return rc;
}

int km__etcd_dec_bool(json_t *o, const char *name, bool *v, const char **msg)
{
    *v = false;
    json_t *f = field(o, name);
    if (!f)
        return 0;
    if (!json_is_boolean(f)) {
        static const char *m[] = {
            "json: cannot unmarshal object into Go value of type bool",
            "json: cannot unmarshal array into Go value of type bool",
            "json: cannot unmarshal string into Go value of type bool",
            "json: cannot unmarshal number into Go value of type bool",
        };
        *msg = m[json_is_object(f) ? 0 : json_is_array(f) ? 1 : json_is_string(f) ? 2 : 3];
        return -EINVAL;
    }
    *v = json_is_true(f);
    return 0;
}

int km__etcd_dec_bytes(json_t *o, const char *name, km__arena *a, km_bytes *v,
                       const char **msg)
{
    v->p = (const uint8_t *)"";
    v->n = 0;
    json_t *f = field(o, name);
    if (!f)
        return 0;
    if (!json_is_string(f))
        return fail(a, msg, "json: cannot unmarshal %s into Go value of type []uint8",
            km__etcd_json_kind(f));
    const char *s = json_string_value(f);
    size_t n = json_string_length(f);
    if (!n)
        return 0;
    uint8_t *out = km__arena_alloc(a, km__b64_dec_max(n));
    if (!out)
        return -ENOMEM;
    long d = km__b64_decode(out, s, n);
    if (d < 0) {
        size_t at = 0;
        while (at < n && s[at] != '=' && (s[at] == '+' || s[at] == '/' ||
               (s[at] >= '0' && s[at] <= '9') || ((s[at] | 0x20) >= 'a' && (s[at] | 0x20) <= 'z')))
            at++;
        if (at == n)
            at = 0;
        return fail(a, msg, "illegal base64 data at input byte %zu", at);
    }
    v->p = out;
    v->n = (size_t)d;
    return 0;
}

/* An enum by name or number; type names the Go enum for messages. */
static int dec_enum(json_t *o, const char *name, const char *const *names, size_t nnames,
                    const char *type, int *v, km__arena *a, const char **msg)
{
    *v = 0;
    json_t *f = field(o, name);
    if (!f)
        return 0;
    if (json_is_integer(f)) {
        json_int_t x = json_integer_value(f);
        if (x < INT32_MIN || x > INT32_MAX)
            return fail(a, msg, "json: cannot unmarshal number %lld into Go value of type %s",
                        (long long)x, type);
        *v = (int)x;
        return 0;
    }
    if (json_is_string(f)) {
        const char *s = json_string_value(f);
        for (size_t i = 0; i < nnames; i++)
            if (strcmp(s, names[i]) == 0 && strlen(names[i]) == json_string_length(f)) {
                *v = (int)i;
                return 0;
            }
        return fail(a, msg, "unknown value \"%.64s\" for enum %s", s, type);
    }
    return fail(a, msg, "json: cannot unmarshal %s into Go value of type %s",
        km__etcd_json_kind(f), type);
}

static const char *const sort_orders[] = { "NONE", "ASCEND", "DESCEND" };
static const char *const sort_targets[] = { "KEY", "VERSION", "CREATE", "MOD", "VALUE" };
static const char *const cmp_results[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };
static const char *const cmp_targets[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
#define N(x) (sizeof x / sizeof x[0])

#define TRY(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

int km__etcd_dec_range(json_t *o, km__arena *a, km_range_req *req, const char **msg)
{
    memset(req, 0, sizeof *req);
    TRY(km__etcd_dec_bytes(o, "key", a, &req->key, msg));
    TRY(km__etcd_dec_bytes(o, "range_end", a, &req->range_end, msg));
    TRY(km__etcd_dec_i64a(o, "limit", a, &req->limit, msg));
    TRY(km__etcd_dec_i64a(o, "revision", a, &req->revision, msg));
    TRY(dec_enum(o, "sort_order", sort_orders, N(sort_orders),
                 "etcdserverpb.RangeRequest_SortOrder", &req->sort_order, a, msg));
    TRY(dec_enum(o, "sort_target", sort_targets, N(sort_targets),
                 "etcdserverpb.RangeRequest_SortTarget", &req->sort_target, a, msg));
    km__etcd_range_sort(req);
    TRY(km__etcd_dec_bool(o, "serializable", &req->serializable, msg));
    TRY(km__etcd_dec_bool(o, "keys_only", &req->keys_only, msg));
    TRY(km__etcd_dec_bool(o, "count_only", &req->count_only, msg));
    TRY(km__etcd_dec_i64a(o, "min_mod_revision", a, &req->min_mod_revision, msg));
    TRY(km__etcd_dec_i64a(o, "max_mod_revision", a, &req->max_mod_revision, msg));
    TRY(km__etcd_dec_i64a(o, "min_create_revision", a, &req->min_create_revision, msg));
    TRY(km__etcd_dec_i64a(o, "max_create_revision", a, &req->max_create_revision, msg));
    return 0;
}

int km__etcd_dec_put(json_t *o, km__arena *a, km_put_req *req, const char **msg)
{
    memset(req, 0, sizeof *req);
    TRY(km__etcd_dec_bytes(o, "key", a, &req->key, msg));
    TRY(km__etcd_dec_bytes(o, "value", a, &req->value, msg));
    TRY(km__etcd_dec_i64a(o, "lease", a, &req->lease, msg));
    TRY(km__etcd_dec_bool(o, "prev_kv", &req->prev_kv, msg));
    TRY(km__etcd_dec_bool(o, "ignore_value", &req->ignore_value, msg));
    TRY(km__etcd_dec_bool(o, "ignore_lease", &req->ignore_lease, msg));
    return 0;
}

int km__etcd_dec_del(json_t *o, km__arena *a, km_del_req *req, const char **msg)
{
    memset(req, 0, sizeof *req);
    TRY(km__etcd_dec_bytes(o, "key", a, &req->key, msg));
    TRY(km__etcd_dec_bytes(o, "range_end", a, &req->range_end, msg));
    TRY(km__etcd_dec_bool(o, "prev_kv", &req->prev_kv, msg));
    return 0;
}

/* A repeated message field: its elements (objects; null reads as {}). */
static int dec_list(json_t *o, const char *name, json_t **arr, size_t *n, km__arena *a,
                    const char **msg)
{
    *arr = NULL;
    *n = 0;
    json_t *f = field(o, name);
    if (!f)
        return 0;
    if (!json_is_array(f))
        return fail(a, msg, "json: cannot unmarshal %s into Go value of type []json.RawMessage",
                    km__etcd_json_kind(f));
    for (size_t i = 0; i < json_array_size(f); i++) {
        json_t *e = json_array_get(f, i);
        if (!json_is_object(e) && !json_is_null(e))
            return fail(a, msg,
                        "json: cannot unmarshal %s into Go value of type map[string]json.RawMessage",
                        km__etcd_json_kind(e));
    }
    *arr = f;
    *n = json_array_size(f);
    return 0;
}

/* A message-typed field: object (or absent/null). */
static int dec_msg(json_t *o, const char *name, json_t **out, km__arena *a, const char **msg)
{
    *out = field(o, name);
    if (*out && !json_is_object(*out))
        return fail(a, msg,
                    "json: cannot unmarshal %s into Go value of type map[string]json.RawMessage",
                    km__etcd_json_kind(*out));
    return 0;
}

static int dec_cmp(json_t *o, km__arena *a, km_cmp *c, const char **msg)
{
    memset(c, 0, sizeof *c);
    if (!o)
        return 0;
    TRY(dec_enum(o, "result", cmp_results, N(cmp_results), "etcdserverpb.Compare_CompareResult",
                 &c->result, a, msg));
    TRY(dec_enum(o, "target", cmp_targets, N(cmp_targets), "etcdserverpb.Compare_CompareTarget",
                 &c->target, a, msg));
    TRY(km__etcd_dec_bytes(o, "key", a, &c->key, msg));
    TRY(km__etcd_dec_bytes(o, "range_end", a, &c->range_end, msg));
    /* the operand is a oneof: only the member the target names counts */
    int64_t version, create, mod, lease;
    km_bytes value;
    TRY(km__etcd_dec_i64a(o, "version", a, &version, msg));
    TRY(km__etcd_dec_i64a(o, "create_revision", a, &create, msg));
    TRY(km__etcd_dec_i64a(o, "mod_revision", a, &mod, msg));
    TRY(km__etcd_dec_bytes(o, "value", a, &value, msg));
    TRY(km__etcd_dec_i64a(o, "lease", a, &lease, msg));
    switch (c->target) {
    case KM_CMP_VERSION: c->num = version; break;
    case KM_CMP_CREATE: c->num = create; break;
    case KM_CMP_MOD: c->num = mod; break;
    case KM_CMP_VALUE: c->value = value; break;
    case KM_CMP_LEASE: c->num = lease; break;
    default: break;
    }
    return 0;
}

static int dec_txn_depth(json_t *o, km__arena *a, km_txn_req *req, const char **msg);

static int dec_op(json_t *o, km__arena *a, km_op *op, const char **msg)
{
    memset(op, 0, sizeof *op);
    op->type = -1;      /* no request: etcd's "key not found" at validation */
    if (!o)
        return 0;
    json_t *m;
    TRY(dec_msg(o, "request_range", &m, a, msg));
    if (m) {
        op->type = KM_OP_RANGE;
        return km__etcd_dec_range(m, a, &op->range, msg);
    }
    TRY(dec_msg(o, "request_put", &m, a, msg));
    if (m) {
        op->type = KM_OP_PUT;
        return km__etcd_dec_put(m, a, &op->put, msg);
    }
    TRY(dec_msg(o, "request_delete_range", &m, a, msg));
    if (m) {
        op->type = KM_OP_DELETE;
        return km__etcd_dec_del(m, a, &op->del, msg);
    }
    TRY(dec_msg(o, "request_txn", &m, a, msg));
    if (m) {
        km_txn_req *t = km__arena_alloc(a, sizeof *t);
        if (!t)
            return -ENOMEM;
        op->type = KM_OP_TXN;
        op->txn = t;
        return dec_txn_depth(m, a, t, msg);
    }
    return 0;
}

static int dec_ops(json_t *o, const char *name, km__arena *a, const km_op **ops, size_t *nops,
                   const char **msg)
{
    json_t *arr;
    size_t n;
    TRY(dec_list(o, name, &arr, &n, a, msg));
    *ops = NULL;
    *nops = n;
    if (!n)
        return 0;
    km_op *v = km__arena_alloc(a, n * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        TRY(dec_op(json_array_get(arr, i), a, &v[i], msg));
    *ops = v;
    return 0;
}

static int dec_txn_depth(json_t *o, km__arena *a, km_txn_req *req, const char **msg)
{
    memset(req, 0, sizeof *req);
    json_t *arr;
    size_t n;
    TRY(dec_list(o, "compare", &arr, &n, a, msg));
    if (n) {
        km_cmp *c = km__arena_alloc(a, n * sizeof *c);
        if (!c)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(arr, i);
            TRY(dec_cmp(json_is_object(e) ? e : NULL, a, &c[i], msg));
        }
        req->cmp = c;
        req->ncmp = n;
    }
    TRY(dec_ops(o, "success", a, &req->success, &req->nsuccess, msg));
    TRY(dec_ops(o, "failure", a, &req->failure, &req->nfailure, msg));
    return 0;
}

int km__etcd_dec_txn(json_t *o, km__arena *a, km_txn_req *req, const char **msg)
{
    return dec_txn_depth(o, a, req, msg);
}
