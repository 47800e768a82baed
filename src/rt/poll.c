/* SPDX-License-Identifier: MIT */
/* The poller: where an idle worker waits for timers (and, later, fds). */
#include "sched-int.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int epfd = -1, evfd = -1;
static atomic_int broken;

int km__poll_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (evfd < 0) {
        int e = -errno;
        close(epfd);
        epfd = -1;
        return e;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev)) {
        int e = -errno;
        km__poll_fini();
        return e;
    }
    atomic_store(&broken, 0);
    return 0;
}

void km__poll_fini(void)
{
    if (evfd >= 0) close(evfd);
    if (epfd >= 0) close(epfd);
    evfd = epfd = -1;
}

int km__poll_waiters(void)
{
    return 0;
}

void km__poll_break(void)
{
    if (atomic_exchange(&broken, 1) == 0) {
        uint64_t one = 1;
        ssize_t r = write(evfd, &one, sizeof one);
        (void)r;    /* EAGAIN: a wake-up is already pending */
    }
}

void km__poll_wait(int64_t deadline)
{
    struct epoll_event evs[64];
    struct timespec ts, *tsp = NULL;
    if (deadline != KM_FOREVER) {
        int64_t d = deadline - km_now();
        if (d < 0) d = 0;
        ts.tv_sec = d / 1000000000;
        ts.tv_nsec = d % 1000000000;
        tsp = &ts;
    }
    int n = epoll_pwait2(epfd, evs, 64, tsp, NULL);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == NULL) {
            uint64_t v;
            ssize_t r = read(evfd, &v, sizeof v);
            (void)r;
            atomic_store(&broken, 0);
        }
    }
}
