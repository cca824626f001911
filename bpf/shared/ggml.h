/* Records shared by bpf/ggml.bpf.c and src/families/ggml_family.cpp.
 * Fixed-width fields only; sizes are static_assert'ed on both sides. Included
 * from BPF C (vmlinux.h types) and C++. */
#ifndef SCOPE_BPF_SHARED_GGML_H
#define SCOPE_BPF_SHARED_GGML_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* What a probed function does (the cookie's kind byte). */
enum ggml_kind {
  GGML_KIND_NONE = 0,
  GGML_KIND_GRAPH = 1,      /* graph compute: duration and the graph's n_nodes */
  GGML_KIND_ALLOC = 2,      /* ggml_aligned_malloc(size) -> ptr */
  GGML_KIND_FREE = 3,       /* ggml_aligned_free(ptr, size) */
  GGML_KIND_CUDA_OP = 4,    /* libggml-cuda: an op, a copy (duration on the host) */
  GGML_KIND_CUDA_ALLOC = 5, /* libggml-cuda: a pool's alloc(this, size, &actual) -> ptr */
  GGML_KIND_CUDA_FREE = 6,  /* libggml-cuda: a pool's free(this, ptr, size) */
};

/* The uprobe cookie: call id (bits 0-15), kind (16-23), and for GRAPH the
 * argument that holds the struct ggml_cgraph * (24-31: 1 or 2). */
#define GGML_COOKIE(call, kind, arg) ((__u64)(call) | ((__u64)(kind) << 16) | ((__u64)(arg) << 24))
#define GGML_COOKIE_CALL(c) ((__u16)((c)&0xffff))
#define GGML_COOKIE_KIND(c) ((__u8)(((c) >> 16) & 0xff))
#define GGML_COOKIE_ARG(c) ((__u8)(((c) >> 24) & 0xff))

/* struct ggml_cgraph starts { int size; int n_nodes; int n_leafs; ... } in
 * every ggml since graphs got a size (2023): n_nodes is at byte 4. */
#define GGML_CGRAPH_N_NODES_OFFSET 4

enum ggml_flags {
  GGML_F_HAS_RET = 1 << 0,
};

struct ggml_event {
  __u64 ts_ns;       /* entry, bpf_ktime_get_ns() */
  __u64 duration_ns; /* entry to return (0 for a free) */
  __u64 ptr;         /* alloc: returned; free: the argument; graph: the cgraph */
  __u64 bytes;       /* alloc, free: size */
  __u32 pid;
  __u32 tid;
  __u16 call; /* the family's call id (a fixed one, or one given to a CUDA symbol) */
  __u8 kind;  /* enum ggml_kind */
  __u8 flags;
  __s32 nodes;  /* graph: n_nodes */
  __s32 ret;    /* graph: enum ggml_status */
  __u32 nested; /* graph: bit (1 << call) of each probed call made inside this one */
  char comm[16];
};

#ifdef __cplusplus
static_assert(sizeof(ggml_event) == 72, "ggml_event layout");
#else
_Static_assert(sizeof(struct ggml_event) == 72, "ggml_event layout");
#endif

struct ggml_inflight {
  struct ggml_event ev;
  __u64 entry_sp; /* stack pointer at entry (scope_calls.bpf.h) */
  __u32 nested;   /* call bits of probed calls of the same map made inside this one */
  __u32 reserved;
};

#endif
