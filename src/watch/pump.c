/* SPDX-License-Identifier: MIT */
/* Streaming a watch: wait, drain what is queued, write, flush once. */
#include <errno.h>
#include <kumo/hub.h>
#include "rt/rt-int.h"

static int write_msg(km_watch_msg *m, const km_watch_sink *s)
{
    const char *p;
    size_t n;
    int rc;
    if (s->fmt >= 0) {
        rc = km_watch_msg_encoded(m, s->fmt, s->enc, s->ud, &p, &n);
        if (rc == 0)
            rc = s->write(s->ud, p, n);
        return rc;
    }
    char *own;
    rc = s->enc(m, s->ud, &own, &n);
    if (rc == 0) {
        rc = s->write(s->ud, own, n);
        km__free(own);
    }
    return rc;
}

int km_watch_stream(km_watch *wt, const km_watch_sink *s)
{
    bool idle_on = s->idle && s->idle_interval > 0;
    int64_t next_idle = idle_on ? km_now() + s->idle_interval : KM_FOREVER;
    for (;;) {
        km_watch_msg *m;
        int64_t crev = 0;
        int rc = km_watch_next(wt, next_idle, &m, &crev);
        if (rc == -ETIMEDOUT) {
            int64_t now = km_now();
            if (idle_on && now >= next_idle) {
                rc = s->idle(s->ud);
                if (rc == 0)
                    rc = s->flush(s->ud);
                if (rc < 0)
                    return rc;
                next_idle = now + s->idle_interval;
            }
            continue;
        }
        if (rc == -ENODATA) {
            rc = s->compacted(s->ud, crev);
            return rc < 0 ? rc : s->flush(s->ud);
        }
        if (rc == -ECANCELED)
            return 0;           /* the client left */
        if (rc < 0)
            return rc;
        /* Everything already queued goes out in one flush. */
        do {
            rc = write_msg(m, s);
            km_watch_msg_release(m);
        } while (rc == 0 && km_watch_poll(wt, &m) == 0);
        if (rc == 0)
            rc = s->flush(s->ud);
        if (rc < 0)
            return rc;
        if (idle_on)
            next_idle = km_now() + s->idle_interval;
    }
}
