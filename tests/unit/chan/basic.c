/* SPDX-License-Identifier: MIT */
/* Channel basics: unbuffered hand-off, buffered FIFO, len/cap, zero-size and large elements, bad arguments. */
#include "util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define MS (1000 * 1000LL)

static const int procs_tab[] = { 1, 2, 8 };

/* ---- unbuffered ---- */

typedef struct {
    km_chan   *c;
    km_wg     *wg;
    long       n;
    atomic_int sent;
    int        rc;
} xfer_t;

static void send_seq(void *arg)
{
    xfer_t *x = arg;
    for (long i = 1; i <= x->n; i++)
        if (km_chan_send(x->c, &i) != 0) { x->rc = -1; break; }
    km_wg_done(x->wg);
}

static void unbuffered_order_body(void *arg)
{
    (void)arg;
    static xfer_t x;
    memset(&x, 0, sizeof x);
    x.n = 20000;
    REQUIRE_EQ(km_chan_new(&x.c, sizeof(long), 0), 0);
    REQUIRE_EQ(km_wg_new(&x.wg), 0);
    REQUIRE_EQ(km_chan_cap(x.c), 0);
    km_wg_add(x.wg, 1);
    REQUIRE_EQ(km_go(send_seq, &x), 0);
    for (long i = 1; i <= x.n; i++) {
        long v = -1;
        REQUIRE_EQ(km_chan_recv(x.c, &v), 0);
        REQUIRE_EQ(v, i);
        REQUIRE_EQ(km_chan_len(x.c), 0);
    }
    REQUIRE_EQ(km_wg_wait(x.wg), 0);
    REQUIRE_EQ(x.rc, 0);
    km_chan_free(x.c);
    km_wg_free(x.wg);
}

START_TEST(unbuffered_order)
{
    t_procs(procs_tab[_i]);
    t_run(unbuffered_order_body, NULL);
}
END_TEST

/* An unbuffered send does not complete until a receiver takes the value. */
static void send_one_flag(void *arg)
{
    xfer_t *x = arg;
    long v = 4711;
    x->rc = km_chan_send(x->c, &v);
    atomic_store(&x->sent, 1);
    km_wg_done(x->wg);
}

static void recv_one_flag(void *arg)
{
    xfer_t *x = arg;
    long v = 0;
    x->rc = km_chan_recv(x->c, &v);
    x->n = v;
    atomic_store(&x->sent, 1);
    km_wg_done(x->wg);
}

static void unbuffered_sync_body(void *arg)
{
    (void)arg;
    static xfer_t x;
    memset(&x, 0, sizeof x);
    REQUIRE_EQ(km_chan_new(&x.c, sizeof(long), 0), 0);
    REQUIRE_EQ(km_wg_new(&x.wg), 0);

    /* Sender first: it stays blocked while nobody receives. */
    km_wg_add(x.wg, 1);
    REQUIRE_EQ(km_go(send_one_flag, &x), 0);
    km_sleep(20 * MS);
    REQUIRE_EQ(atomic_load(&x.sent), 0);
    REQUIRE_EQ(km_chan_len(x.c), 0);
    long v = 0;
    REQUIRE_EQ(km_chan_recv(x.c, &v), 0);
    REQUIRE_EQ(v, 4711);
    REQUIRE_EQ(km_wg_wait(x.wg), 0);
    REQUIRE_EQ(x.rc, 0);
    REQUIRE_EQ(atomic_load(&x.sent), 1);

    /* Receiver first. */
    atomic_store(&x.sent, 0);
    km_wg_add(x.wg, 1);
    REQUIRE_EQ(km_go(recv_one_flag, &x), 0);
    km_sleep(20 * MS);
    REQUIRE_EQ(atomic_load(&x.sent), 0);
    v = 815;
    REQUIRE_EQ(km_chan_send(x.c, &v), 0);
    REQUIRE_EQ(km_wg_wait(x.wg), 0);
    REQUIRE_EQ(x.rc, 0);
    REQUIRE_EQ(x.n, 815);

    km_chan_free(x.c);
    km_wg_free(x.wg);
}

START_TEST(unbuffered_sync)
{
    t_procs(procs_tab[_i]);
    t_run(unbuffered_sync_body, NULL);
}
END_TEST

/* ---- buffered ---- */

static void buffered_fifo_body(void *arg)
{
    (void)arg;
    km_chan *c;
    enum { CAP = 16 };
    REQUIRE_EQ(km_chan_new(&c, sizeof(int), CAP), 0);
    REQUIRE_EQ(km_chan_cap(c), CAP);
    REQUIRE_EQ(km_chan_len(c), 0);
    /* Fill without blocking. */
    for (int i = 0; i < CAP; i++) {
        REQUIRE_EQ(km_chan_send_dl(c, &i, 0), 0);
        REQUIRE_EQ(km_chan_len(c), (size_t)i + 1);
    }
    int x = -1;
    REQUIRE_EQ(km_chan_send_dl(c, &x, 0), -ETIMEDOUT);
    REQUIRE_EQ(km_chan_len(c), CAP);
    for (int i = 0; i < CAP; i++) {
        int v = -1;
        REQUIRE_EQ(km_chan_recv_dl(c, &v, 0), 0);
        REQUIRE_EQ(v, i);
        REQUIRE_EQ(km_chan_len(c), CAP - (size_t)i - 1);
    }
    REQUIRE_EQ(km_chan_recv_dl(c, &x, 0), -ETIMEDOUT);
    REQUIRE_EQ(x, -1);

    /* Partial fills and drains wrap the ring many times; order holds. */
    int next_in = 0, next_out = 0;
    uint32_t rng = 1;
    for (int round = 0; round < 2000; round++) {
        rng = rng * 1103515245u + 12345u;
        int put = (int)((rng >> 16) % (CAP + 1));
        for (int k = 0; k < put && km_chan_len(c) < CAP; k++) {
            REQUIRE_EQ(km_chan_send(c, &next_in), 0);
            next_in++;
        }
        rng = rng * 1103515245u + 12345u;
        int get = (int)((rng >> 16) % (CAP + 1));
        for (int k = 0; k < get && km_chan_len(c) > 0; k++) {
            int v;
            REQUIRE_EQ(km_chan_recv(c, &v), 0);
            REQUIRE_EQ(v, next_out);
            next_out++;
        }
        REQUIRE_EQ(km_chan_len(c), (size_t)(next_in - next_out));
    }
    km_chan_free(c);
}

START_TEST(buffered_fifo)
{
    t_procs(1);
    t_run(buffered_fifo_body, NULL);
}
END_TEST

/* The value is copied at send time. */
static void copy_semantics_body(void *arg)
{
    (void)arg;
    km_chan *c;
    REQUIRE_EQ(km_chan_new(&c, sizeof(long), 4), 0);
    long v = 1;
    REQUIRE_EQ(km_chan_send(c, &v), 0);
    v = 2;
    REQUIRE_EQ(km_chan_send(c, &v), 0);
    v = 3;
    long a = 0, b = 0;
    REQUIRE_EQ(km_chan_recv(c, &a), 0);
    REQUIRE_EQ(km_chan_recv(c, &b), 0);
    REQUIRE_EQ(a, 1);
    REQUIRE_EQ(b, 2);
    km_chan_free(c);
}

START_TEST(copy_semantics)
{
    t_procs(1);
    t_run(copy_semantics_body, NULL);
}
END_TEST

/* A producer through a small buffer: blocks when full, order kept. */
static void buffered_stream_body(void *arg)
{
    (void)arg;
    static const size_t caps[] = { 1, 2, 7, 64 };
    for (size_t k = 0; k < 4; k++) {
        static xfer_t x;
        memset(&x, 0, sizeof x);
        x.n = 50000;
        REQUIRE_EQ(km_chan_new(&x.c, sizeof(long), caps[k]), 0);
        REQUIRE_EQ(km_wg_new(&x.wg), 0);
        REQUIRE_EQ(km_chan_cap(x.c), caps[k]);
        km_wg_add(x.wg, 1);
        REQUIRE_EQ(km_go(send_seq, &x), 0);
        for (long i = 1; i <= x.n; i++) {
            long v = -1;
            REQUIRE_EQ(km_chan_recv(x.c, &v), 0);
            REQUIRE_EQ(v, i);
            ck_assert_uint_le(km_chan_len(x.c), caps[k]);
        }
        REQUIRE_EQ(km_wg_wait(x.wg), 0);
        REQUIRE_EQ(x.rc, 0);
        REQUIRE_EQ(km_chan_len(x.c), 0);
        km_chan_free(x.c);
        km_wg_free(x.wg);
    }
}

START_TEST(buffered_stream)
{
    t_procs(procs_tab[_i]);
    t_run(buffered_stream_body, NULL);
}
END_TEST

/* A full buffer blocks the sender until a receive makes room. */
static void buffered_blocks_body(void *arg)
{
    (void)arg;
    static xfer_t x;
    memset(&x, 0, sizeof x);
    REQUIRE_EQ(km_chan_new(&x.c, sizeof(long), 1), 0);
    REQUIRE_EQ(km_wg_new(&x.wg), 0);
    long v = 1;
    REQUIRE_EQ(km_chan_send(x.c, &v), 0);
    km_wg_add(x.wg, 1);
    REQUIRE_EQ(km_go(send_one_flag, &x), 0);
    km_sleep(20 * MS);
    REQUIRE_EQ(atomic_load(&x.sent), 0);
    REQUIRE_EQ(km_chan_len(x.c), 1);
    REQUIRE_EQ(km_chan_recv(x.c, &v), 0);
    REQUIRE_EQ(v, 1);
    REQUIRE_EQ(km_wg_wait(x.wg), 0);
    REQUIRE_EQ(atomic_load(&x.sent), 1);
    REQUIRE_EQ(km_chan_len(x.c), 1);
    REQUIRE_EQ(km_chan_recv(x.c, &v), 0);
    REQUIRE_EQ(v, 4711);
    km_chan_free(x.c);
    km_wg_free(x.wg);
}

START_TEST(buffered_blocks_when_full)
{
    t_procs(procs_tab[_i]);
    t_run(buffered_blocks_body, NULL);
}
END_TEST

/* ---- element sizes ---- */

static void zero_send(void *arg)
{
    xfer_t *x = arg;
    for (long i = 0; i < x->n; i++)
        if (km_chan_send(x->c, NULL) != 0) x->rc = -1;
    km_wg_done(x->wg);
}

static void elem_zero_body(void *arg)
{
    (void)arg;
    static xfer_t x;
    memset(&x, 0, sizeof x);
    x.n = 1000;
    REQUIRE_EQ(km_wg_new(&x.wg), 0);

    /* Unbuffered signals. */
    REQUIRE_EQ(km_chan_new(&x.c, 0, 0), 0);
    km_wg_add(x.wg, 1);
    REQUIRE_EQ(km_go(zero_send, &x), 0);
    for (long i = 0; i < x.n; i++)
        REQUIRE_EQ(km_chan_recv(x.c, NULL), 0);
    REQUIRE_EQ(km_wg_wait(x.wg), 0);
    REQUIRE_EQ(x.rc, 0);
    REQUIRE_EQ(km_chan_recv_dl(x.c, NULL, 0), -ETIMEDOUT);
    km_chan_free(x.c);

    /* Buffered signals count towards len. */
    REQUIRE_EQ(km_chan_new(&x.c, 0, 3), 0);
    REQUIRE_EQ(km_chan_cap(x.c), 3);
    for (int i = 0; i < 3; i++)
        REQUIRE_EQ(km_chan_send_dl(x.c, NULL, 0), 0);
    REQUIRE_EQ(km_chan_len(x.c), 3);
    REQUIRE_EQ(km_chan_send_dl(x.c, NULL, 0), -ETIMEDOUT);
    REQUIRE_EQ(km_chan_recv(x.c, NULL), 0);
    REQUIRE_EQ(km_chan_len(x.c), 2);
    REQUIRE_EQ(km_chan_close(x.c), 0);
    REQUIRE_EQ(km_chan_recv(x.c, NULL), 0);
    REQUIRE_EQ(km_chan_recv(x.c, NULL), 0);
    REQUIRE_EQ(km_chan_recv(x.c, NULL), -EPIPE);
    km_chan_free(x.c);

    /* A non-NULL pointer is fine too (and nothing is written through it). */
    REQUIRE_EQ(km_chan_new(&x.c, 0, 1), 0);
    char canary = 'x';
    REQUIRE_EQ(km_chan_send(x.c, &canary), 0);
    REQUIRE_EQ(km_chan_recv(x.c, &canary), 0);
    REQUIRE_EQ(canary, 'x');
    km_chan_free(x.c);
    km_wg_free(x.wg);
}

START_TEST(elem_size_zero)
{
    t_procs(procs_tab[_i]);
    t_run(elem_zero_body, NULL);
}
END_TEST

typedef struct { unsigned char b[1024]; } kib_t;
typedef struct { unsigned char b[4096 + 3]; } odd_t;

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}
static int check(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 8))) return 0;
    return 1;
}

typedef struct { km_chan *c; km_wg *wg; size_t sz; int n; int rc; } big_t;

static void big_sender(void *arg)
{
    big_t *b = arg;
    unsigned char buf[sizeof(odd_t)];
    for (int i = 0; i < b->n; i++) {
        fill(buf, b->sz, (unsigned)i);
        if (km_chan_send(b->c, buf) != 0) b->rc = -1;
        /* The sender's copy may be reused at once. */
        memset(buf, 0xee, b->sz);
    }
    km_wg_done(b->wg);
}

static void large_elems_body(void *arg)
{
    (void)arg;
    static const size_t sizes[] = { sizeof(kib_t), sizeof(odd_t) };
    static const size_t caps[] = { 0, 1, 4 };
    for (size_t s = 0; s < 2; s++)
        for (size_t k = 0; k < 3; k++) {
            static big_t b;
            b = (big_t){ NULL, NULL, sizes[s], 500, 0 };
            REQUIRE_EQ(km_chan_new(&b.c, b.sz, caps[k]), 0);
            REQUIRE_EQ(km_wg_new(&b.wg), 0);
            km_wg_add(b.wg, 1);
            REQUIRE_EQ(km_go(big_sender, &b), 0);
            unsigned char buf[sizeof(odd_t) + 16];
            for (int i = 0; i < b.n; i++) {
                memset(buf, 0x5a, sizeof buf);
                REQUIRE_EQ(km_chan_recv(b.c, buf), 0);
                if (!check(buf, b.sz, (unsigned)i))
                    ck_abort_msg("element %d of size %zu corrupted", i, b.sz);
                /* Exactly elem_size bytes were written. */
                for (size_t j = b.sz; j < sizeof buf; j++)
                    REQUIRE_EQ(buf[j], 0x5a);
            }
            REQUIRE_EQ(km_wg_wait(b.wg), 0);
            REQUIRE_EQ(b.rc, 0);
            km_chan_free(b.c);
            km_wg_free(b.wg);
        }
}

START_TEST(large_elems)
{
    t_procs(procs_tab[_i]);
    t_run(large_elems_body, NULL);
}
END_TEST

/* Odd small sizes are copied exactly too. */
static void small_odd_body(void *arg)
{
    (void)arg;
    for (size_t sz = 1; sz <= 17; sz++) {
        km_chan *c;
        REQUIRE_EQ(km_chan_new(&c, sz, 3), 0);
        unsigned char in[32], out[32];
        for (unsigned r = 0; r < 3; r++) {
            fill(in, sz, r);
            REQUIRE_EQ(km_chan_send(c, in), 0);
        }
        for (unsigned r = 0; r < 3; r++) {
            memset(out, 0x5a, sizeof out);
            REQUIRE_EQ(km_chan_recv(c, out), 0);
            REQUIRE(check(out, sz, r));
            for (size_t j = sz; j < sizeof out; j++) REQUIRE_EQ(out[j], 0x5a);
        }
        km_chan_free(c);
    }
}

START_TEST(small_odd_elems)
{
    t_procs(1);
    t_run(small_odd_body, NULL);
}
END_TEST

/* ---- a chain of goroutines passing a value along ---- */

enum { CHAIN = 1000 };
typedef struct { km_chan *in, *out; } link_t;

static void chain_link(void *arg)
{
    link_t *l = arg;
    long v;
    while (km_chan_recv(l->in, &v) == 0) {
        v++;
        if (km_chan_send(l->out, &v) != 0) break;
    }
    /* in was closed: pass the close along. */
    km_chan_close(l->out);
}

static void daisy_chain_body(void *arg)
{
    (void)arg;
    static km_chan *ch[CHAIN + 1];
    static link_t links[CHAIN];
    for (int i = 0; i <= CHAIN; i++)
        REQUIRE_EQ(km_chan_new(&ch[i], sizeof(long), 0), 0);
    for (int i = 0; i < CHAIN; i++) {
        links[i] = (link_t){ ch[i], ch[i + 1] };
        REQUIRE_EQ(km_go(chain_link, &links[i]), 0);
    }
    for (long r = 0; r < 50; r++) {
        long v = r;
        REQUIRE_EQ(km_chan_send(ch[0], &v), 0);
        REQUIRE_EQ(km_chan_recv(ch[CHAIN], &v), 0);
        REQUIRE_EQ(v, r + CHAIN);
    }
    REQUIRE_EQ(km_chan_close(ch[0]), 0);
    long v = 7;
    REQUIRE_EQ(km_chan_recv(ch[CHAIN], &v), -EPIPE);
    REQUIRE_EQ(v, 0);
    /* Every link closed its output before the last close reached us, and no
     * link touches a channel after closing it. */
    for (int i = 0; i <= CHAIN; i++)
        km_chan_free(ch[i]);
}

START_TEST(daisy_chain)
{
    t_procs(procs_tab[_i]);
    t_run(daisy_chain_body, NULL);
}
END_TEST

/* ---- bad arguments ---- */

static void bad_args_body(void *arg)
{
    (void)arg;
    int v = 0;
    REQUIRE_EQ(km_chan_new(NULL, 4, 0), -EINVAL);
    km_chan *c = NULL;
    int rc = km_chan_new(&c, SIZE_MAX / 2, 4);
    ck_assert_msg(rc == -EINVAL || rc == -ENOMEM, "elem_size*cap overflow: %s", km_strerror(rc));
    rc = km_chan_new(&c, 8, SIZE_MAX / 4);
    ck_assert_msg(rc == -EINVAL || rc == -ENOMEM, "huge cap: %s", km_strerror(rc));
    REQUIRE_EQ(km_chan_send(NULL, &v), -EINVAL);
    REQUIRE_EQ(km_chan_recv(NULL, &v), -EINVAL);
    REQUIRE_EQ(km_chan_send_dl(NULL, &v, KM_FOREVER), -EINVAL);
    REQUIRE_EQ(km_chan_recv_dl(NULL, &v, KM_FOREVER), -EINVAL);
    REQUIRE_EQ(km_chan_send_dl(NULL, &v, 0), -EINVAL);
    REQUIRE_EQ(km_chan_recv_dl(NULL, &v, 0), -EINVAL);
    REQUIRE_EQ(km_chan_close(NULL), -EINVAL);
}

START_TEST(null_args)
{
    t_procs(1);
    t_run(bad_args_body, NULL);
}
END_TEST

/* Channels work from several goroutines created and freed repeatedly
 * (no state leaks between channels). */
static void churn_body(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        km_chan *c;
        REQUIRE_EQ(km_chan_new(&c, sizeof(int), (size_t)(i % 3)), 0);
        if (i % 3) {
            REQUIRE_EQ(km_chan_send(c, &i), 0);
            int v;
            REQUIRE_EQ(km_chan_recv(c, &v), 0);
            REQUIRE_EQ(v, i);
        }
        km_chan_free(c);
    }
}

START_TEST(create_free_churn)
{
    t_procs(2);
    t_run(churn_body, NULL);
}
END_TEST

static Suite *basic_suite(void)
{
    Suite *s = suite_create("chan/basic");
    TCase *tc = tcase_create("basic");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, unbuffered_order, 0, 3);
    tcase_add_loop_test(tc, unbuffered_sync, 0, 3);
    tcase_add_test(tc, buffered_fifo);
    tcase_add_test(tc, copy_semantics);
    tcase_add_loop_test(tc, buffered_stream, 0, 3);
    tcase_add_loop_test(tc, buffered_blocks_when_full, 0, 3);
    tcase_add_loop_test(tc, elem_size_zero, 0, 3);
    tcase_add_loop_test(tc, large_elems, 0, 3);
    tcase_add_test(tc, small_odd_elems);
    tcase_add_loop_test(tc, daisy_chain, 0, 3);
    tcase_add_test(tc, null_args);
    tcase_add_test(tc, create_free_churn);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(basic_suite)
