/* The syscall dispatch shared by bpf/ and src/probe/syscall_dispatch.cpp.
 *
 * Any BPF program on a syscalls:sys_{enter,exit}_* tracepoint turns on the
 * kernel's perf syscall handlers, which then run on every syscall of every
 * process (~100 ns a call on the development VM, as much as the syscalls
 * family's own raw_syscalls programs: BENCHMARKS.md). So when the syscalls
 * family runs, its raw_syscalls programs end with a tail call into two
 * program arrays indexed by syscall number, and the exec, open and net
 * families put their handlers there instead of attaching to syscalls:*.
 * Alone, those families keep the syscalls:* tracepoints: cheaper than a
 * raw_syscalls program of their own. */
#ifndef SCOPE_BPF_SHARED_SYSCALL_DISPATCH_H
#define SCOPE_BPF_SHARED_SYSCALL_DISPATCH_H

/* Entries of each program array: x86_64 syscall numbers below this. */
#define SYSCALL_DISPATCH_NRS 512u

/* The x86_64 numbers of the syscalls the families handle. */
#define SYSCALL_DISPATCH_OPEN 2u
#define SYSCALL_DISPATCH_ACCEPT 43u
#define SYSCALL_DISPATCH_EXECVE 59u
#define SYSCALL_DISPATCH_CREAT 85u
#define SYSCALL_DISPATCH_OPENAT 257u
#define SYSCALL_DISPATCH_ACCEPT4 288u
#define SYSCALL_DISPATCH_EXECVEAT 322u
#define SYSCALL_DISPATCH_OPENAT2 437u

#endif
