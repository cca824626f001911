/* Handlers tail-called from the syscalls family's raw_syscalls programs
 * (bpf/shared/syscall_dispatch.h says why). A handler is a tp_btf program
 * on sys_enter or sys_exit, like its caller (the kernel requires it of a tail
 * call's target), loaded but never attached: userspace puts it into the
 * caller's program array at its syscall's number. */
#ifndef SCOPE_SYSCALL_DISPATCH_BPF_H
#define SCOPE_SYSCALL_DISPATCH_BPF_H

#include "bpf/shared/syscall_dispatch.h"

#define SCOPE_TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */

/* A 32-bit (ia32) syscall: its number means another call, and the
 * syscalls:* tracepoints the handlers stand in for ignore it too. */
static __always_inline bool dispatched_compat(void) {
  struct task_struct *task = bpf_get_current_task_btf();
  return task->thread_info.status & SCOPE_TS_COMPAT;
}

/* Whether `nr` is a syscall some family may handle: compares are cheaper than
 * the failed tail call every other syscall would make. */
static __always_inline bool dispatched_nr(__u32 nr) {
  switch (nr) {
    case SYSCALL_DISPATCH_OPEN:
    case SYSCALL_DISPATCH_ACCEPT:
    case SYSCALL_DISPATCH_EXECVE:
    case SYSCALL_DISPATCH_CREAT:
    case SYSCALL_DISPATCH_OPENAT:
    case SYSCALL_DISPATCH_ACCEPT4:
    case SYSCALL_DISPATCH_EXECVEAT:
    case SYSCALL_DISPATCH_OPENAT2:
      return true;
    default:
      return false;
  }
}

/* The x86_64 syscall arguments in pt_regs. */
#define SYSCALL_ARG0(regs) ((regs)->di)
#define SYSCALL_ARG1(regs) ((regs)->si)
#define SYSCALL_ARG2(regs) ((regs)->dx)

#endif
