/* Per-thread scheduler statistics shared by bpf/sched.bpf.c and the sched
 * family. Aggregated in the kernel: one map value per thread, updated at each
 * context switch and wakeup; userspace reads the map, never one event per
 * switch. Fixed-width fields only; sizes static_assert'ed on both sides. */
#ifndef SCOPE_BPF_SHARED_SCHED_H
#define SCOPE_BPF_SHARED_SCHED_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* __u8 .. __u64 as the kernel (and libbpf) define them */
#endif

#define SCHED_COMM_LEN 16
#define SCHED_MAX_THREADS 65536

/* Counters of one thread (the `threads` map's value, keyed by tid). Times are
 * ns. `off_ts`/`wake_ts` are the kernel's working state (CLOCK_MONOTONIC of the
 * last switch-out and of the start of the current run-queue wait; 0: none). */
struct sched_thread {
  __u32 tgid;
  __u32 reserved;
  __u64 switches;    /* switched out */
  __u64 voluntary;   /* ... while blocking (prev_state != TASK_RUNNING) */
  __u64 involuntary; /* ... while still runnable: preempted (or yielded) */
  __u64 offcpu_ns;   /* switch-out to switch-in, run-queue waits included */
  __u64 runq_ns;     /* wakeup (or preemption) to switch-in */
  __u64 runq_max_ns; /* the longest single run-queue wait */
  __u64 runq_waits;  /* run-queue waits measured */
  __u64 off_ts;
  __u64 wake_ts;
  char comm[SCHED_COMM_LEN];
};

/* Indices of the per-CPU `dropped` array. */
enum sched_drop { SCHED_DROP_MAP_FULL = 0, SCHED_DROP_COUNT = 1 };

#ifdef __cplusplus
static_assert(sizeof(struct sched_thread) == 96, "sched_thread layout changed");
#else
_Static_assert(sizeof(struct sched_thread) == 96, "sched_thread layout changed");
#endif

#endif
