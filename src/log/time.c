/* SPDX-License-Identifier: MIT */
/* Wall-clock time for records: the default clock and RFC 3339 formatting in UTC. */
#include "log-int.h"
#include <time.h>

int64_t km__log_realtime(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t km__log_wall_offset(void)
{
    /* Both coarse clocks move at the same tick, so their difference is the
     * offset between the fine ones; read again if a tick came in between. */
    struct timespec m1, w, m2;
    do {
        clock_gettime(CLOCK_MONOTONIC_COARSE, &m1);
        clock_gettime(CLOCK_REALTIME_COARSE, &w);
        clock_gettime(CLOCK_MONOTONIC_COARSE, &m2);
    } while (m1.tv_sec != m2.tv_sec || m1.tv_nsec != m2.tv_nsec);
    return ((int64_t)w.tv_sec - m1.tv_sec) * 1000000000 + (w.tv_nsec - m1.tv_nsec);
}

static void put2(char *o, unsigned v) { memcpy(o, km__digit_pairs + v * 2, 2); }

/* Days since 1970-01-01 to a proleptic Gregorian date, counting in 400-year
 * eras that start on March 1st so that the leap day ends each year. Done by
 * hand because gmtime_r takes glibc's time zone lock. */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    days += 719468;                             /* 0000-03-01 to 1970-01-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);             /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);    /* from March 1st */
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400) + (*m <= 2);
}

/* "2006-01-02T15:04:05" for a second: once per second per thread, so out
 * of line and cold, away from the per-record path. */
static __attribute__((cold, noinline)) void date_time(char o[19], int64_t sec)
{
    int64_t days = sec / 86400, sod = sec % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;   /* RFC 3339 has four-digit years only */
    put2(o, (unsigned)y / 100);
    put2(o + 2, (unsigned)y % 100);
    o[4] = '-';
    put2(o + 5, m);
    o[7] = '-';
    put2(o + 8, d);
    o[10] = 'T';
    put2(o + 11, (unsigned)(sod / 3600));
    o[13] = ':';
    put2(o + 14, (unsigned)(sod / 60 % 60));
    o[16] = ':';
    put2(o + 17, (unsigned)(sod % 60));
}

void km__rfc3339(char o[KM__RFC3339_LEN], int64_t ns)
{
    int64_t sec = ns / 1000000000, sub = ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        sec--;
    }
    /* Records come many to a second: the date and time of day are formatted
     * once per second per thread (no goroutine switch happens in here). */
    static _Thread_local int64_t last_sec = INT64_MIN;
    static _Thread_local char last[19];
    if (sec != last_sec) {
        date_time(last, sec);
        last_sec = sec;
    }
    memcpy(o, last, sizeof last);
    o[19] = '.';
    unsigned us = (unsigned)(sub / 1000);
    memcpy(o + 20, km__digit_pairs + us / 10000 * 2, 2);
    memcpy(o + 22, km__digit_pairs + us / 100 % 100 * 2, 2);
    memcpy(o + 24, km__digit_pairs + us % 100 * 2, 2);
    o[26] = 'Z';
}
