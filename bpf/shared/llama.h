/* Records shared by bpf/llama.bpf.c and src/families/llama_family.cpp.
 * Fixed-width fields only; sizes are static_assert'ed on both sides. Included
 * from BPF C (vmlinux.h types) and C++. */
#ifndef SCOPE_BPF_SHARED_LLAMA_H
#define SCOPE_BPF_SHARED_LLAMA_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* What a call does. */
enum llama_op {
  LLAMA_OP_NONE = 0,
  LLAMA_OP_DECODE = 1,
  LLAMA_OP_ENCODE = 2,
  LLAMA_OP_MODEL_LOAD = 3,
  LLAMA_OP_CONTEXT_CREATE = 4,
  LLAMA_OP_CONTEXT_FREE = 5,
  LLAMA_OP_MODEL_FREE = 6,
};

/* How a BPF program reads a call's arguments (x86-64 SysV). A struct larger
 * than 16 bytes passed by value (llama_batch, llama_context_params,
 * llama_model_params) is copied into the caller's stack frame: at the
 * function's first instruction it starts at [rsp+8], after the return address,
 * and takes no register. */
enum llama_args {
  LLAMA_ARGS_CTX_BATCH = 1,     /* (llama_context *ctx, llama_batch batch): n_tokens at [rsp+8] */
  LLAMA_ARGS_PATH = 2,          /* (const char *path, llama_model_params params) */
  LLAMA_ARGS_PATHS = 3,         /* (const char **paths, size_t n_paths, llama_model_params) */
  LLAMA_ARGS_MODEL_CPARAMS = 4, /* (llama_model *model, llama_context_params params): n_ctx,
                                   n_batch, n_ubatch, n_seq_max are its first four uint32_t */
  LLAMA_ARGS_PTR = 5,           /* (llama_context * or llama_model *) */
};

/* Every libllama symbol scope probes: X(id, symbol, op, args). Older names
 * are wrappers of newer ones: the outermost call is the one reported. */
#define LLAMA_CALLS(X)                                                                        \
  X(LLAMA_CALL_llama_decode, llama_decode, DECODE, CTX_BATCH)                                 \
  X(LLAMA_CALL_llama_encode, llama_encode, ENCODE, CTX_BATCH)                                 \
  X(LLAMA_CALL_llama_model_load_from_file, llama_model_load_from_file, MODEL_LOAD, PATH)      \
  X(LLAMA_CALL_llama_load_model_from_file, llama_load_model_from_file, MODEL_LOAD, PATH)      \
  X(LLAMA_CALL_llama_model_load_from_splits, llama_model_load_from_splits, MODEL_LOAD, PATHS) \
  X(LLAMA_CALL_llama_init_from_model, llama_init_from_model, CONTEXT_CREATE, MODEL_CPARAMS)   \
  X(LLAMA_CALL_llama_new_context_with_model, llama_new_context_with_model, CONTEXT_CREATE,    \
    MODEL_CPARAMS)                                                                            \
  X(LLAMA_CALL_llama_free, llama_free, CONTEXT_FREE, PTR)                                     \
  X(LLAMA_CALL_llama_model_free, llama_model_free, MODEL_FREE, PTR)                           \
  X(LLAMA_CALL_llama_free_model, llama_free_model, MODEL_FREE, PTR)

#define LLAMA_CALL_ENUM(id, sym, op, args) id,
enum llama_call { LLAMA_CALL_NONE = 0, LLAMA_CALLS(LLAMA_CALL_ENUM) LLAMA_CALL_COUNT };
#undef LLAMA_CALL_ENUM

#define LLAMA_PATH_MAX 256

/* One completed call. Decodes and the rest are sent without `path`
 * (LLAMA_EVENT_SHORT bytes); model loads with it. */
struct llama_event {
  __u64 ts_ns;       /* entry, bpf_ktime_get_ns() */
  __u64 duration_ns; /* entry to return */
  __u64 handle;      /* decode/encode/free: the context or model argument;
                        load/create: the model or context returned */
  __u64 model;       /* create: the model argument */
  __s64 ret;         /* decode/encode: the int result; load/create: the pointer */
  __u32 pid;
  __u32 tid;
  __u16 call; /* enum llama_call */
  __u8 op;    /* enum llama_op */
  __u8 flags;
  __s32 n_tokens; /* decode/encode: llama_batch.n_tokens */
  __u32 n_ctx;    /* create: llama_context_params */
  __u32 n_batch;
  __u32 n_ubatch;
  __u32 n_seq_max;
  __u32 path_len;
  __u32 reserved;
  char comm[16];
  char path[LLAMA_PATH_MAX]; /* load: the model file (the first of splits) */
};

#define LLAMA_EVENT_SHORT 96 /* offsetof(struct llama_event, path) */

#ifdef __cplusplus
static_assert(sizeof(llama_event) == LLAMA_EVENT_SHORT + LLAMA_PATH_MAX, "llama_event layout");
static_assert(__builtin_offsetof(llama_event, path) == LLAMA_EVENT_SHORT, "llama_event layout");
#else
_Static_assert(sizeof(struct llama_event) == LLAMA_EVENT_SHORT + LLAMA_PATH_MAX,
               "llama_event layout");
_Static_assert(__builtin_offsetof(struct llama_event, path) == LLAMA_EVENT_SHORT,
               "llama_event layout");
#endif

/* Per-thread state from a call's entry to its return. */
struct llama_inflight {
  struct llama_event ev;
  __u64 entry_sp; /* stack pointer at entry (scope_calls.bpf.h) */
  __u32 nested;   /* call bits of probed calls made inside this one (wrappers) */
  __u32 reserved;
};

#endif
