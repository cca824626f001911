// SPDX-License-Identifier: GPL-2.0
/* libllama probes: decode/encode (tokens in the batch, duration, result),
 * model load (path, duration), context creation (n_ctx, n_batch, ...) and
 * frees. Two generic programs attached to every symbol, the call id
 * (enum llama_call) as the attach cookie. One event per outermost call. */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpf/shared/llama.h"
#include "scope_calls.bpf.h"
#include "scope_events.bpf.h"
#include "scope_filter.bpf.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

/* Wake the reader only once this much is pending; it polls meanwhile. */
const volatile __u64 wakeup_bytes = 64 << 10;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32); /* tid */
  __type(value, struct llama_inflight);
} inflight SEC(".maps");

SCOPE_DROPPED_COUNTERS(1)
SCOPE_CALL_STATE(llama_inflight)

struct call_prop {
  __u8 op, args;
};
#define LLAMA_CALL_PROP(id, sym, op, args) [id] = {LLAMA_OP_##op, LLAMA_ARGS_##args},
static const struct call_prop props[LLAMA_CALL_COUNT] = {LLAMA_CALLS(LLAMA_CALL_PROP)};

SEC("uprobe")
int llama_entry(struct pt_regs *ctx) {
  __u64 call = bpf_get_attach_cookie(ctx);
  if (call == 0 || call >= LLAMA_CALL_COUNT) return 0;
  const struct call_prop *p = &props[call];
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if (!is_traced(pid_tgid >> 32)) return 0;
  __u32 tid = (__u32)pid_tgid;
  struct llama_inflight *st = begin_llama_inflight(&inflight, tid, call, PT_REGS_SP(ctx));
  if (!st) return 0;
  struct llama_event *ev = &st->ev;
  ev->pid = pid_tgid >> 32;
  ev->tid = tid;
  ev->call = call;
  ev->op = p->op;
  bpf_get_current_comm(ev->comm, sizeof(ev->comm));
  void *stack_arg = (void *)(PT_REGS_SP(ctx) + 8); /* a by-value struct */
  switch (p->args) {
    case LLAMA_ARGS_CTX_BATCH:
      ev->handle = PT_REGS_PARM1(ctx);
      bpf_probe_read_user(&ev->n_tokens, sizeof(ev->n_tokens), stack_arg);
      break;
    case LLAMA_ARGS_PATH: {
      long n = bpf_probe_read_user_str(ev->path, sizeof(ev->path), (void *)PT_REGS_PARM1(ctx));
      ev->path_len = n > 0 ? n - 1 : 0;
      break;
    }
    case LLAMA_ARGS_PATHS: {
      __u64 first = 0;
      if (PT_REGS_PARM2(ctx) > 0)
        bpf_probe_read_user(&first, sizeof(first), (void *)PT_REGS_PARM1(ctx));
      long n = first ? bpf_probe_read_user_str(ev->path, sizeof(ev->path), (void *)first) : 0;
      ev->path_len = n > 0 ? n - 1 : 0;
      break;
    }
    case LLAMA_ARGS_MODEL_CPARAMS: {
      __u32 params[4] = {};
      ev->model = PT_REGS_PARM1(ctx);
      bpf_probe_read_user(params, sizeof(params), stack_arg);
      ev->n_ctx = params[0];
      ev->n_batch = params[1];
      ev->n_ubatch = params[2];
      ev->n_seq_max = params[3];
      break;
    }
    case LLAMA_ARGS_PTR:
      ev->handle = PT_REGS_PARM1(ctx);
      break;
  }
  ev->ts_ns = bpf_ktime_get_ns();
  return 0;
}

SEC("uretprobe")
int llama_return(struct pt_regs *ctx) {
  __u64 now = bpf_ktime_get_ns();
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  struct llama_inflight *st = end_llama_inflight(&inflight, tid, PT_REGS_SP(ctx));
  if (!st) return 0;
  struct llama_event *ev = &st->ev;
  ev->duration_ns = now - ev->ts_ns;
  if (ev->op == LLAMA_OP_DECODE || ev->op == LLAMA_OP_ENCODE) {
    ev->ret = (__s32)PT_REGS_RC(ctx);
  } else if (ev->op == LLAMA_OP_MODEL_LOAD || ev->op == LLAMA_OP_CONTEXT_CREATE) {
    ev->ret = (__s64)PT_REGS_RC(ctx);
    ev->handle = PT_REGS_RC(ctx);
  }
  __u64 size = ev->op == LLAMA_OP_MODEL_LOAD ? sizeof(*ev) : LLAMA_EVENT_SHORT;
  if (bpf_ringbuf_output(&events, ev, size, SCOPE_SUBMIT_FLAGS(&events, wakeup_bytes)))
    count_drop(0);
  bpf_map_delete_elem(&inflight, &tid);
  return 0;
}

/* A thread that dies inside a probed call leaves no state behind. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(llama_exit, struct task_struct *p) {
  __u32 tid = BPF_CORE_READ(p, pid);
  bpf_map_delete_elem(&inflight, &tid);
  return 0;
}
