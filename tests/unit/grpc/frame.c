/* SPDX-License-Identifier: MIT */
/* Length-prefixed messages: read back whole however the bytes are cut, limits, flags, buffers lent and grown. */
#include "util.h"
#include <string.h>
#include "grpc/wire-int.h"

/* Frames n bytes of p (flag, big-endian length, bytes) at out; returns the length. */
static size_t frame(uint8_t *out, const void *p, size_t n, uint8_t flag)
{
    km__grpc_prefix(out, false, (uint32_t)n);
    out[0] = flag;
    memcpy(out + KM__GRPC_PREFIX, p, n);
    return KM__GRPC_PREFIX + n;
}

/* Feeds in[0..n) in pieces of at most step bytes, collecting the messages
 * (their bytes joined into got, their count returned). */
static int feed(km__grpc_rd *rd, const uint8_t *in, size_t n, size_t step,
                uint8_t *got, size_t *gotlen)
{
    int msgs = 0;
    size_t off = 0;
    *gotlen = 0;
    for (;;) {
        km_str m;
        bool comp;
        int rc;
        while ((rc = km__grpc_rd_next(rd, &m, &comp)) == 1) {
            memcpy(got + *gotlen, m.p, m.n);
            *gotlen += m.n;
            msgs++;
        }
        REQUIRE_EQ(rc, 0);
        if (off == n)
            break;
        char *p;
        size_t room;
        REQUIRE_EQ(km__grpc_rd_room(rd, &p, &room), 0);
        REQUIRE(room > 0);
        size_t k = n - off < step ? n - off : step;
        if (k > room)
            k = room;
        memcpy(p, in + off, k);
        km__grpc_rd_fill(rd, k);
        off += k;
    }
    return msgs;
}

typedef struct { size_t step; } cut;

/* Messages of 0 to 70,000 bytes, sent back to back, come out whole and in
 * order whether the bytes arrive one at a time or all at once. */
static void any_cut(void *arg)
{
    size_t sizes[] = { 0, 1, 4, 5, 6, 100, 4091, 4096, 70000, 0, 3 };
    size_t total = 0, plain = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        total += KM__GRPC_PREFIX + sizes[i];
    uint8_t *in = malloc(total), *want = malloc(total), *got = malloc(total);
    size_t o = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        uint8_t *b = malloc(sizes[i] + 1);
        for (size_t j = 0; j < sizes[i]; j++)
            b[j] = (uint8_t)(i * 31 + j * 7);
        o += frame(in + o, b, sizes[i], 0);
        memcpy(want + plain, b, sizes[i]);
        plain += sizes[i];
        free(b);
    }
    size_t steps[] = { 1, 2, 5, 7, 4096, 65536, total };
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
        for (int lend = 0; lend < 2; lend++) {
            char lent[256];
            km__grpc_rd rd;
            km__grpc_rd_init(&rd, lend ? lent : NULL, lend ? sizeof lent : 0, 1 << 20);
            size_t gotlen;
            int n = feed(&rd, in, total, steps[s], got, &gotlen);
            REQUIRE_EQ(n, (int)(sizeof sizes / sizeof *sizes));
            REQUIRE_EQ(gotlen, plain);
            REQUIRE(!memcmp(got, want, plain));
            REQUIRE(!km__grpc_rd_partial(&rd));
            km__grpc_rd_free(&rd);
        }
    }
    free(in);
    free(want);
    free(got);
}

START_TEST(messages_whatever_the_cut)
{
    t_run(any_cut, NULL);
}
END_TEST

/* A lent buffer carries small messages with no allocation at all. */
static void lent_only(void *arg)
{
    char lent[64];
    km__grpc_rd rd;
    km__grpc_rd_init(&rd, lent, sizeof lent, 100);
    long before = t_live_allocs();
    for (int i = 0; i < 100; i++) {
        uint8_t in[40], got[40];
        size_t n = frame(in, "hello, lent buffer", 18, 0), gotlen;
        REQUIRE_EQ(feed(&rd, in, n, n, got, &gotlen), 1);
        REQUIRE_EQ(gotlen, 18);
    }
    REQUIRE_EQ(t_live_allocs(), before);
    km__grpc_rd_free(&rd);
}

START_TEST(small_messages_use_the_lent_buffer)
{
    t_run(lent_only, NULL);
}
END_TEST

/* A large message moves to the heap; once the reader is empty again, the
 * heap buffer is given back and the lent one used. */
static void grow_and_shrink(void *arg)
{
    char lent[128];
    km__grpc_rd rd;
    km__grpc_rd_init(&rd, lent, sizeof lent, 4 << 20);
    size_t big = 1 << 20;
    uint8_t *in = malloc(big + 5), *got = malloc(big);
    memset(in + 5, 'x', big);
    km__grpc_prefix(in, false, (uint32_t)big);
    size_t gotlen;
    REQUIRE_EQ(feed(&rd, in, big + 5, 65536, got, &gotlen), 1);
    REQUIRE_EQ(gotlen, big);
    REQUIRE(rd.buf != lent);
    char *p;
    size_t room;
    REQUIRE_EQ(km__grpc_rd_room(&rd, &p, &room), 0);
    REQUIRE(rd.buf == lent);
    REQUIRE(p == lent);
    km__grpc_rd_free(&rd);
    free(in);
    free(got);
}

START_TEST(large_message_grows_then_shrinks)
{
    t_run(grow_and_shrink, NULL);
}
END_TEST

/* The room offered always reaches the end of the message begun: a read
 * as large as the room completes it. */
START_TEST(room_covers_the_message)
{
    km__grpc_rd rd;
    km__grpc_rd_init(&rd, NULL, 0, 1 << 20);
    uint8_t pre[KM__GRPC_PREFIX];
    km__grpc_prefix(pre, false, 100000);
    char *p;
    size_t room;
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, pre, 3);
    km__grpc_rd_fill(&rd, 3);
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, pre + 3, 2);
    km__grpc_rd_fill(&rd, 2);
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    ck_assert_uint_ge(room, 100000);
    memset(p, 'y', 100000);
    km__grpc_rd_fill(&rd, 100000);
    km_str m;
    bool comp = true;
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), 1);
    ck_assert_uint_eq(m.n, 100000);
    ck_assert(!comp);
    km__grpc_rd_free(&rd);
}
END_TEST

/* Limits and flags: the length is checked from the prefix alone. */
START_TEST(limits_and_flags)
{
    km__grpc_rd rd;
    char lent[64];
    km_str m;
    bool comp;
    char *p;
    size_t room;
    /* over the limit: known before the message's bytes come */
    km__grpc_rd_init(&rd, lent, sizeof lent, 10);
    uint8_t pre[KM__GRPC_PREFIX];
    km__grpc_prefix(pre, false, 11);
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, pre, 5);
    km__grpc_rd_fill(&rd, 5);
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), -EMSGSIZE);
    km__grpc_rd_free(&rd);
    /* exactly the limit is fine */
    km__grpc_rd_init(&rd, lent, sizeof lent, 10);
    uint8_t in[32];
    size_t n = frame(in, "0123456789", 10, 0);
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, in, n);
    km__grpc_rd_fill(&rd, n);
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), 1);
    ck_assert_uint_eq(m.n, 10);
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), 0);
    /* flag 1: compressed, reported; 2 and above: broken */
    n = frame(in, "abc", 3, 1);
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, in, n);
    km__grpc_rd_fill(&rd, n);
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), 1);
    ck_assert(comp);
    n = frame(in, "abc", 3, 2);
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, in, n);
    km__grpc_rd_fill(&rd, n);
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), -EBADMSG);
    km__grpc_rd_free(&rd);
    /* the largest length a prefix can say, with the limit at its top */
    km__grpc_rd_init(&rd, lent, sizeof lent, SIZE_MAX);
    ck_assert_uint_eq(rd.max, UINT32_MAX);
    memset(pre, 0xff, sizeof pre);
    pre[0] = 0;
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, pre, 5);
    km__grpc_rd_fill(&rd, 5);
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), 0);
    ck_assert(km__grpc_rd_partial(&rd));
    km__grpc_rd_free(&rd);
}
END_TEST

/* A message cut short shows as bytes held at the end. */
START_TEST(partial_at_the_end)
{
    km__grpc_rd rd;
    km__grpc_rd_init(&rd, NULL, 0, 100);
    uint8_t in[32];
    size_t n = frame(in, "truncated", 9, 0);
    char *p;
    size_t room;
    ck_assert_int_eq(km__grpc_rd_room(&rd, &p, &room), 0);
    memcpy(p, in, n - 1);
    km__grpc_rd_fill(&rd, n - 1);
    km_str m;
    bool comp;
    ck_assert_int_eq(km__grpc_rd_next(&rd, &m, &comp), 0);
    ck_assert(km__grpc_rd_partial(&rd));
    km__grpc_rd_free(&rd);
    ck_assert(!km__grpc_rd_partial(&rd));
}
END_TEST

static void nomem(void *arg)
{
    km__grpc_rd rd;
    km__grpc_rd_init(&rd, NULL, 0, 1 << 20);
    char *p;
    size_t room;
    t_fail_alloc_after(1);
    REQUIRE_EQ(km__grpc_rd_room(&rd, &p, &room), -ENOMEM);
    t_fail_alloc_after(0);
    REQUIRE_EQ(km__grpc_rd_room(&rd, &p, &room), 0);
    km__grpc_rd_free(&rd);
}

START_TEST(allocation_failure)
{
    t_run(nomem, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("grpc/frame");
    TCase *tc = tcase_create("frame");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, messages_whatever_the_cut);
    tcase_add_test(tc, small_messages_use_the_lent_buffer);
    tcase_add_test(tc, large_message_grows_then_shrinks);
    tcase_add_test(tc, room_covers_the_message);
    tcase_add_test(tc, limits_and_flags);
    tcase_add_test(tc, partial_at_the_end);
    tcase_add_test(tc, allocation_failure);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
