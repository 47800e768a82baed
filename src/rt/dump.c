/* SPDX-License-Identifier: MIT */
/* Diagnostics: runtime statistics and the goroutine dump (also on SIGQUIT). */
#include <kumo/debug.h>
#include "sched-int.h"
#include <dlfcn.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long km__offload_queued(void);
int  km__offload_threads(void);

static uint64_t ld(atomic_ulong *c) { return atomic_load_explicit(c, memory_order_relaxed); }

int km_stats_read(km_stats *out)
{
    if (!out)
        return -EINVAL;
    if (!atomic_load(&km__s.running))
        return -ESRCH;
    memset(out, 0, sizeof *out);
    out->procs = km__s.nprocs;
    out->idle_procs = atomic_load(&km__s.npidle);
    out->spinning = atomic_load(&km__s.nspinning);
    out->global_queue = (uint64_t)atomic_load(&km__s.gq_size);
    for (int i = 0; i < km__s.nprocs; i++) {
        km__p *p = &km__s.allp[i];
        out->local_queues += (uint64_t)km__runq_len(p);
        out->spawned += ld(&p->st.spawned);
        out->exited += ld(&p->st.exited);
        out->parks += ld(&p->st.parks);
        out->readies += ld(&p->st.readies);
        out->steals += ld(&p->st.steals);
        out->polls += ld(&p->st.polls);
        out->switches += ld(&p->st.switches);
    }
    /* Counted where they happen (no shared line per spawn and exit); the
     * per-P counters are read one after another, so clamp at zero. */
    uint64_t born = out->spawned + atomic_load(&km__s.foreign_spawned);
    out->goroutines = born > out->exited ? born - out->exited : 0;
    /* States from a walk of the goroutines would cost O(stacks); derive
     * them from cheap counters instead. */
    uint64_t running = 0;
    for (int i = 0; i < km__s.nprocs; i++)
        running += atomic_load_explicit(&km__s.allp[i].curg, memory_order_relaxed) != NULL;
    uint64_t queued = out->global_queue + out->local_queues;
    out->running = running;
    out->runnable = queued;
    out->waiting = out->goroutines > running + queued ? out->goroutines - running - queued : 0;
    out->next_timer = km__timers_next();
    out->fd_waiters = (uint64_t)km__poll_waiters();
    out->offload_queue = (uint64_t)km__offload_queued();
    out->offload_threads = km__offload_threads();
    return 0;
}

typedef struct { int fd; int err; int64_t now; } dump_ctx;

static void out(dump_ctx *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(dump_ctx *d, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || d->err)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    for (int off = 0; off < n;) {
        ssize_t w = write(d->fd, buf + off, (size_t)(n - off));
        if (w < 0) {
            if (errno == EINTR) continue;
            d->err = -errno;
            return;
        }
        off += (int)w;
    }
}

static const char *state_name(int s)
{
    switch (s) {
    case KM__G_RUNNING:  return "running";
    case KM__G_RUNNABLE: return "runnable";
    case KM__G_WAITING:  return "waiting";
    default:             return "dead";
    }
}

/* Frame-pointer walk of a parked goroutine's stack, from the frame that
 * km__ctx_swap_raw saved. Bounded and range-checked: the goroutine may be
 * woken while we read, and then we print a shorter or odd trace, never
 * crash. */
__attribute__((no_sanitize_thread, no_sanitize_address))
static void backtrace_g(dump_ctx *d, km__g *g)
{
#if defined(__x86_64__) && !defined(KM_CTX_UCONTEXT)
    const uintptr_t lo = (uintptr_t)g->stack_lo, hi = lo + g->stack_size;
    if (!lo || !(g->flags & KM__G_STARTED))
        return;     /* not started yet: no frames */
    const uint64_t *sp = g->ctx.sp;
    if ((uintptr_t)sp < lo || (uintptr_t)sp + 64 > hi)
        return;
    uintptr_t pc = sp[7], fp = sp[6];
    for (int depth = 0; depth < 48 && pc; depth++) {
        Dl_info info;
        if (dladdr((void *)pc, &info) && info.dli_sname)
            out(d, "    %s+0x%lx\n", info.dli_sname, (unsigned long)(pc - (uintptr_t)info.dli_saddr));
        else if (info.dli_fname)    /* offset into the file, for addr2line */
            out(d, "    %s+0x%lx\n", info.dli_fname, (unsigned long)(pc - (uintptr_t)info.dli_fbase));
        else
            out(d, "    0x%lx\n", (unsigned long)pc);
        if (fp < lo || fp + 16 > hi || (fp & 7))
            break;
        const uintptr_t *frame = (const uintptr_t *)fp;
        uintptr_t next = frame[0];
        pc = frame[1];
        if (next <= fp)
            break;
        fp = next;
    }
#else
    (void)d; (void)g;
#endif
}

__attribute__((no_sanitize_thread))
static void dump_g(km__g *g, void *ud)
{
    dump_ctx *d = ud;
    int st = atomic_load_explicit(&g->state, memory_order_relaxed);
    if (st == KM__G_FREE || st == KM__G_DEAD)
        return;
    out(d, "goroutine %llu", (unsigned long long)g->id);
    if (g->name)
        out(d, " \"%s\"", g->name);
    if (st == KM__G_WAITING && g->wait_reason) {
        double secs = (double)(d->now - g->wait_since) / 1e9;
        out(d, " [%s, %s %p, %.1f s]:\n", state_name(st), g->wait_reason,
            g->wait_obj, secs < 0 ? 0 : secs);
    } else {
        out(d, " [%s]:\n", state_name(st));
    }
    if (st == KM__G_WAITING || st == KM__G_RUNNABLE)
        backtrace_g(d, g);
    out(d, "\n");
}

int km_dump(int fd)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    dump_ctx d = { fd, 0, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec };
    km_stats s;
    if (km_stats_read(&s) == 0)
        out(&d, "kumo: %llu goroutines on %d workers (%d idle), %llu queued\n\n",
            (unsigned long long)s.goroutines, s.procs, s.idle_procs,
            (unsigned long long)(s.global_queue + s.local_queues));
    km__g_each(dump_g, &d);
    return d.err;
}

/* SIGQUIT arrives on a thread of its own (blocked everywhere else), so the
 * dump runs in an ordinary context, not in a signal handler. */
static void *sigquit_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    if (sigwait(set, &sig) == 0 && sig == SIGQUIT) {
        km_dump(STDERR_FILENO);
        _exit(2);
    }
    return NULL;
}

/* Blocks SIGQUIT in the caller (workers inherit that) and, once per
 * process, starts the thread that waits for it. */
int km__sigquit_start(sigset_t *saved)
{
    static sigset_t waited;         /* read by the SIGQUIT thread forever */
    static atomic_int started;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGQUIT);
    if (pthread_sigmask(SIG_BLOCK, &set, saved))
        return -EAGAIN;
    if (atomic_exchange(&started, 1))
        return 0;
    waited = set;
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    int e = pthread_create(&t, &a, sigquit_thread, &waited);
    pthread_attr_destroy(&a);
    if (e)
        atomic_store(&started, 0);
    return -e;
}
