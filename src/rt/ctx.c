/* SPDX-License-Identifier: MIT */
/* Builds the first frame of a goroutine for km__ctx_swap. */
#include "ctx.h"
#include <stdint.h>
#include <string.h>

#ifdef KM_CTX_UCONTEXT
/* Portable fallback: slower (swapcontext saves the signal mask with a
 * syscall) but works wherever glibc has makecontext. The entry pointer is
 * passed as two ints because makecontext only promises int arguments. */
static void uctx_tramp(unsigned eh, unsigned el, unsigned ah, unsigned al)
{
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)eh << 32) | el);
    entry((void *)(((uintptr_t)ah << 32) | al));
}

void km__ctx_make(km__ctx *c, char *lo, size_t size, void (*entry)(void *), void *arg)
{
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    uintptr_t e = (uintptr_t)entry, a = (uintptr_t)arg;
    makecontext(&c->uc, (void (*)(void))uctx_tramp, 4, (unsigned)(e >> 32),
                (unsigned)e, (unsigned)(a >> 32), (unsigned)a);
}

#else
void km__ctx_start(void);

void km__ctx_make(km__ctx *c, char *lo, size_t size, void (*entry)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Mirrors the frame km__ctx_swap_raw pops: 8-byte control word slot, six
     * registers, return address. After its `ret`, rsp must be 16-byte aligned
     * so km__ctx_start's call leaves the callee's rsp at 8 mod 16. */
    uint64_t *sp = (uint64_t *)(top - 8 * 8);
    uint32_t mxcsr = 0x1F80;            /* all exceptions masked, round to nearest */
    uint16_t fpucw = 0x037F;            /* x87 default: extended precision, masked */
    memset(sp, 0, 8);
    memcpy((char *)sp, &mxcsr, 4);
    memcpy((char *)sp + 4, &fpucw, 2);
    sp[1] = 0;                          /* r15 */
    sp[2] = 0;                          /* r14 */
    sp[3] = 0;                          /* r13 */
    sp[4] = (uint64_t)(uintptr_t)entry; /* r12 */
    sp[5] = (uint64_t)(uintptr_t)arg;   /* rbx */
    sp[6] = 0;                          /* rbp: end of the frame chain */
    sp[7] = (uint64_t)(uintptr_t)km__ctx_start;
    c->sp = sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(top - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)arg;   /* x19 */
    sp[1] = (uint64_t)(uintptr_t)entry; /* x20 */
    sp[10] = 0;                         /* x29 */
    sp[11] = (uint64_t)(uintptr_t)km__ctx_start; /* x30 */
    sp[20] = 0;                         /* fpcr: round to nearest, no traps */
    c->sp = sp;
#endif
}
#endif
