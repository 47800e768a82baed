/* SPDX-License-Identifier: MIT */
/* A small HTTP/2 server for the client's tests, on nghttp2's server
 * session and kumo sockets, that misbehaves on request: by :path it
 * answers, echoes, streams, stays silent, resets, refuses, sends GOAWAY,
 * sends a huge header block, stops granting window, closes the socket or
 * freezes. Deliberately independent of kumo's own HTTP/2 core. */
#ifndef KUMO_TEST_H2RAW_H
#define KUMO_TEST_H2RAW_H

#include "util.h"
#include <nghttp2/nghttp2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define RAW_MS 1000000LL

enum { RAW_NORMAL, RAW_DEAD };  /* RAW_DEAD: accepts, then never reads or writes */

typedef struct {
    int          lfd, port, mode;
    uint32_t     max_streams;     /* SETTINGS_MAX_CONCURRENT_STREAMS (0: 100) */
    uint32_t     window;          /* SETTINGS_INITIAL_WINDOW_SIZE (0: 65535) */
    size_t       big;             /* bytes /big answers with */
    atomic_bool  stop;
    km_wg       *wg;
    /* what the server saw, for the tests to check */
    atomic_int   conns, rst_recv, goaways_sent, pings;
    atomic_uint  last_rst_code;
    atomic_long  big_sent, sink_recv, upload_recv;
} rawsrv;

typedef struct rstream {
    char            path[64];
    int32_t         id;
    char           *body;         /* request body (echo, stream) */
    size_t          len, cap, off;
    size_t          big_left;     /* /big: still to send */
    bool            ended;        /* END_STREAM came */
    bool            deferred;
    struct rstream *next;
} rstream;

typedef struct {
    rawsrv          *srv;
    int              fd;
    nghttp2_session *s;
    bool             close_now, freeze;
    int32_t          held[16];
    int              nheld;
    rstream         *all;
} rconn;

static inline char raw_pattern(size_t i) { return (char)('A' + (i * 13 + i / 1000) % 26); }

static ssize_t raw_data(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    rconn *rc = ud;
    rstream *rs = src->ptr;
    if (rs->big_left) {
        size_t done = rc->srv->big - rs->big_left;
        size_t n = len < rs->big_left ? len : rs->big_left;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)raw_pattern(done + i);
        rs->big_left -= n;
        atomic_fetch_add(&rc->srv->big_sent, (long)n);
        if (!rs->big_left)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
    }
    size_t n = rs->len - rs->off < len ? rs->len - rs->off : len;
    if (n)
        memcpy(buf, rs->body + rs->off, n);
    rs->off += n;
    if (rs->off == rs->len && rs->ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv tr[] = { { (uint8_t *)"x-trailer", (uint8_t *)"done", 9, 4, 0 },
                            { (uint8_t *)"x-length", (uint8_t *)"echoed", 8, 6, 0 } };
        nghttp2_submit_trailer(s, id, tr, 2);
        return (ssize_t)n;
    }
    if (!n) {
        rs->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

static void raw_respond(rconn *rc, rstream *rs, const char *status, bool body)
{
    nghttp2_nv h[] = { { (uint8_t *)":status", (uint8_t *)status, 7, strlen(status), 0 },
                       { (uint8_t *)"server", (uint8_t *)"h2raw", 6, 5, 0 } };
    nghttp2_data_provider prd = { .source.ptr = rs, .read_callback = raw_data };
    nghttp2_submit_response(rc->s, rs->id, h, 2, body ? &prd : NULL);
}

static rstream *raw_stream(rconn *rc, int32_t id)
{
    return nghttp2_session_get_stream_user_data(rc->s, id);
}

static int raw_begin(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    rconn *rc = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    rstream *rs = calloc(1, sizeof *rs);
    rs->id = f->hd.stream_id;
    rs->next = rc->all;
    rc->all = rs;
    nghttp2_session_set_stream_user_data(s, rs->id, rs);
    return 0;
}

static int raw_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                      size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    rstream *rs = raw_stream(ud, f->hd.stream_id);
    if (rs && nl == 5 && !memcmp(name, ":path", 5))
        snprintf(rs->path, sizeof rs->path, "%.*s", (int)vl, (const char *)value);
    return 0;
}

static bool is(rstream *rs, const char *p) { return !strcmp(rs->path, p); }

/* What a request's path asks for, once its head is in. */
static void raw_route(rconn *rc, rstream *rs)
{
    rawsrv *srv = rc->srv;
    if (is(rs, "/rst")) {
        nghttp2_submit_rst_stream(rc->s, NGHTTP2_FLAG_NONE, rs->id, NGHTTP2_INTERNAL_ERROR);
    } else if (is(rs, "/refuse")) {
        nghttp2_submit_rst_stream(rc->s, NGHTTP2_FLAG_NONE, rs->id, NGHTTP2_REFUSED_STREAM);
    } else if (is(rs, "/close")) {
        rc->close_now = true;
    } else if (is(rs, "/freeze")) {
        rc->freeze = true;
    } else if (is(rs, "/hold")) {
        rc->held[rc->nheld++] = rs->id;
    } else if (is(rs, "/goaway")) {
        /* The held streams (lower ids) are processed, this one and any
         * later are not; then the held ones are answered. */
        int32_t last = rc->nheld ? rc->held[rc->nheld - 1] : 0;
        nghttp2_submit_goaway(rc->s, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0);
        atomic_fetch_add(&srv->goaways_sent, 1);
        for (int i = 0; i < rc->nheld; i++) {
            rstream *h = raw_stream(rc, rc->held[i]);
            if (h)
                raw_respond(rc, h, "200", false);
        }
        rc->nheld = 0;
    } else if (is(rs, "/huge")) {
        /* About 100 KiB of fields: more than the client keeps. */
        enum { N = 100 };
        static char val[1000];
        memset(val, 'v', sizeof val);
        nghttp2_nv h[N + 1];
        static char names[N][16];
        h[0] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 };
        for (int i = 0; i < N; i++) {
            snprintf(names[i], sizeof names[i], "x-huge-%d", i);
            h[i + 1] = (nghttp2_nv){ (uint8_t *)names[i], (uint8_t *)val,
                                     strlen(names[i]), sizeof val, NGHTTP2_NV_FLAG_NO_INDEX };
        }
        nghttp2_submit_response(rc->s, rs->id, h, N + 1, NULL);
    } else if (is(rs, "/big")) {
        rs->big_left = srv->big;
        raw_respond(rc, rs, "200", true);
    } else if (is(rs, "/stream")) {
        raw_respond(rc, rs, "200", true);     /* echoes as the body comes */
    }
    /* /silent: never answered. /echo, /sink: at the end of the body. */
}

static int raw_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    rconn *rc = ud;
    rstream *rs = raw_stream(rc, f->hd.stream_id);
    if (f->hd.type == NGHTTP2_PING && !(f->hd.flags & NGHTTP2_FLAG_ACK))
        atomic_fetch_add(&rc->srv->pings, 1);
    if (f->hd.type == NGHTTP2_RST_STREAM) {
        atomic_fetch_add(&rc->srv->rst_recv, 1);
        atomic_store(&rc->srv->last_rst_code, f->rst_stream.error_code);
    }
    if (!rs || (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA))
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        raw_route(rc, rs);
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        rs->ended = true;
        if (is(rs, "/echo") || is(rs, "/sink"))
            raw_respond(rc, rs, "200", true);
        else if (is(rs, "/stream") && rs->deferred) {
            rs->deferred = false;
            nghttp2_session_resume_data(s, rs->id);
        }
    }
    return 0;
}

static int raw_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                     size_t len, void *ud)
{
    rconn *rc = ud;
    rstream *rs = raw_stream(rc, id);
    atomic_fetch_add(&rc->srv->upload_recv, (long)len);
    if (rs && is(rs, "/sink")) {
        /* Keep the stream's window closed: the client must stop. */
        atomic_fetch_add(&rc->srv->sink_recv, (long)len);
        nghttp2_session_consume_connection(s, len);
        return 0;
    }
    nghttp2_session_consume(s, id, len);
    if (!rs || (!is(rs, "/echo") && !is(rs, "/stream")))
        return 0;
    if (rs->len + len > rs->cap) {
        rs->cap = (rs->len + len) * 2;
        rs->body = realloc(rs->body, rs->cap);
    }
    memcpy(rs->body + rs->len, data, len);
    rs->len += len;
    if (rs->deferred) {
        rs->deferred = false;
        nghttp2_session_resume_data(s, id);
    }
    return 0;
}

static int raw_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    rstream *rs = raw_stream(ud, id);
    if (rs)
        nghttp2_session_set_stream_user_data(s, id, NULL);
    return 0;
}

static void raw_conn(void *arg)
{
    rconn *rc = arg;
    rawsrv *srv = rc->srv;
    atomic_fetch_add(&srv->conns, 1);
    if (srv->mode == RAW_DEAD) {
        while (!atomic_load(&srv->stop))
            km_sleep(5 * RAW_MS);
        goto out_fd;
    }
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, raw_begin);
    nghttp2_session_callbacks_set_on_header_callback(cb, raw_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, raw_frame);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, raw_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, raw_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_send_header_block_length(opt, 1 << 20);
    nghttp2_session_server_new2(&rc->s, cb, rc, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->max_streams ? srv->max_streams : 100 },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, srv->window ? srv->window : 65535 },
    };
    nghttp2_submit_settings(rc->s, NGHTTP2_FLAG_NONE, iv, 2);
    if (srv->window > 65535)
        nghttp2_session_set_local_window_size(rc->s, NGHTTP2_FLAG_NONE, 0, (int32_t)srv->window);
    uint8_t *buf = malloc(65536);
    while (!atomic_load(&srv->stop)) {
        const uint8_t *p;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(rc->s, &p)) > 0)
            if (km_write(rc->fd, p, (size_t)n, km_now() + 5000 * RAW_MS) != n)
                goto out;
        if (rc->close_now || n < 0)
            break;
        if (rc->freeze) {
            /* Neither reads nor writes from now on: a dead peer. */
            while (!atomic_load(&srv->stop))
                km_sleep(5 * RAW_MS);
            break;
        }
        if (!nghttp2_session_want_read(rc->s) && !nghttp2_session_want_write(rc->s))
            break;
        /* Polls, so that answers decided elsewhere go out. */
        n = km_read(rc->fd, buf, 65536, km_now() + 5 * RAW_MS);
        if (n == -ETIMEDOUT)
            continue;
        if (n <= 0 || nghttp2_session_mem_recv(rc->s, buf, (size_t)n) < 0)
            break;
    }
out:
    free(buf);
    nghttp2_session_del(rc->s);
out_fd:
    km_close(rc->fd);
    while (rc->all) {
        rstream *rs = rc->all;
        rc->all = rs->next;
        free(rs->body);
        free(rs);
    }
    km_wg_done(srv->wg);
    free(rc);
}

static void raw_accept(void *arg)
{
    rawsrv *srv = arg;
    while (!atomic_load(&srv->stop)) {
        int fd = km_accept(srv->lfd, km_now() + 10 * RAW_MS);
        if (fd < 0)
            continue;
        rconn *rc = calloc(1, sizeof *rc);
        rc->srv = srv;
        rc->fd = fd;
        km_wg_add(srv->wg, 1);
        if (km_go(raw_conn, rc)) {          /* an injected allocation failure */
            km_close(fd);
            free(rc);
            km_wg_done(srv->wg);
        }
    }
    km_wg_done(srv->wg);
}

static inline void raw_start(rawsrv *srv)
{
    srv->lfd = km_listen("127.0.0.1:0", 64);
    REQUIRE(srv->lfd >= 0);
    srv->port = km_local_port(srv->lfd);
    if (!srv->big)
        srv->big = 8 << 20;
    REQUIRE_EQ(km_wg_new(&srv->wg), 0);
    km_wg_add(srv->wg, 1);
    REQUIRE_EQ(km_go(raw_accept, srv), 0);
}

static inline void raw_stop(rawsrv *srv)
{
    atomic_store(&srv->stop, true);
    km_wg_wait(srv->wg);
    km_wg_free(srv->wg);
    km_close(srv->lfd);
}

#endif
