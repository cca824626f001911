// SPDX-License-Identifier: GPL-2.0
/* CUDA runtime and driver probes.
 *
 * A handful of generic programs, each attached to many API symbols with the
 * call id (enum cuda_call) as the attach cookie:
 *   call_entry / call_return   entry+return of calls that need a duration,
 *                              a return value or an out-pointer;
 *   driver_launch              entry only: the hot path (one trap per launch);
 *   name_entry / name_return   cuModuleGetFunction & co: name -> handle;
 *   loader_debug_state         ld.so's _dl_debug_state: a dlopen happened.
 *
 * Exactly once: state from a probed entry to its return lives in `inflight`,
 * keyed by thread id. A probed call made while another is in flight on the
 * same thread (the runtime entering the driver) only bumps `depth` and is
 * reported as part of the outer call. A driver launch inside a probed runtime
 * launch completes that launch's event (handle, stub and call all known) and
 * marks it consumed so the runtime return does not report it again. */
// vmlinux.h first, then libbpf's headers, which need its types.
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/cuda.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

#define SIGSTOP 19

#ifndef PT_REGS_PARM6 /* libbpf 1.1 stops at five */
#define PT_REGS_PARM6(x) (((const struct pt_regs *)(x))->r9)
#endif

/* Wake the reader only once this much is pending; it polls meanwhile. */
const volatile __u64 wakeup_bytes = 1 << 20;
/* System-wide tracing: stop a process that opens a CUDA library at the
 * loader's next _dl_debug_state (the library is mapped, none of its code has
 * run) until the agent has attached to it. */
const volatile bool hold_cuda_loads = false;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 32 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32); /* tid */
  __type(value, struct cuda_inflight);
} inflight SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32); /* tid */
  __type(value, struct cuda_inflight);
} name_inflight SEC(".maps");

/* Events lost because the ring buffer was full: [0] cuda, [1] names, [2] loader. */
SCOPE_DROPPED_COUNTERS(4)

struct call_prop {
  __u8 layer, op, args, kind, async, mem;
};

#define CUDA_CALL_PROP(id, sym, layer, op, args, kind, async, mem) \
  [id] = {CUDA_LAYER_##layer, CUDA_OP_##op, ARGS_##args, kind, async, mem},
static const struct call_prop props[CALL_COUNT] = {CUDA_CALLS(CUDA_CALL_PROP)};

static __always_inline const struct call_prop *prop_of(__u64 call) {
  if (call >= CALL_COUNT) return 0;
  return &props[call];
}

static __always_inline void fill_header(struct cuda_event *ev, __u64 pid_tgid, __u16 call,
                                        const struct call_prop *p) {
  ev->record = REC_CUDA;
  ev->pid = pid_tgid >> 32;
  ev->tid = (__u32)pid_tgid;
  ev->call = call;
  ev->op = p->op;
  ev->flags = p->async ? CUDA_F_ASYNC : 0;
  ev->kind = p->kind;
  ev->mem = p->mem;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

/* Stack arguments: at a uprobe on the first instruction, [rsp] is the return
 * address and the 7th integer argument is at [rsp+8]. */
static __always_inline void read_stack_args(struct pt_regs *ctx, __u64 *out, int n) {
  bpf_probe_read_user(out, n * sizeof(__u64), (void *)(PT_REGS_SP(ctx) + 8));
}

static __always_inline void read_launch_args(struct pt_regs *ctx, __u8 args,
                                             struct cuda_event *ev) {
  __u64 stack[3] = {};
  switch (args) {
    case ARGS_RT_LAUNCH: /* func, grid.xy, grid.z, block.xy, block.z, args; smem, stream */
    case ARGS_RT_LAUNCH_KERNEL:
      if (args == ARGS_RT_LAUNCH) {
        ev->stub = PT_REGS_PARM1(ctx);
      } else {
        /* The kernel handle names nothing by itself, but the caller is nvcc's
         * __device_stub__<mangled kernel>: keep the return address. */
        ev->handle = PT_REGS_PARM1(ctx);
        bpf_probe_read_user(&ev->stub, sizeof(ev->stub), (void *)PT_REGS_SP(ctx));
        ev->flags |= CUDA_F_STUB_IS_CALLER;
      }
      ev->grid[0] = (__u32)PT_REGS_PARM2(ctx);
      ev->grid[1] = PT_REGS_PARM2(ctx) >> 32;
      ev->grid[2] = (__u32)PT_REGS_PARM3(ctx);
      ev->block[0] = (__u32)PT_REGS_PARM4(ctx);
      ev->block[1] = PT_REGS_PARM4(ctx) >> 32;
      ev->block[2] = (__u32)PT_REGS_PARM5(ctx);
      read_stack_args(ctx, stack, 2);
      ev->shared_mem = (__u32)stack[0];
      ev->stream = stack[1];
      break;
    case ARGS_RT_LAUNCH_EXC: { /* (const cudaLaunchConfig_t *, func, args) */
      __u32 dims[6] = {};
      __u64 tail[2] = {};
      void *cfg = (void *)PT_REGS_PARM1(ctx);
      bpf_probe_read_user(dims, sizeof(dims), cfg);
      bpf_probe_read_user(tail, sizeof(tail), cfg + 24);
      ev->stub = PT_REGS_PARM2(ctx);
      ev->grid[0] = dims[0], ev->grid[1] = dims[1], ev->grid[2] = dims[2];
      ev->block[0] = dims[3], ev->block[1] = dims[4], ev->block[2] = dims[5];
      ev->shared_mem = (__u32)tail[0];
      ev->stream = tail[1];
      break;
    }
    case ARGS_DRV_LAUNCH: /* f, gx, gy, gz, bx, by; bz, smem, stream */
      ev->handle = PT_REGS_PARM1(ctx);
      ev->grid[0] = (__u32)PT_REGS_PARM2(ctx);
      ev->grid[1] = (__u32)PT_REGS_PARM3(ctx);
      ev->grid[2] = (__u32)PT_REGS_PARM4(ctx);
      ev->block[0] = (__u32)PT_REGS_PARM5(ctx);
      ev->block[1] = (__u32)PT_REGS_PARM6(ctx);
      read_stack_args(ctx, stack, 3);
      ev->block[2] = (__u32)stack[0];
      ev->shared_mem = (__u32)stack[1];
      ev->stream = stack[2];
      break;
    case ARGS_DRV_LAUNCH_EX: { /* (const CUlaunchConfig *, f, params, extra) */
      __u32 dims[8] = {};
      void *cfg = (void *)PT_REGS_PARM1(ctx);
      bpf_probe_read_user(dims, sizeof(dims), cfg);
      ev->handle = PT_REGS_PARM2(ctx);
      ev->grid[0] = dims[0], ev->grid[1] = dims[1], ev->grid[2] = dims[2];
      ev->block[0] = dims[3], ev->block[1] = dims[4], ev->block[2] = dims[5];
      ev->shared_mem = dims[6];
      bpf_probe_read_user(&ev->stream, sizeof(ev->stream), cfg + 32);
      break;
    }
  }
}

/* Arguments of everything but launches and name calls. */
static __always_inline void read_call_args(struct pt_regs *ctx, const struct call_prop *p,
                                           struct cuda_inflight *st) {
  struct cuda_event *ev = &st->ev;
  switch (p->args) {
    case ARGS_ALLOC: /* (void **out, size_t bytes[, stream | flags]) */
      st->out_ptr = PT_REGS_PARM1(ctx);
      ev->bytes = PT_REGS_PARM2(ctx);
      if (p->async) ev->stream = PT_REGS_PARM3(ctx);
      break;
    case ARGS_FREE:
      ev->ptr = PT_REGS_PARM1(ctx);
      if (p->async) ev->stream = PT_REGS_PARM2(ctx);
      break;
    case ARGS_RT_MEMCPY: /* (dst, src, bytes, kind[, stream]) */
      ev->ptr = PT_REGS_PARM1(ctx);
      ev->bytes = PT_REGS_PARM3(ctx);
      ev->kind = (__u8)PT_REGS_PARM4(ctx);
      if (p->async) ev->stream = PT_REGS_PARM5(ctx);
      break;
    case ARGS_DRV_MEMCPY: /* (dst, src, bytes[, stream]) */
      ev->ptr = PT_REGS_PARM1(ctx);
      ev->bytes = PT_REGS_PARM3(ctx);
      if (p->async) ev->stream = PT_REGS_PARM4(ctx);
      break;
    case ARGS_MEMSET: /* (dst, value, bytes[, stream]) */
      ev->ptr = PT_REGS_PARM1(ctx);
      ev->bytes = PT_REGS_PARM3(ctx);
      if (p->async) ev->stream = PT_REGS_PARM4(ctx);
      break;
    case ARGS_DRV_MEMSET_D32:
      ev->ptr = PT_REGS_PARM1(ctx);
      ev->bytes = PT_REGS_PARM3(ctx) * 4;
      if (p->async) ev->stream = PT_REGS_PARM4(ctx);
      break;
    case ARGS_STREAM0:
      ev->stream = PT_REGS_PARM1(ctx);
      break;
    case ARGS_GRAPH:
      ev->handle = PT_REGS_PARM1(ctx);
      ev->stream = PT_REGS_PARM2(ctx);
      break;
    default:
      read_launch_args(ctx, p->args, ev);
      break;
  }
}

static struct cuda_inflight zero_inflight;

/* The per-thread state of a call entering: NULL when another probed call is
 * already in flight on this thread in `map` (this one is then part of it) or
 * when the map is full. */
static __always_inline struct cuda_inflight *begin_call(void *map, __u32 tid) {
  struct cuda_inflight *st = bpf_map_lookup_elem(map, &tid);
  if (st) {
    if (st->depth < 255) st->depth++;
    return 0;
  }
  if (bpf_map_update_elem(map, &tid, &zero_inflight, BPF_ANY)) return 0;
  return bpf_map_lookup_elem(map, &tid);
}

/* The state of the outermost call returning on this thread; NULL for a nested
 * call's return (which only unwinds the depth) or a call entered unseen. */
static __always_inline struct cuda_inflight *end_call(void *map, __u32 tid) {
  struct cuda_inflight *st = bpf_map_lookup_elem(map, &tid);
  if (!st) return 0;
  if (st->depth) {
    st->depth--;
    return 0;
  }
  return st;
}

SEC("uprobe")
int call_entry(struct pt_regs *ctx) {
  __u64 call = bpf_get_attach_cookie(ctx);
  const struct call_prop *p = prop_of(call);
  if (!p) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  __u32 tid = (__u32)pid_tgid;

  struct cuda_inflight *st = begin_call(&inflight, tid);
  if (!st) return 0;
  st->call = call;
  fill_header(&st->ev, pid_tgid, call, p);
  read_call_args(ctx, p, st);
  st->start_ns = bpf_ktime_get_ns();
  return 0;
}

SEC("uretprobe")
int call_return(struct pt_regs *ctx) {
  __u64 now = bpf_ktime_get_ns();
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct cuda_inflight *st = end_call(&inflight, tid);
  if (!st) return 0;
  if (!st->consumed) {
    struct cuda_event *ev = &st->ev;
    ev->ts_ns = st->start_ns;
    ev->duration_ns = now - st->start_ns;
    ev->ret = (__s32)PT_REGS_RC(ctx);
    ev->flags |= CUDA_F_HAS_RET | CUDA_F_HAS_DURATION;
    if (ev->op == CUDA_OP_ALLOC && ev->ret == 0 && st->out_ptr)
      bpf_probe_read_user(&ev->ptr, sizeof(ev->ptr), (void *)st->out_ptr);
    if (bpf_ringbuf_output(&events, ev, sizeof(*ev), SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes)))
      count_drop(0);
  }
  bpf_map_delete_elem(&inflight, &tid);
  return 0;
}

/* The hot path: one trap, no return probe, no map write. */
SEC("uprobe")
int driver_launch(struct pt_regs *ctx) {
  __u64 call = bpf_get_attach_cookie(ctx);
  const struct call_prop *p = prop_of(call);
  if (!p) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  __u32 tid = (__u32)pid_tgid;

  struct cuda_inflight *st = bpf_map_lookup_elem(&inflight, &tid);
  if (st) {
    /* A probed runtime launch is in flight: this is its driver half. Report
     * once, now, with the runtime's call and stub and the driver's handle. */
    if (st->ev.op == CUDA_OP_LAUNCH && !st->consumed && st->depth == 0) {
      struct cuda_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
      if (!ev) {
        count_drop(0);
        return 0;
      }
      __builtin_memcpy(ev, &st->ev, sizeof(*ev));
      ev->ts_ns = st->start_ns;
      read_launch_args(ctx, p->args, ev);
      ev->stub = st->ev.stub;
      st->consumed = 1;
      bpf_ringbuf_submit(ev, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes));
    }
    return 0;
  }

  struct cuda_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(0);
    return 0;
  }
  fill_header(ev, pid_tgid, call, p);
  ev->ts_ns = bpf_ktime_get_ns();
  ev->duration_ns = 0;
  ev->ret = 0;
  ev->reserved = 0;
  ev->stub = 0;
  ev->ptr = 0;
  ev->bytes = 0;
  ev->reserved2 = 0;
  read_launch_args(ctx, p->args, ev);
  bpf_ringbuf_submit(ev, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes));
  return 0;
}

SEC("uprobe")
int name_entry(struct pt_regs *ctx) {
  __u64 call = bpf_get_attach_cookie(ctx);
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  __u32 tid = (__u32)pid_tgid;
  struct cuda_inflight *st = begin_call(&name_inflight, tid);
  if (!st) return 0;
  st->call = call;
  st->out_ptr = PT_REGS_PARM1(ctx);
  st->ev.handle = PT_REGS_PARM2(ctx); /* module, library or kernel */
  st->ev.ptr = PT_REGS_PARM3(ctx);    /* name (not for cuKernelGetFunction) */
  return 0;
}

SEC("uretprobe")
int name_return(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tid = (__u32)pid_tgid;
  struct cuda_inflight *st = end_call(&name_inflight, tid);
  if (!st) return 0;
  struct cuda_name_event *ne = bpf_ringbuf_reserve(&events, sizeof(*ne), 0);
  if (!ne) {
    count_drop(1);
    bpf_map_delete_elem(&name_inflight, &tid);
    return 0;
  }
  ne->record = REC_NAME;
  ne->pid = pid_tgid >> 32;
  ne->tid = tid;
  ne->call = st->call;
  ne->reserved = 0;
  ne->ret = (__s32)PT_REGS_RC(ctx);
  ne->parent = st->ev.handle;
  ne->handle = 0;
  bpf_probe_read_user(&ne->handle, sizeof(ne->handle), (void *)st->out_ptr);
  ne->name[0] = 0;
  ne->name_len = 0;
  if (st->call != CALL_cuKernelGetFunction && st->call != CALL___cudaGetKernel && st->ev.ptr) {
    long n = bpf_probe_read_user_str(ne->name, sizeof(ne->name), (void *)st->ev.ptr);
    ne->name_len = n > 0 ? n - 1 : 0;
  }
  /* Names are rare and the launches that follow need them: wake the reader. */
  bpf_ringbuf_submit(ne, BPF_RB_FORCE_WAKEUP);
  bpf_map_delete_elem(&name_inflight, &tid);
  return 0;
}

static __always_inline void emit_loader(__u32 what, __u32 pid, __u32 tid, __u32 ppid, bool hold) {
  struct loader_event *le = bpf_ringbuf_reserve(&events, sizeof(*le), 0);
  if (!le) {
    count_drop(2);
    return;
  }
  /* Stop first, then tell: the agent's SIGCONT can only come after the stop. */
  if (hold && bpf_send_signal(SIGSTOP) == 0)
    le->held = 1;
  else
    le->held = 0;
  le->record = REC_LOADER;
  le->pid = pid;
  le->tid = tid;
  le->what = what;
  le->ppid = ppid;
  le->ts_ns = bpf_ktime_get_ns();
  bpf_get_current_comm(le->comm, sizeof(le->comm));
  bpf_ringbuf_submit(le, BPF_RB_FORCE_WAKEUP);
}

/* Processes that opened a file named libcuda* (libcuda.so.1, libcudart.so.13)
 * and have not reached the loader's debug hook since. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32); /* tgid */
  __type(value, __u8);
} cuda_lib_opened SEC(".maps");

#define LIB_NAME_MAX 256

struct basename_scan {
  char name[LIB_NAME_MAX];
};

/* A per-CPU buffer: the path does not fit the BPF stack with room to spare. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct basename_scan);
} basename_buf SEC(".maps");

/* A libcuda's name ("libcuda.so.580.95.05") is far shorter than this: the
 * last '/' is looked for only this far from the end. */
#define LIB_BASENAME_WINDOW 48

/* A traced process opens a file: when its name is libcuda*, the loader's
 * hook will hold the process once the library is mapped. Runs for every
 * openat on the host under a system-wide trace: a bounded scan back from the
 * end of the path, no per-character callback. */
SEC("tp/syscalls/sys_enter_openat")
int cuda_lib_open(struct trace_event_raw_sys_enter *ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (!is_traced(tgid)) return 0;
  __u32 zero = 0;
  struct basename_scan *s = bpf_map_lookup_elem(&basename_buf, &zero);
  if (!s) return 0;
  long len = bpf_probe_read_user_str(s->name, sizeof(s->name), (const void *)ctx->args[1]);
  if (len <= 8) return 0;
  long end = len - 1; /* the NUL */
  long base = -1;
  for (int k = 1; k <= LIB_BASENAME_WINDOW; k++) {
    long i = end - k;
    if (i < 0) {
      base = 0;
      break;
    }
    if (s->name[i & (LIB_NAME_MAX - 1)] == '/') {
      base = i + 1;
      break;
    }
  }
  if (base < 0 || end - base < 7) return 0; /* a longer last name, or shorter than "libcuda" */
  const char want[7] = {'l', 'i', 'b', 'c', 'u', 'd', 'a'};
  for (int c = 0; c < 7; c++)
    if (s->name[(base + c) & (LIB_NAME_MAX - 1)] != want[c]) return 0;
  __u8 one = 1;
  bpf_map_update_elem(&cuda_lib_opened, &tgid, &one, BPF_ANY);
  return 0;
}

/* A process with a controlling terminal is never stopped by a system-wide
 * trace: its shell would see the stop and take the terminal back. */
static __always_inline bool has_tty(void) {
  struct task_struct *t = (struct task_struct *)bpf_get_current_task();
  return BPF_CORE_READ(t, signal, tty) != NULL;
}

/* Whether `tgid` is to be stopped at exec and dlopen until the agent has attached. */
static __always_inline bool held_at_loader(__u32 tgid) {
  __u32 *flags = bpf_map_lookup_elem(&traced, &tgid);
  return flags && (*flags & TRACED_HOLD);
}

/* At the loader's hook: a CUDA library was just mapped by a process that no
 * one asked to hold (system-wide tracing). */
static __always_inline bool hold_new_cuda_library(__u32 tgid) {
  if (!hold_cuda_loads || !bpf_map_lookup_elem(&cuda_lib_opened, &tgid)) return false;
  bpf_map_delete_elem(&cuda_lib_opened, &tgid);
  return !has_tty();
}

#define R_DEBUG_STATE_OFFSET 24 /* r_debug.r_state on x86-64 (<link.h>) */
#define RT_CONSISTENT 0

/* Whether the loader's objects are consistent at this call of its hook: glibc calls it with
 * r_state RT_ADD before mapping objects, RT_CONSISTENT once they are mapped (none of their code
 * run yet), RT_DELETE around dlclose. The cookie is `_r_debug`'s distance from the hook; 0 (not
 * known, another loader) counts every call. */
static __always_inline bool loader_consistent(struct pt_regs *ctx) {
  __s64 delta = (__s64)bpf_get_attach_cookie(ctx);
  if (!delta) return true;
  int state = RT_CONSISTENT;
  void *at = (void *)(PT_REGS_IP(ctx) + delta + R_DEBUG_STATE_OFFSET);
  if (bpf_probe_read_user(&state, sizeof(state), at)) return true;
  return state == RT_CONSISTENT;
}

/* ld.so calls _dl_debug_state when it has mapped new objects (program start
 * and every dlopen), before running their code. */
SEC("uprobe")
int loader_debug_state(struct pt_regs *ctx) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  __u32 tgid = pid_tgid >> 32;
  if (!is_traced(tgid) || !loader_consistent(ctx)) return 0;
  emit_loader(LOADER_DLOPEN, tgid, (__u32)pid_tgid, 0,
              held_at_loader(tgid) || hold_new_cuda_library(tgid));
  return 0;
}

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct loader_file);
  __type(value, __u8);
} hooked_loaders SEC(".maps");

#define AT_NULL 0
#define AT_BASE 7 /* the interpreter's load address; 0 for a static executable */

struct mapped_file_ctx {
  struct loader_file key;
  bool found;
};

static long file_of_vma(struct task_struct *task, struct vm_area_struct *vma, void *data) {
  struct mapped_file_ctx *c = data;
  struct file *f = vma->vm_file;
  if (!f) return 0;
  struct inode *in = f->f_inode;
  __u32 dev = in->i_sb->s_dev; /* the kernel's MKDEV: major << 20 | minor */
  c->key.major = dev >> 20;
  c->key.minor = dev & ((1u << 20) - 1);
  c->key.ino = in->i_ino;
  c->found = true;
  return 0;
}

/* Whether the task that just exec'd runs through an interpreter with the loader hook. */
static __always_inline bool interpreter_hooked(struct task_struct *p) {
  if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_find_vma)) return false;
  struct mm_struct *mm = p->mm;
  if (!mm) return false;
  __u64 base = 0;
  for (int i = 0; i + 1 < 56; i += 2) {
    __u64 type = mm->saved_auxv[i];
    if (type == AT_NULL) break;
    if (type == AT_BASE) {
      base = mm->saved_auxv[i + 1];
      break;
    }
  }
  if (!base) return false;
  struct mapped_file_ctx c = {};
  if (bpf_find_vma(p, base, file_of_vma, &c, 0) || !c.found) return false;
  return bpf_map_lookup_elem(&hooked_loaders, &c.key) != NULL;
}

/* A traced process asked to be held is held here only when no hooked loader will stop it
 * first: a static executable, or an interpreter scope has not seen yet (the agent attaches
 * the hook while the process waits). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) {
  __u32 tgid = BPF_CORE_READ(p, tgid);
  if (!is_traced(tgid)) return 0;
  emit_loader(LOADER_EXEC, tgid, BPF_CORE_READ(p, pid), BPF_CORE_READ(p, real_parent, tgid),
              held_at_loader(tgid) && !interpreter_hooked(p));
  return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p) {
  __u32 tid = BPF_CORE_READ(p, pid);
  __u32 tgid = BPF_CORE_READ(p, tgid);
  bpf_map_delete_elem(&inflight, &tid);
  bpf_map_delete_elem(&name_inflight, &tid);
  if (BPF_CORE_READ(p, signal, live.counter) != 0) return 0; /* not the last thread */
  if (!is_traced_tgid(tgid)) return 0;
  /* The exiting task is the current one: emit_loader's comm is its own. */
  emit_loader(LOADER_EXIT, tgid, tid, BPF_CORE_READ(p, exit_code), false);
  return 0;
}
