/* SPDX-License-Identifier: MIT */
/* Goroutine context switch for x86-64 (System V ABI). */
#if defined(__x86_64__) && !defined(KM_CTX_UCONTEXT)

/* void km__ctx_swap_raw(void **save_sp, void *load_sp)
 *
 * Saves what the ABI says a callee must preserve onto the current stack:
 * rbp, rbx, r12-r15, the MXCSR (SSE rounding/exception masks) and the x87
 * control word, then stores rsp in *save_sp, loads load_sp and undoes the
 * same steps from the other stack. The caller-saved registers are already
 * dead across this call, so they are not saved. The frame, from the saved
 * rsp upwards: [mxcsr:4][x87 cw:2][pad:2] r15 r14 r13 r12 rbx rbp retaddr. */
    .text
    .globl  km__ctx_swap_raw
    .hidden km__ctx_swap_raw
    .type   km__ctx_swap_raw, @function
km__ctx_swap_raw:
    .cfi_startproc
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    subq    $8, %rsp
    stmxcsr (%rsp)
    fnstcw  4(%rsp)
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   km__ctx_swap_raw, .-km__ctx_swap_raw

/* First code a new goroutine runs: km__ctx_make left entry in r12 and its
 * argument in rbx. rbp is 0, which ends frame-pointer backtraces here; the
 * CFI marks the return address undefined so unwinders stop too. */
    .globl  km__ctx_start
    .hidden km__ctx_start
    .type   km__ctx_start, @function
km__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    movq    %rbx, %rdi
    callq   *%r12
    ud2                     /* entry never returns */
    .cfi_endproc
    .size   km__ctx_start, .-km__ctx_start

#endif
    .section .note.GNU-stack,"",@progbits
