// SPDX-License-Identifier: GPL-2.0
/* Syscall counts, errors and latency per {process, thread, syscall},
 * aggregated in the kernel: no event per syscall ever leaves it.
 *
 *   sys_enter: sampled? (per-CPU sampler of the number) -> tid, number,
 *              weight and start time into the thread's slot; else nothing.
 *   sys_exit:  count/errors += in the thread's slot when it owns it and
 *              holds the syscall, else in stats[{tgid, tid, nr}]; a sampled
 *              call adds (now - start) * weight to the same counters'
 *              total_ns.
 *   sched_process_exit: the slot's counters into `stats`, the slot freed.
 *   Both syscall programs then tail-call the exec, open and net families'
 *   handlers of the syscall, if any (bpf/shared/syscall_dispatch.h).
 *
 * Counts and errors are exact; latency is timed on a sample (see
 * bpf/shared/syscalls.h): two clock reads per call would cost as much as
 * the tracepoint dispatch itself. The common path is an inlined per-CPU
 * array lookup at entry and an inlined array lookup at exit; no task
 * storage, no hash lookup. The filter (a hash lookup) runs only for a
 * {thread, syscall} without counters: a traced thread's are found first,
 * an untraced thread pays the `stats` miss plus the filter.
 * Userspace reads `stats`, then the owned slots, (and `comms`, written when
 * a thread is first seen with a syscall, so after exec too) every second. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/syscalls.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
#include "scope_kernel.bpf.h"
#include "scope_syscall_dispatch.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

#define IA32_EXECVE 11 /* i386 */
#define IA32_EXECVEAT 358
#define RT_SIGRETURN 15 /* x86_64 */
#define X64_CLONE 56
#define X64_FORK 57
#define X64_VFORK 58
#define CLONE3 435 /* the same on both */
#define IA32_FORK 2
#define IA32_CLONE 120
#define IA32_VFORK 190
#define IA32_SIGRETURN 119    /* i386 */
#define IA32_RT_SIGRETURN 173 /* i386 */

/* scope's own process: its polling is not the workload. 0: none. */
const volatile __u32 self_tgid = 0;
/* Whether other families' handlers may be in the arrays below; false: the
 * verifier drops the tail calls. */
const volatile bool dispatch_enabled = false;

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SYSCALL_SAMPLERS);
  __type(key, __u32);
  __type(value, struct syscall_sampler);
} samplers SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, SYSCALL_SLOTS);
  __type(key, __u32);
  __type(value, struct syscall_slot);
} slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct syscall_key);
  __type(value, struct syscall_stats);
} stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, struct syscall_thread);
  __type(value, struct syscall_comm);
} comms SEC(".maps");

/* The exec, open and net families' handlers, by syscall number
 * (bpf/shared/syscall_dispatch.h); userspace fills them. */
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, SYSCALL_DISPATCH_NRS);
  __type(key, __u32);
  __type(value, __u32);
} enter_handlers SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, SYSCALL_DISPATCH_NRS);
  __type(key, __u32);
  __type(value, __u32);
} exit_handlers SEC(".maps");

/* The number of an exec in flight, by its thread's regs_id: a successful execveat returns with
 * execve's number in orig_ax, so the exit takes the number the entry saw. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u64);
  __type(value, __u32);
} exec_nrs SEC(".maps");

SCOPE_DROPPED_COUNTERS(SYSCALLS_DROP_COUNT)

/* A thread's pt_regs as a number to hash and compare: pointer minus pointer
 * is the one arithmetic the verifier allows on pointers (for a privileged
 * loader), and every program subtracts the same map's address. */
static __always_inline __u64 regs_id(const void *regs) { return (__u64)regs - (__u64)&slots; }

static __always_inline void count_enter(struct pt_regs *regs, __u32 nr) {
  __u32 i = SYSCALL_SAMPLER_OF(nr);
  struct syscall_sampler *smp = bpf_map_lookup_elem(&samplers, &i);
  if (!smp) return;
  /* Not filtered here: an untraced task's sample is left in its slot unread. */
  __u32 weight = 1;
  __u64 j = bpf_jiffies64();
  if (j != smp->last_jiffies) {
    smp->last_jiffies = j;
    smp->exact_left = SYSCALL_EXACT_PER_JIFFY - 1;
  } else if (smp->exact_left) {
    smp->exact_left--;
  } else if (smp->countdown > 1) {
    smp->countdown--;
    return;
  } else {
    /* The next gap is uniform in [1, 2N - 1]: mean N, and no fixed period
     * for a periodic workload to alias with. */
    smp->countdown = 1 + bpf_get_prandom_u32() % (2 * SYSCALL_SAMPLE_EVERY - 1);
    weight = SYSCALL_SAMPLE_EVERY;
  }
  __u64 rid = regs_id(regs);
  __u32 si = SYSCALL_SLOT_OF(rid);
  struct syscall_slot *slot = bpf_map_lookup_elem(&slots, &si);
  if (!slot) return;
  slot->sample_regs = rid;
  slot->sample_nr = nr;
  slot->weight = weight;
  slot->start_ns = bpf_ktime_get_ns();
}

/* The counters of {tgid, tid, nr}, created (with the thread's comm) when
 * the thread is traced; NULL for an untraced thread or a full map. */
static __always_inline struct syscall_stats *stats_of(struct syscall_key *k) {
  struct syscall_stats *v = bpf_map_lookup_elem(&stats, k);
  if (v) return v;
  if (k->tgid == self_tgid || !is_traced(k->tgid)) return 0;
  struct syscall_stats init = {};
  long err = bpf_map_update_elem(&stats, k, &init, BPF_NOEXIST);
  v = bpf_map_lookup_elem(&stats, k);
  if (!v) {
    if (err) count_drop(SYSCALLS_DROP_MAP_FULL);
    return 0;
  }
  /* The comm is (re)written with each new {thread, syscall}, so a name taken
   * at exec replaces the pre-exec one with the next new syscall. */
  struct syscall_thread t = {.tgid = k->tgid, .tid = k->tid};
  struct syscall_comm c;
  bpf_get_current_comm(c.comm, sizeof(c.comm));
  bpf_map_update_elem(&comms, &t, &c, BPF_ANY);
  return v;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(scope_sys_enter, struct pt_regs *regs, long id) {
  count_enter(regs, (__u32)id);
  if (id == SYSCALL_DISPATCH_EXECVE || id == SYSCALL_DISPATCH_EXECVEAT) {
    /* A command scope launched is traced from its exec on (scope_filter.bpf.h). */
    (void)is_traced_at_exec(bpf_get_current_pid_tgid() >> 32);
    __u64 rid = regs_id(regs);
    __u32 nr = (__u32)id;
    bpf_map_update_elem(&exec_nrs, &rid, &nr, BPF_ANY);
  }
  if (dispatch_enabled && dispatched_nr((__u32)id))
    bpf_tail_call(ctx, &enter_handlers, (__u32)id); /* returns when there is none */
  return 0;
}

/* Entry i of the owner's slot into `stats` (the owner's context only). */
static __always_inline void flush_entry(struct syscall_slot *slot, __u32 i) {
  if (i >= SYSCALL_SLOT_NRS || !(slot->used & (1u << i))) return;
  struct syscall_slot_entry *e = &slot->entry[i];
  struct syscall_key k = {
      .tgid = slot->owner >> 32, .tid = (__u32)slot->owner, .nr = syscall_key_nr(slot->nr[i])};
  struct syscall_stats *v = bpf_map_lookup_elem(&stats, &k);
  if (v) {
    v->count += e->count;
    v->errors += e->errors;
    v->total_ns += e->total_ns;
    v->timed += e->timed;
    if (e->max_ns > v->max_ns) v->max_ns = e->max_ns;
  }
  e->count = 0;
  e->errors = 0;
  e->total_ns = 0;
  e->timed = 0;
  e->max_ns = 0;
  slot->used &= ~(1u << i);
}

/* One timed call into the stats of its key. */
static __always_inline void time_in_stats(struct syscall_stats *v, __u64 d, __u32 weight) {
  v->total_ns += d * weight;
  v->timed += 1;
  if (d > v->max_ns) v->max_ns = d;
}

static __always_inline bool is_exec(__u32 nr, bool compat) {
  return compat ? nr == IA32_EXECVE || nr == IA32_EXECVEAT
                : nr == SYSCALL_DISPATCH_EXECVE || nr == SYSCALL_DISPATCH_EXECVEAT;
}

/* A fork, vfork or clone returning 0 is the child's first return, not a call of its own: the
 * parent's call is counted once, at the parent's return. */
static __always_inline bool is_fork_child_return(__u32 nr, bool compat, long ret) {
  if (ret != 0) return false;
  if (compat) return nr == IA32_FORK || nr == IA32_CLONE || nr == IA32_VFORK || nr == CLONE3;
  return nr == X64_CLONE || nr == X64_FORK || nr == X64_VFORK || nr == CLONE3;
}

static __always_inline void count_exit(struct pt_regs *regs, long ret) {
  __u64 rid = regs_id(regs);
  __u32 si = SYSCALL_SLOT_OF(rid);
  struct syscall_slot *slot = bpf_map_lookup_elem(&slots, &si);
  if (!slot) return;
  bool sampled = slot->start_ns && slot->sample_regs == rid;
  /* The owner (the hot path) is known by its pt_regs, with no helper call. */
  bool owner = slot->owner && slot->owner_regs == rid;
  struct task_struct *task =
      owner ? KERNEL(struct task_struct, slot->owner_task) : bpf_get_current_task_btf();
  bool compat = task->thread_info.status & SCOPE_TS_COMPAT;
  __u32 nr = (__u32)regs->orig_ax;
  /* (rt_)sigreturn sets orig_ax to -1 (no restart); i386 has both. */
  if (nr == (__u32)-1)
    nr = !compat                                        ? RT_SIGRETURN
         : sampled && slot->sample_nr == IA32_SIGRETURN ? IA32_SIGRETURN
                                                        : IA32_RT_SIGRETURN;
  if (is_fork_child_return(nr, compat, ret)) return;
  if (!compat && (nr == SYSCALL_DISPATCH_EXECVE || nr == SYSCALL_DISPATCH_EXECVEAT)) {
    __u32 *at_entry = bpf_map_lookup_elem(&exec_nrs, &rid);
    if (at_entry) {
      nr = *at_entry;
      bpf_map_delete_elem(&exec_nrs, &rid);
    }
  }
  /* A thread other than the leader that execs takes the tgid as its tid
   * (de_thread): the counts from now on are under its new tid. (The owner's
   * task is the current one: the same kernel stack.) */
  if (owner && ret == 0 && is_exec(nr, compat)) {
    __u64 me = (__u64)task->tgid << 32 | task->pid;
    if (slot->owner != me) {
      for (__u32 j = 0; j < SYSCALL_SLOT_NRS; j++) flush_entry(slot, j);
      slot->owner = me;
    }
  }
  __u32 key_nr = compat ? nr | SYSCALL_NR_IA32 : nr;
  /* Numbers past 0x7fff (invalid calls) are never kept in a slot. */
  bool cacheable = (nr & 0xffff8000u) == 0;
  __u16 slot_nr = syscall_slot_nr(key_nr);
  __u32 err = ret < 0;
  struct syscall_stats *v = 0;
  int i = -1;
  if (owner && cacheable) {
    for (int j = 0; j < SYSCALL_SLOT_NRS; j++)
      if ((slot->used & (1u << j)) && slot->nr[j] == slot_nr) i = j;
  }
  struct syscall_key k = {.nr = key_nr};
  if (i < 0) {
    /* Not cached: the stats (created when traced), then a slot entry. */
    if (owner) {
      k.tgid = slot->owner >> 32;
      k.tid = (__u32)slot->owner;
    } else {
      k.tgid = task->tgid;
      k.tid = task->pid;
    }
    v = stats_of(&k);
    if (!v) return;
    __u64 me = (__u64)k.tgid << 32 | k.tid;
    if (!owner && !slot->owner && __sync_val_compare_and_swap(&slot->owner, 0, me) == 0) {
      slot->owner_regs = rid;
      slot->owner_task = (__u64)task;
      slot->used = 0;
      owner = true;
    }
    if (owner && cacheable) {
      for (int j = SYSCALL_SLOT_NRS - 1; j >= 0; j--)
        if (!(slot->used & (1u << j))) i = j;
      if (i < 0) { /* all taken: evict round-robin */
        i = slot->next % SYSCALL_SLOT_NRS;
        flush_entry(slot, i);
        slot->next = i + 1;
      }
      if (i >= 0 && i < SYSCALL_SLOT_NRS) {
        slot->nr[i] = slot_nr;
        slot->entry[i] = (struct syscall_slot_entry){};
        slot->used |= 1u << i;
      }
    } else {
      v->count += 1;
      v->errors += err;
    }
  }
  struct syscall_slot_entry *e = 0;
  if (i >= 0 && i < SYSCALL_SLOT_NRS) {
    e = &slot->entry[i];
    e->count += 1;
    e->errors += err;
  }
  if (!sampled) return;
  __u64 start = slot->start_ns;
  slot->start_ns = 0;
  if (slot->sample_nr != nr) return;
  __u64 d = bpf_ktime_get_ns() - start;
  __u32 weight = slot->weight;
  /* In the slot unless the entry's timed count or max would overflow. */
  if (e && e->timed < SYSCALL_SLOT_TIMED_MAX && d <= 0xffffffffull) {
    e->total_ns += d * weight;
    e->timed += 1;
    if (d > e->max_ns) e->max_ns = d;
    return;
  }
  if (!v) {
    k.tgid = slot->owner >> 32; /* e is set: the owner's entry */
    k.tid = (__u32)slot->owner;
    v = bpf_map_lookup_elem(&stats, &k);
  }
  if (v) time_in_stats(v, d, weight);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(scope_sys_exit, struct pt_regs *regs, long ret) {
  count_exit(regs, ret);
  __u32 nr = (__u32)regs->orig_ax;
  if (dispatch_enabled && dispatched_nr(nr)) bpf_tail_call(ctx, &exit_handlers, nr);
  return 0;
}

/* The exiting thread's slot entries into `stats`, and the slot freed. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(scope_sys_thread_exit) {
  struct task_struct *task = bpf_get_current_task_btf();
  __u64 rid = regs_id((const void *)bpf_task_pt_regs(task));
  __u32 si = SYSCALL_SLOT_OF(rid);
  struct syscall_slot *slot = bpf_map_lookup_elem(&slots, &si);
  /* The task, not its tid: a thread's tid changes when it execs from a non-leader. */
  if (!slot || !slot->owner || slot->owner_regs != rid || slot->owner_task != (__u64)task) return 0;
  for (__u32 j = 0; j < SYSCALL_SLOT_NRS; j++) flush_entry(slot, j);
  asm volatile("" ::: "memory"); /* free only after the entries are out */
  slot->owner = 0;
  return 0;
}
