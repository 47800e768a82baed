/* SPDX-License-Identifier: MIT */
/* km_main: starting the workers, running the main goroutine, shutting down. */
#include "sched-int.h"
#include "switch.h"
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void km__setp(km__p *p);
void km__schedule(km__p *p);
void km__sched_wake_all(void);
int  km__sigquit_start(sigset_t *saved);
int  km__offload_init(void);
extern int64_t km__poll_spin_ns;
void km__offload_fini(void);

typedef struct { km_fn *fn; void *arg; } main_call;

static int env_int(const char *name, int def, int lo, int hi, int *out)
{
    const char *s = getenv(name);
    if (!s || !*s) {
        *out = def;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

static void worker_bind(km__p *p)
{
    km__setp(p);
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &p->asan_lo, &p->asan_size);
        pthread_attr_destroy(&a);
    }
#ifdef KM_TSAN
    p->tsan_g0 = __tsan_get_current_fiber();
#endif
    p->rng = km__rand_seed() | 1;
}

static void *worker_thread(void *arg)
{
    km__p *p = arg;
    worker_bind(p);
    km__schedule(p);
    km__setp(NULL);
    return NULL;
}

static void main_entry(void *arg)
{
    main_call *mc = arg;
    mc->fn(mc->arg);
    atomic_store(&km__s.stop, 1);
    km__sched_wake_all();
}

static void shutdown_free(void)
{
    for (int i = 0; i < km__s.nprocs; i++) {
        km__stack_drop_cache(&km__s.allp[i]);
        km__g_drop_cache(&km__s.allp[i]);
    }
    km__free(km__s.allp);
    km__timers_reset();
    km__poll_fini();
    /* Goroutines still queued are abandoned (as when Go's main returns). */
    memset(&km__s, 0, sizeof km__s);
}

int km_procs(void)
{
    return atomic_load(&km__s.running) ? km__s.nprocs : 0;
}

int km_main(km_fn *fn, void *arg)
{
    if (!fn)
        return -EINVAL;
    int zero = 0;
    static atomic_int busy;
    if (!atomic_compare_exchange_strong(&busy, &zero, 1))
        return -EBUSY;
    int nprocs, rc;
    /* Like GOMAXPROCS: the CPUs this process may run on (taskset), not all
     * the machine has. */
    cpu_set_t cpus;
    long ncpu = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus)
                                                              : sysconf(_SC_NPROCESSORS_ONLN);
    int spin_us;
    if ((rc = env_int("KM_PROCS", ncpu > 0 ? (int)ncpu : 1, 1, 1024, &nprocs)) ||
        (rc = env_int("KM_POLL_SPIN_US", 50, 0, 10000, &spin_us)) ||
        (rc = km__stack_config())) {
        atomic_store(&busy, 0);
        return rc;
    }
    km__poll_spin_ns = (int64_t)spin_us * 1000;
    /* A peer that vanishes must give -EPIPE, never kill the process. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t saved_mask;
    if ((rc = km__sigquit_start(&saved_mask))) {
        atomic_store(&busy, 0);
        return rc;
    }

    km__p *allp = km__calloc((size_t)nprocs, sizeof *allp);
    if (!allp || (rc = km__poll_init()) || (rc = km__offload_init())) {
        if (allp && rc != 0)
            km__poll_fini();
        km__free(allp);
        pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
        atomic_store(&busy, 0);
        return allp ? rc : -ENOMEM;
    }
    km__s.nprocs = nprocs;
    km__s.allp = allp;
    atomic_store(&km__s.next_id, 1);
    for (int i = 0; i < nprocs; i++)
        allp[i].id = i;
    worker_bind(&allp[0]);
    atomic_store(&km__s.running, 1);

    main_call mc = { fn, arg };
    km_go_opts o = { 0, "main" };
    rc = km_go_opt(main_entry, &mc, &o);
    int started = 1;
    for (int i = 1; rc == 0 && i < nprocs; i++, started++) {
        int e = pthread_create(&allp[i].thread, NULL, worker_thread, &allp[i]);
        if (e) {
            rc = -e;
            atomic_store(&km__s.stop, 1);
            km__sched_wake_all();
            break;
        }
    }
    if (rc == 0 || started > 1)
        km__schedule(&allp[0]);
    for (int i = 1; i < started; i++)
        pthread_join(allp[i].thread, NULL);
    km__offload_fini();
    km__setp(NULL);
    atomic_store(&km__s.running, 0);
    shutdown_free();
    pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
    atomic_store(&busy, 0);
    return rc;
}
