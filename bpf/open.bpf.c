// SPDX-License-Identifier: GPL-2.0
/* open, creat, openat and openat2, with the path made absolute.
 *
 * sys_enter_* saves the user pointer, dirfd and flags per thread; sys_exit_*
 * reads the path (after the syscall the kernel has faulted its page in, so
 * the read does not fail the way a read at entry can) and emits one record
 * with the return value. For a relative path the record also carries the
 * names of the directory it is relative to (the cwd for AT_FDCWD, otherwise
 * the dirfd's file), walked from the dentry up through d_parent and across
 * mount points to the process's root; userspace joins and normalises. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/open.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
#include "scope_kernel.bpf.h"
#include "scope_syscall_dispatch.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100

/* Wake the reader only once this much is pending; it polls every 5 ms. */
const volatile __u64 wakeup_bytes = 256 << 10;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 << 20);
} events SEC(".maps");

/* An array, not a hash: an inlined lookup, no element to allocate at entry
 * and delete at exit. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, OPEN_SLOTS);
  __type(key, __u32); /* tid % OPEN_SLOTS */
  __type(value, struct open_start);
} starts SEC(".maps");

/* Opens lost: [0] the ring buffer was full, [1] another thread's open took
 * the slot (tids equal modulo OPEN_SLOTS, both in an open at once). */
SCOPE_DROPPED_COUNTERS(2)

static __always_inline int on_enter(__u32 call, __s32 dfd, __u64 filename, __u64 flags) {
  __u64 id = bpf_get_current_pid_tgid();
  if (!is_traced(id >> 32)) return 0;
  __u32 tid = (__u32)id, si = tid % OPEN_SLOTS;
  struct open_start *st = bpf_map_lookup_elem(&starts, &si);
  if (!st) return 0;
  if (st->ts_ns && st->tid != tid) count_drop(1);
  st->ts_ns = bpf_ktime_get_ns();
  st->filename = filename;
  st->flags = flags;
  st->dfd = dfd;
  st->call = call;
  st->tid = tid;
  return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int tp_enter_open(struct trace_event_raw_sys_enter *ctx) {
  return on_enter(OPEN_CALL_OPEN, AT_FDCWD, ctx->args[0], (__u32)ctx->args[1]);
}

/* creat(path, mode) is open(path, O_CREAT | O_WRONLY | O_TRUNC, mode). */
#define CREAT_FLAGS (00000100 | 01 | 00001000)

SEC("tracepoint/syscalls/sys_enter_creat")
int tp_enter_creat(struct trace_event_raw_sys_enter *ctx) {
  return on_enter(OPEN_CALL_CREAT, AT_FDCWD, ctx->args[0], CREAT_FLAGS);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_enter_openat(struct trace_event_raw_sys_enter *ctx) {
  return on_enter(OPEN_CALL_OPENAT, (__s32)ctx->args[0], ctx->args[1], (__u32)ctx->args[2]);
}

static __always_inline int on_enter_openat2(__s32 dfd, __u64 filename, __u64 how_ptr) {
  struct open_how how = {};
  bpf_probe_read_user(&how, sizeof(how), (void *)how_ptr);
  return on_enter(OPEN_CALL_OPENAT2, dfd, filename, how.flags);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int tp_enter_openat2(struct trace_event_raw_sys_enter *ctx) {
  return on_enter_openat2((__s32)ctx->args[0], ctx->args[1], ctx->args[2]);
}

/* The same calls as handlers of the syscalls family's dispatch (userspace
 * loads one set or the other). */
SEC("tp_btf/sys_enter")
int BPF_PROG(sd_enter_open, struct pt_regs *regs, long id) {
  if (dispatched_compat()) return 0;
  return on_enter(OPEN_CALL_OPEN, AT_FDCWD, SYSCALL_ARG0(regs), (__u32)SYSCALL_ARG1(regs));
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sd_enter_creat, struct pt_regs *regs, long id) {
  if (dispatched_compat()) return 0;
  return on_enter(OPEN_CALL_CREAT, AT_FDCWD, SYSCALL_ARG0(regs), CREAT_FLAGS);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sd_enter_openat, struct pt_regs *regs, long id) {
  if (dispatched_compat()) return 0;
  return on_enter(OPEN_CALL_OPENAT, (__s32)SYSCALL_ARG0(regs), SYSCALL_ARG1(regs),
                  (__u32)SYSCALL_ARG2(regs));
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sd_enter_openat2, struct pt_regs *regs, long id) {
  if (dispatched_compat()) return 0;
  return on_enter_openat2((__s32)SYSCALL_ARG0(regs), SYSCALL_ARG1(regs), SYSCALL_ARG2(regs));
}

/* Where a record is built before bpf_ringbuf_output copies out only the
 * bytes used (the syscall tracepoints run with preemption disabled). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct open_event_rel);
} scratch SEC(".maps");

/* Bytes after `path` where names may go: a name is only copied while a whole
 * OPEN_COMP_MAX fits below this. */
#define OPEN_DATA_MAX (sizeof(struct open_event_rel) - OPEN_EVENT_HDR)

/* The walk from a directory up to the process's root, one step per
 * bpf_loop iteration (verified once, not once per step). */
struct walk_ctx {
  struct open_event_rel *rec;
  struct dentry *dentry;
  struct vfsmount *vfsmnt;
  struct dentry *mnt_root; /* vfsmnt->mnt_root */
  struct dentry *root_dentry;
  struct vfsmount *root_mnt;
  __u32 off; /* next name's offset from rec->ev.path */
  __u32 n;
  __u32 done;
};

static long walk_step(__u32 index, void *data) {
  struct walk_ctx *w = data;
  struct dentry *dentry = w->dentry;
  struct vfsmount *vfsmnt = w->vfsmnt;
  if (!dentry || (dentry == w->root_dentry && vfsmnt == w->root_mnt)) {
    w->done = 1;
    return 1;
  }
  if (dentry == w->mnt_root) {
    struct mount *mnt = KERNEL(struct mount, container_of(vfsmnt, struct mount, mnt));
    struct mount *parent = mnt->mnt_parent;
    if (!parent || parent == container_of(vfsmnt, struct mount, mnt)) {
      w->done = 1;
      return 1;
    }
    w->dentry = mnt->mnt_mountpoint;
    w->vfsmnt = &parent->mnt;
    w->mnt_root = KERNEL(struct mount, parent)->mnt.mnt_root;
    return 0;
  }
  struct dentry *d = KERNEL(struct dentry, dentry);
  struct dentry *up = d->d_parent;
  if (!up || up == dentry) {
    w->done = 1;
    return 1;
  }
  __u32 n = w->n;
  __u32 off = w->off;
  struct open_event_rel *rec = w->rec;
  if (n >= OPEN_COMPS || off > OPEN_DATA_MAX - OPEN_COMP_MAX || !rec) return 1;
  __u32 len = d->d_name.len;
  const unsigned char *name = d->d_name.name;
  if (len > OPEN_COMP_MAX - 1) {
    rec->ev.eflags |= OPEN_F_DIR_NAME_TRUNCATED;
    len = OPEN_COMP_MAX - 1;
  }
  char *dst = rec->ev.path + off;
  if (bpf_probe_read_kernel(dst, len & (OPEN_COMP_MAX - 1), name)) len = 0;
  dst[len & (OPEN_COMP_MAX - 1)] = 0;
  w->off = off + (len & (OPEN_COMP_MAX - 1)) + 1;
  w->n = n + 1;
  w->dentry = up;
  return 0;
}

/* The directory names from `dentry` up to the process's root, leaf first,
 * packed after the path at offset `off`; returns the offset past them. */
static __always_inline __u32 walk_dir(struct open_event_rel *rec, __u32 off, struct dentry *dentry,
                                      struct vfsmount *vfsmnt, struct fs_struct *fs) {
  struct walk_ctx w = {
      .rec = rec,
      .dentry = dentry,
      .vfsmnt = vfsmnt,
      .mnt_root = KERNEL(struct vfsmount, vfsmnt)->mnt_root,
      .root_dentry = fs->root.dentry,
      .root_mnt = fs->root.mnt,
      .off = off,
  };
  rec->ev.eflags |= OPEN_F_DIR;
  bpf_loop(OPEN_COMPS + 16, walk_step, &w, 0);
  if (!w.done) rec->ev.eflags |= OPEN_F_DIR_TOO_DEEP;
  rec->ev.ndirs = w.n;
  return w.off;
}

static __always_inline int on_exit(long ret) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)id, si = tid % OPEN_SLOTS;
  struct open_start *sp = bpf_map_lookup_elem(&starts, &si);
  if (!sp || !sp->ts_ns || sp->tid != tid) return 0;
  struct open_start st = *sp;
  sp->ts_ns = 0;

  __u32 zero = 0;
  struct open_event_rel *rec = bpf_map_lookup_elem(&scratch, &zero);
  if (!rec) return 0;
  struct open_event *ev = &rec->ev;
  ev->ts_ns = st.ts_ns;
  ev->pid = id >> 32;
  ev->tid = tid;
  ev->ret = (__s32)ret;
  ev->dfd = st.dfd;
  ev->flags = st.flags;
  ev->call = st.call;
  ev->ndirs = 0;
  ev->eflags = 0;
  ev->dirs_len = 0;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  long len = bpf_probe_read_user_str(ev->path, sizeof(ev->path), (void *)st.filename);
  if (len <= 0) {
    ev->eflags |= OPEN_F_PATH_UNREADABLE;
    ev->path[0] = 0;
    len = 1;
  } else if (len == sizeof(ev->path)) {
    ev->eflags |= OPEN_F_PATH_TRUNCATED;
  }
  __u32 off = (__u32)len & (OPEN_PATH_MAX * 2 - 1); /* the path and its NUL; <= OPEN_PATH_MAX */
  if (off > OPEN_PATH_MAX) off = OPEN_PATH_MAX;
  ev->path_len = off - 1;

  /* A relative path also carries the directory it is relative to. */
  if (off > 1 && ev->path[0] != '/') {
    struct task_struct *task = KERNEL(struct task_struct, (void *)bpf_get_current_task());
    struct fs_struct *fs = KERNEL(struct fs_struct, task->fs);
    struct path dir = {};
    if (st.dfd == AT_FDCWD) {
      dir = fs->pwd;
    } else {
      struct fdtable *fdt = KERNEL(struct fdtable, KERNEL(struct files_struct, task->files)->fdt);
      struct file *f = 0;
      if (st.dfd >= 0 && (unsigned int)st.dfd < fdt->max_fds)
        bpf_probe_read_kernel(&f, sizeof(f), &fdt->fd[st.dfd]);
      if (f) dir = KERNEL(struct file, f)->f_path;
    }
    struct dentry *dentry = dir.dentry;
    struct vfsmount *vfsmnt = dir.mnt;
    if (dentry && vfsmnt) {
      __u32 end = walk_dir(rec, off, dentry, vfsmnt, fs);
      if (end > OPEN_DATA_MAX) end = OPEN_DATA_MAX;
      if (end > off) {
        ev->dirs_len = end - off;
        off = end;
      }
    } else {
      ev->eflags |= OPEN_F_DIR_UNKNOWN;
    }
  }

  __u64 size = OPEN_EVENT_HDR + (off & (OPEN_PATH_MAX * 8 - 1));
  if (size > sizeof(*rec)) size = sizeof(*rec);
  if (bpf_ringbuf_output(&events, rec, size, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes)))
    count_drop(0);
  return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int tp_exit_open(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_creat")
int tp_exit_creat(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_exit_openat(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat2")
int tp_exit_openat2(struct trace_event_raw_sys_exit *ctx) { return on_exit(ctx->ret); }

/* One handler for the four exits: the entry recorded which call it was. */
SEC("tp_btf/sys_exit")
int BPF_PROG(sd_exit_open, struct pt_regs *regs, long ret) {
  if (dispatched_compat()) return 0;
  return on_exit(ret);
}
