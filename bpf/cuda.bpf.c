// SPDX-License-Identifier: GPL-2.0
/* CUDA runtime and driver probes.
 *
 * A handful of generic programs, each attached to many API symbols with the
 * call id (enum cuda_call) as the attach cookie:
 *   call_entry / call_return   entry+return of calls that need a duration,
 *                              a return value or an out-pointer;
 *   driver_launch              entry only: the hot path (one trap per launch);
 *   name_entry / name_return   cuModuleGetFunction & co: name -> handle.
 * (Processes that load these libraries are found by the process watch,
 * bpf/watch.bpf.c.)
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

#ifndef PT_REGS_PARM6 /* libbpf 1.1 stops at five */
#define PT_REGS_PARM6(x) (((const struct pt_regs *)(x))->r9)
#endif

/* Wake the reader only once this much is pending; it polls meanwhile. */
const volatile __u64 wakeup_bytes = 1 << 20;

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

/* Events lost because the ring buffer was full, by enum cuda_drop. */
SCOPE_DROPPED_COUNTERS(CUDA_DROP_SLOTS)

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
      count_drop(CUDA_DROP_EVENT);
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
        count_drop(CUDA_DROP_EVENT);
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
    count_drop(CUDA_DROP_EVENT);
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
    count_drop(CUDA_DROP_NAME);
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

/* A thread that exits inside a probed call leaves no state behind. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(cuda_exit, struct task_struct *p) {
  __u32 tid = BPF_CORE_READ(p, pid);
  bpf_map_delete_elem(&inflight, &tid);
  bpf_map_delete_elem(&name_inflight, &tid);
  return 0;
}

/* scope's CUPTI injection library (bpf/shared/gpu_activity.h) handing over GPU records, a kernel
 * name, or its status. Called once a batch of up to GPU_BATCH_MAX records: entry only. */
SEC("uprobe")
int gpu_activity(struct pt_regs *ctx) {
  __u64 call = bpf_get_attach_cookie(ctx);
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  if (call == CALL_scope_gpu_records) {
    __u32 count = (__u32)PT_REGS_PARM2(ctx);
    if (count == 0) return 0;
    if (count > GPU_BATCH_MAX) count = GPU_BATCH_MAX;
    __u64 size = (__u64)count * sizeof(struct gpu_record);
    barrier_var(size); /* the verifier must see the bound on the register the helper gets */
    if (size > sizeof(((struct cuda_gpu_event *)0)->records))
      size = sizeof(((struct cuda_gpu_event *)0)->records);
    struct cuda_gpu_event *g = bpf_ringbuf_reserve(&events, sizeof(*g), 0);
    if (!g) {
      count_drop(CUDA_DROP_GPU);
      return 0;
    }
    g->record = REC_GPU;
    g->pid = pid_tgid >> 32;
    g->tid = (__u32)pid_tgid;
    bpf_get_current_comm(g->comm, sizeof(g->comm));
    if (bpf_probe_read_user(g->records, size, (const void *)PT_REGS_PARM1(ctx))) count = 0;
    g->count = count;
    bpf_ringbuf_submit(g, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes));
    return 0;
  }
  struct cuda_name_event *ne = bpf_ringbuf_reserve(&events, sizeof(*ne), 0);
  if (!ne) {
    count_drop(CUDA_DROP_GPU);
    return 0;
  }
  ne->record = call == CALL_scope_gpu_kernel_name ? REC_GPU_NAME : REC_GPU_STATUS;
  ne->pid = pid_tgid >> 32;
  ne->tid = (__u32)pid_tgid;
  ne->call = call;
  ne->reserved = 0;
  ne->handle = (__u32)PT_REGS_PARM1(ctx);
  ne->parent = 0;
  ne->ret = (__s32)PT_REGS_PARM1(ctx);
  long n = bpf_probe_read_user_str(ne->name, sizeof(ne->name), (const void *)PT_REGS_PARM2(ctx));
  ne->name_len = n > 0 ? n - 1 : 0;
  if (n <= 0) ne->name[0] = 0;
  /* Records that follow need the name: wake the reader. */
  bpf_ringbuf_submit(ne, BPF_RB_FORCE_WAKEUP);
  return 0;
}
