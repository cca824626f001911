/* What scope's CUPTI injection library (src/inject/, loaded into a CUDA process through
 * CUDA_INJECTION64_PATH) hands to the cuda family: GPU start and end times of kernels and copies,
 * each joined by CUPTI's correlation id to the API call that launched it.
 *
 * The library calls three functions of its own, which bpf/cuda.bpf.c probes (entry only):
 *   scope_gpu_records(const struct gpu_record *records, __u32 count)   count <= GPU_BATCH_MAX
 *   scope_gpu_kernel_name(__u32 name_id, const char *mangled_name)     once per name, before use
 *   scope_gpu_status(__s32 code, const char *message)                  enum gpu_status
 * Plain C with fixed-width fields: included by the library (C), BPF and the agent (C++). */
#ifndef SCOPE_BPF_SHARED_GPU_ACTIVITY_H
#define SCOPE_BPF_SHARED_GPU_ACTIVITY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define GPU_BATCH_MAX 32
#define GPU_NAME_MAX 480

enum gpu_record_kind { GPU_KERNEL = 1, GPU_MEMCPY = 2 };

/* Why the library gives no GPU times, or that it gives them (GPU_STATUS_ON). */
enum gpu_status {
  GPU_STATUS_ON = 0,
  GPU_STATUS_NO_CUPTI = 1,     /* no libcupti could be loaded */
  GPU_STATUS_CUPTI_BUSY = 2,   /* another profiler holds CUPTI's activity API */
  GPU_STATUS_CUPTI_ERROR = 3,  /* CUPTI refused a call: the message says which */
  GPU_STATUS_RECORDS_LOST = 4, /* CUPTI dropped records (code in `message`) */
};

/* Times are CUPTI's: CLOCK_REALTIME ns on Linux, i.e. Unix time like every scope event. */
struct gpu_record {
  __u64 start_ns; /* on the GPU */
  __u64 end_ns;
  __u64 api_start_ns; /* when the launching API call began on the CPU; 0 when not known */
  __u64 bytes;        /* GPU_MEMCPY */
  __u32 correlation_id;
  __u32 name_id; /* GPU_KERNEL: from scope_gpu_kernel_name; 0 when CUPTI gave no name */
  __u32 tid;     /* the launching thread; 0 when not known */
  __u32 stream_id;
  __u32 device_id;
  __u8 kind;      /* enum gpu_record_kind */
  __u8 copy_kind; /* GPU_MEMCPY: enum cuda_copy_kind (bpf/shared/cuda.h) */
  __u16 reserved;
};

#ifdef __cplusplus
static_assert(sizeof(struct gpu_record) == 56, "gpu_record layout changed");
#else
_Static_assert(sizeof(struct gpu_record) == 56, "gpu_record layout changed");
#endif

#endif
