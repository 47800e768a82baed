/* SPDX-License-Identifier: MIT */
/* Conformance driver for any server of kumo.test.Echo, on kumo's gRPC client: the grpc-go driver's checks, by the same names.
 *
 * Usage: kumo_echo_client HOST:PORT [--run SUBSTRING] [--list] [--timeout SECONDS]
 * Prints "ok NAME" or "FAIL NAME: why" for each check, then
 * "N passed, M failed"; exits 1 if any failed. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

#define UNARY   "/kumo.test.Echo/Unary"
#define SSTREAM "/kumo.test.Echo/ServerStream"
#define CSTREAM "/kumo.test.Echo/ClientStream"
#define BIDI    "/kumo.test.Echo/Bidi"
/* How late an ended call may return and still count as prompt. */
#define PROMPT  (2 * SEC)

typedef Kumo__Test__EchoRequest  Req;
typedef Kumo__Test__EchoResponse Rep;

static km_grpc_channel *ch;

/* A check returns 0, or -1 with why set. */
typedef struct {
    char why[600];
} ck;

static int failf(ck *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
    return -1;
}

/* "rc: CODE 'message'" of a call that failed. */
static int call_failed(ck *k, const char *what, int rc, km_grpc_stream *st)
{
    km_grpc_status s = km_grpc_stream_status(st);
    return failf(k, "%s: %s, status %s '%.*s'", what, km_strerror(rc),
                 s.code >= 0 ? km_grpc_code_name(s.code) : "none", (int)(s.message.n > 80 ? 80 : s.message.n),
                 s.message.p ? s.message.p : "");
}

static int64_t limit;                   /* the running check's deadline */

static Req req_init(void)
{
    Req r = KUMO__TEST__ECHO_REQUEST__INIT;
    return r;
}

static ProtobufCBinaryData bytes(const void *p, size_t n)
{
    return (ProtobufCBinaryData){ n, (uint8_t *)p };
}

static int same_payload(ck *k, ProtobufCBinaryData got, const void *want, size_t n)
{
    if (got.len != n)
        return failf(k, "payload is %zu bytes, want %zu", got.len, n);
    for (size_t i = 0; i < n; i++)
        if (got.data[i] != ((const uint8_t *)want)[i])
            return failf(k, "payload differs at byte %zu of %zu", i, n);
    return 0;
}

/* One unary call; *st is kept for the caller (free it). */
static int unary(const Req *req, const km_grpc_md *md, size_t nmd, int64_t dl,
                 km_grpc_stream **st, Rep **rep)
{
    ProtobufCMessage *m = NULL;
    *st = NULL;
    int rc = km_grpc_unary_pb(ch, UNARY, md, nmd, &req->base, &kumo__test__echo_response__descriptor,
                              dl, st, &m);
    *rep = (Rep *)m;
    return rc;
}

/* Expects status code (and message msg unless NULL) on st. */
static int want_status(ck *k, km_grpc_stream *st, int rc, int code, const char *msg)
{
    km_grpc_status s = km_grpc_stream_status(st);
    if (rc == 0 || s.code == KM_GRPC_OK)
        return failf(k, "call succeeded, want %s", km_grpc_code_name(code));
    if (s.code != code)
        return failf(k, "status %s '%.*s' (%s), want %s", km_grpc_code_name(s.code),
                     (int)(s.message.n > 80 ? 80 : s.message.n), s.message.p, km_strerror(rc),
                     km_grpc_code_name(code));
    if (msg && (s.message.n != strlen(msg) || memcmp(s.message.p, msg, s.message.n)))
        return failf(k, "message '%.*s' (%zu bytes), want '%.60s' (%zu bytes)",
                     (int)(s.message.n > 60 ? 60 : s.message.n), s.message.p, s.message.n, msg,
                     strlen(msg));
    return 0;
}

/* ---- unary ---- */

static int check_unary(ck *k)
{
    Req req = req_init();
    req.payload = bytes("hello, kumo", 11);
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, limit, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "unary", rc, st);
    else if (rep->index || rep->received || rep->received_bytes)
        bad = failf(k, "unexpected fields in the response");
    else
        bad = same_payload(k, rep->payload, "hello, kumo", 11);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_response_size(ck *k)
{
    Req req = req_init();
    req.payload = bytes("x", 1);
    req.response_size = 1000;
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, limit, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "unary", rc, st);
    else if (rep->payload.len != 1000)
        bad = failf(k, "payload is %zu bytes, want 1000", rep->payload.len);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_empty(ck *k)
{
    Req req = req_init();
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, limit, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "unary", rc, st);
    else if (rep->payload.len || rep->index || rep->received || rep->received_bytes)
        bad = failf(k, "want an empty response");
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int large(ck *k, size_t req_size, uint8_t seed, int32_t response_size, size_t want)
{
    uint8_t *p = malloc(req_size ? req_size : 1);
    echo_pattern(p, req_size, seed);
    Req req = req_init();
    req.payload = bytes(p, req_size);
    req.response_size = response_size;
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, limit, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "unary", rc, st);
    else if (!response_size)
        bad = same_payload(k, rep->payload, p, req_size);
    else if (rep->payload.len != want)
        bad = failf(k, "payload is %zu bytes, want %zu", rep->payload.len, want);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    free(p);
    return bad;
}

static int check_large_request(ck *k) { return large(k, 4 * MIB, 1, 1, 1); }
static int check_large_response(ck *k) { return large(k, 0, 0, 4 * MIB, 4 * MIB); }
static int check_large_echo(ck *k) { return large(k, 4 * MIB, 2, 0, 0); }

/* ---- server streaming ---- */

/* Runs a server stream to its end: its responses checked (n of them,
 * index in order, payload or size), the status returned in *st. */
static int server_stream(ck *k, const Req *req, const km_grpc_md *md, size_t nmd, int64_t dl,
                         km_grpc_stream **st, int *got, int *rc)
{
    *got = 0;
    *rc = km_grpc_stream_open(ch, SSTREAM, md, nmd, dl, st);
    if (*rc)
        return 0;
    if ((*rc = km_grpc_stream_send_pb(*st, &req->base, true, KM_FOREVER)) && *rc != -EPIPE)
        return 0;
    ProtobufCMessage *m;
    while ((*rc = km_grpc_stream_recv_pb(*st, &kumo__test__echo_response__descriptor, &m,
                                         KM_FOREVER)) == 1) {
        Rep *r = (Rep *)m;
        int bad = 0;
        if (r->index != *got)
            bad = failf(k, "response %d has index %d", *got, r->index);
        else if (req->response_size > 0 && r->payload.len != (size_t)req->response_size)
            bad = failf(k, "response %d is %zu bytes, want %d", *got, r->payload.len, req->response_size);
        else if (req->response_size <= 0)
            bad = same_payload(k, r->payload, req->payload.data, req->payload.len);
        km_grpc_pb_free(m);
        if (bad)
            return -1;
        ++*got;
    }
    return 0;
}

static int stream_expect(ck *k, Req *req, int want_n, int code, const char *msg)
{
    km_grpc_stream *st = NULL;
    int got, rc;
    int bad = server_stream(k, req, NULL, 0, limit, &st, &got, &rc);
    if (!bad) {
        if (code == KM_GRPC_OK && rc)
            bad = call_failed(k, "stream", rc, st);
        else if (code != KM_GRPC_OK)
            bad = want_status(k, st, rc, code, msg);
        if (!bad && got != want_n)
            bad = failf(k, "%d responses, want %d", got, want_n);
    }
    km_grpc_stream_free(st);
    return bad;
}

static int check_server_stream(ck *k)
{
    Req req = req_init();
    req.payload = bytes("stream me", 9);
    req.count = 5;
    return stream_expect(k, &req, 5, KM_GRPC_OK, NULL);
}

static int check_server_stream_zero(ck *k)
{
    Req req = req_init();
    req.payload = bytes("none", 4);
    return stream_expect(k, &req, 0, KM_GRPC_OK, NULL);
}

static int check_server_stream_large(ck *k)
{
    Req req = req_init();
    req.count = 8;
    req.response_size = MIB;
    return stream_expect(k, &req, 8, KM_GRPC_OK, NULL);
}

static int check_server_stream_error(ck *k)
{
    Req req = req_init();
    req.payload = bytes("then fail", 9);
    req.count = 3;
    req.fail_code = KM_GRPC_FAILED_PRECONDITION;
    req.fail_message = "stopped after three";
    return stream_expect(k, &req, 3, KM_GRPC_FAILED_PRECONDITION, "stopped after three");
}

/* ---- client streaming ---- */

/* Sends reqs, half-closes and reads the answer; a server that ended the
 * call early makes sends return -EPIPE, and its status comes with recv. */
static int client_stream(const Req *reqs, size_t n, const km_grpc_md *md, size_t nmd,
                         km_grpc_stream **st, Rep **rep)
{
    *rep = NULL;
    int rc = km_grpc_stream_open(ch, CSTREAM, md, nmd, limit, st);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rc = km_grpc_stream_send_pb(*st, &reqs[i].base, false, KM_FOREVER);
        if (rc == -EPIPE)
            break;
        if (rc)
            return rc;
    }
    rc = km_grpc_stream_close_send(*st, KM_FOREVER);
    if (rc && rc != -EPIPE)
        return rc;
    ProtobufCMessage *m;
    rc = km_grpc_stream_recv_pb(*st, &kumo__test__echo_response__descriptor, &m, KM_FOREVER);
    if (rc != 1)
        return rc ? rc : -EPROTO;
    *rep = (Rep *)m;
    km_str x;
    rc = km_grpc_stream_recv(*st, &x, KM_FOREVER);
    return rc == 1 ? -EPROTO : rc;
}

static int check_client_stream(ck *k)
{
    static const size_t sizes[] = { 0, 1, 10, 100, 1000, 10000, 100000, 5 };
    Req reqs[8];
    uint8_t *bufs[8];
    int64_t total = 0;
    for (int i = 0; i < 8; i++) {
        bufs[i] = malloc(sizes[i] + 1);
        echo_pattern(bufs[i], sizes[i], (uint8_t)i);
        reqs[i] = req_init();
        reqs[i].payload = bytes(bufs[i], sizes[i]);
        total += (int64_t)sizes[i];
    }
    km_grpc_stream *st;
    Rep *rep;
    int rc = client_stream(reqs, 8, NULL, 0, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "client stream", rc, st);
    else if (rep->received != 8 || rep->received_bytes != total)
        bad = failf(k, "received %lld requests and %lld bytes, want 8 and %lld",
                    (long long)rep->received, (long long)rep->received_bytes, (long long)total);
    else
        bad = same_payload(k, rep->payload, bufs[7], sizes[7]);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    for (int i = 0; i < 8; i++)
        free(bufs[i]);
    return bad;
}

static int check_client_stream_zero(ck *k)
{
    km_grpc_stream *st;
    Rep *rep;
    int rc = client_stream(NULL, 0, NULL, 0, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "client stream", rc, st);
    else if (rep->received || rep->received_bytes || rep->payload.len)
        bad = failf(k, "want an empty response");
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_client_stream_large(ck *k)
{
    Req reqs[4];
    uint8_t *bufs[4];
    for (int i = 0; i < 4; i++) {
        bufs[i] = malloc(MIB);
        echo_pattern(bufs[i], MIB, (uint8_t)i);
        reqs[i] = req_init();
        reqs[i].payload = bytes(bufs[i], MIB);
        reqs[i].response_size = 3;
    }
    km_grpc_stream *st;
    Rep *rep;
    int rc = client_stream(reqs, 4, NULL, 0, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "client stream", rc, st);
    else if (rep->received != 4 || rep->received_bytes != 4 * MIB || rep->payload.len != 3)
        bad = failf(k, "got received=%lld received_bytes=%lld payload %zu bytes, want 4, %d, 3",
                    (long long)rep->received, (long long)rep->received_bytes, rep->payload.len, 4 * MIB);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    for (int i = 0; i < 4; i++)
        free(bufs[i]);
    return bad;
}

static int check_client_stream_error(ck *k)
{
    Req reqs[4] = { req_init(), req_init(), req_init(), req_init() };
    reqs[0].payload = bytes("a", 1);
    reqs[1].payload = bytes("b", 1);
    reqs[2].fail_code = KM_GRPC_RESOURCE_EXHAUSTED;
    reqs[2].fail_message = "third request refused";
    reqs[3].payload = bytes("never read", 10);
    km_grpc_stream *st;
    Rep *rep;
    int rc = client_stream(reqs, 4, NULL, 0, &st, &rep);
    int bad = want_status(k, st, rc, KM_GRPC_RESOURCE_EXHAUSTED, "third request refused");
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

/* ---- bidirectional ---- */

/* Send one, receive its echo, rounds times; then half-close and see the
 * server end the call with OK. */
static int bidi_rounds(ck *k, int rounds, size_t size, const km_grpc_md *md, size_t nmd,
                       km_grpc_stream **keep)
{
    km_grpc_stream *st;
    int rc = km_grpc_stream_open(ch, BIDI, md, nmd, limit, &st), bad = 0;
    if (rc) {
        bad = call_failed(k, "open", rc, st);
        goto out;
    }
    uint8_t *p = malloc(size + 32);
    for (int i = 0; i < rounds && !bad; i++) {
        size_t n = size;
        if (size)
            echo_pattern(p, size, (uint8_t)i);
        else
            n = (size_t)snprintf((char *)p, 32, "round %d", i);
        Req req = req_init();
        req.payload = bytes(p, n);
        if ((rc = km_grpc_stream_send_pb(st, &req.base, false, KM_FOREVER))) {
            bad = call_failed(k, "send", rc, st);
            break;
        }
        ProtobufCMessage *m;
        rc = km_grpc_stream_recv_pb(st, &kumo__test__echo_response__descriptor, &m, KM_FOREVER);
        if (rc != 1) {
            bad = call_failed(k, "recv", rc, st);
            break;
        }
        Rep *r = (Rep *)m;
        if (r->index != i)
            bad = failf(k, "response %d has index %d", i, r->index);
        else
            bad = same_payload(k, r->payload, p, n);
        km_grpc_pb_free(m);
    }
    free(p);
    if (!bad && (rc = km_grpc_stream_close_send(st, KM_FOREVER)))
        bad = call_failed(k, "close", rc, st);
    km_str x;
    if (!bad && (rc = km_grpc_stream_recv(st, &x, KM_FOREVER)) != 0)
        bad = rc == 1 ? failf(k, "a response after half-close") : call_failed(k, "end", rc, st);
out:
    if (keep)
        *keep = st;
    else
        km_grpc_stream_free(st);
    return bad;
}

static int check_bidi(ck *k) { return bidi_rounds(k, 5, 0, NULL, 0, NULL); }
static int check_bidi_zero(ck *k) { return bidi_rounds(k, 0, 0, NULL, 0, NULL); }
static int check_bidi_large(ck *k) { return bidi_rounds(k, 4, MIB, NULL, 0, NULL); }

static int check_bidi_error(ck *k)
{
    km_grpc_stream *st;
    int rc = km_grpc_stream_open(ch, BIDI, NULL, 0, limit, &st), bad = 0;
    Req req = req_init();
    req.payload = bytes("fine", 4);
    km_str x;
    if (rc || (rc = km_grpc_stream_send_pb(st, &req.base, false, KM_FOREVER)) ||
        (rc = km_grpc_stream_recv(st, &x, KM_FOREVER)) != 1) {
        bad = call_failed(k, "first echo", rc, st);
    } else {
        req = req_init();
        req.fail_code = KM_GRPC_PERMISSION_DENIED;
        req.fail_message = "bidi refused";
        rc = km_grpc_stream_send_pb(st, &req.base, false, KM_FOREVER);
        if (rc && rc != -EPIPE)
            bad = call_failed(k, "send", rc, st);
        else
            bad = want_status(k, st, km_grpc_stream_recv(st, &x, KM_FOREVER),
                              KM_GRPC_PERMISSION_DENIED, "bidi refused");
    }
    km_grpc_stream_free(st);
    return bad;
}

/* ---- concurrency ---- */

typedef struct {
    int   i;
    int (*fn)(ck *k, int i);
    int   bad;
    ck    k;
    km_wg *wg;
} task;

static void run_task(void *arg)
{
    task *t = arg;
    t->bad = t->fn(&t->k, t->i);
    km_wg_done(t->wg);
}

/* n goroutines at once, each fn(i); the first failures reported. */
static int parallel(ck *k, int n, int (*fn)(ck *k, int i))
{
    task *t = calloc((size_t)n, sizeof *t);
    km_wg *wg;
    km_wg_new(&wg);
    km_wg_add(wg, n);
    for (int i = 0; i < n; i++) {
        t[i] = (task){ .i = i, .fn = fn, .wg = wg };
        if (km_go(run_task, &t[i])) {
            t[i].bad = failf(&t[i].k, "cannot start goroutine");
            km_wg_done(wg);
        }
    }
    km_wg_wait(wg);
    km_wg_free(wg);
    int nbad = 0, first = -1;
    for (int i = 0; i < n; i++)
        if (t[i].bad && !nbad++)
            first = i;
    int bad = nbad ? failf(k, "%d of %d failed: call %d: %s", nbad, n, first, t[first].k.why) : 0;
    free(t);
    return bad;
}

static int one_bidi(ck *k, int i) { return bidi_rounds(k, 10, (size_t)(100 + i), NULL, 0, NULL); }
static int check_bidi_concurrent(ck *k) { return parallel(k, 50, one_bidi); }

static int one_unary(ck *k, int i)
{
    char text[32];
    int n = snprintf(text, sizeof text, "call %d", i);
    Req req = req_init();
    req.payload = bytes(text, (size_t)n);
    req.delay_ms = i % 3;
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, limit, &st, &rep), bad;
    bad = rc ? call_failed(k, "unary", rc, st) : same_payload(k, rep->payload, text, (size_t)n);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_concurrent_unary(ck *k) { return parallel(k, 200, one_unary); }

static int check_sequential_unary(ck *k)
{
    for (int i = 0; i < 2000; i++) {
        req_init();
        if (one_unary(k, i * 3))   /* i * 3: no delay */
            return failf(k, "call %d: %.500s", i, k->why);
    }
    return 0;
}

/* ---- deadlines and cancellation ---- */

/* The server still answers, a unary call and a stream, promptly: an
 * ended call left nothing stuck. */
static int afterwards(ck *k)
{
    int64_t dl = km_now() + PROMPT;
    Req req = req_init();
    req.payload = bytes("still there?", 12);
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, dl, &st, &rep), bad = 0;
    if (rc)
        bad = call_failed(k, "the next call", rc, st);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    if (bad)
        return bad;
    req = req_init();
    req.payload = bytes("again", 5);
    req.count = 3;
    int got;
    st = NULL;
    bad = server_stream(k, &req, NULL, 0, dl, &st, &got, &rc);
    if (!bad && rc)
        bad = call_failed(k, "the next stream", rc, st);
    if (!bad && got != 3)
        bad = failf(k, "the next stream: %d responses, want 3", got);
    km_grpc_stream_free(st);
    return bad;
}

static int check_deadline_unary(ck *k)
{
    Req req = req_init();
    req.delay_ms = 60000;
    int64_t t0 = km_now();
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, t0 + 300 * MS, &st, &rep);
    int64_t took = km_now() - t0;
    int bad = want_status(k, st, rc, KM_GRPC_DEADLINE_EXCEEDED, NULL);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    if (!bad && took > PROMPT)
        bad = failf(k, "returned after %lld ms", (long long)(took / MS));
    return bad ? bad : afterwards(k);
}

static int check_deadline_server_stream(ck *k)
{
    Req req = req_init();
    req.count = 100;
    req.delay_ms = 200;
    int64_t t0 = km_now();
    km_grpc_stream *st = NULL;
    int got, rc;
    int bad = server_stream(k, &req, NULL, 0, t0 + 700 * MS, &st, &got, &rc);
    int64_t took = km_now() - t0;
    if (!bad)
        bad = want_status(k, st, rc, KM_GRPC_DEADLINE_EXCEEDED, NULL);
    km_grpc_stream_free(st);
    if (!bad && took > PROMPT)
        bad = failf(k, "returned after %lld ms", (long long)(took / MS));
    if (!bad && (got < 1 || got > 4))
        bad = failf(k, "%d responses before the deadline, want 1 to 4", got);
    return bad ? bad : afterwards(k);
}

typedef struct {
    km_grpc_stream *st;
    int64_t         after;
    km_wg          *wg;
} canceller;

static void cancel_later(void *arg)
{
    canceller *c = arg;
    km_sleep(c->after);
    km_grpc_stream_cancel(c->st);
    km_wg_done(c->wg);
}

/* Cancels st after ms from another goroutine while recv waits; checks
 * CANCELLED comes promptly. */
static int cancel_during_recv(ck *k, km_grpc_stream *st, int64_t ms)
{
    km_wg *wg;
    km_wg_new(&wg);
    km_wg_add(wg, 1);
    canceller c = { st, ms * MS, wg };
    km_go(cancel_later, &c);
    int64_t t0 = km_now();
    km_str x;
    int rc;
    while ((rc = km_grpc_stream_recv(st, &x, KM_FOREVER)) == 1)
        ;
    int64_t took = km_now() - t0;
    km_wg_wait(wg);
    km_wg_free(wg);
    int bad = want_status(k, st, rc, KM_GRPC_CANCELLED, NULL);
    if (!bad && took > ms * MS + PROMPT)
        return failf(k, "returned after %lld ms", (long long)(took / MS));
    return bad;
}

static int check_cancel_unary(ck *k)
{
    Req req = req_init();
    req.delay_ms = 60000;
    km_grpc_stream *st;
    int rc = km_grpc_stream_open(ch, UNARY, NULL, 0, limit, &st), bad;
    if (rc || (rc = km_grpc_stream_send_pb(st, &req.base, true, KM_FOREVER)))
        bad = call_failed(k, "start", rc, st);
    else
        bad = cancel_during_recv(k, st, 200);
    km_grpc_stream_free(st);
    return bad ? bad : afterwards(k);
}

static int check_cancel_server_stream(ck *k)
{
    Req req = req_init();
    req.payload = bytes("tick", 4);
    req.count = 1000;
    req.delay_ms = 20;
    km_grpc_stream *st;
    int rc = km_grpc_stream_open(ch, SSTREAM, NULL, 0, limit, &st), bad = 0;
    if (rc || (rc = km_grpc_stream_send_pb(st, &req.base, true, KM_FOREVER)))
        bad = call_failed(k, "start", rc, st);
    km_str x;
    for (int i = 0; !bad && i < 3; i++)
        if ((rc = km_grpc_stream_recv(st, &x, KM_FOREVER)) != 1)
            bad = call_failed(k, "recv", rc, st);
    if (!bad) {
        int64_t t0 = km_now();
        km_grpc_stream_cancel(st);
        rc = km_grpc_stream_recv(st, &x, KM_FOREVER);
        bad = want_status(k, st, rc, KM_GRPC_CANCELLED, NULL);
        if (!bad && km_now() - t0 > PROMPT)
            bad = failf(k, "returned after %lld ms", (long long)((km_now() - t0) / MS));
    }
    km_grpc_stream_free(st);
    return bad ? bad : afterwards(k);
}

static int check_cancel_bidi(ck *k)
{
    km_grpc_stream *st;
    Req req = req_init();
    req.payload = bytes("one", 3);
    km_str x;
    int rc = km_grpc_stream_open(ch, BIDI, NULL, 0, limit, &st), bad = 0;
    if (rc || (rc = km_grpc_stream_send_pb(st, &req.base, false, KM_FOREVER)) ||
        (rc = km_grpc_stream_recv(st, &x, KM_FOREVER)) != 1) {
        bad = call_failed(k, "first echo", rc, st);
    } else {
        /* the server now sleeps on this request */
        req = req_init();
        req.delay_ms = 60000;
        if ((rc = km_grpc_stream_send_pb(st, &req.base, false, KM_FOREVER)))
            bad = call_failed(k, "send", rc, st);
        else
            bad = cancel_during_recv(k, st, 100);
    }
    km_grpc_stream_free(st);
    return bad ? bad : afterwards(k);
}

/* ---- status codes and messages ---- */

static int fail_with(ck *k, int code, const char *msg)
{
    Req req = req_init();
    req.fail_code = code;
    req.fail_message = (char *)msg;
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, NULL, 0, limit, &st, &rep);
    int bad = want_status(k, st, rc, code, msg);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_status_codes(ck *k)
{
    for (int c = 1; c <= 16; c++) {
        char msg[64];
        snprintf(msg, sizeof msg, "failing with %d (%s)", c, km_grpc_code_name(c));
        if (fail_with(k, c, msg))
            return failf(k, "%d: %.500s", c, k->why);
    }
    return 0;
}

static int check_status_messages(ck *k)
{
    static char long_msg[3001];
    for (int i = 0; i < 200; i++)
        memcpy(long_msg + i * 15, "long message %\n", 15);
    const char *msgs[] = {
        "100% sure: 50%25 is not %", "line one\nline two\r\n\ttabbed",
        "d\xc3\xa9j\xc3\xa0 vu \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80",
        "%e2%98%83 stays as typed", "  spaces at both ends  ", "", long_msg,
    };
    for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
        /* The empty message: the status alone. */
        if (fail_with(k, KM_GRPC_INVALID_ARGUMENT, *msgs[i] ? msgs[i] : NULL))
            return failf(k, "message %zu: %.500s", i, k->why);
    }
    return 0;
}

static int check_status_trailers_only(ck *k)
{
    Req req = req_init();
    req.fail_code = KM_GRPC_NOT_FOUND;
    req.fail_message = "no such thing: \xe2\x98\x83 100%";
    return stream_expect(k, &req, 0, KM_GRPC_NOT_FOUND, req.fail_message);
}

static int check_unknown_method(ck *k)
{
    static const char *paths[] = { "/kumo.test.Echo/Nope", "/kumo.test.Nope/Unary", "/Nope/Nope" };
    for (int i = 0; i < 3; i++) {
        km_grpc_stream *st;
        km_str rep;
        int rc = km_grpc_unary(ch, paths[i], NULL, 0, "", 0, limit, &st, &rep);
        int bad = want_status(k, st, rc, KM_GRPC_UNIMPLEMENTED, NULL);
        km_grpc_stream_free(st);
        if (bad)
            return failf(k, "%s: %.500s", paths[i], k->why);
    }
    return 0;
}

/* ---- metadata ---- */

static const char ascii[] = "hello world !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/* What each metadata check sends: ASCII and binary values, binary lengths
 * 0 to 4 (every base64 padding case), a key sent twice, and keys that
 * must not come back. */
static const km_grpc_md *sent_md(size_t *n)
{
    static km_grpc_md md[13];
    md[0] = km_grpc_md_of("x-echo-ascii", ascii, sizeof ascii - 1);
    md[1] = km_grpc_md_of("x-echo-multi", "first", 5);
    md[2] = km_grpc_md_of("x-echo-multi", "second", 6);
    md[3] = km_grpc_md_of("x-echo-data-bin", "\x00\x01\x02\xfe\xff\n\r", 7);
    md[4] = km_grpc_md_of("x-echo-pad-bin", "", 0);
    md[5] = km_grpc_md_of("x-echo-pad-bin", "\x80", 1);
    md[6] = km_grpc_md_of("x-echo-pad-bin", "\x80\x81", 2);
    md[7] = km_grpc_md_of("x-echo-pad-bin", "\x80\x81\x82", 3);
    md[8] = km_grpc_md_of("x-echo-pad-bin", "\x80\x81\x82\x83", 4);
    md[9] = km_grpc_md_of("x-trailer-ascii", "trailing value", 14);
    md[10] = km_grpc_md_of("x-trailer-data-bin", "\xff\x00\xff" "binary\x00", 10);
    md[11] = km_grpc_md_of("x-other", "not echoed", 10);
    md[12] = km_grpc_md_of("x-echo", "no dash after echo: not echoed", 30);
    *n = 13;
    return md;
}

static bool key_is(km_str k, const char *p, size_t n) { return k.n == n && !memcmp(k.p, p, n); }

/* got's entries whose key starts with "x-" are exactly the sent ones
 * whose key starts with prefix, each key's values in order. */
static int same_md(ck *k, const char *what, const km_grpc_md *got, size_t ngot, const char *prefix)
{
    size_t nsent;
    const km_grpc_md *sent = sent_md(&nsent);
    size_t want = 0, have = 0;
    for (size_t i = 0; i < nsent; i++)
        want += echo_has_prefix(sent[i].key.p, sent[i].key.n, prefix);
    for (size_t i = 0; i < ngot; i++)
        have += echo_has_prefix(got[i].key.p, got[i].key.n, "x-");
    if (have != want)
        return failf(k, "%s: %zu x- entries, want %zu", what, have, want);
    for (size_t i = 0; i < nsent; i++) {
        if (!echo_has_prefix(sent[i].key.p, sent[i].key.n, prefix))
            continue;
        /* the same occurrence of the key on both sides */
        size_t nth = 0, j;
        for (size_t q = 0; q < i; q++)
            nth += key_is(sent[q].key, sent[i].key.p, sent[i].key.n);
        for (j = 0; j < ngot; j++)
            if (key_is(got[j].key, sent[i].key.p, sent[i].key.n) && nth-- == 0)
                break;
        if (j == ngot)
            return failf(k, "%s: %.*s missing", what, (int)sent[i].key.n, sent[i].key.p);
        if (got[j].value.n != sent[i].value.n ||
            memcmp(got[j].value.p, sent[i].value.p, got[j].value.n))
            return failf(k, "%s: %.*s is '%.*s', want '%.*s'", what, (int)sent[i].key.n,
                         sent[i].key.p, (int)got[j].value.n, got[j].value.p,
                         (int)sent[i].value.n, sent[i].value.p);
    }
    return 0;
}

static int echoed_md(ck *k, km_grpc_stream *st)
{
    const km_grpc_md *h, *t;
    size_t nh, nt;
    int rc;
    if ((rc = km_grpc_stream_headers(st, &h, &nh, KM_FOREVER)) ||
        (rc = km_grpc_stream_trailers(st, &t, &nt)))
        return call_failed(k, "metadata", rc, st);
    if (same_md(k, "headers", h, nh, "x-echo-"))
        return -1;
    return same_md(k, "trailers", t, nt, "x-trailer-");
}

static int check_metadata_unary(ck *k)
{
    size_t nmd;
    const km_grpc_md *md = sent_md(&nmd);
    Req req = req_init();
    req.payload = bytes("md", 2);
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, md, nmd, limit, &st, &rep);
    int bad = rc ? call_failed(k, "unary", rc, st) : echoed_md(k, st);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_metadata_server_stream(ck *k)
{
    size_t nmd;
    const km_grpc_md *md = sent_md(&nmd);
    Req req = req_init();
    req.count = 2;
    km_grpc_stream *st = NULL;
    int got, rc;
    int bad = server_stream(k, &req, md, nmd, limit, &st, &got, &rc);
    if (!bad)
        bad = rc ? call_failed(k, "stream", rc, st) : echoed_md(k, st);
    km_grpc_stream_free(st);
    return bad;
}

static int check_metadata_client_stream(ck *k)
{
    size_t nmd;
    const km_grpc_md *md = sent_md(&nmd);
    Req reqs[2] = { req_init(), req_init() };
    reqs[0].payload = bytes("a", 1);
    reqs[1].payload = bytes("b", 1);
    km_grpc_stream *st;
    Rep *rep;
    int rc = client_stream(reqs, 2, md, nmd, &st, &rep);
    int bad = rc ? call_failed(k, "client stream", rc, st) : echoed_md(k, st);
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

static int check_metadata_bidi(ck *k)
{
    size_t nmd;
    const km_grpc_md *md = sent_md(&nmd);
    km_grpc_stream *st;
    int bad = bidi_rounds(k, 1, 0, md, nmd, &st);
    if (!bad)
        bad = echoed_md(k, st);
    km_grpc_stream_free(st);
    return bad;
}

/* A failing call still carries the echoed trailers; the x-echo- keys come
 * in the headers, or among the trailers of a trailers-only answer. */
static int check_metadata_on_error(ck *k)
{
    size_t nmd;
    const km_grpc_md *md = sent_md(&nmd);
    Req req = req_init();
    req.fail_code = KM_GRPC_UNAVAILABLE;
    req.fail_message = "failed, with metadata";
    km_grpc_stream *st;
    Rep *rep;
    int rc = unary(&req, md, nmd, limit, &st, &rep);
    int bad = want_status(k, st, rc, KM_GRPC_UNAVAILABLE, "failed, with metadata");
    const km_grpc_md *h = NULL, *t = NULL;
    size_t nh = 0, nt = 0;
    if (!bad && (km_grpc_stream_headers(st, &h, &nh, KM_FOREVER) ||
                 km_grpc_stream_trailers(st, &t, &nt)))
        bad = failf(k, "no metadata");
    /* Compare only the keys each place should hold. */
    km_grpc_md tr[32], ec[32];
    size_t ntr = 0, nec = 0;
    for (size_t i = 0; i < nt && ntr < 32; i++)
        if (echo_has_prefix(t[i].key.p, t[i].key.n, "x-trailer-"))
            tr[ntr++] = t[i];
    const km_grpc_md *src = h;
    size_t nsrc = nh;
    bool in_headers = false;
    for (size_t i = 0; i < nh; i++)
        in_headers |= echo_has_prefix(h[i].key.p, h[i].key.n, "x-echo-");
    if (!in_headers) {
        src = t;
        nsrc = nt;
    }
    for (size_t i = 0; i < nsrc && nec < 32; i++)
        if (echo_has_prefix(src[i].key.p, src[i].key.n, "x-echo-"))
            ec[nec++] = src[i];
    if (!bad)
        bad = same_md(k, "trailers (x-trailer-)", tr, ntr, "x-trailer-");
    if (!bad)
        bad = same_md(k, "x-echo- keys", ec, nec, "x-echo-");
    km_grpc_pb_free(rep ? &rep->base : NULL);
    km_grpc_stream_free(st);
    return bad;
}

/* ---- the driver ---- */

typedef struct {
    const char *name;
    int (*fn)(ck *k);
} check;

static const check checks[] = {
    { "unary", check_unary },
    { "unary_response_size", check_response_size },
    { "empty_message", check_empty },
    { "large_request_4MiB", check_large_request },
    { "large_response_4MiB", check_large_response },
    { "large_echo_4MiB", check_large_echo },
    { "server_stream", check_server_stream },
    { "server_stream_zero", check_server_stream_zero },
    { "server_stream_8x1MiB", check_server_stream_large },
    { "server_stream_then_error", check_server_stream_error },
    { "client_stream", check_client_stream },
    { "client_stream_zero", check_client_stream_zero },
    { "client_stream_4x1MiB", check_client_stream_large },
    { "client_stream_error", check_client_stream_error },
    { "bidi", check_bidi },
    { "bidi_zero", check_bidi_zero },
    { "bidi_4x1MiB", check_bidi_large },
    { "bidi_error", check_bidi_error },
    { "bidi_50_concurrent", check_bidi_concurrent },
    { "deadline_unary", check_deadline_unary },
    { "deadline_server_stream", check_deadline_server_stream },
    { "cancel_unary", check_cancel_unary },
    { "cancel_server_stream", check_cancel_server_stream },
    { "cancel_bidi", check_cancel_bidi },
    { "status_codes", check_status_codes },
    { "status_messages", check_status_messages },
    { "status_trailers_only", check_status_trailers_only },
    { "unknown_method", check_unknown_method },
    { "metadata_unary", check_metadata_unary },
    { "metadata_server_stream", check_metadata_server_stream },
    { "metadata_client_stream", check_metadata_client_stream },
    { "metadata_bidi", check_metadata_bidi },
    { "metadata_on_error", check_metadata_on_error },
    { "concurrent_200_unary", check_concurrent_unary },
    { "sequential_2000_unary", check_sequential_unary },
};
#define NCHECKS (sizeof checks / sizeof *checks)

typedef struct {
    const char *addr, *run;
    int64_t     timeout;
    int         passed, failed;
} opts;

typedef struct {
    const check *c;
    ck           k;
    int          bad;
} running;

static void run_one(void *arg)
{
    running *r = arg;
    r->bad = r->c->fn(&r->k);
}

/* Waits up to 10 s for the server to answer a call. */
static int connect(ck *k)
{
    int64_t until = km_now() + 10 * SEC;
    for (;;) {
        Req req = req_init();
        km_grpc_stream *st;
        Rep *rep;
        int rc = unary(&req, NULL, 0, until, &st, &rep);
        km_grpc_status s = km_grpc_stream_status(st);
        km_grpc_pb_free(rep ? &rep->base : NULL);
        km_grpc_stream_free(st);
        if (!rc)
            return 0;
        if (s.code != KM_GRPC_UNAVAILABLE || km_now() >= until)
            return failf(k, "%s", km_strerror(rc));
        km_sleep(100 * MS);
    }
}

static void drive(void *arg)
{
    opts *o = arg;
    km_grpc_channel_config cfg = { .target = o->addr, .max_recv_msg = 64 * MIB,
                                   .max_send_msg = 64 * MIB,
                                   .backoff_base = 50 * MS, .backoff_max = 500 * MS };
    int rc = km_grpc_channel_new(&ch, &cfg);
    ck k;
    if (rc || connect(&k)) {
        printf("FAIL connect: %s: %s\n0 passed, 1 failed\n", o->addr, rc ? km_strerror(rc) : k.why);
        o->failed = 1;
        km_grpc_channel_free(ch);
        return;
    }
    for (size_t i = 0; i < NCHECKS; i++) {
        if (o->run && !strstr(checks[i].name, o->run))
            continue;
        /* Each check under a time limit: its calls are cancelled past it. */
        running r = { &checks[i], { "" }, 0 };
        km_group *g;
        limit = km_now() + o->timeout;
        if (km_group_new(&g, NULL, limit)) {
            r.bad = failf(&r.k, "no memory");
        } else {
            km_group_run(g, run_one, &r);
            km_group_cancel(g);
            km_group_wait(g, KM_FOREVER);
            km_group_free(g);
            if (r.bad && km_now() >= limit)
                failf(&r.k, "no result in %lld s (%.400s)", (long long)(o->timeout / SEC), r.k.why);
        }
        if (r.bad) {
            for (char *p = r.k.why; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            printf("FAIL %s: %s\n", checks[i].name, r.k.why);
            o->failed++;
        } else {
            printf("ok %s\n", checks[i].name);
            o->passed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", o->passed, o->failed);
    km_grpc_channel_free(ch);
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "run", required_argument, 0, 'r' },
        { "list", no_argument, 0, 'l' },
        { "timeout", required_argument, 0, 't' },
        { 0, 0, 0, 0 },
    };
    opts o = { .timeout = 30 * SEC };
    int c;
    while ((c = getopt_long_only(argc, argv, "", lopts, NULL)) != -1) {
        switch (c) {
        case 'r': o.run = optarg; break;
        case 't': o.timeout = (int64_t)(atof(optarg) * SEC); break;
        case 'l':
            for (size_t i = 0; i < NCHECKS; i++)
                printf("%s\n", checks[i].name);
            return 0;
        default:
            fprintf(stderr, "usage: kumo_echo_client HOST:PORT [--run SUBSTRING] [--list] [--timeout SECONDS]\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: kumo_echo_client HOST:PORT [--run SUBSTRING] [--list] [--timeout SECONDS]\n");
        return 2;
    }
    o.addr = argv[optind];
    int rc = km_main(drive, &o);
    if (rc < 0) {
        fprintf(stderr, "kumo_echo_client: %s\n", km_strerror(rc));
        return 1;
    }
    return o.failed || !o.passed ? 1 : 0;
}
