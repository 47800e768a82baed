/* SPDX-License-Identifier: MIT */
/* Leak reports: the acquirer's stack recorded at acquire time, the holder goroutine's stack now from km_dump, delivered to a callback, the logger or stderr. */
#include "pool/pool-int.h"
#include <kumo/debug.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Why backtrace(): the runtime offers whole-runtime dumps only (km_dump),
 * which say where the holder is now, not where it took the resource; a
 * frame-pointer walk of our own would need the goroutine's stack bounds
 * (runtime internals) to be safe with callers built without frame
 * pointers. glibc's unwinder needs neither. Frame 0 is this function and
 * frame 1 km_pool_acquire: both are dropped. */
__attribute__((noinline))
int km__pool_leak_capture(void **pcs)
{
    void *buf[KM__POOL_PCS + 2];
    int n = backtrace(buf, KM__POOL_PCS + 2);
    n = n > 2 ? n - 2 : 0;
    memcpy(pcs, buf + 2, (size_t)n * sizeof *pcs);
    return n;
}

/* The entry of goroutine goid in a dump taken now, into out (NUL-
 * terminated, possibly cut); "" if it is not there (it has exited). The
 * dump goes to an anonymous memory file, mapped to be searched. */
static void holder_stack(uint64_t goid, char *out, size_t cap)
{
    out[0] = '\0';
    if (!goid)
        return;
    int fd = memfd_create("kumo-pool-leak", MFD_CLOEXEC);
    if (fd < 0)
        return;
    off_t len;
    if (km_dump(fd) == 0 && (len = lseek(fd, 0, SEEK_END)) > 0) {
        char *m = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            char pat[48];
            size_t pn = (size_t)snprintf(pat, sizeof pat, "goroutine %llu ", (unsigned long long)goid);
            const char *q = m, *end = m + len;
            while (q < end) {
                const char *nl = memchr(q, '\n', (size_t)(end - q));
                const char *eol = nl ? nl : end;
                if ((size_t)(eol - q) >= pn && !memcmp(q, pat, pn)) {
                    /* the entry ends at the blank line after it */
                    const char *stop = memmem(q, (size_t)(end - q), "\n\n", 2);
                    size_t n = stop ? (size_t)(stop - q) + 1 : (size_t)(end - q);
                    if (n >= cap)
                        n = cap - 1;
                    memcpy(out, q, n);
                    out[n] = '\0';
                    break;
                }
                q = eol + 1;
            }
            munmap(m, (size_t)len);
        }
    }
    close(fd);
}

/* "sym+0x1f <- sym+0x80 <- ..." (symbols that dladdr can name; otherwise
 * file+offset, for addr2line). */
static void fmt_pcs(char *out, size_t cap, void *const *pcs, int n)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < n && off + 1 < cap; i++) {
        Dl_info info;
        const char *sep = i ? " <- " : "";
        int w;
        if (dladdr(pcs[i], &info) && info.dli_sname)
            w = snprintf(out + off, cap - off, "%s%s+0x%lx", sep, info.dli_sname,
                         (unsigned long)((uintptr_t)pcs[i] - (uintptr_t)info.dli_saddr));
        else if (dladdr(pcs[i], &info) && info.dli_fname)
            w = snprintf(out + off, cap - off, "%s%s+0x%lx", sep, info.dli_fname,
                         (unsigned long)((uintptr_t)pcs[i] - (uintptr_t)info.dli_fbase));
        else
            w = snprintf(out + off, cap - off, "%s%p", sep, pcs[i]);
        if (w < 0)
            break;
        off += (size_t)w < cap - off ? (size_t)w : cap - off - 1;
    }
}

void km__pool_leak_report(km_pool *p, const km_pool_leak *in)
{
    char stack[3072];
    km_pool_leak l = *in;
    holder_stack(l.goid, stack, sizeof stack);
    l.stack = stack;
    if (p->on_leak) {
        p->on_leak(p->leak_ud, &l);
        return;
    }
    char at[1024];
    fmt_pcs(at, sizeof at, l.pcs, l.npcs);
    if (p->log) {
        km_warn(p->log, "pool: resource held past the leak threshold",
                km_lf_str("pool", l.pool), km_lf_int("goroutine", (int64_t)l.goid),
                km_lf_int("held_ms", l.held / 1000000), km_lf_str("acquired_at", at),
                km_lf_str("stack", stack));
        return;
    }
    char msg[5120];
    int n = snprintf(msg, sizeof msg,
                     "kumo: pool %s: resource held for %lld ms by goroutine %llu, acquired at %s\n%s",
                     l.pool, (long long)(l.held / 1000000), (unsigned long long)l.goid, at, stack);
    if (n > 0)
        (void)!write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}
