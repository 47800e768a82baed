/* SPDX-License-Identifier: MIT */
/* The netpoller: edge-triggered epoll shared by fd waits, timers and wake-ups. */
#include <kumo/net.h>
#include "sched-int.h"
#include "wait.h"
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Per-fd poll state. An edge that arrives while nobody waits is remembered
 * in rready/wready and consumed by the next wait, so no edge is lost. seq
 * changes when the fd is closed: events fetched for the old file are then
 * recognised as stale. */
typedef struct {
    km__lock    lock;
    uint32_t    seq;
    bool        registered;
    bool        nonblock;       /* created non-blocking by kumo: no fcntl */
    bool        rready, wready;
    /* The peer hung up: sticky, because that edge may have come with the
     * last bytes, which a read then takes while leaving the EOF for the
     * next one, and no further edge follows. (Not set by EPOLLERR alone:
     * a socket can be readable-empty again after its error is read.) */
    bool        rhup;
    km__waiter *rw, *ww;
} pollfd;

#define CHUNK   1024
#define NCHUNKS 1024                    /* fds below 1,048,576 */
#define EV_WAKE UINT64_MAX              /* epoll data of the wake-up eventfd */
#define KM__WAKE_CLOSED (-4)

static _Atomic(pollfd *) chunks[NCHUNKS];
static int epfd = -1, evfd = -1;
static atomic_int broken;
static atomic_int waiters;

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
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_WAKE };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, evfd, &ev)) {
        int e = -errno;
        km__poll_fini();
        return e;
    }
    atomic_store(&broken, 0);
    atomic_store(&waiters, 0);
    return 0;
}

void km__poll_fini(void)
{
    if (evfd >= 0) close(evfd);
    if (epfd >= 0) close(epfd);
    evfd = epfd = -1;
    /* Registrations belonged to the closed epoll instance: start afresh. */
    for (int i = 0; i < NCHUNKS; i++)
        km__free(atomic_exchange(&chunks[i], NULL));
}

int km__poll_waiters(void)
{
    return atomic_load_explicit(&waiters, memory_order_relaxed);
}

static pollfd *pd_get(int fd, bool create)
{
    if (fd < 0 || fd >= CHUNK * NCHUNKS)
        return NULL;
    _Atomic(pollfd *) *slot = &chunks[fd / CHUNK];
    pollfd *c = atomic_load_explicit(slot, memory_order_acquire);
    if (!c && create) {
        pollfd *n = km__calloc(CHUNK, sizeof *n);
        if (!n)
            return NULL;
        if (atomic_compare_exchange_strong(slot, &c, n))
            c = n;
        else
            km__free(n);    /* another thread won; c is theirs */
    }
    return c ? &c[fd % CHUNK] : NULL;
}

void km__poll_break(void)
{
    if (evfd >= 0 && atomic_exchange(&broken, 1) == 0) {
        uint64_t one = 1;
        ssize_t r = write(evfd, &one, sizeof one);
        (void)r;    /* EAGAIN: a wake-up is already pending */
    }
}

/* Hands one epoll event to the goroutines waiting on its fd. */
static void dispatch(uint64_t data, uint32_t ev, km__g **list)
{
    int fd = (int)(uint32_t)data;
    pollfd *pd = pd_get(fd, false);
    if (!pd)
        return;
    km__lock_acquire(&pd->lock);
    if (pd->seq != (uint32_t)(data >> 32) || !pd->registered) {
        km__lock_release(&pd->lock);
        return;
    }
    bool rd = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool wr = ev & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    if (ev & (EPOLLRDHUP | EPOLLHUP))
        pd->rhup = true;
    km__waiter *w;
    if (rd) {
        pd->rready = true;
        if ((w = pd->rw)) {
            pd->rw = NULL;
            if (pd->ww == w) pd->ww = NULL;
            if (km__claim(w->g, w->tok)) {
                pd->rready = false;     /* consumed by the woken waiter */
                w->g->schedlink = *list;
                *list = w->g;
            }
        }
    }
    if (wr) {
        pd->wready = true;
        if ((w = pd->ww)) {
            pd->ww = NULL;
            if (pd->rw == w) pd->rw = NULL;
            if (km__claim(w->g, w->tok)) {
                pd->wready = false;
                w->g->schedlink = *list;
                *list = w->g;
            }
        }
    }
    km__lock_release(&pd->lock);
}

/* epoll_pwait2 (Linux 5.11) waits to the nanosecond; where it is missing
 * (older kernels, Valgrind 3.19) epoll_wait waits whole milliseconds,
 * rounded up so that a timer is never run early. */
static int epoll_until(struct epoll_event *evs, int max, int64_t deadline)
{
    static atomic_bool no_pwait2;
    int64_t d = 0;
    if (deadline != KM_FOREVER && (d = deadline - km_now()) < 0)
        d = 0;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed)) {
        struct timespec ts = { d / 1000000000, d % 1000000000 };
        int n = epoll_pwait2(epfd, evs, max, deadline == KM_FOREVER ? NULL : &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        atomic_store_explicit(&no_pwait2, true, memory_order_relaxed);
    }
    int ms = deadline == KM_FOREVER ? -1 : d > (int64_t)INT_MAX * 1000000 ? INT_MAX
                                                : (int)((d + 999999) / 1000000);
    return epoll_wait(epfd, evs, max, ms);
}

km__g *km__poll_wait(int64_t deadline, bool poller, bool *woken)
{
    struct epoll_event evs[128];
    km__g *list = NULL;
    int n = epoll_until(evs, 128, deadline);
    /* Backwards, as dispatch prepends: the list runs in the order the fds
     * became ready, so the one that waited longest is served first. */
    for (int i = n - 1; i >= 0; i--) {
        if (evs[i].data.u64 == EV_WAKE) {
            /* Only the poller consumes a wake-up (it is meant for it); the
             * eventfd is level-triggered, so it stays pending otherwise. */
            if (poller) {
                uint64_t v;
                ssize_t r = read(evfd, &v, sizeof v);
                (void)r;
                atomic_store(&broken, 0);
                *woken = true;
            }
        } else {
            dispatch(evs[i].data.u64, evs[i].events, &list);
        }
    }
    return list;
}

static int pd_register(pollfd *pd, int fd)
{
    if (!pd->nonblock) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return -errno;
        if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
            return -errno;
    }
    struct epoll_event ev = {
        .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        .data.u64 = ((uint64_t)pd->seq << 32) | (uint32_t)fd,
    };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        if (errno == EEXIST)            /* registered by an earlier run */
            epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
        else
            return -errno;
    }
    pd->registered = true;
    pd->rready = pd->wready = pd->rhup = false;
    return 0;
}

int km_fd_wait(int fd, int events, int64_t deadline)
{
    if (fd < 0)
        return -EBADF;
    if (!(events & (KM_FD_READ | KM_FD_WRITE)) || (events & ~(KM_FD_READ | KM_FD_WRITE)))
        return -EINVAL;
    km__g *g = km__curg();
    if (!g)
        return -EPERM;
    pollfd *pd = pd_get(fd, true);
    if (!pd)
        return fd >= CHUNK * NCHUNKS ? -EBADF : -ENOMEM;
    km__lock_acquire(&pd->lock);
    if (!pd->registered) {
        int rc = pd_register(pd, fd);
        if (rc) {
            km__lock_release(&pd->lock);
            return rc == -EPERM ? 0 : rc;  /* regular files: always ready */
        }
    }
    bool ready = false;
    if ((events & KM_FD_READ) && pd->rready) { pd->rready = false; ready = true; }
    if ((events & KM_FD_READ) && pd->rhup) ready = true;
    if ((events & KM_FD_WRITE) && pd->wready) { pd->wready = false; ready = true; }
    if (ready) {
        km__lock_release(&pd->lock);
        return 0;
    }
    if (((events & KM_FD_READ) && pd->rw) || ((events & KM_FD_WRITE) && pd->ww)) {
        km__lock_release(&pd->lock);
        return -EBUSY;  /* one goroutine per direction, as in Go */
    }
    if (km__expired(deadline)) {
        km__lock_release(&pd->lock);
        return -ETIMEDOUT;
    }
    km__waiter w = { .g = g, .tok = KM__WAKE_SIGNAL };
    if (events & KM_FD_READ) pd->rw = &w;
    if (events & KM_FD_WRITE) pd->ww = &w;
    km__park_arm(g, events & KM_FD_READ ? "fd read" : "fd write", (void *)(intptr_t)fd, true);
    atomic_fetch_add(&waiters, 1);
    km__lock_release(&pd->lock);
    km__sched_need_poller();
    int tok = km__park(g, deadline, true);
    atomic_fetch_sub(&waiters, 1);
    if (tok == KM__WAKE_SIGNAL)
        return 0;
    km__lock_acquire(&pd->lock);
    if (pd->rw == &w) pd->rw = NULL;
    if (pd->ww == &w) pd->ww = NULL;
    km__lock_release(&pd->lock);
    return tok == KM__WAKE_CLOSED ? -EBADF : km__wake_err(tok);
}

/* kumo made fd with SOCK_NONBLOCK: its first wait can skip fcntl. */
void km__fd_created_nonblocking(int fd)
{
    pollfd *pd = pd_get(fd, true);
    if (pd) {
        km__lock_acquire(&pd->lock);
        if (!pd->registered)
            pd->nonblock = true;
        km__lock_release(&pd->lock);
    }
}

int km_close(int fd)
{
    if (fd < 0)
        return -EBADF;
    pollfd *pd = pd_get(fd, false);
    km__g *woken = NULL;
    int rc;
    if (pd) {
        /* Under the fd's lock, so that no wait can register in between and
         * then sleep on a file that no longer exists. */
        km__lock_acquire(&pd->lock);
        km__waiter *ws[2] = { pd->rw, pd->ww != pd->rw ? pd->ww : NULL };
        for (int i = 0; i < 2; i++) {
            if (ws[i] && km__claim(ws[i]->g, KM__WAKE_CLOSED)) {
                ws[i]->g->schedlink = woken;
                woken = ws[i]->g;
            }
        }
        pd->rw = pd->ww = NULL;
        /* No EPOLL_CTL_DEL: close() drops the registration (and should the
         * file live on through a dup, its events carry the old seq and
         * are ignored). One system call less per connection. */
        pd->registered = false;
        pd->nonblock = false;
        pd->rready = pd->wready = pd->rhup = false;
        pd->seq++;
        rc = close(fd) ? -errno : 0;
        km__lock_release(&pd->lock);
    } else {
        rc = close(fd) ? -errno : 0;
    }
    while (woken) {
        km__g *g = woken;
        woken = g->schedlink;
        km__ready(g);
    }
    return rc == -EINTR ? 0 : rc;   /* Linux frees the fd even on EINTR */
}
