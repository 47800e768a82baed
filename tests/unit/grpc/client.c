/* SPDX-License-Identifier: MIT */
/* The gRPC client against the grpc-go Echo server (started by each test): every call kind, statuses, deadlines, cancellation, metadata, limits. */
#include "peer.h"

static peer gs;

static void setup(void) { go_server_start(&gs); }
static void teardown(void) { peer_stop(&gs); }

static km_grpc_channel *channel(size_t max_recv)
{
    km_grpc_channel_config cfg = { .target = gs.addr, .max_recv_msg = max_recv,
                                   .backoff_base = 20 * MS, .backoff_max = 200 * MS };
    km_grpc_channel *ch;
    REQUIRE_EQ(km_grpc_channel_new(&ch, &cfg), 0);
    return ch;
}

static int64_t soon(void) { return km_now() + 20 * SEC; }

#define UNARY  "/kumo.test.Echo/Unary"
#define SSTREAM "/kumo.test.Echo/ServerStream"
#define CSTREAM "/kumo.test.Echo/ClientStream"
#define BIDI   "/kumo.test.Echo/Bidi"

/* One unary call with protobuf-c messages; the status in *code. */
static Kumo__Test__EchoResponse *call(km_grpc_channel *ch, Kumo__Test__EchoRequest *req,
                                      int64_t dl, int *rc, km_grpc_status *status,
                                      km_grpc_stream **keep)
{
    km_grpc_stream *st = NULL;
    ProtobufCMessage *rep = NULL;
    *rc = km_grpc_unary_pb(ch, UNARY, NULL, 0, &req->base, &kumo__test__echo_response__descriptor,
                           dl, &st, &rep);
    ck_assert_ptr_nonnull(st);
    *status = km_grpc_stream_status(st);
    if (keep)
        *keep = st;
    else
        km_grpc_stream_free(st);
    return (Kumo__Test__EchoResponse *)rep;
}

static void unary_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.payload = (ProtobufCBinaryData){ 11, (uint8_t *)"hello, kumo" };
    int rc;
    km_grpc_status s;
    Kumo__Test__EchoResponse *rep = call(ch, &req, soon(), &rc, &s, NULL);
    ck_assert_msg(rc == 0, "unary: %s", km_strerror(rc));
    ck_assert_int_eq(s.code, KM_GRPC_OK);
    ck_assert_uint_eq(rep->payload.len, 11);
    ck_assert(!memcmp(rep->payload.data, "hello, kumo", 11));
    km_grpc_pb_free(&rep->base);
    /* An all-default message: zero bytes each way. */
    Kumo__Test__EchoRequest empty = KUMO__TEST__ECHO_REQUEST__INIT;
    rep = call(ch, &empty, soon(), &rc, &s, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(rep->payload.len, 0);
    km_grpc_pb_free(&rep->base);
    /* Bytes in, bytes out. */
    uint8_t buf[64];
    req.response_size = 3;
    size_t n = kumo__test__echo_request__pack(&req, buf);
    km_grpc_stream *st;
    km_str raw;
    rc = km_grpc_unary(ch, UNARY, NULL, 0, buf, n, soon(), &st, &raw);
    ck_assert_int_eq(rc, 0);
    Kumo__Test__EchoResponse *r2 = kumo__test__echo_response__unpack(NULL, raw.n, (const uint8_t *)raw.p);
    ck_assert_ptr_nonnull(r2);
    ck_assert_uint_eq(r2->payload.len, 3);
    kumo__test__echo_response__free_unpacked(r2, NULL);
    km_grpc_stream_free(st);
    km_grpc_channel_free(ch);
}

START_TEST(unary)
{
    t_run(unary_body, NULL);
}
END_TEST

static void server_stream_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.payload = (ProtobufCBinaryData){ 9, (uint8_t *)"stream me" };
    req.count = 5;
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(ch, SSTREAM, NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, soon()), 0);
    ProtobufCMessage *m;
    int rc, i = 0;
    while ((rc = km_grpc_stream_recv_pb(st, &kumo__test__echo_response__descriptor, &m, soon())) == 1) {
        Kumo__Test__EchoResponse *r = (Kumo__Test__EchoResponse *)m;
        ck_assert_int_eq(r->index, i);
        ck_assert_uint_eq(r->payload.len, 9);
        km_grpc_pb_free(m);
        i++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(i, 5);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_OK);
    /* once ended, recv keeps saying so */
    km_str x;
    ck_assert_int_eq(km_grpc_stream_recv(st, &x, soon()), 0);
    km_grpc_stream_free(st);

    /* 8 x 1 MiB: flow control past the initial windows */
    req.count = 8;
    req.response_size = 1 << 20;
    ck_assert_int_eq(km_grpc_stream_open(ch, SSTREAM, NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, soon()), 0);
    km_str msg;
    i = 0;
    while ((rc = km_grpc_stream_recv(st, &msg, soon())) == 1) {
        ck_assert_uint_gt(msg.n, 1 << 20);
        i++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(i, 8);
    km_grpc_stream_free(st);

    /* three, then a status with a message */
    req.count = 3;
    req.response_size = 0;
    req.fail_code = KM_GRPC_FAILED_PRECONDITION;
    req.fail_message = "stopped after three";
    ck_assert_int_eq(km_grpc_stream_open(ch, SSTREAM, NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, soon()), 0);
    i = 0;
    while ((rc = km_grpc_stream_recv(st, &msg, soon())) == 1)
        i++;
    ck_assert_int_eq(rc, -EREMOTEIO);
    ck_assert_int_eq(i, 3);
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, KM_GRPC_FAILED_PRECONDITION);
    ck_assert(str_eq(s.message, "stopped after three"));
    km_grpc_stream_free(st);
    km_grpc_channel_free(ch);
}

START_TEST(server_stream)
{
    t_run(server_stream_body, NULL);
}
END_TEST

static void client_stream_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(ch, CSTREAM, NULL, 0, soon(), &st), 0);
    size_t sizes[] = { 0, 1, 10, 100, 1000, 10000, 100000, 5 }, total = 0;
    uint8_t *p = calloc(1, 100000);
    for (size_t i = 0; i < 8; i++) {
        Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
        req.payload = (ProtobufCBinaryData){ sizes[i], p };
        total += sizes[i];
        ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, false, soon()), 0);
    }
    free(p);
    ck_assert_int_eq(km_grpc_stream_close_send(st, soon()), 0);
    ProtobufCMessage *m;
    ck_assert_int_eq(km_grpc_stream_recv_pb(st, &kumo__test__echo_response__descriptor, &m, soon()), 1);
    Kumo__Test__EchoResponse *r = (Kumo__Test__EchoResponse *)m;
    ck_assert_int_eq(r->received, 8);
    ck_assert_int_eq(r->received_bytes, (int64_t)total);
    ck_assert_uint_eq(r->payload.len, 5);
    km_grpc_pb_free(m);
    km_str x;
    ck_assert_int_eq(km_grpc_stream_recv(st, &x, soon()), 0);
    km_grpc_stream_free(st);

    /* failing at the third request: the sends after it may see -EPIPE */
    ck_assert_int_eq(km_grpc_stream_open(ch, CSTREAM, NULL, 0, soon(), &st), 0);
    for (int i = 0; i < 4; i++) {
        Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
        if (i == 2) {
            req.fail_code = KM_GRPC_RESOURCE_EXHAUSTED;
            req.fail_message = "third request refused";
        }
        int rc = km_grpc_stream_send_pb(st, &req.base, false, soon());
        ck_assert_msg(rc == 0 || rc == -EPIPE, "send: %s", km_strerror(rc));
    }
    int rc = km_grpc_stream_close_send(st, soon());
    ck_assert_msg(rc == 0 || rc == -EPIPE, "close: %s", km_strerror(rc));
    ck_assert_int_eq(km_grpc_stream_recv(st, &x, soon()), -EREMOTEIO);
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, KM_GRPC_RESOURCE_EXHAUSTED);
    ck_assert(str_eq(s.message, "third request refused"));
    km_grpc_stream_free(st);
    km_grpc_channel_free(ch);
}

START_TEST(client_stream)
{
    t_run(client_stream_body, NULL);
}
END_TEST

static void bidi_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(ch, BIDI, NULL, 0, soon(), &st), 0);
    for (int i = 0; i < 5; i++) {
        char text[16];
        snprintf(text, sizeof text, "round %d", i);
        Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
        req.payload = (ProtobufCBinaryData){ strlen(text), (uint8_t *)text };
        ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, false, soon()), 0);
        ProtobufCMessage *m;
        ck_assert_int_eq(km_grpc_stream_recv_pb(st, &kumo__test__echo_response__descriptor, &m, soon()), 1);
        Kumo__Test__EchoResponse *r = (Kumo__Test__EchoResponse *)m;
        ck_assert_int_eq(r->index, i);
        ck_assert_uint_eq(r->payload.len, strlen(text));
        km_grpc_pb_free(m);
    }
    ck_assert_int_eq(km_grpc_stream_close_send(st, soon()), 0);
    km_str x;
    ck_assert_int_eq(km_grpc_stream_recv(st, &x, soon()), 0);
    km_grpc_stream_free(st);
    km_grpc_channel_free(ch);
}

START_TEST(bidi)
{
    t_run(bidi_body, NULL);
}
END_TEST

/* Every code, and messages that need percent-encoding, come back exact. */
static void statuses_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    for (int c = 1; c <= 16; c++) {
        char msg[64];
        snprintf(msg, sizeof msg, "failing with %d (%s)", c, km_grpc_code_name(c));
        Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
        req.fail_code = c;
        req.fail_message = msg;
        int rc;
        km_grpc_status s;
        km_grpc_stream *st;
        call(ch, &req, soon(), &rc, &s, &st);
        ck_assert_int_eq(rc, -EREMOTEIO);
        ck_assert_int_eq(s.code, c);
        ck_assert_msg(str_eq(s.message, msg), "%d: '%.*s'", c, (int)s.message.n, s.message.p);
        km_grpc_stream_free(st);
    }
    char long_msg[3001];
    for (int i = 0; i < 200; i++)
        memcpy(long_msg + i * 15, "long message %\n", 15);
    long_msg[3000] = 0;
    const char *msgs[] = { "100% sure: 50%25 is not %", "line one\nline two\r\n\ttabbed",
                           "d\xc3\xa9j\xc3\xa0 vu \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
                           "%e2%98%83 stays as typed", "  spaces at both ends  ", "", long_msg };
    for (size_t i = 0; i < sizeof msgs / sizeof *msgs; i++) {
        Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
        req.fail_code = KM_GRPC_INVALID_ARGUMENT;
        req.fail_message = (char *)msgs[i];
        int rc;
        km_grpc_status s;
        km_grpc_stream *st;
        call(ch, &req, soon(), &rc, &s, &st);
        ck_assert_int_eq(rc, -EREMOTEIO);
        ck_assert_int_eq(s.code, KM_GRPC_INVALID_ARGUMENT);
        ck_assert_msg(bytes_eq(s.message, msgs[i], strlen(msgs[i])), "message %zu: '%.*s'", i,
                      (int)s.message.n, s.message.p);
        km_grpc_stream_free(st);
    }
    km_grpc_channel_free(ch);
}

START_TEST(statuses)
{
    t_run(statuses_body, NULL);
}
END_TEST

static void unknown_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    const char *paths[] = { "/kumo.test.Echo/Nope", "/kumo.test.Nope/Unary", "/Nope/Nope" };
    for (int i = 0; i < 3; i++) {
        km_grpc_stream *st;
        km_str rep;
        ck_assert_int_eq(km_grpc_unary(ch, paths[i], NULL, 0, "", 0, soon(), &st, &rep), -EREMOTEIO);
        ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_UNIMPLEMENTED);
        km_grpc_stream_free(st);
    }
    km_grpc_channel_free(ch);
}

START_TEST(unknown_method)
{
    t_run(unknown_body, NULL);
}
END_TEST

static void deadline_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.delay_ms = 60000;
    int64_t t0 = km_now();
    int rc;
    km_grpc_status s;
    call(ch, &req, t0 + 300 * MS, &rc, &s, NULL);
    int64_t took = km_now() - t0;
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_eq(s.code, KM_GRPC_DEADLINE_EXCEEDED);
    ck_assert_int_ge(took, 290 * MS);
    ck_assert_int_lt(took, 2 * SEC);
    /* a server stream: a response every 200 ms under 700 ms */
    req.delay_ms = 200;
    req.count = 100;
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(ch, SSTREAM, NULL, 0, km_now() + 700 * MS, &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, KM_FOREVER), 0);
    km_str m;
    int n = 0;
    while ((rc = km_grpc_stream_recv(st, &m, KM_FOREVER)) == 1)
        n++;
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, 4);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_DEADLINE_EXCEEDED);
    /* and every later operation says so */
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, KM_FOREVER), -ETIMEDOUT);
    ck_assert_int_eq(km_grpc_stream_send(st, "", 0, false, KM_FOREVER), -ETIMEDOUT);
    km_grpc_stream_free(st);
    /* an operation's own deadline leaves the call usable */
    req.delay_ms = 300;
    req.count = 1;
    ck_assert_int_eq(km_grpc_stream_open(ch, SSTREAM, NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, KM_FOREVER), 0);
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, km_now() + 50 * MS), -ETIMEDOUT);
    ck_assert_int_eq(km_grpc_stream_status(st).code, -1);
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 1);
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 0);
    km_grpc_stream_free(st);
    /* a deadline already past: nothing is sent */
    ck_assert_int_eq(km_grpc_stream_open(ch, UNARY, NULL, 0, km_now() - 1, &st), -ETIMEDOUT);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_DEADLINE_EXCEEDED);
    km_grpc_stream_free(st);
    /* then a call succeeds */
    Kumo__Test__EchoRequest ok = KUMO__TEST__ECHO_REQUEST__INIT;
    Kumo__Test__EchoResponse *rep = call(ch, &ok, soon(), &rc, &s, NULL);
    ck_assert_int_eq(rc, 0);
    km_grpc_pb_free(&rep->base);
    km_grpc_channel_free(ch);
}

START_TEST(deadlines)
{
    t_run(deadline_body, NULL);
}
END_TEST

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

static void cancel_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.delay_ms = 60000;
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(ch, UNARY, NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, true, soon()), 0);
    km_wg *wg;
    ck_assert_int_eq(km_wg_new(&wg), 0);
    km_wg_add(wg, 1);
    canceller c = { st, 200 * MS, wg };
    ck_assert_int_eq(km_go(cancel_later, &c), 0);
    km_str m;
    int64_t t0 = km_now();
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), -ECANCELED);
    ck_assert_int_lt(km_now() - t0, 2 * SEC);
    km_wg_wait(wg);
    km_wg_free(wg);
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, KM_GRPC_CANCELLED);
    ck_assert_int_eq(km_grpc_stream_send(st, "", 0, false, soon()), -ECANCELED);
    km_grpc_stream_cancel(st);      /* idempotent */
    km_grpc_stream_free(st);
    /* cancelling a call that ended changes nothing */
    Kumo__Test__EchoRequest ok = KUMO__TEST__ECHO_REQUEST__INIT;
    int rc;
    km_grpc_stream *done;
    Kumo__Test__EchoResponse *rep = call(ch, &ok, soon(), &rc, &s, &done);
    ck_assert_int_eq(rc, 0);
    km_grpc_stream_cancel(done);
    ck_assert_int_eq(km_grpc_stream_status(done).code, KM_GRPC_OK);
    km_grpc_stream_free(done);
    km_grpc_pb_free(&rep->base);
    km_grpc_channel_free(ch);
}

START_TEST(cancel)
{
    t_run(cancel_body, NULL);
}
END_TEST

/* The caller's group, cancelled, cancels the call too. */
static void cancelled_member(void *arg)
{
    km_grpc_channel *ch = arg;
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.delay_ms = 60000;
    int rc;
    km_grpc_status s;
    call(ch, &req, soon(), &rc, &s, NULL);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(s.code, KM_GRPC_CANCELLED);
}

static void group_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    km_group *g;
    ck_assert_int_eq(km_group_new(&g, NULL, km_now() + 300 * MS), 0);
    int64_t t0 = km_now();
    ck_assert_int_eq(km_group_go(g, cancelled_member, ch), 0);
    ck_assert_int_eq(km_group_wait(g, soon()), 0);
    ck_assert_int_lt(km_now() - t0, 2 * SEC);
    km_group_free(g);
    km_grpc_channel_free(ch);
}

START_TEST(caller_group_cancelled)
{
    t_run(group_body, NULL);
}
END_TEST

/* What each metadata check of the interop drivers sends. */
static const km_grpc_md *sent_md(size_t *n)
{
    static km_grpc_md md[16];
    size_t k = 0;
    static const char ascii[] = "hello world !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    md[k++] = km_grpc_md_of("x-echo-ascii", ascii, sizeof ascii - 1);
    md[k++] = km_grpc_md_of("x-echo-multi", "first", 5);
    md[k++] = km_grpc_md_of("x-echo-multi", "second", 6);
    md[k++] = km_grpc_md_of("x-echo-data-bin", "\x00\x01\x02\xfe\xff\n\r", 7);
    md[k++] = km_grpc_md_of("x-echo-pad-bin", "", 0);
    md[k++] = km_grpc_md_of("x-echo-pad-bin", "\x80", 1);
    md[k++] = km_grpc_md_of("x-echo-pad-bin", "\x80\x81", 2);
    md[k++] = km_grpc_md_of("x-echo-pad-bin", "\x80\x81\x82", 3);
    md[k++] = km_grpc_md_of("x-echo-pad-bin", "\x80\x81\x82\x83", 4);
    md[k++] = km_grpc_md_of("x-trailer-ascii", "trailing value", 14);
    md[k++] = km_grpc_md_of("x-trailer-data-bin", "\xff\x00\xff" "binary\x00", 10);
    md[k++] = km_grpc_md_of("x-other", "not echoed", 10);
    md[k++] = km_grpc_md_of("x-echo", "no dash after echo: not echoed", 30);
    *n = k;
    return md;
}

/* got (only its x- keys) holds exactly the sent entries whose key starts
 * with prefix, values in order per key. */
static void same_md(const km_grpc_md *got, size_t ngot, const char *prefix, const char *what)
{
    size_t nsent;
    const km_grpc_md *sent = sent_md(&nsent);
    size_t want = 0, have = 0;
    for (size_t i = 0; i < nsent; i++)
        if (!strncmp(sent[i].key.p, prefix, strlen(prefix)))
            want++;
    for (size_t i = 0; i < ngot; i++)
        if (got[i].key.n >= 2 && !memcmp(got[i].key.p, "x-", 2))
            have++;
    ck_assert_msg(have == want, "%s: %zu x- entries, want %zu", what, have, want);
    for (size_t i = 0, j = 0; i < nsent; i++) {
        if (strncmp(sent[i].key.p, prefix, strlen(prefix)))
            continue;
        /* the j-th received entry with this key */
        size_t seen = 0, k;
        for (size_t q = 0; q < i; q++)
            if (sent[q].key.n == sent[i].key.n && !memcmp(sent[q].key.p, sent[i].key.p, sent[i].key.n))
                seen++;
        for (k = 0; k < ngot; k++)
            if (got[k].key.n == sent[i].key.n && !memcmp(got[k].key.p, sent[i].key.p, got[k].key.n) &&
                seen-- == 0)
                break;
        ck_assert_msg(k < ngot, "%s: %.*s missing", what, (int)sent[i].key.n, sent[i].key.p);
        ck_assert_msg(bytes_eq(got[k].value, sent[i].value.p, sent[i].value.n), "%s: %.*s differs",
                      what, (int)sent[i].key.n, sent[i].key.p);
        j++;
    }
}

static void metadata_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    size_t nmd;
    const km_grpc_md *md = sent_md(&nmd);
    /* unary */
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    km_grpc_stream *st;
    ProtobufCMessage *rep;
    ck_assert_int_eq(km_grpc_unary_pb(ch, UNARY, md, nmd, &req.base,
                                      &kumo__test__echo_response__descriptor, soon(), &st, &rep), 0);
    km_grpc_pb_free(rep);
    const km_grpc_md *h, *t;
    size_t nh, nt;
    ck_assert_int_eq(km_grpc_stream_headers(st, &h, &nh, soon()), 0);
    ck_assert_int_eq(km_grpc_stream_trailers(st, &t, &nt), 0);
    same_md(h, nh, "x-echo-", "unary headers");
    same_md(t, nt, "x-trailer-", "unary trailers");
    km_grpc_stream_free(st);
    /* bidi: headers before the end, trailers after */
    ck_assert_int_eq(km_grpc_stream_open(ch, BIDI, md, nmd, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send_pb(st, &req.base, false, soon()), 0);
    km_str m;
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 1);
    ck_assert_int_eq(km_grpc_stream_headers(st, &h, &nh, soon()), 0);
    same_md(h, nh, "x-echo-", "bidi headers");
    ck_assert_int_eq(km_grpc_stream_trailers(st, &t, &nt), -EAGAIN);
    ck_assert_int_eq(km_grpc_stream_close_send(st, soon()), 0);
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 0);
    ck_assert_int_eq(km_grpc_stream_trailers(st, &t, &nt), 0);
    same_md(t, nt, "x-trailer-", "bidi trailers");
    km_grpc_stream_free(st);
    /* a failing call: trailers-only, everything among the trailers */
    req.fail_code = KM_GRPC_UNAVAILABLE;
    req.fail_message = "failed, with metadata";
    ck_assert_int_eq(km_grpc_unary_pb(ch, UNARY, md, nmd, &req.base,
                                      &kumo__test__echo_response__descriptor, soon(), &st, &rep),
                     -EREMOTEIO);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_UNAVAILABLE);
    ck_assert_int_eq(km_grpc_stream_headers(st, &h, &nh, soon()), 0);
    ck_assert_int_eq(km_grpc_stream_trailers(st, &t, &nt), 0);
    km_str v = km_grpc_md_get(nh ? h : t, nh ? nh : nt, "x-echo-data-bin");
    ck_assert(bytes_eq(v, "\x00\x01\x02\xfe\xff\n\r", 7));
    v = km_grpc_md_get(t, nt, "x-trailer-data-bin");
    ck_assert(bytes_eq(v, "\xff\x00\xff" "binary\x00", 10));
    km_grpc_stream_free(st);
    /* keys and values that cannot be sent */
    km_grpc_md bad[] = { km_grpc_md_of("Upper", "x", 1) };
    ck_assert_int_eq(km_grpc_stream_open(ch, UNARY, bad, 1, soon(), &st), -EINVAL);
    bad[0] = km_grpc_md_of("grpc-timeout", "1S", 2);
    ck_assert_int_eq(km_grpc_stream_open(ch, UNARY, bad, 1, soon(), &st), -EINVAL);
    bad[0] = km_grpc_md_of("x-ascii", "new\nline", 8);
    ck_assert_int_eq(km_grpc_stream_open(ch, UNARY, bad, 1, soon(), &st), -EINVAL);
    ck_assert_int_eq(km_grpc_stream_open(ch, "no-slash", NULL, 0, soon(), &st), -EINVAL);
    km_grpc_channel_free(ch);
}

START_TEST(metadata)
{
    t_run(metadata_body, NULL);
}
END_TEST

/* 4 MiB each way; over the default receive limit: RESOURCE_EXHAUSTED. */
static void large_body(void *arg)
{
    km_grpc_channel *big = channel(64 << 20), *dflt = channel(0);
    size_t n = 4 << 20;
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + i / 251);
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.payload = (ProtobufCBinaryData){ n, p };
    int rc;
    km_grpc_status s;
    Kumo__Test__EchoResponse *rep = call(big, &req, soon(), &rc, &s, NULL);
    ck_assert_msg(rc == 0, "4 MiB echo: %s %.*s", km_strerror(rc), (int)s.message.n, s.message.p);
    ck_assert_uint_eq(rep->payload.len, n);
    ck_assert(!memcmp(rep->payload.data, p, n));
    km_grpc_pb_free(&rep->base);
    rep = call(dflt, &req, soon(), &rc, &s, NULL);
    ck_assert_int_eq(rc, -EMSGSIZE);
    ck_assert_int_eq(s.code, KM_GRPC_RESOURCE_EXHAUSTED);
    ck_assert_ptr_null(rep);
    free(p);
    /* the channel goes on */
    Kumo__Test__EchoRequest small = KUMO__TEST__ECHO_REQUEST__INIT;
    rep = call(dflt, &small, soon(), &rc, &s, NULL);
    ck_assert_int_eq(rc, 0);
    km_grpc_pb_free(&rep->base);
    km_grpc_channel_free(big);
    km_grpc_channel_free(dflt);
}

START_TEST(large_messages)
{
    t_run(large_body, NULL);
}
END_TEST

typedef struct {
    km_grpc_channel *ch;
    int              i;
    int              rc;
} one_call;

static void concurrent_one(void *arg)
{
    one_call *c = arg;
    char text[32];
    snprintf(text, sizeof text, "call %d", c->i);
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.payload = (ProtobufCBinaryData){ strlen(text), (uint8_t *)text };
    req.delay_ms = c->i % 3;
    km_grpc_status s;
    Kumo__Test__EchoResponse *rep = call(c->ch, &req, soon(), &c->rc, &s, NULL);
    if (!c->rc && (rep->payload.len != strlen(text) || memcmp(rep->payload.data, text, strlen(text))))
        c->rc = -EBADMSG;
    km_grpc_pb_free(rep ? &rep->base : NULL);
}

static void concurrent_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    enum { N = 200 };
    one_call *calls = calloc(N, sizeof *calls);
    for (int i = 0; i < N; i++)
        calls[i] = (one_call){ ch, i, 1 };
    t_go_all(N, concurrent_one, calls, sizeof *calls);
    for (int i = 0; i < N; i++)
        ck_assert_msg(calls[i].rc == 0, "call %d: %s", i, km_strerror(calls[i].rc));
    free(calls);
    km_grpc_channel_free(ch);
}

START_TEST(concurrent)
{
    t_procs(2);
    t_run(concurrent_body, NULL);
}
END_TEST

/* No server: UNAVAILABLE, at once, with the dial's error. */
static void refused_body(void *arg)
{
    peer_stop(&gs);
    km_grpc_channel *ch = channel(0);
    km_grpc_stream *st;
    km_str rep;
    int rc = km_grpc_unary(ch, UNARY, NULL, 0, "", 0, soon(), &st, &rep);
    ck_assert_int_eq(rc, -ECONNREFUSED);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_UNAVAILABLE);
    km_grpc_stream_free(st);
    km_grpc_channel_free(ch);
}

START_TEST(connection_refused)
{
    t_run(refused_body, NULL);
}
END_TEST

static void nomem_body(void *arg)
{
    km_grpc_channel *ch = channel(0);
    /* warm up: the connection is there */
    km_grpc_stream *st;
    km_str rep;
    ck_assert_int_eq(km_grpc_unary(ch, UNARY, NULL, 0, "", 0, soon(), &st, &rep), 0);
    km_grpc_stream_free(st);
    /* every allocation of a call, failed in turn: an error, never a leak or crash */
    for (long k = 1; k < 40; k++) {
        st = NULL;
        t_fail_alloc_after(k);
        int rc = km_grpc_unary(ch, UNARY, NULL, 0, "", 0, soon(), &st, &rep);
        t_fail_alloc_after(0);
        ck_assert_msg(rc == 0 || rc == -ENOMEM || km_grpc_stream_status(st).code != KM_GRPC_OK,
                      "k=%ld: %s", k, km_strerror(rc));
        km_grpc_stream_free(st);
    }
    km_grpc_channel_free(ch);
}

START_TEST(allocation_failures)
{
    t_run(nomem_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, unary);
    tcase_add_test(tc, server_stream);
    tcase_add_test(tc, client_stream);
    tcase_add_test(tc, bidi);
    tcase_add_test(tc, statuses);
    tcase_add_test(tc, unknown_method);
    tcase_add_test(tc, deadlines);
    tcase_add_test(tc, cancel);
    tcase_add_test(tc, caller_group_cancelled);
    tcase_add_test(tc, metadata);
    tcase_add_test(tc, large_messages);
    tcase_add_test(tc, concurrent);
    tcase_add_test(tc, connection_refused);
    tcase_add_test(tc, allocation_failures);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
