/* SPDX-License-Identifier: MIT */
/* Machine context of a goroutine: assembly switch, or ucontext as fallback. */
#ifndef KM_RT_CTX_H
#define KM_RT_CTX_H

#include <stddef.h>

#if !defined(__x86_64__) && !defined(__aarch64__) && !defined(KM_CTX_UCONTEXT)
#define KM_CTX_UCONTEXT 1
#endif

#ifdef KM_CTX_UCONTEXT
#include <ucontext.h>
typedef struct { ucontext_t uc; } km__ctx;
#else
typedef struct { void *sp; } km__ctx;
void km__ctx_swap_raw(void **save_sp, void *load_sp);
#endif

/* Prepares c so that switching to it calls entry(arg) on the stack
 * [lo, lo + size). entry must never return. */
void km__ctx_make(km__ctx *c, char *lo, size_t size, void (*entry)(void *), void *arg);

/* Saves the running context in from and resumes to. */
static inline void km__ctx_swap(km__ctx *from, km__ctx *to)
{
#ifdef KM_CTX_UCONTEXT
    swapcontext(&from->uc, &to->uc);
#else
    km__ctx_swap_raw(&from->sp, to->sp);
#endif
}

#endif
