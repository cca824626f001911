#include "event/cuda_event.h"

namespace scope {

namespace {

// The one table of the calls in userspace: bpf/shared/cuda.h's X-macro, by call id.
struct CallInfo {
  std::string_view name;
  int layer;
  int op;
};

#define SCOPE_CUDA_CALL_INFO(id, sym, layer, op, args, kind, async, mem) \
  CallInfo{#sym, CUDA_LAYER_##layer, CUDA_OP_##op},
constexpr CallInfo kCalls[] = {CallInfo{"", CUDA_LAYER_RUNTIME, CUDA_OP_NONE},  // CALL_NONE
                               CUDA_CALLS(SCOPE_CUDA_CALL_INFO)};
#undef SCOPE_CUDA_CALL_INFO

static_assert(sizeof(kCalls) / sizeof(kCalls[0]) == CALL_COUNT, "call table out of step");

}  // namespace

std::string_view cuda_call_name(uint16_t call) {
  if (call == CALL_NONE || call >= CALL_COUNT) return "";
  return kCalls[call].name;
}

std::string_view cuda_op_name(uint8_t op) {
  switch (op) {
    case CUDA_OP_LAUNCH:
      return "launch";
    case CUDA_OP_ALLOC:
      return "alloc";
    case CUDA_OP_FREE:
      return "free";
    case CUDA_OP_MEMCPY:
      return "memcpy";
    case CUDA_OP_MEMSET:
      return "memset";
    case CUDA_OP_SYNC:
      return "sync";
    case CUDA_OP_GRAPH_LAUNCH:
      return "graph_launch";
    case CUDA_OP_NAME:
      return "name";
    case CUDA_OP_GPU_KERNEL:
      return "gpu_kernel";
    case CUDA_OP_GPU_MEMCPY:
      return "gpu_memcpy";
    default:
      return "";
  }
}

std::string_view cuda_copy_kind_name(uint8_t kind) {
  switch (kind) {
    case CUDA_COPY_HTOH:
      return "htoh";
    case CUDA_COPY_HTOD:
      return "htod";
    case CUDA_COPY_DTOH:
      return "dtoh";
    case CUDA_COPY_DTOD:
      return "dtod";
    default:
      return "default";
  }
}

std::string_view cuda_mem_name(uint8_t mem) {
  switch (mem) {
    case CUDA_MEM_HOST:
      return "host";
    case CUDA_MEM_MANAGED:
      return "managed";
    default:
      return "device";
  }
}

int cuda_call_op(uint16_t call) {
  if (call >= CALL_COUNT) return CUDA_OP_NONE;
  return kCalls[call].op;
}

int cuda_call_layer(uint16_t call) {
  if (call >= CALL_COUNT) return CUDA_LAYER_RUNTIME;
  return kCalls[call].layer;
}

}  // namespace scope
