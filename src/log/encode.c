/* SPDX-License-Identifier: MIT */
/* Typed fields to text: integers, doubles, booleans, strings and bytes, in JSON or logfmt. */
#include "log-int.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Two digits per division: status codes and latencies are most of the
 * integers a request record holds. */
const char km__digit_pairs[201] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
    "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

static unsigned digits(uint64_t v)
{
    unsigned d = 1;
    for (; v >= 10000; v /= 10000)
        d += 4;
    return d + (v >= 10) + (v >= 100) + (v >= 1000);
}

char *km__put_uint(char *o, uint64_t v)
{
    const char *pr = km__digit_pairs;
    /* Statuses, latencies and small sizes directly. */
    if (v < 100) {
        if (v < 10) {
            *o = (char)('0' + v);
            return o + 1;
        }
        memcpy(o, pr + v * 2, 2);
        return o + 2;
    }
    if (v < 1000) {
        *o = (char)('0' + v / 100);
        memcpy(o + 1, pr + v % 100 * 2, 2);
        return o + 3;
    }
    char *end = o + digits(v), *q = end;
    while (v >= 100) {
        q -= 2;
        memcpy(q, pr + v % 100 * 2, 2);
        v /= 100;
    }
    if (v >= 10)
        memcpy(q - 2, pr + v * 2, 2);
    else
        q[-1] = (char)('0' + v);
    return end;
}

void km__enc_int(km__lbuf *b, int64_t v)
{
    if (km__lbuf_room(b, 21))
        b->n = (size_t)(km__put_int(b->p + b->n, v) - b->p);
}

/* The shortest of %.15g..%.17g that reads back as the same double, so 0.1
 * is written "0.1" and not "0.10000000000000001". */
static void enc_double(km__lbuf *b, int format, double d)
{
    if (!isfinite(d)) {
        const char *s = isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf";
        if (format == KM_LOG_JSON)
            km__lbuf_ch(b, '"');
        km__lbuf_put(b, s, strlen(s));
        if (format == KM_LOG_JSON)
            km__lbuf_ch(b, '"');
        return;
    }
    char t[32];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(t, sizeof t, "%.*g", prec, d);
        if (strtod(t, NULL) == d)
            break;
    }
    km__lbuf_put(b, t, (size_t)n);
}

void km__enc_field(km__lbuf *b, int format, const km_log_field *f)
{
    const char *key = f->key ? f->key : "";
    bool json = format == KM_LOG_JSON;
    if (json) {
        km__lbuf_put(b, ",\"", 2);
        km__json_str(b, key, strlen(key));
        km__lbuf_put(b, "\":", 2);
    } else {
        km__lbuf_ch(b, ' ');
        km__logfmt_key(b, key, strlen(key));
        km__lbuf_ch(b, '=');
    }
    switch (f->type) {
    case KM_LF_STR:
        if (json) {
            km__lbuf_ch(b, '"');
            km__json_str(b, f->v.s.p, f->v.s.n);
            km__lbuf_ch(b, '"');
        } else {
            km__logfmt_str(b, f->v.s.p, f->v.s.n);
        }
        break;
    case KM_LF_BYTES:
        if (json) {
            km__lbuf_ch(b, '"');
            km__json_bytes(b, f->v.s.p, f->v.s.n);
            km__lbuf_ch(b, '"');
        } else {
            km__logfmt_bytes(b, f->v.s.p, f->v.s.n);
        }
        break;
    case KM_LF_INT:
        km__enc_int(b, f->v.i);
        break;
    case KM_LF_DBL:
        enc_double(b, format, f->v.d);
        break;
    case KM_LF_BOOL:
        if (f->v.b)
            km__lbuf_put(b, "true", 4);
        else
            km__lbuf_put(b, "false", 5);
        break;
    default:
        km__lbuf_put(b, json ? "null" : "?", json ? 4 : 1);
        break;
    }
}
