/* SPDX-License-Identifier: MIT */
/* A raw HTTP/1.1 client over km_dial for the server tests: send bytes, read
 * and split responses, check that the server closed the connection. */
#ifndef KUMO_TEST_RAWCLI_H
#define KUMO_TEST_RAWCLI_H

#include "util.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#ifndef SEC
#define SEC 1000000000LL
#endif

static inline int64_t soon(void) { return km_now() + 10 * SEC; }

typedef struct { int fd; char *buf; size_t len, cap; } cli;
typedef struct { int status; char head[4096]; char *body; size_t body_n; } resp;

static inline void cli_open(cli *c, int port)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    c->fd = km_dial(addr, soon());
    ck_assert_msg(c->fd >= 0, "dial %s: %s", addr, km_strerror(c->fd));
    c->cap = 1 << 20;
    c->buf = malloc(c->cap);
    c->len = 0;
}

static inline void cli_close(cli *c)
{
    km_close(c->fd);
    free(c->buf);
}

static inline void cli_sendn(cli *c, const void *p, size_t n)
{
    ssize_t w = km_write(c->fd, p, n, soon());
    ck_assert_msg(w == (ssize_t)n, "write: %s", km_strerror((int)w));
}

static inline void cli_send(cli *c, const char *s) { cli_sendn(c, s, strlen(s)); }

/* Reads more: > 0, or -errno (-ENODATA at EOF). */
static inline ssize_t cli_fill(cli *c)
{
    ck_assert_msg(c->len < c->cap, "client buffer full");
    ssize_t n = km_read(c->fd, c->buf + c->len, c->cap - c->len, soon());
    if (n > 0)
        c->len += (size_t)n;
    return n == 0 ? -ENODATA : n;
}

static inline ssize_t cli_need(cli *c, size_t n)
{
    while (c->len < n) {
        ssize_t r = cli_fill(c);
        if (r < 0)
            return r;
    }
    return 0;
}

static inline void cli_consume(cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Offset just past delim, reading as needed; -errno. */
static inline ssize_t cli_find(cli *c, const char *delim)
{
    size_t dn = strlen(delim);
    for (;;) {
        char *p = memmem(c->buf, c->len, delim, dn);
        if (p)
            return p - c->buf + (ssize_t)dn;
        ssize_t r = cli_fill(c);
        if (r < 0)
            return r;
    }
}

static inline bool hdr(const resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(r->head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, name, nl) && l[2 + nl] == ':') {
            const char *v = l + 3 + nl, *e = strstr(v, "\r\n");
            while (*v == ' ') v++;
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return true;
        }
    }
    return false;
}

static inline bool hdr_is(const resp *r, const char *name, const char *want)
{
    char v[256];
    return hdr(r, name, v, sizeof v) && !strcasecmp(v, want);
}

static inline void body_add(resp *r, const char *p, size_t n)
{
    r->body = realloc(r->body, r->body_n + n + 1);
    memcpy(r->body + r->body_n, p, n);
    r->body_n += n;
    r->body[r->body_n] = 0;
}

static inline int read_head(cli *c, resp *r)
{
    memset(r, 0, sizeof *r);
    ssize_t e = cli_find(c, "\r\n\r\n");
    if (e < 0)
        return (int)e;
    ck_assert((size_t)e < sizeof r->head);
    memcpy(r->head, c->buf, (size_t)e);
    ck_assert_msg(sscanf(r->head, "HTTP/1.%*1d %3d ", &r->status) == 1, "status line: %s", r->head);
    cli_consume(c, (size_t)e);
    body_add(r, "", 0);
    return r->status;
}

/* Reads one response: fixed, chunked or close-delimited body (none for
 * HEAD, 1xx, 204, 304). Its status, or -errno (-ENODATA: EOF). */
static inline int read_resp(cli *c, resp *r, bool head_req)
{
    int st = read_head(c, r);
    if (st < 0 || head_req || st < 200 || st == 204 || st == 304)
        return st;
    char v[64];
    ssize_t e;
    if (hdr(r, "transfer-encoding", v, sizeof v)) {
        ck_assert_str_eq(v, "chunked");
        ck_assert(!hdr(r, "content-length", v, sizeof v));
        for (;;) {
            if ((e = cli_find(c, "\r\n")) < 0)
                return (int)e;
            size_t n = strtoul(c->buf, NULL, 16);
            cli_consume(c, (size_t)e);
            if (n == 0)
                break;
            if ((e = cli_need(c, n + 2)) < 0)
                return (int)e;
            ck_assert(c->buf[n] == '\r' && c->buf[n + 1] == '\n');
            body_add(r, c->buf, n);
            cli_consume(c, n + 2);
        }
        if ((e = cli_find(c, "\r\n")) < 0)   /* no trailers from kumo */
            return (int)e;
        ck_assert_int_eq(e, 2);
        cli_consume(c, 2);
    } else if (hdr(r, "content-length", v, sizeof v)) {
        size_t n = strtoul(v, NULL, 10);
        if ((e = cli_need(c, n)) < 0)
            return (int)e;
        body_add(r, c->buf, n);
        cli_consume(c, n);
    } else {
        while ((e = cli_fill(c)) > 0)
            ;
        if (e != -ENODATA)
            return (int)e;
        body_add(r, c->buf, c->len);
        cli_consume(c, c->len);
    }
    return st;
}

/* Sends raw (if any) and reads one response, which must have the status
 * and body given. */
static inline void roundtrip(cli *c, const char *raw, int status, const char *body)
{
    resp r;
    if (*raw)
        cli_send(c, raw);
    int st = read_resp(c, &r, !strncmp(raw, "HEAD ", 5));
    ck_assert_msg(st == status, "%.40s...: status %d (%s), want %d", raw, st,
                  st < 0 ? km_strerror(st) : "", status);
    if (body)
        ck_assert_msg(r.body_n == strlen(body) && !memcmp(r.body, body, r.body_n),
                      "%.40s...: body '%s', want '%s'", raw, r.body, body);
    free(r.body);
}

/* The server closed the connection: EOF (or a reset), no more bytes. */
static inline void expect_closed(cli *c)
{
    ck_assert_msg(c->len == 0, "%zu unexpected bytes: %.*s", c->len, (int)c->len, c->buf);
    ssize_t n = cli_fill(c);
    ck_assert_msg(n == -ENODATA || n == -ECONNRESET, "after the last response: %zd (%s)", n,
                  n > 0 ? c->buf : km_strerror((int)n));
}

#endif
