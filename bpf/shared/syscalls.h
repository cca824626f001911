/* Records shared by bpf/syscalls.bpf.c and src/families/syscalls_family.cpp.
 * Fixed-width fields only; sizes are static_assert'ed on both sides. The
 * syscalls family aggregates in the kernel: no ring buffer, userspace reads
 * the `stats` and `comms` maps. */
#ifndef SCOPE_BPF_SHARED_SYSCALLS_H
#define SCOPE_BPF_SHARED_SYSCALLS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* High bit of syscall_key.nr: the syscall was made in 32-bit (ia32) mode and
 * `nr` is an i386 number, not an x86_64 one. */
#define SYSCALL_NR_IA32 0x80000000u

/* Why a syscall was not counted ([index] of the `dropped` per-CPU array). */
enum syscalls_drop {
  SYSCALLS_DROP_MAP_FULL = 0,   /* `stats` had no room for a new {tgid, tid, nr} */
  SYSCALLS_DROP_NO_STORAGE = 1, /* no per-task start slot (out of memory) */
  SYSCALLS_DROP_COUNT = 2,
};

/* Per-task state from sys_enter to sys_exit (task storage). */
struct syscall_start {
  __u64 start_ns; /* bpf_ktime_get_ns() at entry; 0: none in flight */
  __u32 nr;       /* syscall number, SYSCALL_NR_IA32 for compat */
  __u32 reserved;
};

struct syscall_key {
  __u32 tgid;
  __u32 tid;
  __u32 nr;
  __u32 reserved;
};

/* Cumulative since the probe was attached. Each key has one writer (its
 * thread runs on one CPU at a time), so plain updates are exact. */
struct syscall_stats {
  __u64 count;
  __u64 errors; /* return value < 0 */
  __u64 total_ns;
  __u64 max_ns;
};

struct syscall_thread {
  __u32 tgid;
  __u32 tid;
};

struct syscall_comm {
  char comm[16];
};

#ifdef __cplusplus
static_assert(sizeof(struct syscall_start) == 16, "syscall_start layout changed");
static_assert(sizeof(struct syscall_key) == 16, "syscall_key layout changed");
static_assert(sizeof(struct syscall_stats) == 32, "syscall_stats layout changed");
static_assert(sizeof(struct syscall_thread) == 8, "syscall_thread layout changed");
static_assert(sizeof(struct syscall_comm) == 16, "syscall_comm layout changed");
#else
_Static_assert(sizeof(struct syscall_start) == 16, "syscall_start layout changed");
_Static_assert(sizeof(struct syscall_key) == 16, "syscall_key layout changed");
_Static_assert(sizeof(struct syscall_stats) == 32, "syscall_stats layout changed");
_Static_assert(sizeof(struct syscall_thread) == 8, "syscall_thread layout changed");
_Static_assert(sizeof(struct syscall_comm) == 16, "syscall_comm layout changed");
#endif

#endif
