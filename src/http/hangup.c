/* SPDX-License-Identifier: MIT */
/* Noticing clients that hang up while their response streams: such a
 * connection's socket sits in one epoll set per server (EPOLLRDHUP,
 * one-shot), whose fd a monitor goroutine waits on through the netpoller;
 * a hang-up cancels the connection's group at once, where a stream that
 * only writes would learn of it at its next write, maybe hours later. */
#include "http-int.h"
#include <kumo/chan.h>
#include <kumo/net.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void monitor(void *arg)
{
    km_http_server *s = arg;
    struct epoll_event ev[64];
    for (;;) {
        /* Drained to empty before waiting again: the netpoller is edge-triggered. */
        int n;
        bool stop;
        do {
            km_mutex_lock(s->hup_mu);
            /* Under the lock, so a connection that stopped being watched
             * (km__hangup_unwatch) can never come out of this call. */
            n = epoll_wait(s->hup_ep, ev, 64, 0);
            for (int i = 0; i < n; i++)
                if (ev[i].data.ptr)         /* NULL: the stop eventfd */
                    km_group_cancel(ev[i].data.ptr);
            stop = atomic_load(&s->hup_stop);
            km_mutex_unlock(s->hup_mu);
        } while (n == 64 && !stop);
        if (stop)
            break;
        km_fd_wait(s->hup_ep, KM_FD_READ, KM_FOREVER);
    }
    int one = 1;
    km_chan_send(s->hup_done, &one);
}

/* Under hup_mu. The monitor runs in no group of the server's, so that a
 * graceful shutdown waiting for the connections does not wait for it. */
static int start(km_http_server *s)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
    int rc = 0;
    if (ep < 0 || ev < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev, &e) < 0)
        rc = -errno;
    s->hup_ep = ep;
    s->hup_ev = ev;
    if (!rc && !(rc = km_chan_new(&s->hup_done, sizeof(int), 1)) &&
        !(rc = km_group_new(&s->hup_group, NULL, KM_FOREVER)) &&
        (rc = km_group_go(s->hup_group, monitor, s)) < 0) {
        km_group_free(s->hup_group);
        s->hup_group = NULL;
    }
    if (rc < 0) {
        if (s->hup_done) km_chan_free(s->hup_done);
        s->hup_done = NULL;
        if (ep >= 0) close(ep);
        if (ev >= 0) close(ev);
        s->hup_ep = s->hup_ev = -1;
    }
    return rc;
}

int km__hangup_watch(km_http_server *s, int fd, km_group *group)
{
    struct epoll_event e = { .events = EPOLLRDHUP | EPOLLONESHOT, .data.ptr = group };
    int rc = 0;
    km_mutex_lock(s->hup_mu);
    if (atomic_load(&s->hup_stop))
        rc = -ESHUTDOWN;
    else if (s->hup_ep < 0)
        rc = start(s);
    if (!rc && epoll_ctl(s->hup_ep, EPOLL_CTL_ADD, fd, &e) < 0)
        rc = -errno;
    km_mutex_unlock(s->hup_mu);
    return rc;
}

void km__hangup_unwatch(km_http_server *s, int fd)
{
    km_mutex_lock(s->hup_mu);
    epoll_ctl(s->hup_ep, EPOLL_CTL_DEL, fd, NULL);
    km_mutex_unlock(s->hup_mu);
}

void km__hangup_stop(km_http_server *s)
{
    km_mutex_lock(s->hup_mu);
    atomic_store(&s->hup_stop, true);
    bool running = s->hup_ep >= 0;
    km_mutex_unlock(s->hup_mu);
    if (!running)
        return;
    uint64_t one = 1;
    ssize_t wr = write(s->hup_ev, &one, sizeof one);
    (void)wr;
    int done;
    km_chan_recv(s->hup_done, &done);
    km_group_wait(s->hup_group, KM_FOREVER);
    km_group_free(s->hup_group);
    km_chan_free(s->hup_done);
    close(s->hup_ev);
    km_close(s->hup_ep);        /* it was registered with the netpoller */
}
