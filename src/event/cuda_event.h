// The `cuda` event as the agent hands it to output and storage: decoded from
// bpf/shared/cuda.h, timestamps in Unix ns, kernel names resolved.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "bpf/shared/cuda.h"

namespace scope {

// The API symbol of a call id ("cudaLaunchKernel"); "" for an unknown id.
std::string_view cuda_call_name(uint16_t call);
// "launch", "alloc", ... as in DESIGN.md.
std::string_view cuda_op_name(uint8_t op);
// "htod", "dtoh", "dtod", "htoh", "default".
std::string_view cuda_copy_kind_name(uint8_t kind);
// "device", "host", "managed".
std::string_view cuda_mem_name(uint8_t mem);
// The layer (CUDA_LAYER_RUNTIME or CUDA_LAYER_DRIVER) of a call id.
int cuda_call_layer(uint16_t call);
// Its operation (enum cuda_op; CUDA_OP_NAME for a name->handle call).
int cuda_call_op(uint16_t call);

struct CudaEvent {
  uint64_t ts_ns = 0;  // Unix time
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  uint16_t call = CALL_NONE;  // enum cuda_call
  uint8_t op = CUDA_OP_NONE;  // enum cuda_op
  std::optional<int32_t> ret;
  std::optional<uint64_t> duration_ns;
  // launch
  std::string kernel;  // demangled; empty when no name is known
  // Where the kernel's host stub lives, when a host stub named it: its ELF file (as the process
  // sees it) and its symbol's value there (st_value, as `nm` shows it).
  std::string kernel_file;
  std::optional<uint64_t> kernel_offset;
  uint64_t handle = 0;
  uint64_t stub = 0;
  std::array<uint32_t, 3> grid{};
  std::array<uint32_t, 3> block{};
  uint32_t shared_mem = 0;
  uint64_t stream = 0;
  // alloc/free/memcpy/memset
  uint64_t ptr = 0;
  uint64_t bytes = 0;
  uint8_t kind = CUDA_COPY_DEFAULT;  // memcpy
  uint8_t mem = CUDA_MEM_DEVICE;     // alloc/free
  bool async = false;
  // gpu_kernel/gpu_memcpy (from CUPTI): ts_ns is the GPU start, duration_ns the time on the GPU,
  // tid the launching thread; queue_ns from the launch call's start to the GPU start.
  std::optional<uint64_t> queue_ns;
  uint32_t correlation_id = 0;
};

}  // namespace scope
