/* Records shared by bpf/cuda.bpf.c and the agent. Fixed-width fields only;
 * sizes are static_assert'ed on both sides so a change on one side cannot
 * silently shift the other. Included from BPF C (vmlinux.h types) and C++. */
#ifndef SCOPE_BPF_SHARED_CUDA_H
#define SCOPE_BPF_SHARED_CUDA_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* __u8 .. __u64 as the kernel (and libbpf) define them */
#endif

#include "bpf/shared/gpu_activity.h"

/* Operations, as named in DESIGN.md's `cuda` vocabulary. */
enum cuda_op {
  CUDA_OP_NONE = 0,
  CUDA_OP_LAUNCH = 1,
  CUDA_OP_ALLOC = 2,
  CUDA_OP_FREE = 3,
  CUDA_OP_MEMCPY = 4,
  CUDA_OP_MEMSET = 5,
  CUDA_OP_SYNC = 6,
  CUDA_OP_GRAPH_LAUNCH = 7,
  CUDA_OP_NAME = 8, /* internal: a name->handle call (cuModuleGetFunction, ...) */
  CUDA_OP_GPU = 9,  /* internal: a call of scope's CUPTI injection library (gpu_activity.h) */
  /* What the GPU did, from CUPTI: a kernel's or a copy's start and end on the device. */
  CUDA_OP_GPU_KERNEL = 10,
  CUDA_OP_GPU_MEMCPY = 11,
};

/* ACTIVITY: scope's own CUPTI injection library (libscope_cupti.so). */
enum cuda_layer { CUDA_LAYER_RUNTIME = 0, CUDA_LAYER_DRIVER = 1, CUDA_LAYER_ACTIVITY = 2 };

/* Memory a call allocates or frees. */
enum cuda_mem { CUDA_MEM_DEVICE = 0, CUDA_MEM_HOST = 1, CUDA_MEM_MANAGED = 2 };

/* Copy directions; the values of cudaMemcpyKind. */
enum cuda_copy_kind {
  CUDA_COPY_HTOH = 0,
  CUDA_COPY_HTOD = 1,
  CUDA_COPY_DTOH = 2,
  CUDA_COPY_DTOD = 3,
  CUDA_COPY_DEFAULT = 4,
};

/* Argument layouts: how a BPF program reads a call's arguments. */
enum cuda_args {
  ARGS_NONE = 0,
  ARGS_RT_LAUNCH,        /* (func, dim3 grid, dim3 block, args, smem, stream) */
  ARGS_RT_LAUNCH_EXC,    /* (const cudaLaunchConfig_t*, func, args) */
  ARGS_RT_LAUNCH_KERNEL, /* nvcc 13's __cudaLaunchKernel(CUkernel, dim3, dim3, args, smem, stream)
                          */
  ARGS_DRV_LAUNCH,       /* (f, gx, gy, gz, bx, by, bz, smem, stream, ...) */
  ARGS_DRV_LAUNCH_EX,    /* (const CUlaunchConfig*, f, params, extra) */
  ARGS_ALLOC,            /* (void **out, size_t bytes, ...) */
  ARGS_FREE,             /* (ptr, ...) */
  ARGS_RT_MEMCPY,        /* (dst, src, bytes, kind[, stream]) */
  ARGS_DRV_MEMCPY,       /* (dst, src, bytes[, stream]); kind from the table */
  ARGS_MEMSET,           /* (dst, value, bytes[, stream]) */
  ARGS_DRV_MEMSET_D32,   /* (dst, value, count[, stream]): bytes = 4 * count */
  ARGS_STREAM0,          /* (stream or event handle) */
  ARGS_GRAPH,            /* (graph_exec, stream) */
  ARGS_GET_FUNCTION,     /* (out handle*, module/library, const char *name) */
  ARGS_KERNEL_GET_FN,    /* (CUfunction *out, CUkernel kernel) */
  ARGS_GET_KERNEL,       /* nvcc 13's __cudaGetKernel(cudaKernel_t *out, const void *host_stub) */
  ARGS_GPU,              /* scope_gpu_*: (records, count) or (id/code, const char *text) */
};

/* Every API symbol scope probes:
 * X(id, symbol, layer, op, args, kind, async, mem).
 * `kind` is the copy direction for driver copies (runtime copies carry it as an
 * argument); `mem` the memory an alloc/free touches. */
// clang-format off
#define CUDA_CALLS(X)                                                                  \
  X(CALL_cudaLaunchKernel, cudaLaunchKernel, RUNTIME, LAUNCH, RT_LAUNCH, 0, 1, 0)      \
  X(CALL_cudaLaunchKernel_ptsz, cudaLaunchKernel_ptsz, RUNTIME, LAUNCH, RT_LAUNCH, 0, 1, 0) \
  X(CALL___cudaLaunchKernel, __cudaLaunchKernel, RUNTIME, LAUNCH, RT_LAUNCH_KERNEL, 0, 1, 0) \
  X(CALL___cudaLaunchKernel_ptsz, __cudaLaunchKernel_ptsz, RUNTIME, LAUNCH, RT_LAUNCH_KERNEL, 0, 1, 0) \
  X(CALL_cudaLaunchKernelExC, cudaLaunchKernelExC, RUNTIME, LAUNCH, RT_LAUNCH_EXC, 0, 1, 0) \
  X(CALL_cudaLaunchKernelExC_ptsz, cudaLaunchKernelExC_ptsz, RUNTIME, LAUNCH, RT_LAUNCH_EXC, 0, 1, 0) \
  X(CALL_cudaMalloc, cudaMalloc, RUNTIME, ALLOC, ALLOC, 0, 0, CUDA_MEM_DEVICE)          \
  X(CALL_cudaMallocAsync, cudaMallocAsync, RUNTIME, ALLOC, ALLOC, 0, 1, CUDA_MEM_DEVICE) \
  X(CALL_cudaMallocAsync_ptsz, cudaMallocAsync_ptsz, RUNTIME, ALLOC, ALLOC, 0, 1, CUDA_MEM_DEVICE) \
  X(CALL_cudaMallocHost, cudaMallocHost, RUNTIME, ALLOC, ALLOC, 0, 0, CUDA_MEM_HOST)    \
  X(CALL_cudaMallocManaged, cudaMallocManaged, RUNTIME, ALLOC, ALLOC, 0, 0, CUDA_MEM_MANAGED) \
  X(CALL_cudaFree, cudaFree, RUNTIME, FREE, FREE, 0, 0, CUDA_MEM_DEVICE)                \
  X(CALL_cudaFreeAsync, cudaFreeAsync, RUNTIME, FREE, FREE, 0, 1, CUDA_MEM_DEVICE)      \
  X(CALL_cudaFreeAsync_ptsz, cudaFreeAsync_ptsz, RUNTIME, FREE, FREE, 0, 1, CUDA_MEM_DEVICE) \
  X(CALL_cudaFreeHost, cudaFreeHost, RUNTIME, FREE, FREE, 0, 0, CUDA_MEM_HOST)          \
  X(CALL_cudaMemcpy, cudaMemcpy, RUNTIME, MEMCPY, RT_MEMCPY, 0, 0, 0)                   \
  X(CALL_cudaMemcpy_ptds, cudaMemcpy_ptds, RUNTIME, MEMCPY, RT_MEMCPY, 0, 0, 0)         \
  X(CALL_cudaMemcpyAsync, cudaMemcpyAsync, RUNTIME, MEMCPY, RT_MEMCPY, 0, 1, 0)         \
  X(CALL_cudaMemcpyAsync_ptsz, cudaMemcpyAsync_ptsz, RUNTIME, MEMCPY, RT_MEMCPY, 0, 1, 0) \
  X(CALL_cudaMemset, cudaMemset, RUNTIME, MEMSET, MEMSET, 0, 0, 0)                      \
  X(CALL_cudaMemset_ptds, cudaMemset_ptds, RUNTIME, MEMSET, MEMSET, 0, 0, 0)            \
  X(CALL_cudaMemsetAsync, cudaMemsetAsync, RUNTIME, MEMSET, MEMSET, 0, 1, 0)            \
  X(CALL_cudaMemsetAsync_ptsz, cudaMemsetAsync_ptsz, RUNTIME, MEMSET, MEMSET, 0, 1, 0)  \
  X(CALL_cudaDeviceSynchronize, cudaDeviceSynchronize, RUNTIME, SYNC, NONE, 0, 0, 0)    \
  X(CALL_cudaStreamSynchronize, cudaStreamSynchronize, RUNTIME, SYNC, STREAM0, 0, 0, 0) \
  X(CALL_cudaStreamSynchronize_ptsz, cudaStreamSynchronize_ptsz, RUNTIME, SYNC, STREAM0, 0, 0, 0) \
  X(CALL_cudaEventSynchronize, cudaEventSynchronize, RUNTIME, SYNC, NONE, 0, 0, 0)      \
  X(CALL_cudaGraphLaunch, cudaGraphLaunch, RUNTIME, GRAPH_LAUNCH, GRAPH, 0, 1, 0)       \
  X(CALL_cudaGraphLaunch_ptsz, cudaGraphLaunch_ptsz, RUNTIME, GRAPH_LAUNCH, GRAPH, 0, 1, 0) \
  X(CALL_cuLaunchKernel, cuLaunchKernel, DRIVER, LAUNCH, DRV_LAUNCH, 0, 1, 0)           \
  X(CALL_cuLaunchKernel_ptsz, cuLaunchKernel_ptsz, DRIVER, LAUNCH, DRV_LAUNCH, 0, 1, 0) \
  X(CALL_cuLaunchKernelEx, cuLaunchKernelEx, DRIVER, LAUNCH, DRV_LAUNCH_EX, 0, 1, 0)    \
  X(CALL_cuLaunchKernelEx_ptsz, cuLaunchKernelEx_ptsz, DRIVER, LAUNCH, DRV_LAUNCH_EX, 0, 1, 0) \
  X(CALL_cuMemAlloc_v2, cuMemAlloc_v2, DRIVER, ALLOC, ALLOC, 0, 0, CUDA_MEM_DEVICE)     \
  X(CALL_cuMemAllocAsync, cuMemAllocAsync, DRIVER, ALLOC, ALLOC, 0, 1, CUDA_MEM_DEVICE) \
  X(CALL_cuMemAllocAsync_ptsz, cuMemAllocAsync_ptsz, DRIVER, ALLOC, ALLOC, 0, 1, CUDA_MEM_DEVICE) \
  X(CALL_cuMemAllocHost_v2, cuMemAllocHost_v2, DRIVER, ALLOC, ALLOC, 0, 0, CUDA_MEM_HOST) \
  X(CALL_cuMemAllocManaged, cuMemAllocManaged, DRIVER, ALLOC, ALLOC, 0, 0, CUDA_MEM_MANAGED) \
  X(CALL_cuMemFree_v2, cuMemFree_v2, DRIVER, FREE, FREE, 0, 0, CUDA_MEM_DEVICE)         \
  X(CALL_cuMemFreeAsync, cuMemFreeAsync, DRIVER, FREE, FREE, 0, 1, CUDA_MEM_DEVICE)     \
  X(CALL_cuMemFreeAsync_ptsz, cuMemFreeAsync_ptsz, DRIVER, FREE, FREE, 0, 1, CUDA_MEM_DEVICE) \
  X(CALL_cuMemFreeHost, cuMemFreeHost, DRIVER, FREE, FREE, 0, 0, CUDA_MEM_HOST)         \
  X(CALL_cuMemcpy, cuMemcpy, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DEFAULT, 0, 0)       \
  X(CALL_cuMemcpy_ptds, cuMemcpy_ptds, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DEFAULT, 0, 0) \
  X(CALL_cuMemcpyAsync, cuMemcpyAsync, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DEFAULT, 1, 0) \
  X(CALL_cuMemcpyAsync_ptsz, cuMemcpyAsync_ptsz, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DEFAULT, 1, 0) \
  X(CALL_cuMemcpyHtoD_v2, cuMemcpyHtoD_v2, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_HTOD, 0, 0) \
  X(CALL_cuMemcpyDtoH_v2, cuMemcpyDtoH_v2, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DTOH, 0, 0) \
  X(CALL_cuMemcpyDtoD_v2, cuMemcpyDtoD_v2, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DTOD, 0, 0) \
  X(CALL_cuMemcpyHtoDAsync_v2, cuMemcpyHtoDAsync_v2, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_HTOD, 1, 0) \
  X(CALL_cuMemcpyDtoHAsync_v2, cuMemcpyDtoHAsync_v2, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DTOH, 1, 0) \
  X(CALL_cuMemcpyDtoDAsync_v2, cuMemcpyDtoDAsync_v2, DRIVER, MEMCPY, DRV_MEMCPY, CUDA_COPY_DTOD, 1, 0) \
  X(CALL_cuMemsetD8_v2, cuMemsetD8_v2, DRIVER, MEMSET, MEMSET, 0, 0, 0)                 \
  X(CALL_cuMemsetD32_v2, cuMemsetD32_v2, DRIVER, MEMSET, DRV_MEMSET_D32, 0, 0, 0)       \
  X(CALL_cuMemsetD8Async, cuMemsetD8Async, DRIVER, MEMSET, MEMSET, 0, 1, 0)             \
  X(CALL_cuMemsetD32Async, cuMemsetD32Async, DRIVER, MEMSET, DRV_MEMSET_D32, 0, 1, 0)   \
  X(CALL_cuCtxSynchronize, cuCtxSynchronize, DRIVER, SYNC, NONE, 0, 0, 0)               \
  X(CALL_cuCtxSynchronize_v2, cuCtxSynchronize_v2, DRIVER, SYNC, NONE, 0, 0, 0)         \
  X(CALL_cuStreamSynchronize, cuStreamSynchronize, DRIVER, SYNC, STREAM0, 0, 0, 0)      \
  X(CALL_cuStreamSynchronize_ptsz, cuStreamSynchronize_ptsz, DRIVER, SYNC, STREAM0, 0, 0, 0) \
  X(CALL_cuEventSynchronize, cuEventSynchronize, DRIVER, SYNC, NONE, 0, 0, 0)           \
  X(CALL_cuGraphLaunch, cuGraphLaunch, DRIVER, GRAPH_LAUNCH, GRAPH, 0, 1, 0)            \
  X(CALL_cuGraphLaunch_ptsz, cuGraphLaunch_ptsz, DRIVER, GRAPH_LAUNCH, GRAPH, 0, 1, 0)  \
  X(CALL_cuModuleGetFunction, cuModuleGetFunction, DRIVER, NAME, GET_FUNCTION, 0, 0, 0) \
  X(CALL_cuLibraryGetKernel, cuLibraryGetKernel, DRIVER, NAME, GET_FUNCTION, 0, 0, 0)   \
  X(CALL_cuKernelGetFunction, cuKernelGetFunction, DRIVER, NAME, KERNEL_GET_FN, 0, 0, 0) \
  X(CALL___cudaGetKernel, __cudaGetKernel, RUNTIME, NAME, GET_KERNEL, 0, 0, 0)      \
  X(CALL_scope_gpu_records, scope_gpu_records, ACTIVITY, GPU, GPU, 0, 0, 0)           \
  X(CALL_scope_gpu_kernel_name, scope_gpu_kernel_name, ACTIVITY, GPU, GPU, 0, 0, 0)   \
  X(CALL_scope_gpu_status, scope_gpu_status, ACTIVITY, GPU, GPU, 0, 0, 0)

// clang-format on
#define CUDA_CALL_ENUM(id, sym, layer, op, args, kind, async, mem) id,
enum cuda_call { CALL_NONE = 0, CUDA_CALLS(CUDA_CALL_ENUM) CALL_COUNT };
#undef CUDA_CALL_ENUM

/* Ring-buffer record types. */
enum cuda_record {
  REC_CUDA = 1,
  REC_NAME = 2,
  REC_GPU = 3,        /* struct cuda_gpu_event */
  REC_GPU_NAME = 4,   /* struct cuda_name_event: handle = name id, name = mangled kernel name */
  REC_GPU_STATUS = 5, /* struct cuda_name_event: ret = enum gpu_status, name = message */
};

/* Slots of the `dropped` per-CPU array: records the ring buffer could not take. */
enum cuda_drop { CUDA_DROP_EVENT = 0, CUDA_DROP_NAME = 1, CUDA_DROP_GPU = 2, CUDA_DROP_SLOTS = 3 };

enum cuda_flags {
  CUDA_F_HAS_RET = 1 << 0,      /* `ret` was observed (the call was probed on return) */
  CUDA_F_HAS_DURATION = 1 << 1, /* `duration_ns` is valid */
  CUDA_F_ASYNC = 1 << 2,
  CUDA_F_STUB_IS_CALLER = 1 << 3, /* `stub` is a return address inside the host stub */
};

/* One CUDA operation. ts and duration are CLOCK_MONOTONIC ns (bpf_ktime_get_ns). */
struct cuda_event {
  __u32 record; /* REC_CUDA */
  __u32 pid;
  __u32 tid;
  __u16 call; /* enum cuda_call */
  __u8 op;    /* enum cuda_op */
  __u8 flags; /* enum cuda_flags */
  char comm[16];
  __u64 ts_ns;
  __u64 duration_ns;
  __s32 ret;
  __u8 kind; /* enum cuda_copy_kind */
  __u8 mem;  /* enum cuda_mem */
  __u16 reserved;
  __u64 handle; /* launch: CUfunction/CUkernel or runtime function; graph: exec */
  __u64 stub;   /* launch through the runtime: the host stub's address (0 if unknown) */
  __u64 ptr;    /* alloc/free/memcpy dst/memset dst */
  __u64 bytes;
  __u64 stream;
  __u32 grid[3];
  __u32 block[3];
  __u32 shared_mem;
  __u32 reserved2;
};

#define CUDA_NAME_MAX 480

/* A name->handle binding: cuModuleGetFunction/cuLibraryGetKernel (name in,
 * handle out) or cuKernelGetFunction (kernel in `parent`, function out). */
struct cuda_name_event {
  __u32 record; /* REC_NAME */
  __u32 pid;
  __u32 tid;
  __u16 call;
  __u16 reserved;
  __u64 handle;
  __u64 parent;
  __s32 ret;
  __u32 name_len;
  char name[CUDA_NAME_MAX];
};

/* A batch of GPU records from scope's CUPTI injection library, copied as it passed them. */
struct cuda_gpu_event {
  __u32 record; /* REC_GPU */
  __u32 pid;
  __u32 tid; /* the thread that delivered the batch (CUPTI's), not the launching one */
  __u32 count;
  char comm[16];
  struct gpu_record records[GPU_BATCH_MAX];
};

/* Per-thread state from a probed entry to its return, keyed by thread id. */
struct cuda_inflight {
  __u64 start_ns;
  __u64 out_ptr; /* where the call writes its result (alloc/get-function) */
  __u16 call;
  __u8 depth;    /* nested probed calls below the outermost */
  __u8 consumed; /* a runtime launch already emitted by the driver probe */
  __u32 reserved;
  struct cuda_event ev;
};

#ifdef __cplusplus
static_assert(sizeof(struct cuda_gpu_event) == 32 + 56 * GPU_BATCH_MAX, "cuda_gpu_event changed");
static_assert(sizeof(struct cuda_event) == 128, "cuda_event layout changed");
static_assert(sizeof(struct cuda_name_event) == 520, "cuda_name_event layout changed");
static_assert(sizeof(struct cuda_inflight) == 152, "cuda_inflight layout changed");
#else
_Static_assert(sizeof(struct cuda_gpu_event) == 32 + 56 * GPU_BATCH_MAX, "cuda_gpu_event changed");
_Static_assert(sizeof(struct cuda_event) == 128, "cuda_event layout changed");
_Static_assert(sizeof(struct cuda_name_event) == 520, "cuda_name_event layout changed");
_Static_assert(sizeof(struct cuda_inflight) == 152, "cuda_inflight layout changed");
#endif

#endif
