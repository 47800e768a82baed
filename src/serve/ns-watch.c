/* SPDX-License-Identifier: MIT */
/* GET /api/v1/ns/APP/NAME/config/watch: an instance's effective
 * configuration as Server-Sent Events, now and each time the version it
 * sees changes (a publish, promotion, rollback, or a gray release that
 * starts or stops selecting it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rt/rt-int.h"
#include <kumo/hub.h>
#include "serve/ns-api.h"

/* A comment line this often keeps proxies from closing an idle stream. */
#define KEEPALIVE_NS (15 * 1000000000LL)

/* Sends cfg as one "config" event when its version differs from *last
 * (release id, and gray name folded in: a gray release has its own id). */
static int send_config(km_http_resp *w, json_t *cfg, int64_t *last)
{
    int64_t id = json_integer_value(json_object_get(cfg, "release"));
    if (id == *last)
        return 0;
    char *s = json_dumps(cfg, JSON_COMPACT);
    if (!s)
        return -ENOMEM;
    char head[] = "event: config\ndata: ";
    char tail[48];
    int tn = snprintf(tail, sizeof tail, "\nid: %lld\n\n",
                      (long long)json_integer_value(json_object_get(cfg, "revision")));
    int rc = km_http_write(w, head, sizeof head - 1);
    if (!rc)
        rc = km_http_write(w, s, strlen(s));
    if (!rc)
        rc = km_http_write(w, tail, (size_t)tn);
    if (!rc)
        rc = km_http_flush(w);
    free(s);
    if (!rc)
        *last = id;
    return rc;
}

/* The current effective config: 0 and *cfg, -ENOENT before the first
 * publish (nothing to send yet), or another error. */
static int current(km__nsapi *a, const char *ns, const char *labels, const char *ip, json_t **cfg)
{
    km_rel_err err;
    *cfg = NULL;
    return km__rel_config(a->rel, ns, labels, ip, true, cfg, &err);
}

void km__ns_config_watch(km_http_req *r, km_http_resp *w, void *ud)
{
    km__nsapi *a = ud;
    char ns[140], lab[1024], ipbuf[64];
    if (!km__ns_name(r, w, ns) || !km__ns_allowed(a, r, w, ns, KM__NS_READ))
        return;
    km__arena *ar = km__arena_new();
    km_bytes labels = { 0 }, ip = { 0 };
    int qe = 0;
    if (!ar) {
        km__native_fail(w, 503, "out of memory");
        return;
    }
    km__query_get(km_http_query(r), "labels", ar, &labels, &qe);
    km__query_get(km_http_query(r), "ip", ar, &ip, &qe);
    if (qe || labels.n >= sizeof lab) {
        km__native_fail(w, 400, qe ? "bad percent-encoding in the query" : "labels too long");
        km__arena_free(ar);
        return;
    }
    snprintf(lab, sizeof lab, "%.*s", (int)labels.n, (const char *)labels.p);
    const char *addr = km__ns_ip(r, ip, ipbuf);
    km__arena_free(ar);
    json_t *probe;
    km_rel_err err;
    /* bad labels are a 400 now, not a stream that never says anything */
    int rc = km__rel_config(a->rel, ns, lab, addr, true, &probe, &err);
    json_decref(probe);
    if (rc < 0 && rc != -ENOENT) {
        km__ns_fail(w, rc, &err);
        return;
    }
    /* Watch first, then read: a change between the two is seen twice at
     * worst, never missed. */
    char buf[640];
    km_watch_opts o = { 0 };
    km__rel_pub_range(ns, buf, sizeof buf, &o.key, &o.range_end);
    km_watch *wt;
    int64_t created;
    if ((rc = km_watch_new(a->nat->hub, &o, &wt, &created)) < 0) {
        km__native_fail_errno(w, rc);
        return;
    }
    km_http_set_header(w, "Content-Type", "text/event-stream");
    km_http_set_header(w, "Cache-Control", "no-cache");
    km_http_status(w, 200);
    int64_t last = -1;
    json_t *cfg;
    rc = km_http_write(w, ": effective configuration\n\n", 27);
    if (!rc)
        rc = km_http_flush(w);
    if (!rc && current(a, ns, lab, addr, &cfg) == 0) {
        rc = send_config(w, cfg, &last);
        json_decref(cfg);
    }
    if (!rc)
        km_http_stream_lean(r, w);
    while (!rc) {
        km_watch_msg *m;
        int64_t crev;
        int wr = km_watch_next(wt, km_now() + KEEPALIVE_NS, &m, &crev);
        if (wr == -ETIMEDOUT) {
            rc = km_http_write(w, ": keep-alive\n\n", 14);
            if (!rc)
                rc = km_http_flush(w);
            continue;
        }
        if (wr < 0)
            break;      /* the client left, the server stops, or history is gone */
        /* several revisions may be queued: read once, after taking them all */
        km_watch_msg_release(m);
        while (km_watch_poll(wt, &m) == 0)
            km_watch_msg_release(m);
        int cr = current(a, ns, lab, addr, &cfg);
        if (cr == 0) {
            rc = send_config(w, cfg, &last);
            json_decref(cfg);
        } else if (cr != -ENOENT) {
            break;
        }
    }
    km_watch_free(wt);
}
