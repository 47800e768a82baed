/* SPDX-License-Identifier: MIT */
/* The disk's floor for a commit: write N 4 KiB pages of a file, then
 * fdatasync it, as a store commit does, and time it.
 *
 *   sync_floor DIR [PAGES 1] [COMMITS 2000] [spread]
 *
 * The file is written once beforehand, so a commit rewrites blocks that
 * exist (no block allocation). "spread" puts the pages of a commit far
 * apart, as a B-tree's dirty pages are; the default writes them in a row.
 * Prints microseconds per commit. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sync_floor DIR [PAGES] [COMMITS] [spread]\n");
        return 2;
    }
    long pages = argc > 2 ? atol(argv[2]) : 1, commits = argc > 3 ? atol(argv[3]) : 2000;
    int spread = argc > 4 && !strcmp(argv[4], "spread");
    if (pages < 1 || commits < 1)
        return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/sync_floor.dat", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    static char buf[PAGE];
    memset(buf, 1, sizeof buf);
    long total = pages * commits;
    for (long i = 0; i < total; i++)
        if (pwrite(fd, buf, PAGE, (off_t)i * PAGE) != PAGE) {
            perror("pwrite");
            return 1;
        }
    fsync(fd);
    double t0 = now();
    for (long c = 0; c < commits; c++) {
        for (long p = 0; p < pages; p++) {
            long at = spread ? p * commits + c : c * pages + p;
            if (pwrite(fd, buf, PAGE, (off_t)at * PAGE) != PAGE) {
                perror("pwrite");
                return 1;
            }
        }
        if (fdatasync(fd)) {
            perror("fdatasync");
            return 1;
        }
    }
    double t = now() - t0;
    printf("pages %ld%s: %.1f us per commit\n", pages, spread ? " spread" : "",
           t / (double)commits * 1e6);
    unlink(path);
    return 0;
}
