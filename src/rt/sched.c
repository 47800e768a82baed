/* SPDX-License-Identifier: MIT */
/* The scheduler loop: finding work, stealing it, and sleeping when idle. */
#include "sched-int.h"
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

struct km__sched km__s;

void km__execute(km__p *p, km__g *g);

static void futex_wait(atomic_uint *w, unsigned val)
{
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- idle list (scheduler lock held) ---- */

static void pidle_put(km__p *p)
{
    p->idle = true;
    p->idlenext = km__s.idle;
    km__s.idle = p;
    atomic_fetch_add(&km__s.npidle, 1);
}

static void pidle_remove(km__p *p)
{
    for (km__p **pp = &km__s.idle; *pp; pp = &(*pp)->idlenext) {
        if (*pp == p) {
            *pp = p->idlenext;
            p->idle = false;
            atomic_fetch_sub(&km__s.npidle, 1);
            return;
        }
    }
}

/* Takes an idle P, preferring one not blocked in the poller. */
static km__p *pidle_get(void)
{
    km__p *p = km__s.idle;
    if (p && p == km__s.poller && p->idlenext)
        p = p->idlenext;
    if (p)
        pidle_remove(p);
    return p;
}

static void set_poller(km__p *p)
{
    km__s.poller = p;
    atomic_store(&km__s.has_poller, p != NULL);
}

/* Waking the poller: its epoll_wait returns once the eventfd is readable.
 * Until it has, no other P may become the poller: epoll wakes one waiter
 * per event, and a second poller could take the wake-up meant for the
 * first (and read the eventfd), leaving the first asleep in epoll though
 * taken off the idle list and counted as spinning, so that no later wakep
 * would wake anyone. */
static void wake_locked(km__p *p)
{
    if (p == km__s.poller) {
        set_poller(NULL);
        km__s.leaving = p;
        km__poll_break();
    } else {
        atomic_fetch_add(&p->wakeseq, 1);
        futex_wake(&p->wakeseq);
    }
}

/* Wakes an idle worker to look for work, unless one is already looking
 * (that one will find the new work, or wake another when it finds some). */
void km__wakep(void)
{
    if (atomic_load(&km__s.npidle) == 0 || atomic_load(&km__s.nspinning) != 0)
        return;
    int zero = 0;
    if (!atomic_compare_exchange_strong(&km__s.nspinning, &zero, 1))
        return;
    km__lock_acquire(&km__s.lock);
    km__p *p = pidle_get();
    if (p) {
        p->spinning = true;
        wake_locked(p);
    }
    km__lock_release(&km__s.lock);
    if (!p)
        atomic_fetch_sub(&km__s.nspinning, 1);
}

/* A new earliest timer: the poller must shorten its sleep, or, when no
 * worker sleeps with a timeout, an idle one must wake to become the poller. */
void km__sched_timer_changed(void)
{
    if (atomic_load(&km__s.npidle) == 0)
        return;     /* running workers check timers between goroutines */
    km__lock_acquire(&km__s.lock);
    if (km__s.poller) {
        km__poll_break();
    } else {
        km__p *p = pidle_get();
        if (p)
            wake_locked(p);
    }
    km__lock_release(&km__s.lock);
}

void km__sched_need_poller(void)
{
    if (atomic_load(&km__s.npidle) == 0 || atomic_load(&km__s.has_poller))
        return;
    km__lock_acquire(&km__s.lock);
    if (!km__s.poller) {
        km__p *p = pidle_get();
        if (p)
            wake_locked(p);     /* finds no work, becomes the poller */
    }
    km__lock_release(&km__s.lock);
}

/* Queues goroutines that the poller made runnable on p; returns the first
 * to run it at once, or NULL. The list is in the order the fds became
 * ready: the first is the one that waited longest. */
static km__g *inject(km__p *p, km__g *list)
{
    if (!list)
        return NULL;
    km__g *first = list;
    list = list->schedlink;
    bool more = list != NULL;
    while (list) {
        km__g *g = list;
        list = g->schedlink;
        atomic_store_explicit(&g->state, KM__G_RUNNABLE, memory_order_relaxed);
        km__runq_put(p, g, false);
    }
    atomic_store_explicit(&first->state, KM__G_RUNNABLE, memory_order_relaxed);
    if (more)
        km__wakep();
    return first;
}

/* As inject, for a caller that cannot run the first at once: queues the
 * whole list in readiness order, so that the goroutine that waited
 * longest does not go behind all the others it was found with. */
static void inject_all(km__p *p, km__g *list)
{
    bool more = list && list->schedlink;
    while (list) {
        km__g *g = list;
        list = g->schedlink;
        atomic_store_explicit(&g->state, KM__G_RUNNABLE, memory_order_relaxed);
        km__runq_put(p, g, false);
    }
    if (more)
        km__wakep();    /* as inject: one goroutine needs no second worker */
}

/* A look at the fds without blocking, when some goroutine waits on one and
 * no worker is blocked in epoll already: the goroutines it made runnable,
 * in readiness order, or NULL. */
static km__g *poll_ready(void)
{
    if (km__poll_waiters() == 0 || atomic_load(&km__s.has_poller))
        return NULL;
    bool woken = false;
    return km__poll_wait(0, false, &woken);
}

static void reset_spinning(km__p *p)
{
    p->spinning = false;
    /* The last spinner found work: there may be more, keep one looking. */
    if (atomic_fetch_sub(&km__s.nspinning, 1) == 1)
        km__wakep();
}

static km__g *steal_work(km__p *p)
{
    int n = km__s.nprocs;
    for (int round = 0; round < 4; round++) {
        bool last = round == 3;
        int start = (int)km__randn((uint32_t)n);
        for (int i = 0; i < n; i++) {
            km__p *v = &km__s.allp[(start + i) % n];
            if (v == p)
                continue;
            /* runnext belongs to a peer the victim just woke and will run
             * right away; take it only as a last resort, after giving the
             * victim a moment (as Go does). */
            bool next = last && atomic_load_explicit(&v->curg, memory_order_relaxed);
            if (next) {
                int64_t until = km_now() + 3000;
                while (km_now() < until && !km__runq_empty(v) &&
                       atomic_load_explicit(&v->runnext, memory_order_relaxed))
                    km__cpu_relax();
            }
            km__g *g = km__runq_steal(p, v, next);
            if (g)
                return g;
        }
        if (atomic_load(&km__s.gq_size) > 0)
            return NULL;    /* the caller looks there */
    }
    return NULL;
}

static bool any_runq_work(void)
{
    for (int i = 0; i < km__s.nprocs; i++)
        if (!km__runq_empty(&km__s.allp[i]))
            return true;
    return atomic_load(&km__s.gq_size) > 0;
}

/* Before the poller blocks, it may keep looking for a short while: on a
 * virtual machine waking from a blocked epoll_wait costs tens of
 * microseconds, far more than a request/response peer's reply usually
 * takes. Spinning pays only when the wait is short, so the poller keeps an
 * average of how long its recent spins waited (a spin that found nothing
 * counts its whole budget). It stops spinning when that average passes half
 * the budget and starts again when it falls below a quarter (the gap keeps
 * a request/response pair, where one side's blocking lengthens the other's
 * wait, from talking itself out of spinning over a hiccup). While stopped
 * it blocks at once and tries a spin every PROBE_EVERY idle periods. A
 * block longer than SPIN_FORGET_NS resets the average. Bounded, and only when goroutines wait on fds, so an
 * idle process still uses no CPU. */
int64_t km__poll_spin_ns = 50000;      /* KM_POLL_SPIN_US */

#define PROBE_EVERY     8
#define SPIN_FORGET_NS  1000000
static _Atomic int64_t spin_wait_avg;  /* ns; only the poller touches it */
static _Atomic unsigned spin_skipped;
static atomic_bool spin_off;

static void spin_record(int64_t waited)
{
    int64_t avg = atomic_load_explicit(&spin_wait_avg, memory_order_relaxed);
    atomic_store_explicit(&spin_wait_avg, avg + (waited - avg) / 8, memory_order_relaxed);
}

static km__g *poll_spin(bool *woken)
{
    if (km__poll_spin_ns <= 0 || km__poll_waiters() == 0)
        return NULL;
    int64_t avg = atomic_load_explicit(&spin_wait_avg, memory_order_relaxed);
    bool off = atomic_load_explicit(&spin_off, memory_order_relaxed);
    if (off != (off ? avg > km__poll_spin_ns / 4 : avg > km__poll_spin_ns / 2))
        atomic_store_explicit(&spin_off, off = !off, memory_order_relaxed);
    if (off) {
        unsigned n = atomic_load_explicit(&spin_skipped, memory_order_relaxed) + 1;
        atomic_store_explicit(&spin_skipped, n % PROBE_EVERY, memory_order_relaxed);
        if (n % PROBE_EVERY)
            return NULL;
    }
    int64_t start = km_now(), until = start + km__poll_spin_ns;
    do {
        km__g *list = km__poll_wait(0, true, woken);
        if (list || *woken) {
            spin_record(km_now() - start);
            return list;
        }
        int64_t next = km__timers_next();
        if (atomic_load(&km__s.gq_size) > 0 || (next != KM_FOREVER && next <= km_now()))
            return NULL;
    } while (km_now() < until);
    spin_record(km__poll_spin_ns);
    return NULL;
}

/* Blocks the idle P p until it is woken or, as the poller, a timer is due.
 * Returns false once p is no longer idle (woken, or stopping). */
static bool idle_sleep(km__p *p)
{
    km__lock_acquire(&km__s.lock);
    if (!p->idle || atomic_load(&km__s.stop)) {
        km__lock_release(&km__s.lock);
        return false;
    }
    int64_t next = km__timers_next();
    if (!km__s.poller && !km__s.leaving && (next != KM_FOREVER || km__poll_waiters() > 0)) {
        set_poller(p);
        km__lock_release(&km__s.lock);
        /* A wake-up taken while spinning (new work, an earlier timer)
         * means next is stale: return to the scheduler instead of blocking. */
        bool woken = false;
        km__g *list = poll_spin(&woken);
        if (!list && !woken) {
            int64_t start = km_now();
            list = km__poll_wait(next, true, &woken);
            /* After a real pause, traffic that resumes is learned afresh. */
            if (km_now() - start > SPIN_FORGET_NS) {
                atomic_store_explicit(&spin_wait_avg, 0, memory_order_relaxed);
                atomic_store_explicit(&spin_off, false, memory_order_relaxed);
            }
        }
        atomic_store_explicit(&p->st.polls,
            atomic_load_explicit(&p->st.polls, memory_order_relaxed) + 1, memory_order_relaxed);
        km__lock_acquire(&km__s.lock);
        if (km__s.poller == p)
            set_poller(NULL);
        if (km__s.leaving == p)
            km__s.leaving = NULL;
        if (p->idle)
            pidle_remove(p);
        /* Leaving the poller role while others sleep without a timeout:
         * hand it over so that pending timers keep firing. */
        if (km__s.idle && (km__timers_next() != KM_FOREVER || km__poll_waiters() > 0))
            wake_locked(pidle_get());
        km__lock_release(&km__s.lock);
        inject_all(p, list);
        return false;
    }
    unsigned seq = atomic_load(&p->wakeseq);
    km__lock_release(&km__s.lock);
    futex_wait(&p->wakeseq, seq);
    return true;
}

/* Finds a goroutine to run, sleeping while there is none. NULL on stop. */
static km__g *find_runnable(km__p *p)
{
    km__g *g;
    for (;;) {
        if (atomic_load_explicit(&km__s.stop, memory_order_relaxed))
            return NULL;
        int64_t next = km__timers_next();
        if (next != KM_FOREVER && next <= km_now())
            km__timers_run(km_now());
        /* Now and then the fds and the global queue first, so that neither
         * starves behind a busy local queue. */
        if (p->schedtick % 61 == 0 && (g = poll_ready())) {
            inject_all(p, g);
            p->schedtick++;
        }
        if (p->schedtick % 61 == 0 && atomic_load_explicit(&km__s.gq_size, memory_order_relaxed) > 0) {
            if ((g = km__globq_get(p, 1)))
                return g;
        }
        if ((g = km__runq_get(p)))
            return g;
        if (atomic_load_explicit(&km__s.gq_size, memory_order_relaxed) > 0) {
            if ((g = km__globq_get(p, 0)))
                return g;
        }
        if ((g = inject(p, poll_ready())))
            return g;
        /* Limit spinners to half the busy workers: stealing is for spreading
         * work, not for burning the CPUs that do it. */
        int busy = km__s.nprocs - atomic_load(&km__s.npidle);
        if (km__s.nprocs > 1 && (p->spinning || 2 * atomic_load(&km__s.nspinning) < busy)) {
            if (!p->spinning) {
                p->spinning = true;
                atomic_fetch_add(&km__s.nspinning, 1);
            }
            if ((g = steal_work(p)))
                return g;
            if (atomic_load(&km__s.gq_size) > 0)
                continue;
        }
        /* Nothing anywhere: go idle, then look once more so that work
         * queued while we were deciding is not left behind. */
        km__lock_acquire(&km__s.lock);
        if (atomic_load(&km__s.stop)) {
            km__lock_release(&km__s.lock);
            return NULL;
        }
        if ((g = km__globq_get_locked(p, 0))) {
            km__lock_release(&km__s.lock);
            return g;
        }
        /* Stop spinning and go idle in one step under the lock, so that a
         * waker (which marks the P it wakes as spinning) never races us. */
        bool was_spinning = p->spinning;
        if (was_spinning) {
            p->spinning = false;
            atomic_fetch_sub(&km__s.nspinning, 1);
        }
        pidle_put(p);
        km__lock_release(&km__s.lock);
        if ((was_spinning && any_runq_work()) ||
            ((next = km__timers_next()) != KM_FOREVER && next <= km_now())) {
            km__lock_acquire(&km__s.lock);
            if (p->idle) {
                pidle_remove(p);
                if (was_spinning) {
                    p->spinning = true;
                    atomic_fetch_add(&km__s.nspinning, 1);
                }
            }
            km__lock_release(&km__s.lock);
            continue;
        }
        if (KM__UNLIKELY(km__stack_starved()))
            km__stack_drop_cache(p);    /* a first run waits for a stack */
        km__stack_scavenge();
        while (idle_sleep(p))
            ;
    }
}

/* A worker's scheduler loop, on the thread's own stack (g0). */
void km__schedule(km__p *p)
{
    km__g *g;
    while ((g = find_runnable(p))) {
        if (p->spinning)
            reset_spinning(p);
        km__execute(p, g);
    }
}

/* Wakes every worker so that they notice stop. */
void km__sched_wake_all(void)
{
    km__lock_acquire(&km__s.lock);
    for (int i = 0; i < km__s.nprocs; i++) {
        km__p *p = &km__s.allp[i];
        atomic_fetch_add(&p->wakeseq, 1);
        futex_wake(&p->wakeseq);
    }
    km__poll_break();
    km__lock_release(&km__s.lock);
}
