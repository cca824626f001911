// Totals over the decoded `cuda` events of one trace: operations, kernels, memory per process and
// kind, leaks, copies, sets and time in sync. Plain code, fed in time order; no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "event/cuda_event.h"

namespace scope {

struct CudaKernelStats {
  std::string kernel;
  uint64_t count = 0;
  // From CUPTI (gpu_kernel events): executions seen on the GPU, their time there, and the time
  // from their launch calls' start to their start on the GPU (where the launch was joined).
  uint64_t gpu_count = 0;
  uint64_t gpu_ns = 0;
  uint64_t queued = 0;
  uint64_t queue_ns = 0;
  std::array<uint32_t, 3> grid{};  // of the first launch seen
  std::array<uint32_t, 3> block{};
};

// Memory of one kind (enum cuda_mem) in one process. live_bytes counts what was allocated and
// not freed; allocations turned into leaks stay counted as live.
struct CudaMemoryStats {
  uint32_t pid = 0;
  uint8_t mem = CUDA_MEM_DEVICE;
  uint64_t live_bytes = 0;
  uint64_t peak_bytes = 0;
  uint64_t allocs = 0;           // successful allocations
  uint64_t frees = 0;            // frees of a tracked allocation
  uint64_t failed_allocs = 0;    // ret present and != 0
  uint64_t unmatched_frees = 0;  // frees of pointers allocated before tracing began
  uint64_t reused_ptrs = 0;      // allocations returning a pointer still live (old entry dropped)
};

struct CudaLeak {
  uint32_t pid = 0;
  uint64_t ptr = 0;
  uint64_t bytes = 0;
  uint16_t call = CALL_NONE;  // the call that allocated
  uint8_t mem = CUDA_MEM_DEVICE;
  std::string reason;  // "exit" or "trace_end"
};

struct CudaCopyStats {
  uint8_t kind = CUDA_COPY_DEFAULT;
  uint64_t count = 0;
  uint64_t bytes = 0;
  uint64_t total_ns = 0;
};

// What the GPU did, from CUPTI: kernel and copy time and the span from the first start to the
// last end (busy share = busy_ns / span_ns; overlapping work counts once per item).
struct CudaGpuStats {
  uint64_t kernels = 0;
  uint64_t kernel_ns = 0;
  uint64_t copies = 0;
  uint64_t copy_ns = 0;
  uint64_t first_start_ns = 0;
  uint64_t last_end_ns = 0;
  uint64_t span_ns() const {
    return last_end_ns > first_start_ns ? last_end_ns - first_start_ns : 0;
  }
  double busy_share() const {
    return span_ns() ? static_cast<double>(kernel_ns + copy_ns) / static_cast<double>(span_ns())
                     : 0.0;
  }
};

struct CudaMemsetStats {
  uint64_t count = 0;
  uint64_t bytes = 0;
};

struct CudaSyncStats {
  uint16_t call = CALL_NONE;
  uint64_t count = 0;
  uint64_t total_ns = 0;
  uint64_t max_ns = 0;
};

class CudaAccounting {
 public:
  // Every decoded event, in time order.
  void add(const CudaEvent& event);
  // The process ended: its live allocations become leaks with reason "exit".
  void process_exit(uint32_t pid);
  // The trace ended: allocations still live become leaks with reason "trace_end".
  void finish();
  // `count` launches reported without a name turned out to be `kernel` (its
  // name was learned after they were seen): count them under it.
  void name_launches(const std::string& kernel, uint64_t count);

  uint64_t launches() const { return launches_; }
  uint64_t unnamed_launches() const { return unnamed_launches_; }
  uint64_t graph_launches() const { return graph_launches_; }
  // Named kernels, by count descending, then name.
  std::vector<CudaKernelStats> kernels() const;
  // Operations per op name ("launch", ...) and per call symbol ("cudaMalloc", ...).
  const std::map<std::string, uint64_t>& ops() const { return ops_; }
  const std::map<std::string, uint64_t>& calls() const { return calls_; }
  // Per (pid, mem), by pid then mem.
  std::vector<CudaMemoryStats> memory() const;
  // One (pid, mem); all zeros when nothing was seen.
  CudaMemoryStats memory(uint32_t pid, uint8_t mem = CUDA_MEM_DEVICE) const;
  // Allocations live now (not yet freed nor turned into leaks).
  size_t live_allocations() const { return live_.size(); }
  // In the order found; each batch by pid, then ptr.
  const std::vector<CudaLeak>& leaks() const { return leaks_; }
  // Per copy kind, by kind.
  std::vector<CudaCopyStats> memcpy_stats() const;
  CudaMemsetStats memset_stats() const { return memset_; }
  // Per call, by total_ns descending.
  std::vector<CudaSyncStats> sync_stats() const;
  const CudaGpuStats& gpu() const { return gpu_; }
  // Why GPU times are missing, per process (from scope's CUPTI library); empty when they came.
  const std::map<uint32_t, std::string>& gpu_problems() const { return gpu_problems_; }
  void gpu_status(uint32_t pid, int32_t code, const std::string& message);
  // Kernels with GPU time, by it descending.
  std::vector<CudaKernelStats> kernels_by_gpu_time() const;

 private:
  struct Allocation {
    uint64_t bytes = 0;
    uint16_t call = CALL_NONE;
    uint8_t mem = CUDA_MEM_DEVICE;
  };
  using AllocKey = std::pair<uint32_t, uint64_t>;  // (pid, ptr)
  using MemKey = std::pair<uint32_t, uint8_t>;     // (pid, mem)

  void on_alloc(const CudaEvent& event);
  void on_gpu(const CudaEvent& event);
  void on_free(const CudaEvent& event);
  CudaMemoryStats& mem_stats(uint32_t pid, uint8_t mem);
  void release(const Allocation& alloc, uint32_t pid);
  // Moves live allocations matching `pid` (all when `all`) into leaks_.
  void leak(bool all, uint32_t pid, const char* reason);

  uint64_t launches_ = 0;
  uint64_t unnamed_launches_ = 0;
  uint64_t graph_launches_ = 0;
  std::map<std::string, CudaKernelStats> kernels_;
  std::map<std::string, uint64_t> ops_;
  std::map<std::string, uint64_t> calls_;
  std::map<AllocKey, Allocation> live_;
  std::map<MemKey, CudaMemoryStats> memory_;
  std::vector<CudaLeak> leaks_;
  std::map<uint8_t, CudaCopyStats> memcpy_;
  CudaMemsetStats memset_;
  std::map<uint16_t, CudaSyncStats> sync_;
  CudaGpuStats gpu_;
  std::map<uint32_t, std::string> gpu_problems_;
};

}  // namespace scope
