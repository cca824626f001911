// SPDX-License-Identifier: GPL-2.0
/* The exec family: every execve/execveat (successful or not) with its
 * filename and argv read in the kernel, and every process exit.
 *
 *   sys_enter_execve(at)  read filename + argv into `inflight[tid]` (user
 *                         memory is gone once the exec succeeds);
 *   sched_process_exec    strings unreadable at entry (a child's literals
 *                         right after fork) read from the kernel's copies; a
 *                         thread that execs takes the tgid as its tid: move
 *                         its entry to the new key;
 *   sys_exit_execve(at)   add ret, the new comm, ppid; one ring record;
 *   sched_process_exit    the last thread of a process: exit code, lifetime.
 *
 * Filter: the process must be traced (scope_filter.bpf.h). With --comm the
 * comm to match is the new program's, known only at the return, so with a
 * comm filter every exec is read at entry and decided at the return. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/exec.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
#include "scope_syscall_dispatch.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

/* Wake the reader only once this much is pending; it polls every 5 ms. */
#define WAKEUP_BYTES (256 << 10)

struct exec_record {
  struct exec_event ev;
  char data[EXEC_DATA_BUF];
  /* The call's arguments, to read them again when the entry could not (not sent). */
  __u64 filename_uptr;
  __u64 argv_uptr;
};

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Execs between their entry and return, by tid. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, struct exec_record);
} inflight SEC(".maps");

/* Where a record is built before it goes into `inflight` (too big for the stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct exec_record);
} scratch SEC(".maps");

SCOPE_DROPPED_COUNTERS(EXEC_DROP_SLOTS)

/* Reads the filename and argv into `r` (flags and lengths set; the call's own flags kept). */
static __always_inline void read_args(struct exec_record *r, const char *filename,
                                      const char *const *argv) {
  r->ev.flags &= ~(EXEC_F_ARGV_TRUNCATED | EXEC_F_FILENAME_TRUNCATED | EXEC_F_ARGV_FAULT |
                   EXEC_F_FILENAME_FAULT | EXEC_F_FROM_KERNEL);
  long n = bpf_probe_read_user_str(r->data, EXEC_MAX_FILENAME, filename);
  __u32 fl;
  if (n <= 0) {
    r->data[0] = 0;
    fl = 1;
    r->ev.flags |= EXEC_F_FILENAME_FAULT;
  } else {
    fl = n;
    if (fl >= EXEC_MAX_FILENAME) {
      fl = EXEC_MAX_FILENAME;
      r->ev.flags |= EXEC_F_FILENAME_TRUNCATED;
    }
  }
  r->ev.filename_len = fl;

  __u64 used = 0; /* 64-bit: a 32-bit copy would hide its bound from the verifier */
  __u32 argc = 0;
  bool ended = false;
  for (int i = 0; i < EXEC_MAX_ARGS; i++) {
    const char *arg = 0;
    if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i])) {
      r->ev.flags |= EXEC_F_ARGV_FAULT;
      ended = true;
      break;
    }
    if (!arg) {
      ended = true;
      break;
    }
    if (used >= EXEC_MAX_ARGV_BYTES) {
      r->ev.flags |= EXEC_F_ARGV_TRUNCATED;
      ended = true;
      break;
    }
    __u64 off = (fl + used) & (EXEC_MAX_DATA - 1);
    __u64 size = EXEC_MAX_ARGV_BYTES - used;
    n = bpf_probe_read_user_str(&r->data[off], size, arg);
    if (n <= 0) {
      r->ev.flags |= EXEC_F_ARGV_FAULT;
      ended = true;
      break;
    }
    used += n;
    argc++;
    if ((__u64)n >= size) { /* cut (or an exact fit: counted as cut) */
      r->ev.flags |= EXEC_F_ARGV_TRUNCATED;
      ended = true;
      break;
    }
  }
  if (!ended) { /* 64 arguments read: is there a 65th? */
    const char *arg = 0;
    if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[EXEC_MAX_ARGS]) && arg)
      r->ev.flags |= EXEC_F_ARGV_TRUNCATED;
  }
  r->ev.argc = argc;
  r->ev.args_len = used;
}

static __always_inline int on_enter(const char *filename, const char *const *argv, __u32 dirfd,
                                    __u8 flags) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  /* With a comm filter, a match may come with the new program's comm. */
  if (!is_traced_at_exec(tgid) && !filter_comm) return 0;

  __u32 zero = 0;
  struct exec_record *r = bpf_map_lookup_elem(&scratch, &zero);
  if (!r) return 0;
  r->ev.kind = EXEC_KIND_EXEC;
  r->ev.flags = flags;
  r->ev.ts_ns = bpf_ktime_get_ns(); /* the entry time until the return */
  r->ev.dirfd = dirfd;
  /* A child that execs right after fork() may not have the pages of its string literals mapped
   * yet (fork copies no page table of a file mapping), and BPF cannot fault them in: such a
   * read is done again at the exec's end (exec_done, or on_exit when it failed). */
  r->filename_uptr = (__u64)filename;
  r->argv_uptr = (__u64)argv;
  read_args(r, filename, argv);
  if (bpf_map_update_elem(&inflight, &tid, r, BPF_ANY)) count_drop(EXEC_DROP_EXEC_INFLIGHT);
  return 0;
}

static __always_inline int on_exit(long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32, tid = (__u32)id;
  struct exec_record *r = bpf_map_lookup_elem(&inflight, &tid);
  if (!r) return 0;
  if (!is_traced(tgid)) { /* checked with the new comm after a successful exec */
    bpf_map_delete_elem(&inflight, &tid);
    return 0;
  }
  /* A failed exec whose strings were not readable at entry: the kernel has touched the filename
   * (and, when it got that far, argv) since. */
  if (ret < 0 && (r->ev.flags & (EXEC_F_FILENAME_FAULT | EXEC_F_ARGV_FAULT)))
    read_args(r, (const char *)r->filename_uptr, (const char *const *)r->argv_uptr);
  __u64 now = bpf_ktime_get_ns();
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  r->ev.duration_ns = now - r->ev.ts_ns;
  r->ev.ts_ns = now;
  r->ev.pid = tgid;
  r->ev.tid = tid;
  r->ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
  r->ev.ret = ret;
  r->ev.uid = (__u32)bpf_get_current_uid_gid();
  bpf_get_current_comm(r->ev.comm, sizeof(r->ev.comm));
  __u32 len = (__u32)r->ev.filename_len + r->ev.args_len;
  if (len > EXEC_MAX_DATA) len = EXEC_MAX_DATA;
  if (bpf_ringbuf_output(&events, r, sizeof(struct exec_event) + len,
                         SCOPE_SUBMIT_FLAGS(&events, WAKEUP_BYTES)))
    count_drop(EXEC_DROP_EXEC_RING);
  bpf_map_delete_elem(&inflight, &tid);
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int exec_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int execat_enter(struct trace_event_raw_sys_enter *ctx) {
  return on_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2],
                  (__u32)ctx->args[0], EXEC_F_EXECVEAT);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int exec_exit(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_execveat")
int execat_exit(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

/* The same calls as handlers of the syscalls family's dispatch (userspace
 * loads one set or the other). A successful exec returns in the new image,
 * still with the call's number in orig_ax. */
SEC("tp_btf/sys_enter")
int BPF_PROG(sd_exec_enter, struct pt_regs *regs, long id) {
  if (dispatched_compat()) return 0;
  return on_enter((const char *)SYSCALL_ARG0(regs), (const char *const *)SYSCALL_ARG1(regs), 0, 0);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sd_execat_enter, struct pt_regs *regs, long id) {
  if (dispatched_compat()) return 0;
  return on_enter((const char *)SYSCALL_ARG1(regs), (const char *const *)SYSCALL_ARG2(regs),
                  (__u32)SYSCALL_ARG0(regs), EXEC_F_EXECVEAT);
}

/* One handler for both exits: the entry's record says which call it was. */
SEC("tp_btf/sys_exit")
int BPF_PROG(sd_exec_exit, struct pt_regs *regs, long ret) {
  if (dispatched_compat()) return 0;
  return on_exit(ret);
}

/* A successful exec whose strings were not readable at entry: the kernel's copies, the filename
 * it opened and the new program's argv (on its fresh stack, just written). */
static __always_inline void read_from_kernel(struct exec_record *r, struct task_struct *p,
                                             struct linux_binprm *bprm) {
  const char *filename = BPF_CORE_READ(bprm, filename);
  long n = bpf_probe_read_kernel_str(r->data, EXEC_MAX_FILENAME, filename);
  if (n <= 0) return;
  __u32 fl = n;
  __u8 flags = r->ev.flags & ~(EXEC_F_ARGV_TRUNCATED | EXEC_F_FILENAME_TRUNCATED |
                               EXEC_F_ARGV_FAULT | EXEC_F_FILENAME_FAULT);
  if (fl >= EXEC_MAX_FILENAME) {
    fl = EXEC_MAX_FILENAME;
    flags |= EXEC_F_FILENAME_TRUNCATED;
  }
  __u64 start = BPF_CORE_READ(p, mm, arg_start);
  __u64 len = BPF_CORE_READ(p, mm, arg_end) - start;
  __u32 argc = BPF_CORE_READ(bprm, argc);
  if (len > EXEC_MAX_ARGV_BYTES) {
    len = EXEC_MAX_ARGV_BYTES;
    flags |= EXEC_F_ARGV_TRUNCATED;
  }
  if (argc > EXEC_MAX_ARGS) {
    argc = EXEC_MAX_ARGS;
    flags |= EXEC_F_ARGV_TRUNCATED;
  }
  __u64 off = fl & (EXEC_MAX_DATA - 1);
  if (len && bpf_probe_read_user(&r->data[off], len, (const void *)start)) {
    len = 0;
    argc = 0;
    flags |= EXEC_F_ARGV_FAULT;
  }
  r->ev.filename_len = fl;
  r->ev.args_len = len;
  r->ev.argc = argc;
  r->ev.flags = flags | EXEC_F_FROM_KERNEL;
}

/* The exec succeeded: strings the entry could not read are read again, and a non-leader
 * thread that exec'd takes over the tgid as its pid (de_thread), so its record moves. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_done, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  __u32 new_pid = BPF_CORE_READ(p, pid);
  __u32 old = old_pid;
  struct exec_record *r = bpf_map_lookup_elem(&inflight, &old);
  if (!r) return 0;
  if (r->ev.flags & (EXEC_F_FILENAME_FAULT | EXEC_F_ARGV_FAULT)) read_from_kernel(r, p, bprm);
  if (old == new_pid) return 0;
  if (bpf_map_update_elem(&inflight, &new_pid, r, BPF_ANY)) count_drop(EXEC_DROP_EXEC_INFLIGHT);
  bpf_map_delete_elem(&inflight, &old);
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exec_process_exit, struct task_struct *p) {
  __u32 tid = BPF_CORE_READ(p, pid);
  __u32 tgid = BPF_CORE_READ(p, tgid);
  /* A thread killed inside execve (another thread's exec) never returns. */
  bpf_map_delete_elem(&inflight, &tid);
  if (BPF_CORE_READ(p, signal, live.counter) != 0) return 0; /* not the last thread */
  if (!is_traced(tgid)) return 0;
  struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop(EXEC_DROP_EXIT_RING);
    return 0;
  }
  __u64 now = bpf_ktime_get_ns();
  e->kind = EXEC_KIND_EXIT;
  e->reserved0 = 0;
  e->reserved1 = 0;
  e->reserved2 = 0;
  e->pid = tgid;
  e->tid = tid;
  e->ppid = BPF_CORE_READ(p, real_parent, tgid);
  e->exit_code = BPF_CORE_READ(p, exit_code);
  e->ts_ns = now;
  e->lifetime_ns = now - BPF_CORE_READ(p, group_leader, start_time);
  BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
  bpf_ringbuf_submit(e, SCOPE_SUBMIT_FLAGS(&events, WAKEUP_BYTES));
  return 0;
}
