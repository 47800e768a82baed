/* SPDX-License-Identifier: MIT */
/* Replays a fuzz target's seed corpus and every saved crash as a Check test. */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);   /* a crash fails the test */
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(corpus_and_regressions)
{
    int n = replay_dir("fuzz/corpus/" FUZZ_NAME) + replay_dir("fuzz/regressions/" FUZZ_NAME);
    ck_assert_msg(n > 0, "no inputs found for " FUZZ_NAME " (run from the repository root)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzz/" FUZZ_NAME);
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, corpus_and_regressions);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
