/* SPDX-License-Identifier: MIT */
/* The server's built-in access log: one JSON line per request. */
#include "http-int.h"
#include <stdio.h>
#include <string.h>

/* Appends s as JSON string contents (quotes and controls escaped). */
static size_t json_str(char *out, size_t room, km_str s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < s.n && o + 6 < room; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[ch >> 4];
            out[o + 5] = hex[ch & 15];
            o += 6;
        } else {
            out[o++] = (char)ch;
        }
    }
    return o;
}

size_t km__access_line(km__stream *st, char *line, size_t room)
{
    if (st->s->cfg.access_log_fd <= 0 || room < KM__LOGLINE)
        return 0;
    km_http_req *r = &st->req;
    size_t n = 0;
    n += (size_t)snprintf(line + n, room - n, "{\"method\":\"");
    n += json_str(line + n, 64, r->h.method);
    n += (size_t)snprintf(line + n, room - n, "\",\"path\":\"");
    n += json_str(line + n, 600, r->h.path);
    n += (size_t)snprintf(line + n, room - n, "\",\"status\":%d,\"dur_us\":%lld",
                          st->resp.status, (long long)((km_http_req_end(r) - km_http_req_start(r)) / 1000));
    if (r->request_id[0])
        n += (size_t)snprintf(line + n, room - n, ",\"request_id\":\"%s\"", r->request_id);
    if (r->traced)
        n += (size_t)snprintf(line + n, room - n, ",\"trace_id\":\"%s\",\"span_id\":\"%s\"",
                              r->trace.trace_id, r->trace.span_id);
    n += (size_t)snprintf(line + n, room - n, "}\n");
    return n;
}
