/* SPDX-License-Identifier: MIT */
/* Many goroutines on 2 workers logging to one file: every line arrives whole. */
#include "util.h"
#include <kumo/log.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NG 16
#define NREC 300

typedef struct { km_logger *l; int g; } worker;

static void logger_g(void *arg)
{
    worker *w = arg;
    km_logger *c;
    REQUIRE_EQ(km_log_with(&c, w->l, km_lf_int("g", w->g)), 0);
    static char pad[3001];
    memset(pad, 'p', sizeof pad - 1);
    for (int i = 0; i < NREC; i++) {
        /* lengths from tens of bytes to past the stack buffer */
        size_t n = (size_t)((i * 997 + w->g * 131) % 3000);
        if (i % 50 == 0)
            n = 3000;
        km_info(c, "tick", km_lf_int("i", i), km_lf_strn("pad", pad, n), km_lf_int("n", (int64_t)n));
        if (i % 16 == 0)
            km_yield();
    }
    km_log_free(c);
}

static char path[64];

static void body(void *arg)
{
    km_log_config cfg = { .path = path };
    km_logger *l;
    REQUIRE_EQ(km_log_new(&l, &cfg), 0);
    worker w[NG];
    for (int g = 0; g < NG; g++)
        w[g] = (worker){ l, g };
    t_go_all(NG, logger_g, w, sizeof w[0]);
    REQUIRE_EQ(km_log_dropped(l), 0);
    km_log_free(l);

    FILE *f = fopen(path, "r");
    ck_assert(f != NULL);
    int seen[NG] = { 0 };
    int lines = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        lines++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)len, 0, &je);
        ck_assert_msg(j != NULL, "line %d not whole: %s", lines, je.text);
        int g = (int)json_integer_value(json_object_get(j, "g"));
        int i = (int)json_integer_value(json_object_get(j, "i"));
        size_t n = (size_t)json_integer_value(json_object_get(j, "n"));
        REQUIRE(g >= 0 && g < NG);
        REQUIRE_EQ(i, seen[g]);              /* in order per goroutine */
        REQUIRE_EQ(strlen(json_string_value(json_object_get(j, "pad"))), n);
        seen[g]++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    REQUIRE_EQ(lines, NG * NREC);
}

START_TEST(whole_lines)
{
    t_procs(2);
    snprintf(path, sizeof path, "/tmp/kumo-log-%d.log", (int)getpid());
    unlink(path);
    t_run(body, NULL);
    unlink(path);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log/concurrent");
    TCase *tc = tcase_create("concurrent");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, whole_lines);
    suite_add_tcase(s, tc);
    return s;
}

T_MAIN(suite)
