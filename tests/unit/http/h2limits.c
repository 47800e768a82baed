/* SPDX-License-Identifier: MIT */
/* The HTTP/2 server's defences, each against the attack it is for, sent
 * by a raw client (h2raw-client.h): header list and CONTINUATION limits,
 * floods of control and empty DATA frames, rapid reset, clients that do
 * not read, silent and idle connections, bounded buffers and streams.
 * Another client is served meanwhile, and heavy legitimate clients never
 * trip a limit. */
#include "h2raw-client.h"
#include <kumo/http2.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MS 1000000LL
/* h2-flood.c's budget of frames that ask for nothing: BUDGET at once,
 * REFILL more a second. nghttp2's (h2-flood.c sets them): queued ACKs,
 * SETTINGS entries, CONTINUATIONs, and a bucket of RST_STREAMs. */
#define BUDGET       10000
#define REFILL       1000
#define MAX_ACKS     1000
#define MAX_SETTINGS 32
#define MAX_CONTS    8
#define RST_BURST    1000
#define RST_RATE     33

/* How many requests the h2load runs make: fewer under the sanitizers,
 * TSan most of all (its fiber record makes every goroutine, so every
 * stream, cost milliseconds). */
#if defined(__SANITIZE_THREAD__)
#define LOAD_PINGS 500
#define LOAD_BIGS  10
#elif defined(__SANITIZE_ADDRESS__)
#define LOAD_PINGS 20000
#define LOAD_BIGS  100
#else
#define LOAD_PINGS 200000
#define LOAD_BIGS  500
#endif

static int64_t soon(void) { return km_now() + 10 * SEC; }

/* ---- the server under attack ---- */

typedef struct {
    km_http_server *srv;
    char            addr[32];
    int             port;
    km_chan        *gate;       /* releases /hold handlers, one per value */
    km_chan        *ended;      /* what /big and /hold handlers ended with */
    atomic_int      started;    /* /hold and /uninterruptible handlers that began */
    atomic_int      running, most;  /* /uninterruptible handlers at work now, at most */
} server;

static bool is(km_str s, const char *lit) { return s.n == strlen(lit) && !memcmp(s.p, lit, s.n); }

static size_t query_n(km_http_req *r, size_t dflt)
{
    km_str q = km_http_query(r);
    size_t v = 0;
    for (size_t i = 0; i < q.n && q.p[i] >= '0' && q.p[i] <= '9'; i++)
        v = v * 10 + (size_t)(q.p[i] - '0');
    return q.n ? v : dflt;
}

static void ended(server *s, int rc)
{
    km_chan_send_dl(s->ended, &rc, km_now() + SEC);
}

static void nap(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
}

static void handler(km_http_req *r, km_http_resp *w, void *ud)
{
    server *s = ud;
    km_str path = km_http_path(r);
    if (is(path, "/ping")) {
        km_http_send(w, 200, "text/plain", "pong", 4);
    } else if (is(path, "/created")) {
        km_http_send(w, 201, "text/plain", "new", 3);
    } else if (is(path, "/empty")) {
        km_http_send(w, 204, NULL, NULL, 0);
    } else if (is(path, "/big")) {
        /* ?n: n bytes (64 MiB), as fast as the client takes them. */
        static const char chunk[65536];
        size_t n = query_n(r, 64 << 20);
        int rc = km_http_status(w, 200);
        for (size_t done = 0; rc == 0 && done < n;) {
            size_t k = n - done < sizeof chunk ? n - done : sizeof chunk;
            rc = km_http_write(w, chunk, k);
            done += k;
        }
        ended(s, rc);
    } else if (is(path, "/hold")) {
        /* Never reads its body: waits for the test, or for a reset. */
        atomic_fetch_add(&s->started, 1);
        int v, rc = km_chan_recv_dl(s->gate, &v, km_now() + 30 * SEC);
        ended(s, rc);
        if (rc == 0)
            km_http_send(w, 200, "text/plain", "held", 4);
    } else if (is(path, "/uninterruptible")) {
        /* Blocks in the offload pool, where nothing interrupts the call. */
        atomic_fetch_add(&s->started, 1);
        int now = atomic_fetch_add(&s->running, 1) + 1, most = atomic_load(&s->most);
        while (now > most && !atomic_compare_exchange_weak(&s->most, &most, now))
            ;
        int rc = km_blocking(nap, NULL);
        atomic_fetch_sub(&s->running, 1);
        ended(s, rc);
        if (rc == 0)
            km_http_send(w, 200, "text/plain", "late", 4);
    } else if (is(path, "/sink")) {
        char buf[4096], out[32];
        ssize_t got;
        long total = 0;
        while ((got = km_http_body_read(r, buf, sizeof buf, km_now() + 10 * SEC)) > 0)
            total += got;
        int n = snprintf(out, sizeof out, "%ld", got < 0 ? (long)got : total);
        km_http_send(w, 200, "text/plain", out, (size_t)n);
    } else {
        km_http_send(w, 404, "text/plain", "nf", 2);
    }
}

static void serve(server *s, km_http_config *cfg)
{
    memset(s, 0, sizeof *s);
    REQUIRE_EQ(km_chan_new(&s->gate, sizeof(int), 64), 0);
    REQUIRE_EQ(km_chan_new(&s->ended, sizeof(int), 4096), 0);
    cfg->addr = "127.0.0.1:0";
    cfg->handler = handler;
    cfg->ud = s;
    ck_assert_int_eq(km_http_serve(&s->srv, cfg), 0);
    s->port = km_http_server_port(s->srv);
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", s->port);
}

static void unserve(server *s)
{
    ck_assert_int_eq(km_http_shutdown(s->srv, soon()), 0);
    km_chan_free(s->gate);
    km_chan_free(s->ended);
}

/* What the next /big or /hold handler to finish ended with. */
static int next_end(server *s, int64_t deadline)
{
    int rc;
    ck_assert_msg(km_chan_recv_dl(s->ended, &rc, deadline) == 0, "no handler ended");
    return rc;
}

static int64_t conns(server *s)
{
    km_http_server_stat st;
    km_http_server_stat_read(s->srv, &st);
    return st.conns_open;
}

/* Waits until s has n connections open; when that was, or -ETIMEDOUT. */
static int64_t wait_conns(server *s, int64_t n, int64_t deadline)
{
    while (conns(s) != n) {
        if (km_now() >= deadline)
            return -ETIMEDOUT;
        km_sleep(MS);
    }
    return km_now();
}

/* ---- another client, served meanwhile ---- */

typedef struct {
    km_http2_client *cl;
    atomic_bool      stop;
    atomic_long      ok, bad;
    int              first_bad;     /* error or status of the first failure */
    km_chan         *done;
} victim;

/* One GET on kumo's own client: 0 and the status, or the error. */
static int get(km_http2_client *cl, const char *path, int *status)
{
    km_http_kv h[] = { { ":method", "GET" }, { ":path", path } };
    km_http2_stream *st;
    int rc = km_http2_stream_open(cl, h, 2, true, soon(), &st);
    if (rc)
        return rc;
    rc = km_http2_stream_response(st, soon(), status);
    char buf[256];
    ssize_t n;
    while (rc == 0 && (n = km_http2_stream_read(st, buf, sizeof buf, soon())) != 0)
        if (n < 0)
            rc = (int)n;
    km_http2_stream_free(st);
    return rc;
}

static void victim_loop(void *arg)
{
    victim *v = arg;
    while (!atomic_load(&v->stop)) {
        int status = 0, rc = get(v->cl, "/ping", &status);
        if (rc == 0 && status == 200) {
            atomic_fetch_add(&v->ok, 1);
        } else {
            if (!atomic_load(&v->bad))
                v->first_bad = rc ? rc : status;
            atomic_fetch_add(&v->bad, 1);
        }
        km_sleep(MS);
    }
    int one = 1;
    km_chan_send(v->done, &one);
}

/* Starts requests in a loop; returns once one succeeded. */
static void victim_start(victim *v, server *s)
{
    memset(v, 0, sizeof *v);
    km_http2_client_config cc = { .addr = s->addr };
    REQUIRE_EQ(km_http2_client_new(&v->cl, &cc), 0);
    REQUIRE_EQ(km_chan_new(&v->done, sizeof(int), 1), 0);
    REQUIRE_EQ(km_go(victim_loop, v), 0);
    int64_t dl = soon();
    while (!atomic_load(&v->ok) && !atomic_load(&v->bad) && km_now() < dl)
        km_sleep(MS);
    ck_assert_msg(atomic_load(&v->ok) > 0, "the other client is not served");
}

static long victim_ok(victim *v) { return atomic_load(&v->ok); }

/* Stops it, once it has been served again since mark (the attack's
 * start): every one of its requests must have succeeded. */
static void victim_stop(victim *v, long mark)
{
    int64_t dl = soon();
    while (atomic_load(&v->ok) <= mark + 1 && !atomic_load(&v->bad) && km_now() < dl)
        km_sleep(MS);
    atomic_store(&v->stop, true);
    int one;
    REQUIRE_EQ(km_chan_recv_dl(v->done, &one, soon()), 0);
    km_http2_client_free(v->cl);
    km_chan_free(v->done);
    ck_assert_msg(atomic_load(&v->bad) == 0, "the other client: %ld requests failed, the first with %d",
                  atomic_load(&v->bad), v->first_bad);
    ck_assert_msg(atomic_load(&v->ok) > mark + 1, "the other client was not served during the attack");
}

/* ---- attacks and what they must meet ---- */

/* Waits for the response to stream sid: its status, or 0 with the
 * RST_STREAM code in *rst; -1 if the connection closed first. */
static int answer(h2c *c, uint32_t sid, uint32_t *rst)
{
    h2f f;
    for (;;) {
        int rc = h2c_read(c, &f, soon());
        ck_assert_msg(rc >= 0, "no answer on stream %u", sid);
        if (rc == 0)
            return -1;
        if (f.sid != sid)
            continue;
        if (f.type == H2_HEADERS)
            return h2f_status(&f);
        if (f.type == H2_RST_STREAM && f.len == 4) {
            *rst = h2_get32(f.p);
            return 0;
        }
    }
}

#define expect_goaway(c, code) expect_goaway_at(c, code, __LINE__)
static void expect_goaway_at(h2c *c, uint32_t code, int line)
{
    h2f f;
    if (!c->goaway) {
        int rc = h2c_wait(c, H2_GOAWAY, 0, &f, soon());
        ck_assert_msg(rc == 1, "line %d: no GOAWAY: %s", line, rc ? km_strerror(rc) : "closed without one");
    }
    ck_assert_msg(c->goaway_code == code, "line %d: GOAWAY with code %u, not %u", line, c->goaway_code, code);
    ck_assert_msg(h2c_wait_closed(c, soon()) == 0, "still open after GOAWAY");
}

typedef void frame_fn(h2b *b, long i);

/* A PING after what was sent, and its ACK: the server has read all of it
 * (it answers in order). false if GOAWAY or the close came instead. */
static bool synced(h2c *c, h2b *b, uint64_t mark)
{
    h2b_ping(b, 0, mark);
    if (h2c_send(c, b))
        return false;
    h2f f;
    while (!c->goaway && h2c_wait(c, H2_PING, 0, &f, soon()) == 1)
        if ((f.flags & H2_ACK) && ((uint64_t)h2_get32(f.p) << 32 | h2_get32(f.p + 4)) == mark)
            return true;
    return false;
}

/* Sends frames made by fn, batch at a time, each batch followed by a
 * PING whose ACK is waited for, until GOAWAY or the close (or max
 * frames): how many (PINGs not counted: one a batch), and how long that
 * took in *took. */
static long flood(h2c *c, frame_fn *fn, int batch, long max, int64_t *took)
{
    h2b b = { 0 };
    long i = 0;
    int64_t t0 = km_now();
    while (i < max) {
        for (int k = 0; k < batch; k++)
            fn(&b, i++);
        if (!synced(c, &b, 0xabcd000000000000ull + (uint64_t)i))
            break;
    }
    *took = km_now() - t0;
    h2b_free(&b);
    return i;
}

/* The frames a flood cost before it was stopped are what the budget
 * allows: all of it, plus the refill while it went on (rate a second,
 * for each second begun), plus what went on while the GOAWAY was on its
 * way (slack). */
static void within_budget(long cost, int64_t took, long budget, long rate, long slack)
{
    long most = budget + rate * (took / SEC + 1) + slack;
    ck_assert_msg(cost > budget && cost <= most, "stopped after %ld frames in %lld ms, not in (%ld, %ld]",
                  cost, (long long)(took / MS), budget, most);
}

static void ping_frame(h2b *b, long i) { h2b_ping(b, 0, (uint64_t)i); }
static void settings_frame(h2b *b, long i) { (void)i; h2b_settings(b, NULL, 0); }
static void window_frame(h2b *b, long i) { (void)i; h2b_window(b, 0, 1); }
static void priority_frame(h2b *b, long i) { h2b_priority(b, (uint32_t)(2 * (i % 1000) + 1), 0, 16); }

/* The same frames all at once, not reading. */
static void burst(h2c *c, frame_fn *fn, long n)
{
    h2b b = { 0 };
    for (long i = 0; i < n; i++)
        fn(&b, i);
    h2c_send(c, &b);        /* may fail: the server cuts it off */
    h2b_free(&b);
}

#define TEST(name)                                                  \
    static void name##_run(void *arg);                              \
    START_TEST(name) { t_run(name##_run, NULL); } END_TEST          \
    static void name##_run(void *arg)

/* ---- header blocks ---- */

static void request_fill(h2b *b, uint32_t sid, size_t n)
{
    static char fill[4096];
    memset(fill, 'f', sizeof fill);
    h2b blk = { 0 };
    hpack_request(&blk, "GET", "/ping");
    hpack_field(&blk, "x-fill", 6, fill, n);
    h2b_frame(b, H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, sid, blk.p, blk.len);
    h2b_free(&blk);
}

/* A request whose header block is split over frames frames (HEADERS,
 * then CONTINUATIONs). */
static void request_split(h2b *b, uint32_t sid, int frames)
{
    h2b blk = { 0 };
    hpack_request(&blk, "GET", "/ping");
    size_t per = (blk.len + (size_t)frames - 1) / (size_t)frames, off = 0;
    for (int i = 0; i < frames; i++) {
        size_t k = off < blk.len ? (blk.len - off < per ? blk.len - off : per) : 0;
        int flags = (i ? 0 : H2_END_STREAM) | (i == frames - 1 ? H2_END_HEADERS : 0);
        h2b_frame(b, i ? H2_CONTINUATION : H2_HEADERS, flags, sid, blk.p + off, k);
        off += k;
    }
    h2b_free(&blk);
}

/* A header list over max_header_bytes resets its stream (nghttp2 says
 * INTERNAL_ERROR when the callback refuses a field); the connection
 * serves on. More than 8 CONTINUATIONs end the connection. */
TEST(header_limits)
{
    server s;
    km_http_config cfg = { .max_header_bytes = 1024 };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    ck_assert_uint_eq(c.header_list, 1024);
    /* RFC 9113 sizes (name + value + 32): the pseudo-headers take 174,
     * x-fill 38 and its value; 812 bytes of it fit exactly. */
    h2b b = { 0 };
    uint32_t rst = 99;
    request_fill(&b, 1, 812);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 1, &rst), 200);
    request_fill(&b, 3, 813);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 3, &rst), 0);
    ck_assert_uint_eq(rst, H2E_INTERNAL);
    request_fill(&b, 5, 4000);
    h2b_request(&b, 7, "GET", "/created", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 5, &rst), 0);
    ck_assert_uint_eq(rst, H2E_INTERNAL);
    ck_assert_int_eq(answer(&c, 7, &rst), 201);
    /* HEADERS and 8 CONTINUATIONs are fine; 9 are a flood. */
    request_split(&b, 9, 1 + MAX_CONTS);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 9, &rst), 200);
    request_split(&b, 11, 2 + MAX_CONTS);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    expect_goaway(&c, H2E_CALM);
    ck_assert_uint_eq(c.goaway_last, 11);      /* opened, never answered */
    ck_assert_int_eq(c.nframes[H2_HEADERS], 3);   /* 1, 7 and 9 answered */
    h2c_close(&c);
    h2b_free(&b);
    victim_stop(&v, mark);
    unserve(&s);
}

/* ---- floods ---- */

/* PINGs answered as they come: kumo's budget stops them. All at once and
 * unread: nghttp2's bound on queued ACKs does, sooner. GOAWAY
 * ENHANCE_YOUR_CALM either way; the other client is served on. */
TEST(ping_flood)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    int64_t took;
    long sent = flood(&c, ping_frame, 100, 4 * BUDGET, &took);
    expect_goaway(&c, H2E_CALM);
    within_budget(sent + sent / 100 + 1, took, BUDGET, REFILL, 101);   /* + PINGs, SETTINGS */
    ck_assert_int_ge(c.nframes[H2_PING], BUDGET - 1);  /* its SETTINGS cost one */
    h2c_close(&c);

    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    burst(&c, ping_frame, 5 * MAX_ACKS);
    expect_goaway(&c, H2E_CALM);
    ck_assert_int_le(c.nframes[H2_PING], MAX_ACKS + 1);
    h2c_close(&c);
    victim_stop(&v, mark);
    unserve(&s);
}

/* SETTINGS as PING; and one SETTINGS frame with too many entries. */
TEST(settings_flood)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    int64_t took;
    long sent = flood(&c, settings_frame, 100, 4 * BUDGET, &took);
    expect_goaway(&c, H2E_CALM);
    within_budget(sent + sent / 100 + 1, took, BUDGET, REFILL, 101);
    h2c_close(&c);

    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    burst(&c, settings_frame, 5 * MAX_ACKS);
    expect_goaway(&c, H2E_CALM);
    ck_assert_int_le(c.nframes[H2_SETTINGS], MAX_ACKS + 2);
    h2c_close(&c);

    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    uint8_t many[6 * (MAX_SETTINGS + 1)];
    for (int i = 0; i <= MAX_SETTINGS; i++) {
        many[6 * i] = 0;
        many[6 * i + 1] = H2S_MAX_FRAME_SIZE;
        h2_put32(many + 6 * i + 2, 16384);
    }
    h2b b = { 0 };
    h2b_frame(&b, H2_SETTINGS, 0, 0, many, sizeof many);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    expect_goaway(&c, H2E_CALM);
    h2c_close(&c);
    h2b_free(&b);
    victim_stop(&v, mark);
    unserve(&s);
}

/* WINDOW_UPDATE and PRIORITY frames cost no answer, only work: the
 * budget stops them, paced or all at once. */
static void quiet_flood(frame_fn *fn)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    int64_t took;
    long sent = flood(&c, fn, 500, 4 * BUDGET, &took);
    expect_goaway(&c, H2E_CALM);
    within_budget(sent + sent / 500 + 1, took, BUDGET, REFILL, 501);
    h2c_close(&c);

    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    burst(&c, fn, 2 * BUDGET);
    expect_goaway(&c, H2E_CALM);
    h2c_close(&c);
    victim_stop(&v, mark);
    unserve(&s);
}

TEST(window_update_flood)
{
    quiet_flood(window_frame);
}

TEST(priority_flood)
{
    quiet_flood(priority_frame);
}

/* Empty DATA frames without END_STREAM: 16 in a row pass, the 17th is a
 * flood; one with bytes starts the count again. Padding is no bytes: a
 * frame of padding alone is empty too. */
TEST(empty_data_flood)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    h2b b = { 0 };
    h2f f;
    h2b_request(&b, 1, "POST", "/sink", false);
    static const uint8_t padding[8] = { 7 };
    for (int round = 0; round < 2; round++) {
        if (round)
            h2b_frame(&b, H2_DATA, 0, 1, "x", 1);
        for (int i = 0; i < 16; i++)
            if (round)
                h2b_frame(&b, H2_DATA, H2_PADDED, 1, padding, sizeof padding);
            else
                h2b_frame(&b, H2_DATA, 0, 1, NULL, 0);
        h2b_ping(&b, 0, 77);
        ck_assert_int_eq(h2c_send(&c, &b), 0);
        ck_assert_int_eq(h2c_wait(&c, H2_PING, 0, &f, soon()), 1);
        ck_assert(f.flags & H2_ACK);
        ck_assert(!c.goaway);
    }
    h2b_frame(&b, H2_DATA, H2_PADDED, 1, padding + 1, 1);     /* no padding, no data */
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    expect_goaway(&c, H2E_CALM);
    h2c_close(&c);
    h2b_free(&b);
    victim_stop(&v, mark);
    unserve(&s);
}

/* Rapid reset (CVE-2023-44487): streams opened and reset at once, in a
 * loop. nghttp2's bucket of RST_STREAMs (burst 1000, 33 a second) ends
 * the connection with GOAWAY INTERNAL_ERROR; the other client is served. */
static void rapid_frame(h2b *b, long i)
{
    uint32_t sid = (uint32_t)(2 * i + 1);
    h2b_request(b, sid, "GET", "/ping", true);
    h2b_rst(b, sid, H2E_CANCEL);
}

TEST(rapid_reset)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    ck_assert_int_eq(wait_conns(&s, 2, soon()) > 0, 1);
    int64_t took;
    long sent = flood(&c, rapid_frame, 50, 20 * RST_BURST, &took);
    expect_goaway(&c, H2E_INTERNAL);
    /* nghttp2's GOAWAY here does not end the session at once: the PING
     * after the batch that tripped it may be answered first. */
    within_budget(sent, took, RST_BURST, RST_RATE, 2 * 50);
    ck_assert_uint_le(c.goaway_last, 2 * sent + 1);
    h2c_close(&c);
    ck_assert_int_gt(wait_conns(&s, 1, soon()), 0);
    victim_stop(&v, mark);
    unserve(&s);
}

/* Rapid reset, each stream reset once its handler is at work (blocked
 * in a call of the offload pool): a reset releases its handler at once,
 * so no more of them run at a time than the stream limit allows. */
TEST(reset_releases)
{
    server s;
    km_http_config cfg = { .h2_max_streams = 4 };
    serve(&s, &cfg);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    h2b b = { 0 };
    enum { N = 40 };
    for (uint32_t sid = 1; sid < 2 * N; sid += 2) {
        h2b_request(&b, sid, "GET", "/uninterruptible", true);
        if (sid > 1)
            h2b_rst(&b, sid - 2, H2E_CANCEL);
        ck_assert(synced(&c, &b, sid));
        int64_t dl = soon();
        while (atomic_load(&s.started) < (int)(sid + 1) / 2 && km_now() < dl)
            km_sleep(MS);
        ck_assert_int_eq(atomic_load(&s.started), (int)(sid + 1) / 2);
    }
    h2b_rst(&b, 2 * N - 1, H2E_CANCEL);
    int64_t t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(next_end(&s, soon()), -ECANCELED);
    int64_t t = km_now() - t0;
    ck_assert_msg(t < 200 * MS, "the last handler took %lld ms to go", (long long)(t / MS));
    ck_assert_int_le(atomic_load(&s.most), 4);
    ck_assert(synced(&c, &b, 0));
    ck_assert(!c.goaway);
    h2c_close(&c);
    h2b_free(&b);
    unserve(&s);
}

/* ---- clients that do not read ---- */

/* A zero window: the head goes, the body cannot; after write_timeout the
 * handler's write fails, the stream is reset (CANCEL) and the handler
 * returns. The connection serves on. */
TEST(zero_window)
{
    server s;
    km_http_config cfg = { .write_timeout = 300 * MS };
    serve(&s, &cfg);
    h2c c;
    h2c_dial(&c, s.port);
    h2set zero[] = { { H2S_INITIAL_WINDOW_SIZE, 0 } };
    h2c_handshake(&c, zero, 1);
    h2b b = { 0 };
    h2b_request(&b, 1, "GET", "/big?1048576", true);
    int64_t t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    uint32_t rst = 99;
    ck_assert_int_eq(answer(&c, 1, &rst), 200);
    ck_assert_int_eq(answer(&c, 1, &rst), 0);
    int64_t t = km_now() - t0;
    ck_assert_uint_eq(rst, H2E_CANCEL);
    ck_assert_msg(t >= 300 * MS && t < 3 * SEC, "reset after %lld ms", (long long)(t / MS));
    ck_assert_int_eq(next_end(&s, soon()), -ETIMEDOUT);
    ck_assert_int_eq(c.nframes[H2_DATA], 0);
    h2b_request(&b, 3, "GET", "/empty", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 3, &rst), 204);
    h2c_close(&c);
    h2b_free(&b);
    unserve(&s);
}

/* A client that stops reading the socket while large responses queue:
 * after write_timeout the connection is closed and its handlers end. */
TEST(slow_reader)
{
    server s;
    km_http_config cfg = { .write_timeout = 300 * MS };
    serve(&s, &cfg);
    victim v;
    victim_start(&v, &s);
    long mark = victim_ok(&v);
    h2c c;
    h2c_dial(&c, s.port);
    h2set wide[] = { { H2S_INITIAL_WINDOW_SIZE, 0x7fffffff } };
    h2c_handshake(&c, wide, 1);
    ck_assert_int_gt(wait_conns(&s, 2, soon()), 0);
    h2b b = { 0 };
    h2b_window(&b, 0, 0x7fffffff - 65535);
    for (uint32_t sid = 1; sid <= 7; sid += 2)
        h2b_request(&b, sid, "GET", "/big", true);
    int64_t t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    int64_t t = wait_conns(&s, 1, km_now() + 20 * SEC);
    ck_assert_int_gt(t, 0);
    t -= t0;
    ck_assert_msg(t >= 300 * MS && t < 5 * SEC, "closed after %lld ms", (long long)(t / MS));
    for (int i = 0; i < 4; i++)
        ck_assert_int_lt(next_end(&s, soon()), 0);
    ck_assert_int_eq(h2c_wait_closed(&c, soon()), 0);
    ck_assert_int_lt(c.data_bytes, 4L * (64 << 20));
    h2c_close(&c);
    h2b_free(&b);
    victim_stop(&v, mark);
    unserve(&s);
}

/* ---- silent and idle connections ---- */

/* The preface and then nothing: closed after read_header_timeout (the
 * server's SETTINGS went out first; no GOAWAY). Part of the preface and
 * nothing: still HTTP/1.1 to the server, which answers 408. The preface
 * and a frame other than SETTINGS: GOAWAY PROTOCOL_ERROR at once. */
TEST(no_settings)
{
    server s;
    km_http_config cfg = { .read_header_timeout = 300 * MS };
    serve(&s, &cfg);
    h2c c;
    h2c_dial(&c, s.port);
    c.no_ack = true;
    h2b b = { 0 };
    h2b_put(&b, H2_PREFACE, 24);
    int64_t t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(h2c_wait_closed(&c, soon()), 0);
    int64_t t = km_now() - t0;
    ck_assert_msg(t >= 300 * MS && t < 3 * SEC, "closed after %lld ms", (long long)(t / MS));
    ck_assert_int_eq(c.nframes[H2_SETTINGS], 1);
    ck_assert(!c.goaway);
    h2c_close(&c);

    h2c_dial(&c, s.port);
    h2b_put(&b, H2_PREFACE, 16);
    t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    char head[64];
    size_t got = 0;
    ssize_t r;
    while ((r = km_read(c.fd, head + got, sizeof head - 1 - got, soon())) > 0)
        got += (size_t)r;
    t = km_now() - t0;
    head[got] = 0;
    ck_assert_msg(!strncmp(head, "HTTP/1.1 408 ", 13), "%s", head);
    ck_assert_msg(t >= 300 * MS && t < 3 * SEC, "closed after %lld ms", (long long)(t / MS));
    h2c_close(&c);

    h2c_dial(&c, s.port);
    c.no_ack = true;
    h2b_put(&b, H2_PREFACE, 24);
    h2b_ping(&b, 0, 1);
    t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    expect_goaway(&c, H2E_PROTOCOL);
    ck_assert_int_lt(km_now() - t0, 300 * MS + SEC);
    h2c_close(&c);
    h2b_free(&b);
    unserve(&s);
}

/* idle_timeout after the last stream, whatever else comes: GOAWAY
 * NO_ERROR, then the close. A request in between starts the wait again;
 * PINGs do not. */
TEST(idle)
{
    server s;
    km_http_config cfg = { .idle_timeout = 300 * MS };
    serve(&s, &cfg);
    h2c c;
    h2f f;
    h2b b = { 0 };
    uint32_t rst;
    int64_t t0 = km_now();
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    ck_assert_int_eq(h2c_wait(&c, H2_GOAWAY, 0, &f, soon()), 1);
    int64_t t = km_now() - t0;
    ck_assert_msg(t >= 300 * MS && t < 3 * SEC, "GOAWAY after %lld ms", (long long)(t / MS));
    expect_goaway(&c, H2E_NO_ERROR);
    h2c_close(&c);

    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    km_sleep(150 * MS);
    h2b_request(&b, 1, "GET", "/ping", true);
    t0 = km_now();
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 1, &rst), 200);
    ck_assert_int_eq(h2c_wait(&c, H2_GOAWAY, 0, &f, soon()), 1);
    t = km_now() - t0;
    ck_assert_msg(t >= 300 * MS && t < 3 * SEC, "GOAWAY %lld ms after the request", (long long)(t / MS));
    ck_assert_uint_eq(c.goaway_last, 1);
    expect_goaway(&c, H2E_NO_ERROR);
    h2c_close(&c);

    t0 = km_now();
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    int rc;
    do {
        h2b_ping(&b, 0, 5);
        ck_assert_int_eq(h2c_send(&c, &b), 0);
        rc = h2c_wait(&c, H2_GOAWAY, 0, &f, km_now() + 100 * MS);
    } while (rc == -ETIMEDOUT && km_now() - t0 < 5 * SEC);
    ck_assert_int_eq(rc, 1);
    t = km_now() - t0;
    ck_assert_msg(t >= 300 * MS && t < 3 * SEC, "GOAWAY after %lld ms of PINGs", (long long)(t / MS));
    expect_goaway(&c, H2E_NO_ERROR);
    h2c_close(&c);
    h2b_free(&b);
    unserve(&s);
}

/* ---- bounded streams ---- */

/* SETTINGS_MAX_CONCURRENT_STREAMS: streams beyond it that came before
 * the client acknowledged it are refused (REFUSED_STREAM: safe to retry);
 * once acknowledged, going beyond it is the client's protocol error
 * (nghttp2 ends the connection: GOAWAY PROTOCOL_ERROR). Within it, a
 * stream that ends makes room for another. */
TEST(max_streams)
{
    server s;
    km_http_config cfg = { .h2_max_streams = 4 };
    serve(&s, &cfg);
    h2c c;
    h2c_dial(&c, s.port);
    c.no_ack = true;
    h2b b = { 0 };
    h2b_put(&b, H2_PREFACE, 24);
    h2b_settings(&b, NULL, 0);
    for (uint32_t sid = 1; sid <= 11; sid += 2)
        h2b_request(&b, sid, "GET", "/hold", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    uint32_t rst = 99;
    ck_assert_int_eq(answer(&c, 9, &rst), 0);
    ck_assert_uint_eq(rst, H2E_REFUSED_STREAM);
    ck_assert_int_eq(answer(&c, 11, &rst), 0);
    ck_assert_uint_eq(rst, H2E_REFUSED_STREAM);
    ck_assert_uint_eq(c.max_streams, 4);
    int64_t until = soon();
    while (atomic_load(&s.started) < 4 && km_now() < until)
        km_sleep(MS);
    ck_assert_int_eq(atomic_load(&s.started), 4);
    /* Acknowledged: the limit is in force. One held stream is let go... */
    h2b_settings_ack(&b);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    int one = 1;
    ck_assert_int_eq(km_chan_send(s.gate, &one), 0);
    ck_assert_int_eq(next_end(&s, soon()), 0);
    h2f f;
    do
        ck_assert_int_eq(h2c_read(&c, &f, soon()), 1);
    while (!(f.type == H2_DATA && (f.flags & H2_END_STREAM)));
    ck_assert(f.sid >= 1 && f.sid <= 7);
    /* ... which makes room for one more, and only one. */
    h2b_request(&b, 13, "GET", "/hold", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    int64_t dl = soon();
    while (atomic_load(&s.started) < 5 && km_now() < dl)
        km_sleep(MS);
    ck_assert_int_eq(atomic_load(&s.started), 5);
    h2b_request(&b, 15, "GET", "/hold", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    expect_goaway(&c, H2E_PROTOCOL);
    ck_assert_uint_eq(c.goaway_last, 13);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(next_end(&s, soon()), -ECANCELED);
    h2c_close(&c);
    h2b_free(&b);
    unserve(&s);
}

/* ---- bounded memory ---- */

/* Every allocation through kumo's hook, in bytes (usable sizes), and the
 * most there were at once since peak_bytes was last set. */
static atomic_long live_bytes, peak_bytes, live_allocs;

static void *mb_malloc(size_t n, void *ud)
{
    (void)ud;
    void *p = malloc(n);
    if (p) {
        long sz = (long)malloc_usable_size(p);
        long now = atomic_fetch_add(&live_bytes, sz) + sz;
        long peak = atomic_load(&peak_bytes);
        while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now))
            ;
        atomic_fetch_add(&live_allocs, 1);
    }
    return p;
}

static void mb_free(void *p, void *ud)
{
    (void)ud;
    if (p) {
        atomic_fetch_sub(&live_bytes, (long)malloc_usable_size(p));
        atomic_fetch_sub(&live_allocs, 1);
        free(p);
    }
}

/* t_run with the byte-counting allocator: fails if anything leaked. */
static void run_counted(km_fn *fn)
{
    km_allocator a = { mb_malloc, NULL, mb_free, NULL };
    km_set_allocator(&a);
    long before = atomic_load(&live_allocs);
    int rc = km_main(fn, NULL);
    ck_assert_msg(rc == 0, "km_main: %s", km_strerror(rc));
    ck_assert_msg(atomic_load(&live_allocs) == before, "leaked %ld allocations",
                  atomic_load(&live_allocs) - before);
    km_set_allocator(NULL);
}

#define WINDOW      65536
#define NSTREAMS    32
#define SEND_BUFFER (256 << 10)     /* a stream's output, h2-conn.c's default */
#define SLACK       (64 << 10)      /* the streams' own fields, a buffer growing */

/* A client's request bodies that no handler reads are held up to the
 * stream's window, window x streams for the connection; a byte beyond
 * the window is a FLOW_CONTROL_ERROR (that stream is reset, the others
 * go on). Responses a client does not take are held up to the send
 * buffer a stream. */
static void memory_run(void *arg)
{
    (void)arg;
    server s;
    km_http_config cfg = { .h2_max_streams = NSTREAMS, .h2_stream_window = WINDOW,
                           .write_timeout = 20 * SEC };
    serve(&s, &cfg);
    h2c c;
    h2c_dial(&c, s.port);
    h2c_handshake(&c, NULL, 0);
    ck_assert_uint_eq(c.window, WINDOW);
    ck_assert_uint_eq(c.max_streams, NSTREAMS);
    h2b b = { 0 };
    for (uint32_t i = 0; i < NSTREAMS; i++)
        h2b_request(&b, 2 * i + 1, "POST", "/hold", false);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    int64_t dl = soon();
    while (atomic_load(&s.started) < NSTREAMS && km_now() < dl)
        km_sleep(MS);
    ck_assert_int_eq(atomic_load(&s.started), NSTREAMS);
    ck_assert(synced(&c, &b, 1));
    long base = atomic_load(&live_bytes);
    atomic_store(&peak_bytes, base);
    for (uint32_t i = 0; i < NSTREAMS; i++)
        h2b_body(&b, 2 * i + 1, NULL, WINDOW, false);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert(synced(&c, &b, 2));
    long held = atomic_load(&live_bytes) - base, peak = atomic_load(&peak_bytes) - base;
    ck_assert_msg(held >= (long)NSTREAMS * WINDOW && peak <= (long)NSTREAMS * WINDOW + SLACK,
                  "%d windows of %d bytes: %ld held, %ld at most", NSTREAMS, WINDOW, held, peak);
    uint32_t rst = 0;
    h2b_frame(&b, H2_DATA, 0, 1, "x", 1);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    ck_assert_int_eq(answer(&c, 1, &rst), 0);
    ck_assert_uint_eq(rst, H2E_FLOW_CONTROL);
    ck_assert_int_eq(next_end(&s, soon()), -ECANCELED);
    ck_assert(synced(&c, &b, 3));
    ck_assert(!c.goaway);
    /* Its window's worth goes with it. */
    dl = soon();
    while (atomic_load(&live_bytes) - base > held - WINDOW && km_now() < dl)
        km_sleep(MS);
    ck_assert_int_le(atomic_load(&live_bytes) - base, held - WINDOW);
    h2c_close(&c);
    for (int i = 1; i < NSTREAMS; i++)
        ck_assert_int_eq(next_end(&s, soon()), -ECANCELED);
    ck_assert_int_gt(wait_conns(&s, 0, soon()), 0);

    /* Responses into a zero window. */
    enum { N = 8 };
    h2c_dial(&c, s.port);
    h2set zero[] = { { H2S_INITIAL_WINDOW_SIZE, 0 } };
    h2c_handshake(&c, zero, 1);
    base = atomic_load(&live_bytes);
    atomic_store(&peak_bytes, base);
    for (uint32_t i = 0; i < N; i++)
        h2b_request(&b, 2 * i + 1, "GET", "/big", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    dl = soon();
    while (atomic_load(&live_bytes) - base < (long)N * SEND_BUFFER && km_now() < dl)
        km_sleep(MS);
    km_sleep(50 * MS);          /* would they take more? */
    held = atomic_load(&live_bytes) - base;
    peak = atomic_load(&peak_bytes) - base;
    ck_assert_msg(held >= (long)N * SEND_BUFFER && peak <= (long)N * (SEND_BUFFER + SLACK),
                  "%d send buffers of %d bytes: %ld held, %ld at most", N, SEND_BUFFER, held, peak);
    ck_assert_int_eq(c.nframes[H2_DATA], 0);
    h2c_close(&c);
    for (int i = 0; i < N; i++)
        ck_assert_int_lt(next_end(&s, soon()), 0);
    h2b_free(&b);
    unserve(&s);
}

START_TEST(memory)
{
    run_counted(memory_run);
}
END_TEST

/* ---- heavy legitimate clients ---- */

typedef struct {
    char cmd[512];
    char out[16384];
    int  status;
} shell;

static void shell_run(void *arg)
{
    shell *sh = arg;
    FILE *p = popen(sh->cmd, "r");
    if (!p) {
        sh->status = -1;
        return;
    }
    size_t n = 0, r;
    while (n < sizeof sh->out - 1 && (r = fread(sh->out + n, 1, sizeof sh->out - 1 - n, p)) > 0)
        n += r;
    sh->out[n] = 0;
    sh->status = pclose(p);
}

/* Runs h2load (nghttp2-client) with args against s: every request must
 * succeed. */
static void h2load(server *s, const char *args, const char *path, long n)
{
    shell sh;
    snprintf(sh.cmd, sizeof sh.cmd, "h2load -n %ld %s http://%s%s 2>&1", n, args, s->addr, path);
    ck_assert_int_eq(km_blocking(shell_run, &sh), 0);
    const char *r = strstr(sh.out, "requests: ");
    ck_assert_msg(sh.status == 0 && r, "%s: exit %d: %s", sh.cmd, sh.status, sh.out);
    long total, started, done, ok, failed, errored;
    ck_assert_int_eq(sscanf(r, "requests: %ld total, %ld started, %ld done, %ld succeeded, "
                            "%ld failed, %ld errored", &total, &started, &done, &ok, &failed,
                            &errored), 6);
    ck_assert_msg(total == n && ok == n, "%s: %s", sh.cmd, r);
}

/* Many requests on one connection, 100 at a time; then bodies through
 * 1 KiB windows, a WINDOW_UPDATE for nearly every DATA frame. */
TEST(legit_h2load)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    h2load(&s, "-c 1 -m 100", "/ping", LOAD_PINGS);
    h2load(&s, "-c 1 -m 10 -w 10 -W 16", "/big?65536", LOAD_BIGS);
    unserve(&s);
}

/* A download of 8 MiB through a 1 KiB window, answering every DATA frame
 * with WINDOW_UPDATEs for the stream and the connection and a PING
 * (what a client estimating bandwidth does): three times the budget in
 * frames that ask for nothing, all earned by the answer. */
TEST(legit_download)
{
    server s;
    km_http_config cfg = { 0 };
    serve(&s, &cfg);
    h2c c;
    h2c_dial(&c, s.port);
    h2set small[] = { { H2S_INITIAL_WINDOW_SIZE, 1024 } };
    h2c_handshake(&c, small, 1);
    h2b b = { 0 };
    h2b_request(&b, 1, "GET", "/big?8388608", true);
    ck_assert_int_eq(h2c_send(&c, &b), 0);
    long control = 0;
    h2f f;
    for (;;) {
        ck_assert_int_eq(h2c_wait(&c, H2_DATA, 1, &f, soon()), 1);
        if (f.len) {
            h2b_window(&b, 1, f.len);
            h2b_window(&b, 0, f.len);
            h2b_ping(&b, 0, (uint64_t)control);
            control += 3;
            ck_assert_int_eq(h2c_send(&c, &b), 0);
        }
        if (f.flags & H2_END_STREAM)
            break;
    }
    ck_assert_int_eq(c.data_bytes, 8 << 20);
    ck_assert_int_gt(control, 2 * BUDGET);
    ck_assert(synced(&c, &b, 1));
    ck_assert(!c.goaway);
    ck_assert_int_eq(c.nframes[H2_RST_STREAM], 0);
    h2c_close(&c);
    h2b_free(&b);
    unserve(&s);
}

/* A case per test, so that CK_RUN_CASE=name runs one; seconds it may
 * take (h2load's long run takes a few, many more on a loaded machine). */
static void add_t(Suite *s, const TTest *t, double timeout)
{
    TCase *tc = tcase_create(t->name);
    tcase_set_timeout(tc, timeout);
    tcase_add_test(tc, t);
    suite_add_tcase(s, tc);
}

static void add(Suite *s, const TTest *t)
{
    add_t(s, t, 30);
}

static Suite *suite(void)
{
    Suite *s = suite_create("http/h2limits");
    add(s, header_limits);
    add(s, ping_flood);
    add(s, settings_flood);
    add(s, window_update_flood);
    add(s, priority_flood);
    add(s, empty_data_flood);
    add(s, rapid_reset);
    add(s, reset_releases);
    add(s, zero_window);
    add(s, slow_reader);
    add(s, no_settings);
    add(s, idle);
    add(s, max_streams);
    add(s, memory);
    add_t(s, legit_h2load, 120);
    add(s, legit_download);
    return s;
}

T_MAIN(suite)
