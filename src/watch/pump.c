/* SPDX-License-Identifier: MIT */
/* The watch stream loop: wait, drain what is queued, write, flush once. */
#include <errno.h>
#include "rt/rt-int.h"
#include "watch/pump.h"

/* How often an idle stream checks that its client is still there: a
 * stream that only writes would otherwise keep a departed client's watch
 * until the next change on its keys. */
#define PEER_CHECK_NS (30 * 1000000000LL)

static int write_msg(km_watch_msg *m, km_http_resp *w, const km__pump_ops *ops)
{
    const char *p;
    size_t n;
    int rc;
    if (ops->fmt >= 0) {
        rc = km_watch_msg_encoded(m, ops->fmt, ops->enc, ops->ud, &p, &n);
        if (rc == 0)
            rc = km_http_write(w, p, n);
        return rc;
    }
    char *own;
    rc = ops->enc(m, ops->ud, &own, &n);
    if (rc == 0) {
        rc = km_http_write(w, own, n);
        km__free(own);
    }
    return rc;
}

int km__watch_pump(km_watch *wt, const km_http_req *r, km_http_resp *w, const km__pump_ops *ops)
{
    int64_t now = km_now();
    bool idle_on = ops->idle && ops->idle_interval > 0;
    int64_t next_idle = idle_on ? now + ops->idle_interval : KM_FOREVER;
    int64_t next_check = now + PEER_CHECK_NS;
    for (;;) {
        int64_t dl = next_idle != KM_FOREVER && next_idle < next_check ? next_idle : next_check;
        km_watch_msg *m;
        int64_t crev = 0;
        int rc = km_watch_next(wt, dl, &m, &crev);
        if (rc == -ETIMEDOUT) {
            now = km_now();
            if (now >= next_check) {
                if (km_http_peer_closed(r))
                    return 0;
                next_check = now + PEER_CHECK_NS;
            }
            if (idle_on && now >= next_idle) {
                rc = ops->idle(ops->ud, w);
                if (rc == 0)
                    rc = km_http_flush(w);
                if (rc < 0)
                    return rc;
                next_idle = now + ops->idle_interval;
            }
            continue;
        }
        if (rc == -ENODATA) {
            rc = ops->compacted(ops->ud, w, crev);
            return rc < 0 ? rc : km_http_flush(w);
        }
        if (rc < 0)
            return rc;
        /* Everything already queued goes out in one flush. */
        do {
            rc = write_msg(m, w, ops);
            km_watch_msg_release(m);
        } while (rc == 0 && km_watch_poll(wt, &m) == 0);
        if (rc == 0)
            rc = km_http_flush(w);
        if (rc < 0)
            return rc;
        if (idle_on)
            next_idle = km_now() + ops->idle_interval;
    }
}
