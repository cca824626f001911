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
  ev.kind = rec.kind <= CUDA_COPY_DEFAULT ? rec.kind : static_cast<uint8_t>(CUDA_COPY_DEFAULT);
  ev.mem = rec.mem;
  ev.shared_mem = rec.shared_mem;
  for (int i = 0; i < 3; ++i) {
    ev.grid[i] = rec.grid[i];
    ev.block[i] = rec.block[i];
  }
  return ev;
}

}  // namespace scope
