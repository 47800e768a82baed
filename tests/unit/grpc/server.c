/* SPDX-License-Identifier: MIT */
/* The gRPC server: its method table, dispatch and every error answer (over HTTP/1.1 and HTTP/2), deadlines, cancellation, metadata, limits; kumo's client on the other end. */
#include "peer.h"
#include "grpc/grpc-int.h"

static int64_t soon(void) { return km_now() + 20 * SEC; }

/* ---- the method table ---- */

static void nop(km_grpc_call *c, void *ud) {}

static void table_body(void *arg)
{
    km_grpc_server *s;
    ck_assert_int_eq(km_grpc_server_new(&s, NULL), 0);
    ck_assert_uint_eq(s->cfg.max_recv_msg, 4u << 20);
    ck_assert_int_eq(km_grpc_register(s, "/a.B/C", KM_GRPC_UNARY, nop, NULL), 0);
    ck_assert_int_eq(km_grpc_register(s, "/a.B/C", KM_GRPC_UNARY, nop, NULL), -EEXIST);
    static const char *bad[] = { "", "/", "a.B/C", "/a.B", "/a.B/", "//C", "/a.B/C/D",
                                 "/a B/C", "/a.B/C\n", "/a.B/\xc3\xa9" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(km_grpc_register(s, bad[i], KM_GRPC_UNARY, nop, NULL) == -EINVAL, "'%s'", bad[i]);
    ck_assert_int_eq(km_grpc_register(s, "/a.B/D", 7, nop, NULL), -EINVAL);
    ck_assert_int_eq(km_grpc_register(s, "/a.B/D", KM_GRPC_UNARY, NULL, NULL), -EINVAL);
    /* many methods: the table grows and finds each */
    for (int i = 0; i < 300; i++) {
        char p[64];
        snprintf(p, sizeof p, "/pkg.Svc%d/Method%d", i % 7, i);
        ck_assert_int_eq(km_grpc_register(s, p, (km_grpc_kind)(i % 4), nop, NULL), 0);
    }
    for (int i = 0; i < 300; i++) {
        char p[64];
        int n = snprintf(p, sizeof p, "/pkg.Svc%d/Method%d", i % 7, i);
        const km__grpc_method *m = km__grpc_lookup(s, p, (size_t)n);
        ck_assert_ptr_nonnull(m);
        ck_assert_int_eq(m->kind, i % 4);
        ck_assert(km__grpc_has_service(s, p, (size_t)n));
    }
    ck_assert_ptr_null(km__grpc_lookup(s, "/pkg.Svc0/Method1", 17));
    ck_assert(!km__grpc_has_service(s, "/pkg.Svc9/X", 11));
    ck_assert(km__grpc_has_service(s, "/a.B/Other", 10));
    /* a service: all of its methods or none */
    km_grpc_method ok[] = { { "Unary", KM_GRPC_UNARY, nop }, { "Bidi", KM_GRPC_BIDI_STREAMING, nop } };
    km_grpc_method wrong[] = { { "Unary", KM_GRPC_UNARY, nop }, { "Nope", KM_GRPC_UNARY, nop } };
    size_t before = s->n;
    ck_assert_int_eq(km_grpc_register_service(s, &kumo__test__echo__descriptor, wrong, 2, NULL), -ENOENT);
    ck_assert_uint_eq(s->n, before);
    ck_assert_int_eq(km_grpc_register_service(s, &kumo__test__echo__descriptor, ok, 2, NULL), 0);
    const km__grpc_method *m = km__grpc_lookup(s, "/kumo.test.Echo/Bidi", 20);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_eq(m->in, &kumo__test__echo_request__descriptor);
    ck_assert_ptr_null(km__grpc_lookup(s, "/kumo.test.Echo/ClientStream", 28));
    /* again: the first method is there already, so nothing is added */
    before = s->n;
    ck_assert_int_eq(km_grpc_register_service(s, &kumo__test__echo__descriptor, ok, 2, NULL), -EEXIST);
    ck_assert_uint_eq(s->n, before);
    ck_assert_ptr_nonnull(km__grpc_lookup(s, "/kumo.test.Echo/Unary", 21));
    km_grpc_server_free(s);
}

START_TEST(method_table)
{
    t_run(table_body, NULL);
}
END_TEST

/* ---- a server under test ---- */

typedef struct {
    km_http_server *hs;
    km_grpc_server *gs;
    km_grpc_channel *ch;
    char            addr[32];
    /* what handlers saw, for the test to check */
    km_chan        *seen;           /* ints: the blocking call's result */
    _Atomic(const char *) route;    /* the last request's route label */
    km_http_mw      mw;
} rig;

/* Records the route a request took, as the metrics and log middleware see it. */
static void route_mw(km_http_req *r, km_http_resp *w, void *ud, km_http_next *next)
{
    rig *x = ud;
    km_http_next_call(next, r, w);
    km_str p = km_http_route_pattern(r);
    atomic_store(&x->route, p.p ? p.p : "none");   /* a label outlives the request */
}

static void note(rig *x, int v) { km_chan_send_dl(x->seen, &v, soon()); }

static int seen(rig *x)
{
    int v = 12345;
    ck_assert_int_eq(km_chan_recv_dl(x->seen, &v, soon()), 0);
    return v;
}

static void other(km_http_req *r, km_http_resp *w, void *ud)
{
    km_http_send(w, 200, "text/plain", "not grpc", 8);
}

/* Echoes each request message; a message "fail:N:text" ends the call
 * with code N; "meta" echoes metadata. */
static void echo(km_grpc_call *c, void *ud)
{
    km_str m;
    int rc;
    while ((rc = km_grpc_recv(c, &m, KM_FOREVER)) == 1) {
        if (m.n > 5 && !memcmp(m.p, "fail:", 5)) {
            char text[256];
            int code = atoi(m.p + 5);
            const char *colon = memchr(m.p + 5, ':', m.n - 5);
            size_t tl = colon ? (size_t)(m.p + m.n - colon - 1) : 0;
            memcpy(text, colon ? colon + 1 : "", tl);
            text[tl] = 0;
            km_grpc_finish(c, code, text);
            return;
        }
        if (km_grpc_send(c, m.p, m.n, KM_FOREVER))
            return;
    }
}

/* Sleeps until the call ends (deadline, reset), and says how it woke. */
static void sleeper(km_grpc_call *c, void *ud)
{
    rig *x = ud;
    km_str m;
    km_grpc_recv(c, &m, KM_FOREVER);
    int rc = km_sleep(60 * SEC);
    note(x, rc);
    note(x, km_grpc_call_deadline(c) == KM_FOREVER ? 0 : 1);
}

/* Reads with its own short deadline first, then for real. */
static void patient(km_grpc_call *c, void *ud)
{
    rig *x = ud;
    km_str m;
    note(x, km_grpc_recv(c, &m, km_now() + 50 * MS));
    int rc = km_grpc_recv(c, &m, KM_FOREVER);
    note(x, rc);
    if (rc == 1)
        km_grpc_send(c, m.p, m.n, KM_FOREVER);
}

/* Unpacks an EchoRequest (the method's input, from the service). */
static void pb_unary(km_grpc_call *c, void *ud)
{
    rig *x = ud;
    ProtobufCMessage *m;
    int rc = km_grpc_recv_pb(c, NULL, &m, KM_FOREVER);
    note(x, rc);
    if (rc != 1)
        return;
    Kumo__Test__EchoRequest *req = (Kumo__Test__EchoRequest *)m;
    Kumo__Test__EchoResponse rep = KUMO__TEST__ECHO_RESPONSE__INIT;
    rep.payload = req->payload;
    rep.index = 7;
    km_grpc_send_pb(c, &rep.base, KM_FOREVER);
    km_grpc_pb_free(m);
}

/* The call's API misused and used: what each returns. */
static void api(km_grpc_call *c, void *ud)
{
    rig *x = ud;
    km_str path = km_grpc_call_path(c);
    note(x, str_eq(path, "/t.S/Api"));
    note(x, km_grpc_call_peer(c).p != NULL);
    note(x, km_grpc_call_http(c) != NULL);
    note(x, km_grpc_set_header(c, "Bad Key", "v", 1));
    note(x, km_grpc_set_header(c, "x-ok", "v\n", 2));
    note(x, km_grpc_set_header(c, "grpc-status", "0", 1));
    note(x, km_grpc_set_header(c, "x-head", "early", 5));
    note(x, km_grpc_set_header(c, "x-head-bin", "\0\1\2", 3));
    note(x, km_grpc_send_header(c));
    note(x, km_grpc_send_header(c));
    note(x, km_grpc_set_header(c, "x-late", "late", 4));
    note(x, km_grpc_set_trailer(c, "x-trail", "t", 1));
    note(x, km_grpc_send(c, "one", 3, KM_FOREVER));
    note(x, km_grpc_finish(c, KM_GRPC_ABORTED, "stop here"));
    note(x, km_grpc_finish(c, KM_GRPC_OK, NULL));
    note(x, km_grpc_send(c, "two", 3, KM_FOREVER));
    note(x, km_grpc_set_trailer(c, "x-after-finish", "still", 5));
}

/* Returns at once: OK with no message (trailers-only). */
static void nothing(km_grpc_call *c, void *ud) {}

static void start(rig *x, km_grpc_server_config *cfg, bool fallback)
{
    ck_assert_int_eq(km_chan_new(&x->seen, sizeof(int), 64), 0);
    ck_assert_int_eq(km_grpc_server_new(&x->gs, cfg), 0);
    ck_assert_int_eq(km_grpc_register(x->gs, "/t.S/Echo", KM_GRPC_BIDI_STREAMING, echo, x), 0);
    ck_assert_int_eq(km_grpc_register(x->gs, "/t.S/Unary", KM_GRPC_UNARY, echo, x), 0);
    ck_assert_int_eq(km_grpc_register(x->gs, "/t.S/Sleep", KM_GRPC_UNARY, sleeper, x), 0);
    ck_assert_int_eq(km_grpc_register(x->gs, "/t.S/Patient", KM_GRPC_UNARY, patient, x), 0);
    ck_assert_int_eq(km_grpc_register(x->gs, "/t.S/Api", KM_GRPC_SERVER_STREAMING, api, x), 0);
    ck_assert_int_eq(km_grpc_register(x->gs, "/t.S/Nothing", KM_GRPC_UNARY, nothing, x), 0);
    km_grpc_method pb[] = { { "Unary", KM_GRPC_UNARY, pb_unary } };
    ck_assert_int_eq(km_grpc_register_service(x->gs, &kumo__test__echo__descriptor, pb, 1, x), 0);
    if (fallback)
        km_grpc_server_fallback(x->gs, other, NULL);
    x->mw = (km_http_mw){ route_mw, x };
    km_http_config hc = { .addr = "127.0.0.1:0", .handler = km_grpc_serve_http, .ud = x->gs,
                          .middleware = &x->mw, .nmiddleware = 1 };
    ck_assert_int_eq(km_http_serve(&x->hs, &hc), 0);
    snprintf(x->addr, sizeof x->addr, "127.0.0.1:%d", km_http_server_port(x->hs));
    km_grpc_channel_config cc = { .target = x->addr, .max_recv_msg = 64 << 20 };
    ck_assert_int_eq(km_grpc_channel_new(&x->ch, &cc), 0);
}

static void stop(rig *x)
{
    km_grpc_channel_free(x->ch);
    ck_assert_int_eq(km_http_shutdown(x->hs, soon()), 0);
    km_grpc_server_free(x->gs);
    km_chan_free(x->seen);
}

/* ---- over HTTP/1.1 ---- */

static int h1(rig *x, const char *method, const char *path, const char *ctype, km_str *body,
              km_http_response **out)
{
    km_http_client *hc;
    ck_assert_int_eq(km_http_client_new(&hc, NULL), 0);
    char url[96];
    snprintf(url, sizeof url, "http://%s%s", x->addr, path);
    km_http_kv h[] = { { "Content-Type", ctype } };
    int rc = km_http_do(hc, method, url, h, ctype ? 1 : 0, "", 0, soon(), out);
    ck_assert_int_eq(rc, 0);
    int status = km_http_response_status(*out);
    *body = km_http_response_body(*out);
    km_http_client_free(hc);
    return status;
}

static void h1_body(void *arg)
{
    rig x = { 0 };
    start(&x, NULL, false);
    km_http_response *r;
    km_str body;
    ck_assert_int_eq(h1(&x, "POST", "/t.S/Echo", "application/grpc", &body, &r), 505);
    ck_assert(memmem(body.p, body.n, "HTTP/2", 6));
    km_http_response_free(r);
    ck_assert_int_eq(h1(&x, "GET", "/", NULL, &body, &r), 505);
    km_http_response_free(r);
    stop(&x);
    /* with a fallback, what is not gRPC goes there */
    rig y = { 0 };
    start(&y, NULL, true);
    ck_assert_int_eq(h1(&y, "GET", "/", NULL, &body, &r), 200);
    ck_assert(bytes_eq(body, "not grpc", 8));
    km_http_response_free(r);
    ck_assert_int_eq(h1(&y, "POST", "/t.S/Echo", "application/json", &body, &r), 200);
    km_http_response_free(r);
    ck_assert_int_eq(h1(&y, "POST", "/t.S/Echo", "application/grpc+proto", &body, &r), 505);
    km_http_response_free(r);
    stop(&y);
}

START_TEST(http1_is_refused)
{
    t_run(h1_body, NULL);
}
END_TEST

/* ---- over HTTP/2, with kumo's client ---- */

/* A raw HTTP/2 request: its status and, for 200, grpc-status (-1 if none). */
static int raw(rig *x, const char *method, const char *path, const char *ctype,
               const km_http_kv *extra, size_t nextra, const void *body, size_t n, int *grpc_status)
{
    km_http2_client_config hc = { .addr = x->addr };
    km_http2_client *c;
    ck_assert_int_eq(km_http2_client_new(&c, &hc), 0);
    km_http_kv h[8] = { { ":method", method }, { ":path", path }, { "te", "trailers" } };
    size_t k = 3;
    if (ctype)
        h[k++] = (km_http_kv){ "content-type", ctype };
    for (size_t i = 0; i < nextra; i++)
        h[k++] = extra[i];
    km_http2_stream *st;
    ck_assert_int_eq(km_http2_stream_open(c, h, k, false, soon(), &st), 0);
    /* An error answer may come before the body is read (the stream then
     * ends under the write, which is HTTP/2's way): the answer counts. */
    int wrc = km_http2_stream_write(st, body, n, true, soon());
    ck_assert_msg(wrc == 0 || wrc == -EPIPE, "write: %s", km_strerror(wrc));
    int status;
    ck_assert_int_eq(km_http2_stream_response(st, soon(), &status), 0);
    char buf[256];
    while (km_http2_stream_read(st, buf, sizeof buf, soon()) > 0)
        ;
    km_str gs = km_http2_stream_header(st, "grpc-status");
    if (!gs.p)
        gs = km_http2_stream_trailer(st, "grpc-status");
    *grpc_status = gs.p ? atoi(gs.p) : -1;
    km_http2_stream_free(st);
    km_http2_client_free(c);
    return status;
}

static void frame(uint8_t *out, uint8_t flag, const void *p, uint32_t n)
{
    km__grpc_prefix(out, false, n);
    out[0] = flag;
    memcpy(out + KM__GRPC_PREFIX, p, n);
}

static void errors_body(void *arg)
{
    rig x = { 0 };
    km_grpc_server_config cfg = { .max_recv_msg = 1000 };
    start(&x, &cfg, false);
    int gst;
    uint8_t msg[64];
    frame(msg, 0, "hi", 2);
    /* HTTP-level refusals */
    ck_assert_int_eq(raw(&x, "GET", "/t.S/Echo", "application/grpc", NULL, 0, NULL, 0, &gst), 405);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Echo", "application/json", NULL, 0, msg, 7, &gst), 415);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Echo", NULL, NULL, 0, msg, 7, &gst), 415);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Echo", "application/grpcx", NULL, 0, msg, 7, &gst), 415);
    /* these are gRPC content types */
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc+proto", NULL, 0, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, 0);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "Application/GRPC; charset=x", NULL, 0, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, 0);
    /* gRPC-level ones: a 200 and a status */
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Nope", "application/grpc", NULL, 0, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_UNIMPLEMENTED);
    /* a compressed message: no encoding said, or one we do not take */
    frame(msg, 1, "hi", 2);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", NULL, 0, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_INTERNAL);
    km_http_kv gz[] = { { "grpc-encoding", "gzip" } };
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", gz, 1, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_UNIMPLEMENTED);
    km_http_kv id[] = { { "grpc-encoding", "identity" } };
    frame(msg, 0, "hi", 2);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", id, 1, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_OK);
    /* a flag byte that is neither: broken framing */
    frame(msg, 7, "hi", 2);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", NULL, 0, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_INTERNAL);
    /* a message cut short by the end of the request */
    frame(msg, 0, "hello", 5);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", NULL, 0, msg, 8, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_INTERNAL);
    /* grpc-timeout that does not parse */
    km_http_kv tmo[] = { { "grpc-timeout", "1.5S" } };
    frame(msg, 0, "hi", 2);
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", tmo, 1, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_INTERNAL);
    /* grpc-timeout 0: over before it began */
    km_http_kv zero[] = { { "grpc-timeout", "0n" } };
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Unary", "application/grpc", zero, 1, msg, 7, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_DEADLINE_EXCEEDED);

    /* With kumo's client: the messages of UNIMPLEMENTED */
    km_grpc_stream *st;
    km_str rep;
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.S/Nope", NULL, 0, "", 0, soon(), &st, &rep), -EREMOTEIO);
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, KM_GRPC_UNIMPLEMENTED);
    ck_assert(str_eq(s.message, "unknown method Nope for service t.S"));
    km_grpc_stream_free(st);
    ck_assert_str_eq(atomic_load(&x.route), "none");          /* no method: no route label */
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.S/Unary", NULL, 0, "hi", 2, soon(), &st, &rep), 0);
    km_grpc_stream_free(st);
    ck_assert_str_eq(atomic_load(&x.route), "/t.S/Unary");  /* the method names the route */
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.X/Echo", NULL, 0, "", 0, soon(), &st, &rep), -EREMOTEIO);
    s = km_grpc_stream_status(st);
    ck_assert(str_eq(s.message, "unknown service t.X"));
    km_grpc_stream_free(st);
    /* over the receive limit (1000 bytes): RESOURCE_EXHAUSTED */
    char big[1001];
    memset(big, 'b', sizeof big);
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.S/Unary", NULL, 0, big, 1001, soon(), &st, &rep), -EREMOTEIO);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_RESOURCE_EXHAUSTED);
    km_grpc_stream_free(st);
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.S/Unary", NULL, 0, big, 1000, soon(), &st, &rep), 0);
    ck_assert_uint_eq(rep.n, 1000);
    km_grpc_stream_free(st);
    /* a message that does not decode as the method's input: INVALID_ARGUMENT */
    ck_assert_int_eq(km_grpc_unary(x.ch, "/kumo.test.Echo/Unary", NULL, 0, "\xff\xff\xff", 3, soon(),
                                   &st, &rep), -EREMOTEIO);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_INVALID_ARGUMENT);
    ck_assert_int_eq(seen(&x), -EBADMSG);
    km_grpc_stream_free(st);
    /* one that does */
    Kumo__Test__EchoRequest req = KUMO__TEST__ECHO_REQUEST__INIT;
    req.payload = (ProtobufCBinaryData){ 3, (uint8_t *)"abc" };
    ProtobufCMessage *m;
    ck_assert_int_eq(km_grpc_unary_pb(x.ch, "/kumo.test.Echo/Unary", NULL, 0, &req.base,
                                      &kumo__test__echo_response__descriptor, soon(), &st, &m), 0);
    ck_assert_int_eq(seen(&x), 1);
    ck_assert_int_eq(((Kumo__Test__EchoResponse *)m)->index, 7);
    km_grpc_pb_free(m);
    km_grpc_stream_free(st);
    /* a handler that says nothing: OK, no message (unary: the client's error) */
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.S/Nothing", NULL, 0, "", 0, soon(), &st, &rep), -EPROTO);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_INTERNAL);
    km_grpc_stream_free(st);
    /* a status with a message */
    const char *f = "fail:9:d\xc3\xa9j\xc3\xa0 100% ";
    ck_assert_int_eq(km_grpc_unary(x.ch, "/t.S/Unary", NULL, 0, f, strlen(f), soon(), &st, &rep),
                     -EREMOTEIO);
    s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, 9);
    ck_assert(str_eq(s.message, "d\xc3\xa9j\xc3\xa0 100% "));
    km_grpc_stream_free(st);
    stop(&x);
}

START_TEST(error_answers)
{
    t_run(errors_body, NULL);
}
END_TEST

static void deadline_body(void *arg)
{
    rig x = { 0 };
    start(&x, NULL, false);
    /* the handler's sleep ends at the call's deadline, not its own 60 s */
    int64_t t0 = km_now();
    km_grpc_stream *st;
    km_str rep;
    int rc = km_grpc_unary(x.ch, "/t.S/Sleep", NULL, 0, "", 0, t0 + 300 * MS, &st, &rep);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_DEADLINE_EXCEEDED);
    km_grpc_stream_free(st);
    ck_assert_int_eq(seen(&x), -ECANCELED);
    ck_assert_int_eq(seen(&x), 1);
    ck_assert_int_lt(km_now() - t0, 2 * SEC);
    /* the server answers DEADLINE_EXCEEDED itself too: seen through a
     * client that waits longer than the deadline it sends */
    km_http_kv tmo[] = { { "grpc-timeout", "200m" } };
    uint8_t msg[16];
    frame(msg, 0, "z", 1);
    int gst;
    ck_assert_int_eq(raw(&x, "POST", "/t.S/Sleep", "application/grpc", tmo, 1, msg, 6, &gst), 200);
    ck_assert_int_eq(gst, KM_GRPC_DEADLINE_EXCEEDED);
    ck_assert_int_eq(seen(&x), -ECANCELED);
    ck_assert_int_eq(seen(&x), 1);
    /* a recv's own deadline: -ETIMEDOUT, and the call goes on */
    ck_assert_int_eq(km_grpc_stream_open(x.ch, "/t.S/Patient", NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(seen(&x), -ETIMEDOUT);
    ck_assert_int_eq(km_grpc_stream_send(st, "late", 4, true, soon()), 0);
    ck_assert_int_eq(seen(&x), 1);
    ck_assert_int_eq(km_grpc_stream_recv(st, &rep, soon()), 1);
    ck_assert(bytes_eq(rep, "late", 4));
    ck_assert_int_eq(km_grpc_stream_recv(st, &rep, soon()), 0);
    km_grpc_stream_free(st);
    stop(&x);
}

START_TEST(deadlines)
{
    t_run(deadline_body, NULL);
}
END_TEST

static void cancel_body(void *arg)
{
    rig x = { 0 };
    start(&x, NULL, false);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(x.ch, "/t.S/Sleep", NULL, 0, KM_FOREVER, &st), 0);
    ck_assert_int_eq(km_grpc_stream_send(st, "", 0, true, soon()), 0);
    km_sleep(100 * MS);
    int64_t t0 = km_now();
    km_grpc_stream_cancel(st);
    /* the client's reset reaches the handler: its sleep ends */
    ck_assert_int_eq(seen(&x), -ECANCELED);
    ck_assert_int_eq(seen(&x), 0);
    ck_assert_int_lt(km_now() - t0, 2 * SEC);
    km_str m;
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), -ECANCELED);
    km_grpc_stream_free(st);
    stop(&x);
}

START_TEST(client_cancel)
{
    t_run(cancel_body, NULL);
}
END_TEST

static void api_body(void *arg)
{
    rig x = { 0 };
    start(&x, NULL, false);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(x.ch, "/t.S/Api", NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_close_send(st, soon()), 0);
    int want[] = { 1, 1, 1, -EINVAL, -EINVAL, -EINVAL, 0, 0, 0, -EALREADY, -EALREADY, 0, 0,
                   0, -EALREADY, -EALREADY, 0 };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int v = seen(&x);
        ck_assert_msg(v == want[i], "step %zu: %d, want %d", i, v, want[i]);
    }
    km_str m;
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 1);
    ck_assert(bytes_eq(m, "one", 3));
    const km_grpc_md *h, *t;
    size_t nh, nt;
    ck_assert_int_eq(km_grpc_stream_headers(st, &h, &nh, soon()), 0);
    ck_assert(str_eq(km_grpc_md_get(h, nh, "x-head"), "early"));
    ck_assert(bytes_eq(km_grpc_md_get(h, nh, "x-head-bin"), "\0\1\2", 3));
    ck_assert_ptr_null(km_grpc_md_get(h, nh, "x-late").p);
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), -EREMOTEIO);
    km_grpc_status s = km_grpc_stream_status(st);
    ck_assert_int_eq(s.code, KM_GRPC_ABORTED);
    ck_assert(str_eq(s.message, "stop here"));
    ck_assert_int_eq(km_grpc_stream_trailers(st, &t, &nt), 0);
    ck_assert(str_eq(km_grpc_md_get(t, nt, "x-trail"), "t"));
    ck_assert(str_eq(km_grpc_md_get(t, nt, "x-after-finish"), "still"));
    km_grpc_stream_free(st);
    stop(&x);
}

START_TEST(call_api)
{
    t_run(api_body, NULL);
}
END_TEST

/* Streams both ways at once, many calls on one connection. */
typedef struct {
    rig *x;
    int  i, rc;
} one;

static void bidi_one(void *arg)
{
    one *o = arg;
    km_grpc_stream *st;
    o->rc = km_grpc_stream_open(o->x->ch, "/t.S/Echo", NULL, 0, soon(), &st);
    for (int r = 0; !o->rc && r < 20; r++) {
        char text[32];
        int n = snprintf(text, sizeof text, "%d:%d", o->i, r);
        km_str m;
        if ((o->rc = km_grpc_stream_send(st, text, (size_t)n, false, soon())))
            break;
        if ((o->rc = km_grpc_stream_recv(st, &m, soon())) != 1)
            break;
        o->rc = bytes_eq(m, text, (size_t)n) ? 0 : -EBADMSG;
    }
    km_str m;
    if (!o->rc && !(o->rc = km_grpc_stream_close_send(st, soon())))
        o->rc = km_grpc_stream_recv(st, &m, soon());
    km_grpc_stream_free(st);
}

static void many_body(void *arg)
{
    rig x = { 0 };
    start(&x, NULL, false);
    enum { N = 100 };
    one *o = calloc(N, sizeof *o);
    for (int i = 0; i < N; i++)
        o[i] = (one){ &x, i, 1 };
    t_go_all(N, bidi_one, o, sizeof *o);
    for (int i = 0; i < N; i++)
        ck_assert_msg(o[i].rc == 0, "stream %d: %s", i, km_strerror(o[i].rc));
    free(o);
    /* 4 MiB each way through a bidi stream */
    size_t n = (4 << 20) + 1;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 13 + i / 4093);
    km_grpc_stream *st;
    ck_assert_int_eq(km_grpc_stream_open(x.ch, "/t.S/Echo", NULL, 0, soon(), &st), 0);
    /* the server may answer before it has all of it */
    int rc = km_grpc_stream_send(st, big, n, true, soon());
    ck_assert_msg(rc == 0 || rc == -EPIPE, "send: %s", km_strerror(rc));
    km_str m;
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), -EREMOTEIO);   /* one byte over 4 MiB */
    ck_assert_int_eq(km_grpc_stream_status(st).code, KM_GRPC_RESOURCE_EXHAUSTED);
    km_grpc_stream_free(st);
    stop(&x);
    km_grpc_server_config cfg = { .max_recv_msg = 16 << 20 };
    start(&x, &cfg, false);
    ck_assert_int_eq(km_grpc_stream_open(x.ch, "/t.S/Echo", NULL, 0, soon(), &st), 0);
    ck_assert_int_eq(km_grpc_stream_send(st, big, n, true, soon()), 0);
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 1);
    ck_assert(bytes_eq(m, big, n));
    ck_assert_int_eq(km_grpc_stream_recv(st, &m, soon()), 0);
    km_grpc_stream_free(st);
    free(big);
    stop(&x);
}

START_TEST(many_streams_and_large)
{
    t_procs(2);
    t_run(many_body, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/server");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, method_table);
    tcase_add_test(tc, http1_is_refused);
    tcase_add_test(tc, error_answers);
    tcase_add_test(tc, deadlines);
    tcase_add_test(tc, client_cancel);
    tcase_add_test(tc, call_api);
    tcase_add_test(tc, many_streams_and_large);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
