/* SPDX-License-Identifier: MIT */
/* Typed fields to text: integers, doubles, booleans, strings and bytes, in JSON or logfmt. */
#include "log-int.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Two digits per division: status codes and latencies are most of the
 * integers a request record holds. */
static const char pairs[201] =
    "0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849"
    "5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

void km__enc_int(km__lbuf *b, int64_t v)
{
    char t[21];
    int i = 21;
    /* Through uint64_t so that INT64_MIN negates without overflow. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        t[--i] = pairs[d + 1];
        t[--i] = pairs[d];
    }
    if (u >= 10) {
        t[--i] = pairs[u * 2 + 1];
        t[--i] = pairs[u * 2];
    } else {
        t[--i] = (char)('0' + u);
    }
    if (v < 0)
        t[--i] = '-';
    km__lbuf_put(b, t + i, (size_t)(21 - i));
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
