/* SPDX-License-Identifier: MIT */
/* Runtime and process metrics, read from km_stats_read and /proc at each scrape. */
#include "metrics-int.h"
#include <kumo/debug.h>
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum {
    G_GOROUTINES, G_RUNNING, G_RUNNABLE, G_WAITING, G_PROCS, G_IDLE, G_SPINNING,
    G_GLOBALQ, G_LOCALQ, G_FDWAIT, G_OFFQ, G_OFFTHREADS,
    C_SPAWNED, C_EXITED, C_STEALS, C_PARKS, C_READIES, C_POLLS, C_SWITCHES,
    P_RSS, P_VSIZE, P_CPU, P_FDS, P_MAXFDS, P_START, M_HEAP,
    N_SERIES
};

typedef struct {
    km_series *s[N_SERIES];
} rt_metrics;

static const struct {
    int kind;
    const char *name, *help, *state;    /* state: the label value, if any */
} defs[N_SERIES] = {
    [G_GOROUTINES] = { KM__GAUGE, "kumo_goroutines", "Goroutines that currently exist.", NULL },
    [G_RUNNING]  = { KM__GAUGE, "kumo_goroutines_state", "Goroutines by scheduling state.", "running" },
    [G_RUNNABLE] = { KM__GAUGE, "kumo_goroutines_state", NULL, "runnable" },
    [G_WAITING]  = { KM__GAUGE, "kumo_goroutines_state", NULL, "waiting" },
    [G_PROCS]    = { KM__GAUGE, "kumo_procs", "Worker threads (KM_PROCS).", NULL },
    [G_IDLE]     = { KM__GAUGE, "kumo_procs_idle", "Worker threads asleep.", NULL },
    [G_SPINNING] = { KM__GAUGE, "kumo_procs_spinning", "Worker threads looking for work to steal.", NULL },
    [G_GLOBALQ]  = { KM__GAUGE, "kumo_sched_global_queue_length", "Runnable goroutines in the global queue.", NULL },
    [G_LOCALQ]   = { KM__GAUGE, "kumo_sched_local_queue_length", "Runnable goroutines in the workers' local queues.", NULL },
    [G_FDWAIT]   = { KM__GAUGE, "kumo_netpoll_waiters", "Goroutines parked on file descriptors.", NULL },
    [G_OFFQ]     = { KM__GAUGE, "kumo_offload_queue_length", "km_blocking calls waiting for a helper thread.", NULL },
    [G_OFFTHREADS] = { KM__GAUGE, "kumo_offload_threads", "Helper threads started for km_blocking.", NULL },
    [C_SPAWNED]  = { KM__COUNTER, "kumo_goroutines_spawned_total", "Goroutines spawned.", NULL },
    [C_EXITED]   = { KM__COUNTER, "kumo_goroutines_exited_total", "Goroutines that returned.", NULL },
    [C_STEALS]   = { KM__COUNTER, "kumo_sched_steals_total", "Work-stealing successes.", NULL },
    [C_PARKS]    = { KM__COUNTER, "kumo_sched_parks_total", "Goroutines parked (blocked).", NULL },
    [C_READIES]  = { KM__COUNTER, "kumo_sched_readies_total", "Goroutines made runnable.", NULL },
    [C_POLLS]    = { KM__COUNTER, "kumo_sched_polls_total", "Netpoller polls.", NULL },
    [C_SWITCHES] = { KM__COUNTER, "kumo_sched_switches_total", "Goroutine context switches.", NULL },
    [P_RSS]      = { KM__GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.", NULL },
    [P_VSIZE]    = { KM__GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL },
    [P_CPU]      = { KM__COUNTER, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", NULL },
    [P_FDS]      = { KM__GAUGE, "process_open_fds", "Number of open file descriptors.", NULL },
    [P_MAXFDS]   = { KM__GAUGE, "process_max_fds", "Maximum number of open file descriptors.", NULL },
    [P_START]    = { KM__GAUGE, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", NULL },
    [M_HEAP]     = { KM__GAUGE, "kumo_memory_heap_inuse_bytes", "Bytes of malloc's heap in use (all threads' arenas and its own mappings).", NULL },
};

/* Reads a small /proc file into buf (NUL-terminated); its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;       /* the directory's own */
}

/* Seconds since the epoch when the process started: its start tick in
 * /proc/self/stat (field 22) after the boot time in /proc/stat. */
static double start_time(void)
{
    char buf[4096];
    if (slurp("/proc/self/stat", buf, sizeof buf) <= 0)
        return 0;
    const char *p = strrchr(buf, ')');     /* the command may hold spaces */
    if (!p)
        return 0;
    unsigned long long ticks = 0;
    int field = 2;
    for (; *p && field < 22; p++)
        if (*p == ' ')
            field++;
    ticks = strtoull(p, NULL, 10);
    if (slurp("/proc/stat", buf, sizeof buf) <= 0)
        return 0;
    const char *bt = strstr(buf, "\nbtime ");
    if (!bt)
        return 0;
    double boot = (double)strtoull(bt + 7, NULL, 10);
    long hz = sysconf(_SC_CLK_TCK);
    return boot + (double)ticks / (double)(hz > 0 ? hz : 100);
}

static void collect(km_metrics *r, void *ud)
{
    (void)r;
    km_series **s = ((rt_metrics *)ud)->s;
    km_stats st;
    if (km_stats_read(&st) == 0) {
        km_gauge_set(s[G_GOROUTINES], (double)st.goroutines);
        km_gauge_set(s[G_RUNNING], (double)st.running);
        km_gauge_set(s[G_RUNNABLE], (double)st.runnable);
        km_gauge_set(s[G_WAITING], (double)st.waiting);
        km_gauge_set(s[G_PROCS], st.procs);
        km_gauge_set(s[G_IDLE], st.idle_procs);
        km_gauge_set(s[G_SPINNING], st.spinning);
        km_gauge_set(s[G_GLOBALQ], (double)st.global_queue);
        km_gauge_set(s[G_LOCALQ], (double)st.local_queues);
        km_gauge_set(s[G_FDWAIT], (double)st.fd_waiters);
        km_gauge_set(s[G_OFFQ], (double)st.offload_queue);
        km_gauge_set(s[G_OFFTHREADS], st.offload_threads);
        km_counter_set(s[C_SPAWNED], (double)st.spawned);
        km_counter_set(s[C_EXITED], (double)st.exited);
        km_counter_set(s[C_STEALS], (double)st.steals);
        km_counter_set(s[C_PARKS], (double)st.parks);
        km_counter_set(s[C_READIES], (double)st.readies);
        km_counter_set(s[C_POLLS], (double)st.polls);
        km_counter_set(s[C_SWITCHES], (double)st.switches);
    }
    char buf[128];
    unsigned long long vpages, rpages;
    if (slurp("/proc/self/statm", buf, sizeof buf) > 0 &&
        sscanf(buf, "%llu %llu", &vpages, &rpages) == 2) {
        double page = (double)sysconf(_SC_PAGESIZE);
        km_gauge_set(s[P_VSIZE], (double)vpages * page);
        km_gauge_set(s[P_RSS], (double)rpages * page);
    }
    /* What RSS does not tell apart: the allocations themselves, against
     * goroutine stacks, the store's map and freed memory malloc keeps. */
    struct mallinfo2 mi = mallinfo2();
    km_gauge_set(s[M_HEAP], (double)(mi.uordblks + mi.hblkhd));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        km_counter_set(s[P_CPU], (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    int fds = open_fds();
    if (fds >= 0)
        km_gauge_set(s[P_FDS], fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        km_gauge_set(s[P_MAXFDS], (double)rl.rlim_cur);
}

static void rt_free(void *ud)
{
    km__free(ud);
}

int km_metrics_runtime(km_metrics *r)
{
    if (!r)
        return -EINVAL;
    if (km__family_find(r, defs[0].name))
        return -EEXIST;
    rt_metrics *m = km__calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    int rc = 0;
    for (int i = 0; i < N_SERIES && !rc; i++) {
        km_metric *f;
        const char *help = defs[i].help;
        for (int j = i - 1; !help && j >= 0; j--)
            help = defs[j].help;        /* the family's help, given once */
        rc = km__family_get(r, &f, defs[i].kind, defs[i].name, help,
                            defs[i].state ? "state" : NULL, NULL, 0);
        if (!rc && !(m->s[i] = defs[i].state ? km_metric_with(f, defs[i].state) : km_metric_with(f)))
            rc = -ENOMEM;
    }
    if (!rc) {
        km_gauge_set(m->s[P_START], start_time());
        rc = km__metrics_on_collect_owned(r, collect, m, rt_free);
    }
    if (rc)
        km__free(m);
    return rc;
}
