// SPDX-License-Identifier: GPL-2.0
/* Syscall counts, errors and latency per {process, thread, syscall},
 * aggregated in the kernel: no event per syscall ever leaves it.
 *
 *   sys_enter: traced? -> start time and number into per-task storage
 *   sys_exit:  latency = now - start; stats[{tgid, tid, nr}] += ...
 *
 * The hot path is two task-storage lookups, two clock reads and one hash
 * lookup. The filter (a hash lookup) runs only for tasks without a start
 * slot: a task found traced once keeps its slot, so a traced task's syscalls
 * skip it, and an untraced task pays one storage miss plus the filter. At
 * exit a task without a slot (or with no entry in flight) is skipped.
 * Userspace reads `stats` (and `comms`, written when a thread is first seen
 * with a syscall, so after exec too) every second. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/syscalls.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h */

/* scope's own process: its polling is not the workload. 0: none. */
const volatile __u32 self_tgid = 0;

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct syscall_start);
} starts SEC(".maps");

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

SCOPE_DROPPED_COUNTERS(SYSCALLS_DROP_COUNT)

SEC("tp_btf/sys_enter")
int BPF_PROG(scope_sys_enter, struct pt_regs *regs, long id) {
  struct task_struct *task = bpf_get_current_task_btf();
  /* A task with a start slot was found traced before: no filter lookup. */
  struct syscall_start *s = bpf_task_storage_get(&starts, task, 0, 0);
  if (!s) {
    __u32 tgid = task->tgid;
    if (tgid == self_tgid || !is_traced(tgid)) return 0;
    s = bpf_task_storage_get(&starts, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
    if (!s) {
      count_drop(SYSCALLS_DROP_NO_STORAGE);
      return 0;
    }
  }
  __u32 nr = (__u32)id;
  if (task->thread_info.status & TS_COMPAT) nr |= SYSCALL_NR_IA32;
  s->nr = nr;
  s->start_ns = bpf_ktime_get_ns();
  return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(scope_sys_exit, struct pt_regs *regs, long ret) {
  struct task_struct *task = bpf_get_current_task_btf();
  struct syscall_start *s = bpf_task_storage_get(&starts, task, 0, 0);
  if (!s || !s->start_ns) return 0;
  __u64 d = bpf_ktime_get_ns() - s->start_ns;
  s->start_ns = 0;
  struct syscall_key k = {.tgid = task->tgid, .tid = task->pid, .nr = s->nr};
  struct syscall_stats *v = bpf_map_lookup_elem(&stats, &k);
  if (v) {
    v->count += 1;
    if (ret < 0) v->errors += 1;
    v->total_ns += d;
    if (d > v->max_ns) v->max_ns = d;
    return 0;
  }
  /* A new {thread, syscall}: rare. The thread's comm is (re)written here, so
   * a name taken at exec replaces the pre-exec one with the next new syscall. */
  struct syscall_stats init = {.count = 1, .errors = ret < 0, .total_ns = d, .max_ns = d};
  long err = bpf_map_update_elem(&stats, &k, &init, BPF_NOEXIST);
  if (err) {
    count_drop(SYSCALLS_DROP_MAP_FULL);
    return 0;
  }
  struct syscall_thread t = {.tgid = k.tgid, .tid = k.tid};
  struct syscall_comm c;
  bpf_get_current_comm(c.comm, sizeof(c.comm));
  bpf_map_update_elem(&comms, &t, &c, BPF_ANY);
  return 0;
}
