/* SPDX-License-Identifier: MIT */
/* Goroutine life cycle: spawn, switch, park, ready, yield, exit. */
#include "sched-int.h"
#include "switch.h"
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0
#define VALGRIND_STACK_DEREGISTER(id) ((void)0)
#endif

static __thread km__p *tls_p;

/* Why noipa: a goroutine may resume on another thread, so the address of a
 * thread-local must be recomputed after every switch; a call the compiler
 * cannot see through guarantees that. */
#ifdef __clang__
__attribute__((noinline, optnone))
#else
__attribute__((noipa))
#endif
km__p *km__getp(void) { return tls_p; }

/* The calling worker's index, for data sharded per worker (metrics), or -1
 * off the workers. Why the P's id: a worker owns its P for life, and a
 * goroutine cannot move to another worker between reading this and a store
 * that follows without a call that may park, so a shard indexed by it has
 * a single writer. Here, next to the thread-local, so that it costs one
 * call the compiler cannot see through (see km__getp), not two. */
#ifdef __clang__
__attribute__((noinline, optnone))
#else
__attribute__((noipa))
#endif
int km__worker_index(void)
{
    km__p *p = tls_p;
    return p ? p->id : -1;
}

void km__setp(km__p *p) { tls_p = p; }

km__g *km__curg(void)
{
    km__p *p = km__getp();
    return p ? atomic_load_explicit(&p->curg, memory_order_relaxed) : NULL;
}

static inline void stat_inc(atomic_ulong *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Switches from the running G back to its worker's scheduler loop. */
static void switch_to_g0(km__g *g, int why)
{
    km__p *p = km__getp();
    p->after = why;
    p->back = g;
    km__switch(&g->ctx, &p->g0, p->asan_lo, p->asan_size, p->tsan_g0, why == KM__SW_EXIT);
}

/* Run right after a goroutine resumes: if it was switched to directly by
 * another goroutine (see park_switch), that one's stack is now free. */
static inline void finish_switch(void)
{
    km__p *p = km__getp();
    km__g *prev = p->prev;
    if (prev) {
        p->prev = NULL;
        km__stack_check(prev, false);
        atomic_store_explicit(&prev->onstack, 0, memory_order_release);
    }
}

/* Parks g. When this worker's runnext holds a goroutine that has run
 * before (the peer g just woke, in a ping-pong), switch straight to it:
 * one context switch instead of two through the scheduler. Every 1,024th
 * hand-off still goes through the scheduler, for timers, polls and
 * fairness. */
static void park_switch(km__g *g)
{
    km__p *p = km__getp();
    km__g *next = NULL;
    if (p->inherited < 1023 && atomic_load_explicit(&p->runnext, memory_order_relaxed) &&
        !atomic_load_explicit(&km__s.stop, memory_order_relaxed)) {
        next = atomic_exchange_explicit(&p->runnext, NULL, memory_order_acq_rel);
        if (next && !(next->flags & KM__G_STARTED)) {
            km__runq_put(p, next, true);    /* a new goroutine: via g0 */
            next = NULL;
        }
    }
    if (!next) {
        switch_to_g0(g, KM__SW_PARK);
        finish_switch();
        return;
    }
    for (unsigned spins = 0; atomic_load_explicit(&next->onstack, memory_order_acquire); spins++) {
        if (spins < 128) km__cpu_relax(); else sched_yield();
    }
    atomic_store_explicit(&next->onstack, 1, memory_order_relaxed);
    atomic_store_explicit(&next->state, KM__G_RUNNING, memory_order_relaxed);
    atomic_store_explicit(&p->curg, next, memory_order_relaxed);
    p->inherited++;
    stat_inc(&p->st.switches);
    p->prev = g;
    km__switch(&g->ctx, &next->ctx, next->stack_lo, next->stack_size, next->tsan_fiber, false);
    finish_switch();
}

static _Noreturn void g_exit(km__g *g)
{
    km__cancel_leave(g);
    atomic_store_explicit(&g->state, KM__G_DEAD, memory_order_relaxed);
    stat_inc(&km__getp()->st.exited);
    switch_to_g0(g, KM__SW_EXIT);
    __builtin_unreachable();
}

static void g_entry(void *arg)
{
    km__switch_entered();
    km__g *g = arg;
    g->fn(g->arg);
    g_exit(g);
}

static uint64_t new_id(km__p *p)
{
    if (!p)
        return atomic_fetch_add(&km__s.next_id, 1);
    if (p->id_next == p->id_end) {
        p->id_next = atomic_fetch_add(&km__s.next_id, 64);
        p->id_end = p->id_next + 64;
    }
    return p->id_next++;
}

#define SPAWN_BACKLOG (16 * KM__RUNQ)   /* queued globally before a spawner yields */

int km_go(km_fn *fn, void *arg)
{
    return km_go_opt(fn, arg, NULL);
}

/* A goroutine spawning far faster than the workers run what it spawns
 * lends its own worker a hand (Go's preemption of a spawning loop has the
 * same effect): the backlog, and the memory it holds, stay bounded and
 * every worker runs goroutines instead of one only queueing them. */
void km__spawn_backoff(void)
{
    if (atomic_load_explicit(&km__s.gq_size, memory_order_relaxed) > SPAWN_BACKLOG && km__curg())
        km_yield();
}

int km__go_quiet(km_fn *fn, void *arg, const km_go_opts *opts)
{
    if (!fn)
        return -EINVAL;
    if (!atomic_load_explicit(&km__s.running, memory_order_acquire))
        return -ESRCH;
    size_t size = opts ? opts->stack_size : 0;
    if (size && (size < 16384 || size > ((size_t)1 << 30)))
        return -EINVAL;
    km__p *p = km__getp();
    km__g *g = km__g_alloc(p);
    if (!g)
        return -ENOMEM;
    /* The stack is secured here, not at first run: on g0 nobody could be
     * told that there is none, and the spawner can refuse the work. */
    g->stack_want = size;
    if (KM__UNLIKELY(km__stack_reserve(g))) {
        km__g_release(p, g);
        return -ENOMEM;
    }
    g->fn = fn;
    g->arg = arg;
    g->name = opts ? opts->name : NULL;
    g->id = new_id(p);
    atomic_store_explicit(&g->wake, KM__WAKE_IDLE, memory_order_relaxed);
    km__g *parent = p ? atomic_load_explicit(&p->curg, memory_order_relaxed) : NULL;
    g->group = NULL;
    if (parent && parent->group)
        km__cancel_inherit(g, parent);
    atomic_store_explicit(&g->state, KM__G_RUNNABLE, memory_order_relaxed);
    if (p) {
        stat_inc(&p->st.spawned);
        km__runq_put(p, g, true);
    } else {
        atomic_fetch_add_explicit(&km__s.foreign_spawned, 1, memory_order_relaxed);
        km__lock_acquire(&km__s.lock);
        km__globq_put_locked(g);
        km__lock_release(&km__s.lock);
    }
    km__wakep();
    return 0;
}

int km_go_opt(km_fn *fn, void *arg, const km_go_opts *opts)
{
    int rc = km__go_quiet(fn, arg, opts);
    if (!rc)
        km__spawn_backoff();
    return rc;
}

/* First run of g (on g0): the stack secured at spawn, a context, the
 * tools' fiber records. false in the one case a promised stack is not at
 * hand (see km__stack_attach): g waits for one. */
static bool g_start(km__p *p, km__g *g)
{
    if (KM__UNLIKELY(km__stack_attach(p, g)))
        return false;
    km__ctx_make(&g->ctx, g->stack_lo, g->stack_size, g_entry, g);
    g->vg_stack_id = VALGRIND_STACK_REGISTER(g->stack_lo, g->stack_lo + g->stack_size);
#ifdef KM_TSAN
    g->tsan_fiber = __tsan_create_fiber(0);
#endif
    g->flags |= KM__G_STARTED;
    return true;
}

/* Called on g0 once a goroutine has exited: stack and G can be reused. */
static void g_free(km__p *p, km__g *g)
{
#ifdef KM_TSAN
    __tsan_destroy_fiber(g->tsan_fiber);
    g->tsan_fiber = NULL;
#endif
    VALGRIND_STACK_DEREGISTER(g->vg_stack_id);
    km__stack_check(g, true);
    km__stack_detach(p, g);
    km__g_release(p, g);
}

/* Runs g on p until it parks, yields or exits (called on g0). */
void km__execute(km__p *p, km__g *g)
{
    /* A waker may have queued g before g finished switching out on the
     * worker that parked it; wait until its registers are saved. */
    for (unsigned spins = 0; atomic_load_explicit(&g->onstack, memory_order_acquire); spins++) {
        if (spins < 128) km__cpu_relax(); else sched_yield();
    }
    atomic_store_explicit(&g->onstack, 1, memory_order_relaxed);
    atomic_store_explicit(&g->state, KM__G_RUNNING, memory_order_relaxed);
    if (KM__UNLIKELY(!(g->flags & KM__G_STARTED)) && !g_start(p, g)) {
        /* Back in the queue behind the goroutines that will give stacks
         * back; idle workers return theirs meanwhile. */
        atomic_store_explicit(&g->onstack, 0, memory_order_release);
        atomic_store_explicit(&g->state, KM__G_RUNNABLE, memory_order_relaxed);
        km__runq_put(p, g, false);
        km__wakep();
        sched_yield();
        return;
    }
    atomic_store_explicit(&p->curg, g, memory_order_relaxed);
    /* A peer woken into runnext continues the current round (as Go's
     * inherited time slice): a ping-pong pair does not trigger the
     * fairness checks every 61 hops, only every 61 rounds of 1,024. */
    if (!p->from_next || ++p->inherited == 1024) {
        p->schedtick++;
        p->inherited = 0;
    }
    p->from_next = false;
    stat_inc(&p->st.switches);
    km__switch(&p->g0, &g->ctx, g->stack_lo, g->stack_size, g->tsan_fiber, false);
    /* Not necessarily g: it may have handed the worker to its peer
     * directly, and the peer is the one coming back. */
    g = p->back;
    atomic_store_explicit(&p->curg, NULL, memory_order_relaxed);
    if (p->after != KM__SW_EXIT)
        km__stack_check(g, false);
    switch (p->after) {
    case KM__SW_PARK:
        atomic_store_explicit(&g->onstack, 0, memory_order_release);
        break;
    case KM__SW_YIELD:
        atomic_store_explicit(&g->onstack, 0, memory_order_release);
        atomic_store_explicit(&g->state, KM__G_RUNNABLE, memory_order_relaxed);
        if (km__runq_put(p, g, false))
            km__wakep();
        break;
    case KM__SW_EXIT:
        g_free(p, g);
        break;
    }
}

static int64_t coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void km__park_arm(km__g *g, const char *reason, const void *obj, bool cancellable)
{
    g->wait_reason = reason;
    g->wait_obj = obj;
    g->wait_since = coarse_now();
    atomic_store_explicit(&g->state, KM__G_WAITING, memory_order_relaxed);
    /* seq_cst: pairs with cancel */
    atomic_store(&g->wake, cancellable ? KM__WAKE_ARMED : KM__WAKE_ARMED_HARD);
}

static km__g *g_timer_fire(km__timer *t)
{
    km__g *g = (km__g *)((char *)t - __builtin_offsetof(km__g, timer));
    return km__claim(g, KM__WAKE_TIMEOUT) ? g : NULL;
}

int km__park(km__g *g, int64_t deadline, bool cancellable)
{
    int tok;
    bool group_deadline = false;
    if (cancellable && g->group) {
        /* A group's deadline is enforced where members block: it becomes
         * the park's deadline when it is the earlier one. */
        int64_t gd = km__cancel_deadline(g);
        if (gd != KM_FOREVER && (deadline == KM_FOREVER || gd < deadline)) {
            deadline = gd;
            group_deadline = true;
        }
    }
    /* Armed first, then the cancellation check: a canceller either sees
     * the armed token or we see its flag (both sides are seq_cst). */
    if (cancellable && g->group && km__cancel_check(g)) {
        if (km__claim(g, KM__WAKE_CANCEL)) {
            tok = KM__WAKE_CANCEL;
            goto out;
        }
        /* Somebody claimed us first and is about to ready us: park to
         * absorb that wake-up, whatever it was for. */
        deadline = KM_FOREVER;
    }
    if (deadline != KM_FOREVER) {
        g->timer.fire = g_timer_fire;
        if (KM__UNLIKELY(km__timer_add(&g->timer, deadline))) {
            /* No memory for the deadline: the wait fails rather than
             * risking one that never ends. As for cancellation, a waker
             * that claimed us first is absorbed by a park. */
            if (km__claim(g, KM__WAKE_NOMEM)) {
                tok = KM__WAKE_NOMEM;
                goto out;
            }
            deadline = KM_FOREVER;
        }
    }
    stat_inc(&km__getp()->st.parks);
    park_switch(g);
    tok = atomic_load_explicit(&g->wake, memory_order_acquire);
    if (deadline != KM_FOREVER && tok != KM__WAKE_TIMEOUT)
        km__timer_del(&g->timer);
    if (tok == KM__WAKE_TIMEOUT && group_deadline)
        tok = KM__WAKE_CANCEL;
out:
    atomic_store_explicit(&g->wake, KM__WAKE_IDLE, memory_order_relaxed);
    atomic_store_explicit(&g->state, KM__G_RUNNING, memory_order_relaxed);
    g->wait_reason = NULL;
    return tok;
}

void km__ready(km__g *g)
{
    atomic_store_explicit(&g->state, KM__G_RUNNABLE, memory_order_relaxed);
    km__p *p = km__getp();
    if (p) {
        stat_inc(&p->st.readies);
        /* A peer woken into runnext needs no other worker: this one runs it
         * as soon as the current goroutine blocks. Only displaced, stealable
         * work is worth waking an idle worker for. */
        if (km__runq_put(p, g, true))
            km__wakep();
        return;
    }
    km__lock_acquire(&km__s.lock);
    km__globq_put_locked(g);
    km__lock_release(&km__s.lock);
    km__wakep();
}

void km_yield(void)
{
    km__g *g = km__curg();
    if (!g) {
        sched_yield();
        return;
    }
    switch_to_g0(g, KM__SW_YIELD);
}

uint64_t km_goid(void)
{
    km__g *g = km__curg();
    return g ? g->id : 0;
}

int64_t km_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The monotonic clock as of the kernel's last tick: the vDSO returns it
 * without reading the TSC, several times faster than km_now(). It is
 * never ahead of km_now(); it trails by a tick, or by a few after the
 * CPU was idle. */
int64_t km__now_coarse(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t km__deadline_after(int64_t ns)
{
    /* After an idle period the coarse clock can trail by a few ticks
     * (milliseconds): harmless for timeouts of a second or more, not for
     * shorter ones. */
    if (ns < 1000000000)
        return km_now() + ns;
    static _Atomic int64_t tick;
    int64_t t = atomic_load_explicit(&tick, memory_order_relaxed);
    if (!t) {
        struct timespec r;
        t = clock_getres(CLOCK_MONOTONIC_COARSE, &r) ? 10000000
                                                     : (int64_t)r.tv_sec * 1000000000 + r.tv_nsec;
        atomic_store_explicit(&tick, t, memory_order_relaxed);
    }
    return km__now_coarse() + t + ns;
}

uint64_t km__rand_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
        s = (uint64_t)km_now() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&s;
    return s;
}

uint64_t *km__rand_state(void)
{
    km__p *p = km__getp();
    static _Thread_local uint64_t fallback;
    uint64_t *s = p ? &p->rng : &fallback;
    if (!*s)
        *s = km__rand_seed() | 1;
    return s;
}

uint64_t km__rand64(void)
{
    return km__rand_next(km__rand_state());
}

uint32_t km__rand(void)
{
    return (uint32_t)km__rand64();
}

uint32_t km__randn(uint32_t n)
{
    return (uint32_t)(((uint64_t)km__rand() * n) >> 32);
}
