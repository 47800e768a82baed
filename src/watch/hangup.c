/* SPDX-License-Identifier: MIT */
/* Noticing clients that hang up while their watch idles: every bound
 * connection sits in one epoll set (EPOLLRDHUP, one-shot), whose fd the
 * monitor goroutine waits on through the netpoller; a hang-up wakes the
 * watcher at once, where a write-only stream would learn of it only at
 * its next write. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <kumo/net.h>
#include "rt/rt-int.h"
#include "watch/hub-int.h"

static void monitor(void *arg)
{
    km_hub *h = arg;
    struct epoll_event ev[64];
    for (;;) {
        /* Drained to empty before waiting again: the netpoller is edge-triggered. */
        int n;
        bool stop;
        do {
            pthread_mutex_lock(&h->mu);
            /* Under the lock, so a watch freed (and removed from the set)
             * meanwhile can never come out of this call. */
            n = epoll_wait(h->hup_ep, ev, 64, 0);
            for (int i = 0; i < n; i++) {
                km_watch *w = ev[i].data.ptr;
                if (!w)
                    continue;           /* the stop eventfd */
                w->hung_up = true;
                char tok = 0;
                km_chan_send_dl(w->wake, &tok, 0);
            }
            stop = h->hup_stop;
            pthread_mutex_unlock(&h->mu);
        } while (n == 64 && !stop);
        if (stop)
            break;
        if (km_fd_wait(h->hup_ep, KM_FD_READ, KM_FOREVER) < 0 && h->hup_stop)
            break;
    }
    int one = 1;
    km_chan_send(h->hup_done, &one);
}

int km__hangup_start(km_hub *h)
{
    h->hup_ep = epoll_create1(EPOLL_CLOEXEC);
    h->hup_ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
    int rc = 0;
    if (h->hup_ep < 0 || h->hup_ev < 0 || epoll_ctl(h->hup_ep, EPOLL_CTL_ADD, h->hup_ev, &e) < 0)
        rc = -errno;
    else if ((rc = km_chan_new(&h->hup_done, sizeof(int), 1)) == 0 &&
             (rc = km_go(monitor, h)) < 0)
        km_chan_free(h->hup_done);
    if (rc < 0) {
        if (h->hup_ep >= 0)
            close(h->hup_ep);
        if (h->hup_ev >= 0)
            close(h->hup_ev);
    }
    return rc;
}

void km__hangup_stop(km_hub *h)
{
    pthread_mutex_lock(&h->mu);
    h->hup_stop = true;
    pthread_mutex_unlock(&h->mu);
    uint64_t one = 1;
    ssize_t wr = write(h->hup_ev, &one, sizeof one);
    (void)wr;
    int done;
    km_chan_recv(h->hup_done, &done);
    km_chan_free(h->hup_done);
    close(h->hup_ev);
    km_close(h->hup_ep);        /* it was registered with the netpoller */
}

int km_watch_bind_fd(km_watch *w, int fd)
{
    km_hub *h = w->hub;
    struct epoll_event e = { .events = EPOLLRDHUP | EPOLLONESHOT, .data.ptr = w };
    pthread_mutex_lock(&h->mu);
    int rc = w->hup_fd >= 0 ? -EALREADY : 0;
    if (rc == 0 && epoll_ctl(h->hup_ep, EPOLL_CTL_ADD, fd, &e) < 0)
        rc = -errno;
    if (rc == 0)
        w->hup_fd = fd;
    pthread_mutex_unlock(&h->mu);
    return rc;
}
