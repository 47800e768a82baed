/* SPDX-License-Identifier: MIT */
/* Runtime internals shared by the scheduler, timers, channels and sync. */
#ifndef KM_RT_INT_H
#define KM_RT_INT_H

#include <kumo/rt.h>
#include <kumo/group.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "ctx.h"
#include "lock.h"

#if defined(__SANITIZE_ADDRESS__)
#define KM_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define KM_TSAN 1
#endif

#define KM__LIKELY(x)   __builtin_expect(!!(x), 1)
#define KM__UNLIKELY(x) __builtin_expect(!!(x), 0)

typedef struct km__g km__g;
typedef struct km__p km__p;
typedef struct km__timer km__timer;

/* ---- allocation ---- */
#include "alloc.h"
/* Notes n bytes just freed that will stay unused for long (buffers of a
 * lean stream); every KM__TRIM_EVERY such bytes, libc's heap gives its free
 * pages back to the kernel (malloc_trim), since long-lived small objects
 * between them would otherwise pin them. */
#define KM__TRIM_EVERY (4u << 20)
void  km__release_freed(size_t n);
/* km_blocking with a choice: cancellable false waits for fn to return even
 * when the caller's group is cancelled, so arg may live on the caller's
 * stack (what the library's own offloaded calls need). */
int   km__blocking(km_fn *fn, void *arg, bool cancellable);
/* Creates dir and its missing parents (mode 0755, as mkdir -p). 0 or -errno. */
int   km__mkdirs(const char *dir);
/* A goroutine running a call under a group (km_group_run). */
typedef struct km__runner {
    km__g             *g;
    struct km__runner *next, *prev;
} km__runner;

/* Defined here so that a group scoped to one call can live on its caller's
 * stack (km__group_init/km__group_fini): the timeout middleware makes one
 * per request and must not allocate. */
struct km_group {
    km__lock    lock;           /* members, children, runners */
    atomic_int  cancelled;
    int64_t     deadline;       /* effective: min with the ancestors' */
    km_group   *parent;
    km_group   *children, *sibling_next, *sibling_prev;
    km__g      *members;
    km__runner *runners;
    atomic_long nmembers;
};
/* km_group_new and km_group_free without the allocation. fini is -EBUSY,
 * and leaves g in place, while it has members, children or runners. */
void  km__group_init(km_group *g, km_group *parent, int64_t deadline);
int   km__group_fini(km_group *g);
/* Makes g, idle (no members, children or runners) and still under its
 * parent, new again with this deadline: fini and init without the
 * parent's lock. */
void  km__group_rearm(km_group *g, int64_t deadline);
/* km_group_run without the closing km_group_err (and its clock read), for
 * callers that only sometimes need it. -EINVAL or -EPERM as km_group_run. */
int   km__group_run(km_group *g, km_fn *fn, void *arg);
/* Prints "kumo: fatal: ..." and aborts: for misuse Go would panic on. */
_Noreturn void km__fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- timers (timer.c) ---- */
/* A pending deadline, embedded in its owner (every G has one). fire runs
 * on a worker under the timer lock, at most once per arming, and must not
 * take other runtime locks; the G it returns is made runnable afterwards. */
struct km__timer {
    int64_t when;
    int32_t idx;                /* heap slot, -1 when not armed */
    km__g *(*fire)(km__timer *t);  /* returns a G to make runnable, or NULL */
};
/* Arms t for when. 0, or -ENOMEM when the heap cannot grow (t not armed). */
int     km__timer_add(km__timer *t, int64_t when);
/* Disarms t; returns 1 if it was still pending, 0 if it fired or was not armed. */
int     km__timer_del(km__timer *t);
/* Fires every timer due at now; returns how many fired. */
int     km__timers_run(int64_t now);
/* Earliest pending deadline, or KM_FOREVER. Lock-free read. */
int64_t km__timers_next(void);
void    km__timers_reset(void);

/* ---- goroutines ---- */
enum km__gstate {
    KM__G_FREE = 0,   /* stack in a cache; zero so released stacks read as free */
    KM__G_RUNNABLE,
    KM__G_RUNNING,
    KM__G_WAITING,
    KM__G_DEAD,
};

/* Wake tokens (km__g.wake). A parked goroutine's token is ARMED; whoever
 * changes it first by CAS owns the wake-up and must make the G runnable;
 * everybody else backs off. A positive token is 1 + the index of the clause
 * (select case) that completed. */
#define KM__WAKE_IDLE     INT32_MIN
#define KM__WAKE_ARMED    0
#define KM__WAKE_TIMEOUT  (-1)
#define KM__WAKE_CANCEL   (-2)
#define KM__WAKE_SIGNAL   (-3)  /* generic: the object the G waits on woke it */
#define KM__WAKE_ARMED_HARD (-4) /* armed, and group cancellation must not wake it */
#define KM__WAKE_NOMEM    (-5)  /* the park's deadline could not be armed */

/* A goroutine. Its stack is attached at spawn, so that a spawn without
 * memory fails there with -ENOMEM instead of the first run failing where
 * nobody can be told; it is detached when the goroutine exits, so a
 * spawn-and-exit loop keeps reusing the same warm stack. */
struct km__g {
    km__ctx     ctx;
    km__g      *schedlink;      /* run queues, wait lists */
    km__g      *gq_last;        /* global queue batch head: its last g, */
    int         gq_n;           /* and its length (see runq.c) */
    atomic_int  onstack;        /* 1 while a CPU still runs on its stack */
    atomic_int  wake;           /* wake token, see above */
    atomic_int  state;          /* enum km__gstate, for the dump and stats */
    uint32_t    flags;
    uint64_t    id;
    km_fn      *fn;
    void       *arg;
    char       *stack_lo;       /* lowest byte of the stack, set at spawn */
    size_t      stack_size;     /* its usable bytes */
    size_t      stack_want;     /* requested size, 0: default */
    char       *map_lo;         /* the mapping, for solo stacks */
    size_t      map_size;
    const char *name;
    const char *wait_reason;    /* "chan receive", "sleep", ... */
    const void *wait_obj;
    int64_t     wait_since;
    km__timer   timer;          /* deadline of the current park */
    void       *group;          /* cancellation group, or NULL */
    km__g      *group_next, *group_prev;
    void       *tsan_fiber;
    unsigned    vg_stack_id;
};
#define KM__G_SOLO    1u        /* stack has its own mmap (custom size, guard page) */
#define KM__G_STARTED 2u        /* has a stack and a context */

/* The running goroutine, or NULL on a thread that is not running one. */
km__g *km__curg(void);
/* km_go_opt without its backlog check (km__spawn_backoff), for callers that
 * must not yield before they finish (km_group_go); they call it after. */
int  km__go_quiet(km_fn *fn, void *arg, const km_go_opts *opts);
void km__spawn_backoff(void);

/* ---- parking ---- */
/* Prepares the current G to park: token ARMED, reason for the dump. */
/* cancellable false arms the G so that only its waker (or its own
 * deadline) can claim it: a group's cancellation passes it by, which is
 * what non-cancellable waits (a mutex, an offloaded call whose argument
 * lives on the caller's stack) rely on. Pass the same value to km__park. */
void km__park_arm(km__g *g, const char *reason, const void *obj, bool cancellable);
/* Parks until some waker claims the token; arms g->timer for deadline
 * (unless KM_FOREVER) and disarms it on return. A cancellable park also
 * ends with KM__WAKE_CANCEL when the G's group is cancelled (possibly
 * without switching), and with KM__WAKE_NOMEM, without switching, when
 * its deadline cannot be armed for want of memory. Returns the token. */
int  km__park(km__g *g, int64_t deadline, bool cancellable);
/* Claims a parked G's wake-up with token tok; true if this caller won and
 * must call km__ready(g) (after releasing its locks). */
static inline bool km__claim(km__g *g, int tok)
{
    int exp = KM__WAKE_ARMED;
    if (atomic_compare_exchange_strong_explicit(&g->wake, &exp, tok,
            memory_order_acq_rel, memory_order_acquire))
        return true;
    if (exp != KM__WAKE_ARMED_HARD || tok == KM__WAKE_CANCEL)
        return false;
    return atomic_compare_exchange_strong_explicit(&g->wake, &exp, tok,
               memory_order_acq_rel, memory_order_acquire);
}
/* Makes a claimed G runnable (runnext of this worker when on one). */
void km__ready(km__g *g);
/* The monotonic clock as of the last kernel tick: cheap, never ahead of
 * km_now(), a tick or a few behind. */
int64_t km__now_coarse(void);
/* The deadline ns from now. From the coarse clock for timeouts of a second
 * or more (at most a tick late, a few milliseconds early after an idle
 * CPU); from km_now() for shorter ones. For per-request I/O timeouts. */
int64_t km__deadline_after(int64_t ns);
/* True if deadline is set and certainly past. One that passed since the
 * last tick may read as not yet expired: the waiter then parks and its
 * timer, which uses km_now(), fires at once. */
static inline bool km__expired(int64_t deadline)
{
    return deadline != KM_FOREVER && deadline <= km__now_coarse();
}
/* Error for a park that ended by token tok instead of by its object. */
static inline int km__wake_err(int tok)
{
    return tok == KM__WAKE_CANCEL ? -ECANCELED : tok == KM__WAKE_NOMEM ? -ENOMEM : -ETIMEDOUT;
}

/* ---- cancellation hook (cancel.c) ---- */
/* -ECANCELED if the current G's group is cancelled, else 0. Called between
 * arming and parking; the canceller claims armed members' tokens. */
int  km__cancel_check(km__g *g);
void km__cancel_leave(km__g *g);
/* Effective deadline of g's group, or KM_FOREVER. */
int64_t km__cancel_deadline(km__g *g);
/* Puts child in parent's group (called at spawn). */
void km__cancel_inherit(km__g *child, km__g *parent);

/* ---- random ---- */
uint32_t km__rand(void);        /* per-worker fast PRNG */
uint64_t km__rand64(void);      /* the same, 64 bits at a time */
/* The calling worker's generator state (a thread's own off the workers),
 * seeded: several draws for one lookup, with no call that may park in
 * between. */
uint64_t *km__rand_state(void);
/* The next 64 bits from a state (wyrand: fast, and seeded from the kernel
 * so that two processes, and their trace ids, never share a sequence). */
static inline uint64_t km__rand_next(uint64_t *s)
{
    *s += 0xa0761d6478bd642full;
    __uint128_t m = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
    return (uint64_t)(m >> 64) ^ (uint64_t)m;
}
uint64_t km__rand_seed(void);   /* from getrandom(2) */
uint32_t km__randn(uint32_t n); /* uniform in [0, n) */

/* ---- goroutine structs and stacks (gpool.c, stack.c) ---- */
/* A zeroed G, or NULL. G structs are never given back to the OS. */
km__g *km__g_alloc(km__p *p);
void   km__g_release(km__p *p, km__g *g);
void   km__g_drop_cache(km__p *p);
/* Calls fn on every G ever allocated (free ones have state KM__G_FREE). */
void   km__g_each(void (*fn)(km__g *g, void *ud), void *ud);

size_t km__stack_default(void);
int    km__stack_config(void);  /* reads KM_STACK_SIZE / KM_STACK_GUARD */
/* At spawn: secures g's stack of g->stack_want bytes (0: default). A
 * default-size stack is promised (counted against the slots mapped, a
 * slab more mapped when they are all promised), so a queued goroutine
 * holds no memory; any other size is mapped now. 0 or -ENOMEM. */
int    km__stack_reserve(km__g *g);
/* At first run: the promised stack itself. -ENOMEM only when every free
 * slot sits in another worker's cache and no slab can be mapped; those
 * workers then give their caches back (km__stack_starved). */
int    km__stack_attach(km__p *p, km__g *g);
/* At exit: the stack back to the pool, its promise kept no more. */
void   km__stack_detach(km__p *p, km__g *g);
/* Whether a first run found no stack: idle workers give their caches back. */
bool   km__stack_starved(void);
/* Gives cached stacks' memory back to the OS; bounded work. */
void   km__stack_scavenge(void);
/* Aborts with a message if g overflowed its stack. exiting: also check the
 * canary zone (a deep call that has since returned). */
void   km__stack_check(km__g *g, bool exiting);
void   km__stack_drop_cache(km__p *p);

#endif
