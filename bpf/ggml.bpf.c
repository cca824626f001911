// SPDX-License-Identifier: GPL-2.0
/* ggml probes: graph compute on every backend (duration, n_nodes), the CPU
 * buffers' ggml_aligned_malloc/free, and on CUDA builds the libggml-cuda ops,
 * copies and pool allocations that exist in the binary. The cookie says what
 * a symbol is (GGML_COOKIE: call id, kind, graph argument). */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/ggml.h"
#include "scope_calls.bpf.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

/* Wake the reader only once this much is pending; it polls meanwhile. */
const volatile __u64 wakeup_bytes = 64 << 10;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 << 20);
} events SEC(".maps");

/* One map per kind of call that has a return probe: an allocation made inside
 * a graph compute is its own event, a backend's compute inside the
 * scheduler's is part of it. */
#define INFLIGHT_MAP(name)               \
  struct {                               \
    __uint(type, BPF_MAP_TYPE_HASH);     \
    __uint(max_entries, 16384);          \
    __type(key, __u32); /* tid */        \
    __type(value, struct ggml_inflight); \
  } name SEC(".maps")
INFLIGHT_MAP(graph_inflight);
INFLIGHT_MAP(alloc_inflight);
INFLIGHT_MAP(op_inflight);

/* Events lost because the ring buffer was full: [0] graph, [1] memory, [2] cuda ops. */
SCOPE_DROPPED_COUNTERS(3)
SCOPE_CALL_STATE(ggml_inflight)

static __always_inline void fill_header(struct ggml_event *ev, __u64 pid_tgid, __u64 cookie) {
  ev->pid = pid_tgid >> 32;
  ev->tid = (__u32)pid_tgid;
  ev->call = GGML_COOKIE_CALL(cookie);
  ev->kind = GGML_COOKIE_KIND(cookie);
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

static __always_inline int enter(struct pt_regs *ctx, void *map) {
  __u64 cookie = bpf_get_attach_cookie(ctx);
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  __u32 tid = (__u32)pid_tgid;
  struct ggml_inflight *st =
      begin_ggml_inflight(map, tid, GGML_COOKIE_CALL(cookie), PT_REGS_SP(ctx));
  if (!st) return 0;
  struct ggml_event *ev = &st->ev;
  fill_header(ev, pid_tgid, cookie);
  /* Both read up front: a ctx pointer offset picked at run time is refused. */
  __u64 arg1 = PT_REGS_PARM1(ctx), arg2 = PT_REGS_PARM2(ctx), arg3 = PT_REGS_PARM3(ctx);
  asm volatile("" : "+r"(arg1), "+r"(arg2), "+r"(arg3));
  switch (ev->kind) {
    case GGML_KIND_GRAPH: {
      __u64 graph = GGML_COOKIE_ARG(cookie) == 1 ? arg1 : arg2;
      ev->ptr = graph;
      if (graph)
        bpf_probe_read_user(&ev->nodes, sizeof(ev->nodes),
                            (void *)(graph + GGML_CGRAPH_N_NODES_OFFSET));
      break;
    }
    case GGML_KIND_ALLOC:
      ev->bytes = arg1;
      break;
    case GGML_KIND_CUDA_ALLOC: /* pool->alloc(this, size, &actual) */
      ev->bytes = arg2;
      break;
    case GGML_KIND_CUDA_FREE: /* pool->free(this, ptr, size) */
      ev->ptr = arg2;
      ev->bytes = arg3;
      break;
  }
  ev->ts_ns = bpf_ktime_get_ns();
  return 0;
}

static __always_inline int leave(struct pt_regs *ctx, void *map, __u32 cause) {
  __u64 now = bpf_ktime_get_ns();
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct ggml_inflight *st = end_ggml_inflight(map, tid, PT_REGS_SP(ctx));
  if (!st) return 0;
  struct ggml_event *ev = &st->ev;
  ev->duration_ns = now - ev->ts_ns;
  if (ev->kind == GGML_KIND_ALLOC || ev->kind == GGML_KIND_CUDA_ALLOC) {
    ev->ptr = PT_REGS_RC(ctx);
  } else if (ev->kind == GGML_KIND_GRAPH) {
    ev->ret = (__s32)PT_REGS_RC(ctx);
    ev->flags |= GGML_F_HAS_RET;
    ev->nested = st->nested;
  }
  if (bpf_ringbuf_output(&events, ev, sizeof(*ev), SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes)))
    count_drop(cause);
  bpf_map_delete_elem(map, &tid);
  return 0;
}

SEC("uprobe")
int graph_entry(struct pt_regs *ctx) { return enter(ctx, &graph_inflight); }

SEC("uretprobe")
int graph_return(struct pt_regs *ctx) { return leave(ctx, &graph_inflight, 0); }

SEC("uprobe")
int alloc_entry(struct pt_regs *ctx) { return enter(ctx, &alloc_inflight); }

SEC("uretprobe")
int alloc_return(struct pt_regs *ctx) { return leave(ctx, &alloc_inflight, 1); }

SEC("uprobe")
int op_entry(struct pt_regs *ctx) { return enter(ctx, &op_inflight); }

SEC("uretprobe")
int op_return(struct pt_regs *ctx) { return leave(ctx, &op_inflight, 2); }

/* ggml_aligned_free(ptr, size): entry only. */
SEC("uprobe")
int free_entry(struct pt_regs *ctx) {
  __u64 cookie = bpf_get_attach_cookie(ctx);
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  struct ggml_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
  if (!ev) {
    count_drop(1);
    return 0;
  }
  fill_header(ev, pid_tgid, cookie);
  ev->ts_ns = bpf_ktime_get_ns();
  ev->duration_ns = 0;
  ev->ptr = PT_REGS_PARM1(ctx);
  ev->bytes = PT_REGS_PARM2(ctx);
  ev->flags = 0;
  ev->nodes = 0;
  ev->ret = 0;
  ev->nested = 0;
  bpf_ringbuf_submit(ev, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes));
  return 0;
}

/* A thread that dies inside a probed call leaves no state behind. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(ggml_exit, struct task_struct *p) {
  __u32 tid = BPF_CORE_READ(p, pid);
  bpf_map_delete_elem(&graph_inflight, &tid);
  bpf_map_delete_elem(&alloc_inflight, &tid);
  bpf_map_delete_elem(&op_inflight, &tid);
  return 0;
}
