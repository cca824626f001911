// SPDX-License-Identifier: GPL-2.0
/* Keeps the shared `traced` map (bpf/include/scope_filter.bpf.h): children of
 * traced processes are traced with the same flags, a process that execs into
 * a matching comm (or lives in the matching cgroup) is added, and a process
 * leaves the map once freed, after every family has seen its exit. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_process_fork")
int BPF_PROG(targets_fork, struct task_struct *parent, struct task_struct *child) {
  if (!filter_enabled) return 0;
  __u32 ptgid = BPF_CORE_READ(parent, tgid);
  __u32 ctgid = BPF_CORE_READ(child, tgid);
  if (ptgid == ctgid) return 0; /* a thread */
  __u32 *flags = bpf_map_lookup_elem(&traced, &ptgid);
  if (!flags) return 0;
  __u32 f = *flags;
  bpf_map_update_elem(&traced, &ctgid, &f, BPF_ANY);
  return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(targets_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  if (!filter_enabled) return 0;
  /* Adds it when comm/cgroup match; scope's launched command is traced from here. */
  (void)is_traced_at_exec(BPF_CORE_READ(p, tgid));
  return 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(targets_free, struct task_struct *p) {
  __u32 pid = BPF_CORE_READ(p, pid);
  __u32 tgid = BPF_CORE_READ(p, tgid);
  if (pid == tgid) bpf_map_delete_elem(&traced, &tgid);
  return 0;
}
