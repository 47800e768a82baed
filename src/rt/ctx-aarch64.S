/* SPDX-License-Identifier: MIT */
/* Goroutine context switch for AArch64 (AAPCS64). */
#if defined(__aarch64__) && !defined(KM_CTX_UCONTEXT)

/* void km__ctx_swap_raw(void **save_sp, void *load_sp)
 *
 * Callee-saved state per AAPCS64: x19-x28, the frame pointer x29, the link
 * register x30 (our return address), the low halves d8-d15 of v8-v15, and
 * the FPCR (rounding mode and trap enables). 176-byte frame:
 *   [0..80)  x19..x28   [80] x29  [88] x30  [96..160) d8..d15  [160] fpcr */
    .text
    .globl  km__ctx_swap_raw
    .hidden km__ctx_swap_raw
    .type   km__ctx_swap_raw, %function
km__ctx_swap_raw:
    sub     sp, sp, #176
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mrs     x9, fpcr
    str     x9, [sp, #160]
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    ldr     x9, [sp, #160]
    msr     fpcr, x9
    add     sp, sp, #176
    ret
    .size   km__ctx_swap_raw, .-km__ctx_swap_raw

/* First code of a new goroutine: entry in x20, its argument in x19; x29 = 0
 * ends frame-pointer backtraces. */
    .globl  km__ctx_start
    .hidden km__ctx_start
    .type   km__ctx_start, %function
km__ctx_start:
    mov     x0, x19
    blr     x20
    brk     #0                  /* entry never returns */
    .size   km__ctx_start, .-km__ctx_start

#endif
    .section .note.GNU-stack,"",%progbits
