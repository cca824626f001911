#include "event/cuda_decode.h"

#include <cstring>

namespace scope {

std::optional<uint32_t> cuda_record_type(const void* data, size_t size) {
  uint32_t type = 0;
  if (size < sizeof(type)) return std::nullopt;
  std::memcpy(&type, data, sizeof(type));
  switch (type) {
    case REC_CUDA:
      if (size < sizeof(cuda_event)) return std::nullopt;
      break;
    case REC_NAME:
    case REC_GPU_NAME:
    case REC_GPU_STATUS:
      if (size < sizeof(cuda_name_event)) return std::nullopt;
      break;
    case REC_GPU:
      if (size < sizeof(cuda_gpu_event)) return std::nullopt;
      break;
    default:
      return std::nullopt;
  }
  return type;
}

namespace {

uint8_t copy_kind_or_default(uint8_t kind) {
  return kind <= CUDA_COPY_DEFAULT ? kind : static_cast<uint8_t>(CUDA_COPY_DEFAULT);
}

}  // namespace

CudaEvent decode_gpu_record(const cuda_gpu_event& batch, uint32_t i) {
  const gpu_record& g = batch.records[i];
  CudaEvent ev;
  ev.ts_ns = g.start_ns;
  ev.pid = batch.pid;
  ev.tid = g.tid ? g.tid : batch.tid;
  ev.comm.assign(batch.comm, strnlen(batch.comm, sizeof(batch.comm)));
  ev.op = g.kind == GPU_MEMCPY ? CUDA_OP_GPU_MEMCPY : CUDA_OP_GPU_KERNEL;
  ev.duration_ns = g.end_ns > g.start_ns ? g.end_ns - g.start_ns : 0;
  if (g.api_start_ns && g.start_ns >= g.api_start_ns) ev.queue_ns = g.start_ns - g.api_start_ns;
  ev.correlation_id = g.correlation_id;
  ev.stream = g.stream_id;
  ev.bytes = g.bytes;
  ev.kind = copy_kind_or_default(g.copy_kind);
  return ev;
}

CudaEvent decode_cuda_event(const cuda_event& rec, int64_t mono_to_unix_ns) {
  CudaEvent ev;
  ev.ts_ns = rec.ts_ns + static_cast<uint64_t>(mono_to_unix_ns);
  ev.pid = rec.pid;
  ev.tid = rec.tid;
  ev.comm.assign(rec.comm, strnlen(rec.comm, sizeof(rec.comm)));
  ev.call = rec.call < CALL_COUNT ? rec.call : static_cast<uint16_t>(CALL_NONE);
  ev.op = rec.op;
  if (rec.flags & CUDA_F_HAS_RET) ev.ret = rec.ret;
  if (rec.flags & CUDA_F_HAS_DURATION) ev.duration_ns = rec.duration_ns;
  ev.async = rec.flags & CUDA_F_ASYNC;
  ev.handle = rec.handle;
  ev.stub = rec.stub;
  ev.ptr = rec.ptr;
  ev.bytes = rec.bytes;
  ev.stream = rec.stream;
  ev.kind = copy_kind_or_default(rec.kind);
  ev.mem = rec.mem;
  ev.shared_mem = rec.shared_mem;
  for (int i = 0; i < 3; ++i) {
    ev.grid[i] = rec.grid[i];
    ev.block[i] = rec.block[i];
  }
  return ev;
}

}  // namespace scope
