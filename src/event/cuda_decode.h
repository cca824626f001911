// Decoding of the cuda ring-buffer records (bpf/shared/cuda.h) into
// CudaEvents: plain code, tested without privileges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "event/cuda_event.h"

namespace scope {

// The record type of a ring-buffer record, or nullopt when it is too short or
// unknown, or shorter than its type needs.
std::optional<uint32_t> cuda_record_type(const void* data, size_t size);

// A REC_CUDA record as an event; `mono_to_unix_ns` turns the kernel's
// CLOCK_MONOTONIC timestamps into Unix time. The kernel name is left empty.
CudaEvent decode_cuda_event(const cuda_event& rec, int64_t mono_to_unix_ns);

// Record `i` of a REC_GPU batch as a gpu_kernel/gpu_memcpy event (CUPTI's clock is Unix time
// already). The kernel name is left empty: the record carries its name id.
CudaEvent decode_gpu_record(const cuda_gpu_event& batch, uint32_t i);

}  // namespace scope
