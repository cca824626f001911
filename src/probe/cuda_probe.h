// The one owner of the cuda BPF skeleton: open, write filters into .rodata,
// load, attach uprobes per library file, detach. Nothing stays attached once
// it is destroyed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "probe/target_filter.h"
#include "probe/uprobe_links.h"

struct cuda_bpf;
struct bpf_link;
struct ring_buffer;
struct bpf_program;

namespace scope::probe {

struct CudaProbeOptions {
  const TargetFilter* filter = nullptr;  // required: which processes to trace
  uint64_t ring_bytes = 32ull << 20;
  uint64_t wakeup_bytes = 1ull << 20;
  // One uprobe_multi link per program and file (kernel 6.6+) instead of one
  // perf event per symbol: detaching a perf uprobe waits for an RCU grace
  // period under a global mutex, ~0.2 s each here, so 100 of them made exit
  // take 20 s. Off: per-symbol perf uprobes (older kernels).
  bool uprobe_multi = true;
  // System-wide tracing: stop a process that loads a CUDA library at the
  // loader's hook until its probes are attached (bpf/cuda.bpf.c).
  bool hold_cuda_loads = false;
};

// Which programs a ProbePoint gets.
enum class ProbeKind {
  kCall,          // call_entry + call_return (duration, ret, out-pointers)
  kDriverLaunch,  // driver_launch, entry only: the hot path
  kName,          // name_entry + name_return
};

class CudaProbe {
 public:
  using RecordFn = int (*)(void* ctx, void* data, size_t size);

  static Result<std::unique_ptr<CudaProbe>> open(const CudaProbeOptions& options);
  ~CudaProbe();
  CudaProbe(const CudaProbe&) = delete;
  CudaProbe& operator=(const CudaProbe&) = delete;

  // Attaches `points` in the file at `path` under `group` (a key the caller
  // uses to detach them together). Returns how many were attached.
  Result<size_t> attach(const std::string& group, const std::string& path,
                        const std::vector<ProbePoint>& points, ProbeKind kind);
  // The loader hook on `ldso_path`'s _dl_debug_state (at `offset`); once attached, processes
  // exec'ing through that interpreter are held at the hook rather than at exec as well.
  // `r_debug_delta`: where `_r_debug` is relative to _dl_debug_state (0: unknown), so the hook
  // stops a process only when the loader says its objects are consistent (mapped, not yet run).
  Status attach_loader_hook(const std::string& group, const std::string& ldso_path, uint64_t offset,
                            int64_t r_debug_delta);
  void detach(const std::string& group);
  bool attached(const std::string& group) const { return links_->attached(group); }
  bool uses_uprobe_multi() const { return links_->multi(); }
  size_t link_count() const { return links_->link_count(); }

  // Ring buffer: `fn(ctx, data, size)` per record.
  Status open_ring(RecordFn fn, void* ctx);
  int poll(int timeout_ms);  // waits for a wakeup, then drains
  int consume();             // drains without waiting
  uint64_t dropped() const;  // records lost in the kernel (ring buffer full)

 private:
  CudaProbe() = default;
  cuda_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  std::unique_ptr<UprobeLinks> links_;
};

// Mounts tracefs at /sys/kernel/tracing when nothing is mounted there.
void ensure_tracefs();

}  // namespace scope::probe
