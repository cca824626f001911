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
  SYSCALLS_DROP_MAP_FULL = 0, /* `stats` had no room for a new {tgid, tid, nr} */
  SYSCALLS_DROP_COUNT = 1,
};

/* Latency is timed on a sample of the calls; counts and errors are exact.
 * Per CPU and syscall number (`samplers`, index SYSCALL_SAMPLER_OF(nr)):
 * the first SYSCALL_EXACT_PER_JIFFY calls in each jiffy are timed with
 * weight 1; of the others, one in about SYSCALL_SAMPLE_EVERY, at random
 * gaps, with weight SYSCALL_SAMPLE_EVERY. total_ns adds each timed call's
 * time times its weight: an estimate of the whole, exact for a syscall made
 * less than SYSCALL_EXACT_PER_JIFFY times a jiffy on a CPU. */
#define SYSCALL_SAMPLE_EVERY 16u
#define SYSCALL_EXACT_PER_JIFFY 4u
#define SYSCALL_SAMPLERS 512u
#define SYSCALL_SAMPLER_OF(nr) ((nr) & (SYSCALL_SAMPLERS - 1))

struct syscall_sampler {
  __u64 last_jiffies; /* the jiffy of exact_left */
  __u32 exact_left;   /* calls still timed with weight 1 in this jiffy */
  __u32 countdown;    /* then: calls until the next sampled one */
};

/* Per thread, `slots`[SYSCALL_SLOT_OF(its pt_regs)] (an mmap-able array):
 * - the sampled call in flight, written at entry by any thread. Two threads
 *   that share a slot and are both in a sampled call lose one sample;
 * - for the traced thread that owns the slot (claimed with a compare-and-swap
 *   on `owner` when free, released at its exit), the counters of up to
 *   SYSCALL_SLOT_NRS syscalls not yet added to `stats`: the hot path updates
 *   them in place instead of looking `stats` up, timing included. A syscall
 *   not among them takes a free entry or evicts one (its counters go to
 *   `stats`); the thread's exit moves all of them to `stats`. Only the owner
 *   writes them, so plain updates are exact; a reader adds `stats` and the
 *   owned entries. Threads that find the slot owned by another use `stats`.
 * A thread's slot is picked by its pt_regs address, which the syscall
 * tracepoints pass, so that the hot path makes no helper call (a call and
 * return cost ~7 ns on the development VM, with its return thunks); the
 * owner's tgid, tid and task are written when it claims the slot.
 * The head (what every exit reads) is one cache line and an entry half of
 * one, so a counted syscall touches two lines of its thread's slot. */
#define SYSCALL_SLOTS 16384u /* a power of two: SYSCALL_SLOT_OF */
#define SYSCALL_SLOT_NRS 8u
/* The slot of the thread whose pt_regs are `regs_id` (their address less a
 * constant): kernel stacks lie 16 KiB or more apart; Fibonacci hashing
 * spreads them over the slots. */
#define SYSCALL_SLOT_OF(regs_id) \
  ((__u32)((((__u64)(regs_id) >> 14) * 0x9E3779B97F4A7C15ull) >> (64 - 14)))

struct syscall_slot_entry {
  __u64 count;
  __u64 errors;
  __u64 total_ns; /* as in syscall_stats */
  __u32 timed;    /* at most SYSCALL_SLOT_TIMED_MAX: then the entry is flushed */
  __u32 max_ns;   /* a longer call's time goes to `stats`' max_ns directly */
};
#define SYSCALL_SLOT_TIMED_MAX 0xffffffffu

struct syscall_slot {
  __u64 start_ns;             /* bpf_ktime_get_ns() at the sampled entry; 0: none */
  __u64 owner;                /* tgid << 32 | tid of the owner; 0: free */
  __u64 owner_regs;           /* regs_id of the owner's pt_regs (the top of its kernel stack) */
  __u64 owner_task;           /* the owner's task_struct, for its TS_COMPAT flag */
  __u64 sample_regs;          /* regs_id of the thread in the sampled call */
  __u32 sample_nr;            /* raw syscall number as at entry */
  __u16 weight;               /* of the sample */
  __u8 used;                  /* bit i: nr[i] and entry[i] hold a syscall */
  __u8 next;                  /* the entry to evict next */
  __u16 nr[SYSCALL_SLOT_NRS]; /* syscall_key.nr as syscall_slot_nr() packs it */
  struct syscall_slot_entry entry[SYSCALL_SLOT_NRS];
};

/* A slot keeps syscall_key.nr in 16 bits: the number (below 0x8000; larger
 * ones are never kept in a slot) and bit 15 for ia32. */
#define SYSCALL_SLOT_NR_IA32 0x8000u
static inline __u16 syscall_slot_nr(__u32 key_nr) {
  return (__u16)((key_nr & ~SYSCALL_NR_IA32) |
                 (key_nr & SYSCALL_NR_IA32 ? SYSCALL_SLOT_NR_IA32 : 0));
}
static inline __u32 syscall_key_nr(__u16 slot_nr) {
  return (slot_nr & ~SYSCALL_SLOT_NR_IA32 & 0xffffu) |
         (slot_nr & SYSCALL_SLOT_NR_IA32 ? SYSCALL_NR_IA32 : 0);
}

struct syscall_key {
  __u32 tgid;
  __u32 tid;
  __u32 nr;
  __u32 reserved;
};

/* Cumulative since the probe was attached, less what a thread's slot holds.
 * Each key has one writer (its thread runs on one CPU at a time; its exit
 * and evictions run in it too), so plain updates are exact. */
struct syscall_stats {
  __u64 count;
  __u64 errors;   /* return value < 0 */
  __u64 total_ns; /* estimated: the timed calls' time, each times its weight */
  __u64 max_ns;   /* of the timed calls */
  __u64 timed;    /* calls timed */
};

struct syscall_thread {
  __u32 tgid;
  __u32 tid;
};

struct syscall_comm {
  char comm[16];
};

#ifdef __cplusplus
static_assert(sizeof(struct syscall_sampler) == 16, "syscall_sampler layout changed");
static_assert(sizeof(struct syscall_slot) == 320, "syscall_slot layout changed");
static_assert(sizeof(struct syscall_slot_entry) == 32, "syscall_slot_entry layout changed");
static_assert(sizeof(struct syscall_key) == 16, "syscall_key layout changed");
static_assert(sizeof(struct syscall_stats) == 40, "syscall_stats layout changed");
static_assert(sizeof(struct syscall_thread) == 8, "syscall_thread layout changed");
static_assert(sizeof(struct syscall_comm) == 16, "syscall_comm layout changed");
#else
_Static_assert(sizeof(struct syscall_sampler) == 16, "syscall_sampler layout changed");
_Static_assert(sizeof(struct syscall_slot) == 320, "syscall_slot layout changed");
_Static_assert(sizeof(struct syscall_slot_entry) == 32, "syscall_slot_entry layout changed");
_Static_assert(sizeof(struct syscall_key) == 16, "syscall_key layout changed");
_Static_assert(sizeof(struct syscall_stats) == 40, "syscall_stats layout changed");
_Static_assert(sizeof(struct syscall_thread) == 8, "syscall_thread layout changed");
_Static_assert(sizeof(struct syscall_comm) == 16, "syscall_comm layout changed");
#endif

#endif
