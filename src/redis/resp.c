/* SPDX-License-Identifier: MIT */
/* RESP2/RESP3 reply parser: a resumable bounded scan, then one arena per reply tree. */
#include "redis/resp.h"
#include "rt/alloc.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One token: a scalar, or the header of an aggregate. */
typedef struct {
    char        type;
    int64_t     n;          /* integer, or a length / count (-1: null) */
    double      d;
    const char *s;          /* line or payload */
    size_t      slen;
    size_t      adv;        /* bytes the token spans */
} tok;

static bool is_agg(char t)
{
    return t == '*' || t == '%' || t == '~' || t == '>' || t == '|';
}

/* Finds the CRLF ending the line that starts at b (after the type byte).
 * 1 and *eol (index of the CR); 0: need more; -EMSGSIZE: longer than max. */
static int line_end(const char *b, size_t len, size_t max, size_t *eol)
{
    size_t lim = len < max + 2 ? len : max + 2;  /* content, then CR */
    const char *cr = lim > 1 ? memchr(b + 1, '\r', lim - 1) : NULL;
    if (!cr)
        return len - 1 > max ? -EMSGSIZE : 0;
    size_t i = (size_t)(cr - b);
    if (i + 1 >= len)
        return 0;
    if (b[i + 1] != '\n')
        return -EPROTO;
    *eol = i;
    return 1;
}

/* Strict decimal int64: optional '-', 1 to 19 digits, no overflow. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg;
    if (i == n || n - i > 19)
        return -EPROTO;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EPROTO;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return -EPROTO;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* 1 and *t; 0: need more; -EPROTO; -EMSGSIZE. */
static int next_tok(const km_redis_limits *lim, const char *b, size_t len, tok *t)
{
    if (len == 0)
        return 0;
    size_t eol;
    int rc = line_end(b, len, lim->max_line, &eol);
    if (rc <= 0)
        return rc;
    t->type = b[0];
    t->s = b + 1;
    t->slen = eol - 1;
    t->adv = eol + 2;
    t->n = 0;
    switch (b[0]) {
    case '+': case '-':
        if (memchr(t->s, '\n', t->slen))
            return -EPROTO;
        return 1;
    case '(': {
        size_t i = t->slen && (t->s[0] == '-' || t->s[0] == '+');
        if (i == t->slen)
            return -EPROTO;
        for (; i < t->slen; i++)
            if (t->s[i] < '0' || t->s[i] > '9')
                return -EPROTO;
        return 1;
    }
    case ':':
        return parse_i64(t->s, t->slen, &t->n) ? -EPROTO : 1;
    case ',': {
        char tmp[128];
        if (t->slen == 0 || t->slen >= sizeof tmp || memchr(t->s, '\0', t->slen))
            return -EPROTO;
        memcpy(tmp, t->s, t->slen);
        tmp[t->slen] = '\0';
        char *end;
        t->d = strtod(tmp, &end);
        return *end ? -EPROTO : 1;
    }
    case '#':
        if (t->slen != 1 || (t->s[0] != 't' && t->s[0] != 'f'))
            return -EPROTO;
        t->n = t->s[0] == 't';
        return 1;
    case '_':
        return t->slen == 0 ? 1 : -EPROTO;
    case '$': case '!': case '=': {
        if (parse_i64(t->s, t->slen, &t->n))
            return -EPROTO;
        if (t->n == -1 && b[0] == '$')
            return 1;       /* RESP2's null bulk */
        if (t->n < 0)
            return -EPROTO;
        if ((uint64_t)t->n > lim->max_bulk)
            return -EMSGSIZE;
        if (b[0] == '=' && t->n < 4)
            return -EPROTO;
        size_t need = eol + 2 + (size_t)t->n + 2;
        if (len < need)
            return 0;
        if (b[need - 2] != '\r' || b[need - 1] != '\n')
            return -EPROTO;
        t->s = b + eol + 2;
        t->slen = (size_t)t->n;
        t->adv = need;
        if (b[0] == '=' && t->s[3] != ':')
            return -EPROTO;
        return 1;
    }
    case '*': case '%': case '~': case '>': case '|': {
        if (parse_i64(t->s, t->slen, &t->n))
            return -EPROTO;
        if (t->n == -1 && b[0] == '*')
            return 1;       /* RESP2's null array */
        if (t->n < 0)
            return -EPROTO;
        bool pairs = b[0] == '%' || b[0] == '|';
        if ((uint64_t)t->n > lim->max_elems / (pairs ? 2 : 1))
            return -EMSGSIZE;
        if (pairs)
            t->n *= 2;
        return 1;
    }
    default:
        return -EPROTO;
    }
}

int km__resp_init(km__resp *p, const km_redis_limits *lim)
{
    memset(p, 0, sizeof *p);
    if (lim)
        p->lim = *lim;
    if (p->lim.max_depth < 0 || p->lim.max_depth > KM__RESP_DEPTH_MAX)
        return -EINVAL;
    if (!p->lim.max_bulk)
        p->lim.max_bulk = 512u << 20;
    if (!p->lim.max_elems)
        p->lim.max_elems = 16u << 20;
    if (!p->lim.max_line)
        p->lim.max_line = 64u << 10;
    if (!p->lim.max_depth)
        p->lim.max_depth = 32;
    return 0;
}

static int node_type(char c)
{
    switch (c) {
    case '+': return KM_REDIS_STATUS;
    case '-': case '!': return KM_REDIS_ERROR;
    case ':': return KM_REDIS_INTEGER;
    case '$': return KM_REDIS_STRING;
    case '_': return KM_REDIS_NIL;
    case '*': return KM_REDIS_ARRAY;
    case '%': return KM_REDIS_MAP;
    case '~': return KM_REDIS_SET;
    case ',': return KM_REDIS_DOUBLE;
    case '#': return KM_REDIS_BOOL;
    case '(': return KM_REDIS_BIGNUM;
    case '=': return KM_REDIS_VERBATIM;
    case '>': return KM_REDIS_PUSH;
    }
    return 0;
}

static bool has_str(char c)
{
    return c == '+' || c == '-' || c == '!' || c == '$' || c == ',' || c == '(' || c == '=';
}

/* Pops the frames a finished value completes. 1: the reply is complete. */
static int value_done(km__resp *p)
{
    while (p->depth > 0) {
        int top = p->depth - 1;
        if (--p->st[top].left > 0)
            return 0;
        p->depth--;
        if (p->st[top].attr) {
            p->skipping--;
            return 0;   /* an attribute is no value of its parent */
        }
    }
    return 1;
}

static int push(km__resp *p, int64_t n, int attr)
{
    if (p->depth >= p->lim.max_depth)
        return -EMSGSIZE;
    p->st[p->depth].left = n;
    p->st[p->depth].attr = attr;
    p->depth++;
    p->skipping += attr;
    return 0;
}

/* Second pass over a complete, already validated reply of p->pos bytes. */
static int build(km__resp *p, const char *buf, km_redis_reply **out)
{
    size_t sz = p->nodes * sizeof(km_redis_reply) + p->ptrs * sizeof(km_redis_reply *) + p->bytes;
    char *arena = km__malloc(sz ? sz : 1);
    if (!arena)
        return -ENOMEM;
    km_redis_reply *nodes = (km_redis_reply *)arena;
    km_redis_reply **ptrs = (km_redis_reply **)(arena + p->nodes * sizeof(km_redis_reply));
    char *bytes = (char *)(ptrs + p->ptrs);
    size_t ni = 0, pi = 0, bi = 0, pos = 0, total = p->pos;
    km_redis_reply *par[KM__RESP_DEPTH_MAX];
    km_redis_reply *root = NULL;
    p->depth = p->skipping = 0;
    for (;;) {
        tok t;
        if (next_tok(&p->lim, buf + pos, total - pos, &t) != 1) {
            km__free(arena);    /* cannot happen: the scan validated it */
            return -EPROTO;
        }
        pos += t.adv;
        bool agg = is_agg(t.type) && t.n >= 0;
        km_redis_reply *nd = NULL;
        if (!p->skipping && t.type != '|') {
            nd = &nodes[ni++];
            memset(nd, 0, sizeof *nd);
            nd->type = (t.type == '$' || t.type == '*') && t.n < 0 ? KM_REDIS_NIL
                                                               : node_type(t.type);
            if (agg) {
                nd->len = (size_t)t.n;
                nd->elem = &ptrs[pi];
                pi += (size_t)t.n;
            } else if (has_str(t.type) && !(t.type == '$' && t.n < 0)) {
                const char *s = t.s;
                size_t n = t.slen;
                if (t.type == '=') {
                    memcpy(nd->format, s, 3);
                    s += 4;
                    n -= 4;
                }
                memcpy(bytes + bi, s, n);
                bytes[bi + n] = '\0';
                nd->str = bytes + bi;
                nd->len = n;
                bi += n + 1;
                nd->dval = t.d;
            } else {
                nd->integer = t.n;
            }
            if (p->depth == 0)
                root = nd;
            else {
                km_redis_reply *pa = par[p->depth - 1];
                pa->elem[pa->len - (size_t)p->st[p->depth - 1].left] = nd;
            }
        }
        if (agg && t.n > 0) {
            par[p->depth] = nd;
            push(p, t.n, t.type == '|');
            continue;
        }
        if (agg && t.type == '|')
            continue;   /* an empty attribute */
        if (value_done(p))
            break;
    }
    *out = root;
    return 0;
}

int km__resp_feed(km__resp *p, const char *buf, size_t len,
                  km_redis_reply **out, size_t *used)
{
    *out = NULL;
    for (;;) {
        tok t;
        int rc = next_tok(&p->lim, buf + p->pos, len - p->pos, &t);
        if (rc <= 0)
            return rc;
        p->pos += t.adv;
        bool agg = is_agg(t.type) && t.n >= 0;
        if (agg) {
            if (t.type == '|') {
                if (t.n > 0 && (rc = push(p, t.n, 1)))
                    return rc;
                continue;
            }
            if (!p->skipping) {
                p->nodes++;
                p->ptrs += (size_t)t.n;
            }
            if (t.n > 0) {
                if ((rc = push(p, t.n, 0)))
                    return rc;
                continue;
            }
        } else if (!p->skipping) {
            p->nodes++;
            if (has_str(t.type) && t.n >= 0)
                p->bytes += t.slen + 1;
        }
        if (value_done(p))
            break;
    }
    size_t total = p->pos;
    int rc = build(p, buf, out);
    p->pos = p->nodes = p->ptrs = p->bytes = 0;
    p->depth = p->skipping = 0;
    if (rc)
        return rc;
    *used = total;
    return 1;
}

void km_redis_reply_free(km_redis_reply *r)
{
    km__free(r);
}

const char *km_redis_type_name(int type)
{
    static const char *const names[] = {
        NULL, "status", "error", "integer", "string", "nil", "array", "map",
        "set", "double", "bool", "bignum", "verbatim", "push",
    };
    return type > 0 && type <= KM_REDIS_PUSH ? names[type] : "?";
}
