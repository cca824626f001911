// SPDX-License-Identifier: GPL-2.0
/* Scheduler statistics per thread, aggregated in the kernel.
 *
 *   sched_switch      prev: switches++, voluntary or involuntary, off_ts = now;
 *                     a preempted prev is still runnable, so its run-queue
 *                     wait starts now (wake_ts = now).
 *                     next: offcpu_ns += now - off_ts; runq_ns += now - wake_ts.
 *   sched_wakeup(_new) wake_ts = now (the run-queue wait starts).
 *   task_rename       keeps comm current (exec, prctl(PR_SET_NAME)).
 *
 * One hash lookup per task per switch (two with the filter on); nothing goes
 * through a ring buffer. A thread the full map cannot take is counted in
 * `dropped`. Entries stay after a thread exits (the agent retires them). */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/sched.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

#define E2BIG 7

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, SCHED_MAX_THREADS);
  __type(key, __u32); /* tid */
  __type(value, struct sched_thread);
} threads SEC(".maps");

/* Threads the full `threads` map could not take (enum sched_drop). */
SCOPE_DROPPED_COUNTERS(SCHED_DROP_COUNT)

/* The thread's entry, created when absent (NULL when the map is full). */
static __always_inline struct sched_thread *thread_of(__u32 tid, struct task_struct *p) {
  struct sched_thread *t = bpf_map_lookup_elem(&threads, &tid);
  if (t) return t;
  struct sched_thread init = {};
  init.tgid = p->tgid;
  bpf_probe_read_kernel_str(init.comm, sizeof(init.comm), p->comm);
  long err = bpf_map_update_elem(&threads, &tid, &init, BPF_NOEXIST);
  if (err == -E2BIG) {
    count_drop(SCHED_DROP_MAP_FULL);
    return 0;
  }
  return bpf_map_lookup_elem(&threads, &tid); /* ours, or another CPU's */
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
             unsigned int prev_state) {
  /* The filter first: an untraced switch costs a map lookup or two, no clock read. */
  __u32 prev_tid = prev->pid, next_tid = next->pid;
  /* prev is the current task: is_traced() may also match it by comm/cgroup. */
  struct sched_thread *out = prev_tid && is_traced(prev->tgid) ? thread_of(prev_tid, prev) : 0;
  struct sched_thread *in =
      next_tid && is_traced_tgid(next->tgid) ? bpf_map_lookup_elem(&threads, &next_tid) : 0;
  __u64 now = 0;
  if (out) {
    now = bpf_ktime_get_ns();
    out->switches++;
    out->off_ts = now;
    if (preempt || prev_state == 0) { /* still runnable: back to the run queue */
      out->involuntary++;
      out->wake_ts = now;
    } else {
      out->voluntary++;
      out->wake_ts = 0;
    }
  }
  if (in) {
    if (!now) now = bpf_ktime_get_ns();
    if (in->off_ts && now > in->off_ts) in->offcpu_ns += now - in->off_ts;
    if (in->wake_ts && now > in->wake_ts) {
      __u64 d = now - in->wake_ts;
      in->runq_ns += d;
      in->runq_waits++;
      if (d > in->runq_max_ns) in->runq_max_ns = d;
    }
    in->off_ts = 0;
    in->wake_ts = 0;
  }
  return 0;
}

static __always_inline void woken(struct task_struct *p, bool is_new) {
  __u32 tid = p->pid;
  if (!tid || !is_traced_tgid(p->tgid)) return;
  struct sched_thread *t = thread_of(tid, p);
  if (!t) return;
  __u64 now = bpf_ktime_get_ns();
  if (!t->wake_ts) t->wake_ts = now;
  if (is_new && !t->off_ts) t->off_ts = now; /* a new thread is off CPU until it first runs */
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p) {
  woken(p, false);
  return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p) {
  woken(p, true);
  return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(sched_task_rename, struct task_struct *task, const char *comm) {
  __u32 tid = task->pid;
  struct sched_thread *t = bpf_map_lookup_elem(&threads, &tid);
  if (t) bpf_probe_read_kernel_str(t->comm, sizeof(t->comm), comm);
  return 0;
}
