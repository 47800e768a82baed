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

static void put2(char *o, unsigned v) { o[0] = (char)('0' + v / 10); o[1] = (char)('0' + v % 10); }

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

void km__rfc3339(char o[KM__RFC3339_LEN], int64_t ns)
{
    int64_t sec = ns / 1000000000, sub = ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        sec--;
    }
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
    o[19] = '.';
    unsigned us = (unsigned)(sub / 1000);
    for (int i = 25; i >= 20; i--, us /= 10)
        o[i] = (char)('0' + us % 10);
    o[26] = 'Z';
}
