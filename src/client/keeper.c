/* SPDX-License-Identifier: MIT */
/* A lease kept alive from a goroutine of its own, on whichever transport
 * and endpoint the client uses at the time. */
#include "client/client-int.h"
#include "rt/alloc.h"
#include <kumo/chan.h>

#define SEC 1000000000LL

struct km_client_lease_keeper {
    km_client *c;
    int64_t    id, ttl;
    km_chan   *stop;        /* closed by stop */
    km_chan   *done;        /* closed by the keeper when it returns */
    int        rc;
};

static void keeper(void *arg)
{
    km_client_lease_keeper *k = arg;
    int64_t every = k->ttl * SEC / 3;
    if (every < SEC / 10)
        every = SEC / 10;
    for (;;) {
        km_case cs = { .chan = k->stop, .op = KM_RECV };
        int rc = km_select(&cs, 1, km_now() + every);
        if (rc != -ETIMEDOUT)
            break;                      /* stopped (or cancelled) */
        rc = km_client_lease_keepalive(k->c, k->id, km_now() + every, NULL);
        if (rc == -ENOENT) {
            k->rc = rc;
            break;
        }
        /* Other errors: the next round tries again (on another endpoint). */
    }
    km_chan_close(k->done);
}

int km_client_lease_keeper_start(km_client *c, int64_t id, int64_t ttl,
                                 km_client_lease_keeper **out)
{
    km_client_lease_keeper *k = km__calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    k->c = c;
    k->id = id;
    k->ttl = ttl > 0 ? ttl : 1;
    int rc = km_chan_new(&k->stop, 0, 0);
    if (!rc)
        rc = km_chan_new(&k->done, 0, 0);
    if (!rc)
        rc = km_go(keeper, k);
    if (rc) {
        if (k->stop)
            km_chan_free(k->stop);
        if (k->done)
            km_chan_free(k->done);
        km__free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int km_client_lease_keeper_stop(km_client_lease_keeper *k)
{
    km_chan_close(k->stop);
    km_chan_recv(k->done, NULL);
    int rc = k->rc;
    km_chan_free(k->stop);
    km_chan_free(k->done);
    km__free(k);
    return rc;
}
