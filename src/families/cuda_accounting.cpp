#include "families/cuda_accounting.h"

#include <algorithm>

namespace scope {

void CudaAccounting::name_launches(const std::string& kernel, uint64_t count) {
  count = std::min(count, unnamed_launches_);
  if (count == 0 || kernel.empty()) return;
  unnamed_launches_ -= count;
  auto [it, inserted] = kernels_.try_emplace(kernel);
  if (inserted) it->second.kernel = kernel;
  it->second.count += count;
}

void CudaAccounting::add(const CudaEvent& event) {
  std::string_view op = cuda_op_name(event.op);
  if (!op.empty()) ++ops_[std::string(op)];
  std::string_view call = cuda_call_name(event.call);
  if (!call.empty()) ++calls_[std::string(call)];

  switch (event.op) {
    case CUDA_OP_LAUNCH:
      ++launches_;
      if (event.kernel.empty()) {
        ++unnamed_launches_;
      } else {
        auto [it, inserted] = kernels_.try_emplace(event.kernel);
        CudaKernelStats& stats = it->second;
        if (inserted) {
          stats.kernel = event.kernel;
          stats.grid = event.grid;
          stats.block = event.block;
        }
        ++stats.count;
      }
      break;
    case CUDA_OP_ALLOC:
      on_alloc(event);
      break;
    case CUDA_OP_FREE:
      on_free(event);
      break;
    case CUDA_OP_MEMCPY: {
      CudaCopyStats& stats = memcpy_[event.kind];
      stats.kind = event.kind;
      ++stats.count;
      stats.bytes += event.bytes;
      stats.total_ns += event.duration_ns.value_or(0);
      break;
    }
    case CUDA_OP_MEMSET:
      ++memset_.count;
      memset_.bytes += event.bytes;
      break;
    case CUDA_OP_SYNC: {
      CudaSyncStats& stats = sync_[event.call];
      stats.call = event.call;
      ++stats.count;
      uint64_t ns = event.duration_ns.value_or(0);
      stats.total_ns += ns;
      stats.max_ns = std::max(stats.max_ns, ns);
      break;
    }
    case CUDA_OP_GRAPH_LAUNCH:
      ++graph_launches_;
      break;
    case CUDA_OP_GPU_KERNEL:
    case CUDA_OP_GPU_MEMCPY:
      on_gpu(event);
      break;
    default:
      break;
  }
}

void CudaAccounting::on_gpu(const CudaEvent& event) {
  uint64_t ns = event.duration_ns.value_or(0);
  if (gpu_.kernels + gpu_.copies == 0 || event.ts_ns < gpu_.first_start_ns)
    gpu_.first_start_ns = event.ts_ns;
  gpu_.last_end_ns = std::max(gpu_.last_end_ns, event.ts_ns + ns);
  if (event.op == CUDA_OP_GPU_MEMCPY) {
    ++gpu_.copies;
    gpu_.copy_ns += ns;
    return;
  }
  ++gpu_.kernels;
  gpu_.kernel_ns += ns;
  if (event.kernel.empty()) return;
  auto [it, inserted] = kernels_.try_emplace(event.kernel);
  CudaKernelStats& stats = it->second;
  if (inserted) stats.kernel = event.kernel;
  ++stats.gpu_count;
  stats.gpu_ns += ns;
  if (event.queue_ns) {
    ++stats.queued;
    stats.queue_ns += *event.queue_ns;
  }
}

void CudaAccounting::gpu_status(uint32_t pid, int32_t code, const std::string& message) {
  if (code == GPU_STATUS_ON)
    gpu_problems_.erase(pid);
  else
    gpu_problems_[pid] = message;
}

std::vector<CudaKernelStats> CudaAccounting::kernels_by_gpu_time() const {
  std::vector<CudaKernelStats> out;
  for (const auto& [name, stats] : kernels_)
    if (stats.gpu_count) out.push_back(stats);
  std::stable_sort(out.begin(), out.end(), [](const CudaKernelStats& a, const CudaKernelStats& b) {
    return a.gpu_ns > b.gpu_ns;
  });
  return out;
}

CudaMemoryStats& CudaAccounting::mem_stats(uint32_t pid, uint8_t mem) {
  auto [it, inserted] = memory_.try_emplace(MemKey{pid, mem});
  if (inserted) {
    it->second.pid = pid;
    it->second.mem = mem;
  }
  return it->second;
}

void CudaAccounting::release(const Allocation& alloc, uint32_t pid) {
  CudaMemoryStats& stats = mem_stats(pid, alloc.mem);
  stats.live_bytes -= std::min(stats.live_bytes, alloc.bytes);
}

void CudaAccounting::on_alloc(const CudaEvent& event) {
  CudaMemoryStats& stats = mem_stats(event.pid, event.mem);
  if (event.ret.has_value() && *event.ret != 0) {
    ++stats.failed_allocs;
    return;
  }
  ++stats.allocs;
  if (event.ptr == 0) return;  // success without a pointer seen: nothing to track

  AllocKey key{event.pid, event.ptr};
  auto it = live_.find(key);
  if (it != live_.end()) {
    ++stats.reused_ptrs;
    release(it->second, event.pid);
    live_.erase(it);
  }
  live_.emplace(key, Allocation{event.bytes, event.call, event.mem});
  stats.live_bytes += event.bytes;
  stats.peak_bytes = std::max(stats.peak_bytes, stats.live_bytes);
}

void CudaAccounting::on_free(const CudaEvent& event) {
  if (event.ptr == 0) return;                            // free(NULL) is a no-op
  if (event.ret.has_value() && *event.ret != 0) return;  // the free failed: still live
  auto it = live_.find(AllocKey{event.pid, event.ptr});
  if (it == live_.end()) {
    ++mem_stats(event.pid, event.mem).unmatched_frees;
    return;
  }
  ++mem_stats(event.pid, it->second.mem).frees;
  release(it->second, event.pid);
  live_.erase(it);
}

void CudaAccounting::leak(bool all, uint32_t pid, const char* reason) {
  // live_ is ordered by (pid, ptr): each batch comes out sorted.
  for (auto it = live_.begin(); it != live_.end();) {
    if (!all && it->first.first != pid) {
      ++it;
      continue;
    }
    const Allocation& alloc = it->second;
    leaks_.push_back(
        CudaLeak{it->first.first, it->first.second, alloc.bytes, alloc.call, alloc.mem, reason});
    it = live_.erase(it);
  }
}

void CudaAccounting::process_exit(uint32_t pid) { leak(false, pid, "exit"); }

void CudaAccounting::finish() { leak(true, 0, "trace_end"); }

std::vector<CudaKernelStats> CudaAccounting::kernels() const {
  std::vector<CudaKernelStats> out;
  out.reserve(kernels_.size());
  for (const auto& [name, stats] : kernels_)
    if (stats.count) out.push_back(stats);
  std::stable_sort(out.begin(), out.end(), [](const CudaKernelStats& a, const CudaKernelStats& b) {
    return a.count > b.count;
  });
  return out;
}

std::vector<CudaMemoryStats> CudaAccounting::memory() const {
  std::vector<CudaMemoryStats> out;
  out.reserve(memory_.size());
  for (const auto& [key, stats] : memory_) out.push_back(stats);
  return out;
}

CudaMemoryStats CudaAccounting::memory(uint32_t pid, uint8_t mem) const {
  auto it = memory_.find(MemKey{pid, mem});
  if (it != memory_.end()) return it->second;
  CudaMemoryStats empty;
  empty.pid = pid;
  empty.mem = mem;
  return empty;
}

std::vector<CudaCopyStats> CudaAccounting::memcpy_stats() const {
  std::vector<CudaCopyStats> out;
  out.reserve(memcpy_.size());
  for (const auto& [kind, stats] : memcpy_) out.push_back(stats);
  return out;
}

std::vector<CudaSyncStats> CudaAccounting::sync_stats() const {
  std::vector<CudaSyncStats> out;
  out.reserve(sync_.size());
  for (const auto& [call, stats] : sync_) out.push_back(stats);
  std::stable_sort(out.begin(), out.end(), [](const CudaSyncStats& a, const CudaSyncStats& b) {
    return a.total_ns > b.total_ns;
  });
  return out;
}

}  // namespace scope
