/* SPDX-License-Identifier: MIT */
/* A server's defence against peers that send frames which cost it work
 * but ask for nothing (the HTTP/2 floods of CVE-2019-9512..9518 and the
 * rapid reset of CVE-2023-44487): such a peer gets GOAWAY
 * (ENHANCE_YOUR_CALM) and its connection ends; the others go on. */
#include "h2-int.h"

#define SEC 1000000000LL
/* Control frames (PING, SETTINGS, WINDOW_UPDATE, PRIORITY, RST_STREAM)
 * and empty DATA frames draw on a budget of this many, refilled at
 * REFILL a second and by EARN for each request or frame of answer the
 * peer gets: a client doing real work never runs dry, however fast. */
#define BUDGET 10000
#define REFILL 1000
#define EARN   4
/* Empty DATA frames without END_STREAM have no use: a few in a row at most. */
#define EMPTY_RUN 16

void km__h2_flood_options(nghttp2_option *opt)
{
    /* nghttp2's own limits, set to the values kumo relies on: queued
     * SETTINGS and PING ACKs a peer does not read, SETTINGS entries per
     * frame, CONTINUATION frames per header block, and a token bucket for
     * the RST_STREAM a peer sends (rapid reset). */
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
}

static void refill(km__h2_conn *c)
{
    int64_t now = km_now();
    if (!c->flood_at) {
        c->flood_at = now;
        c->flood_tokens = BUDGET;
        return;
    }
    int64_t add = (now - c->flood_at) * REFILL / SEC;
    if (add > 0) {
        c->flood_tokens = c->flood_tokens + add > BUDGET ? BUDGET : c->flood_tokens + add;
        c->flood_at = now;
    }
}

void km__h2_flood_earn(km__h2_conn *c)
{
    if (c->flood_tokens + EARN <= BUDGET)
        c->flood_tokens += EARN;
}

bool km__h2_flood_frame(km__h2_conn *c, const nghttp2_frame *f)
{
    bool costs;
    switch (f->hd.type) {
    case NGHTTP2_DATA:
        if (f->hd.length || (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            c->flood_empty = 0;
            return true;
        }
        if (++c->flood_empty > EMPTY_RUN)
            return false;
        costs = true;
        break;
    case NGHTTP2_HEADERS:
        c->flood_empty = 0;
        km__h2_flood_earn(c);
        return true;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
        costs = !(f->hd.flags & NGHTTP2_FLAG_ACK);
        break;
    case NGHTTP2_WINDOW_UPDATE:
    case NGHTTP2_PRIORITY:
    case NGHTTP2_RST_STREAM:
        costs = true;
        break;
    default:
        costs = false;
    }
    if (!costs)
        return true;
    refill(c);
    return --c->flood_tokens >= 0;
}
