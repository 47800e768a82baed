/* SPDX-License-Identifier: MIT */
/* The watch stream loop: wait, drain what is queued, write, flush once. */
#include <errno.h>
#include "rt/rt-int.h"
#include "watch/pump.h"

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
    /* A client that leaves ends the watch at once (-ECONNRESET below). */
    km_watch_bind_fd(wt, km_http_fd(r));
    bool idle_on = ops->idle && ops->idle_interval > 0;
    int64_t next_idle = idle_on ? km_now() + ops->idle_interval : KM_FOREVER;
    for (;;) {
        km_watch_msg *m;
        int64_t crev = 0;
        int rc = km_watch_next(wt, next_idle, &m, &crev);
        if (rc == -ETIMEDOUT) {
            int64_t now = km_now();
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
        if (rc == -ECONNRESET)
            return 0;
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
