// The ggml family's decoding, formatting and accounting (bpf/shared/ggml.h
// records): plain code, unit tested without privileges.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/shared/ggml.h"
#include "discover/elf_file.h"
#include "event/row.h"
#include "families/library_probes.h"

namespace scope::families::ggml {

// The symbols scope knows by name: X(id, symbol, kind, graph argument).
#define GGML_FIXED_CALLS(X)                                        \
  X(1, ggml_backend_sched_graph_compute, GGML_KIND_GRAPH, 2)       \
  X(2, ggml_backend_sched_graph_compute_async, GGML_KIND_GRAPH, 2) \
  X(3, ggml_backend_graph_compute, GGML_KIND_GRAPH, 2)             \
  X(4, ggml_backend_graph_compute_async, GGML_KIND_GRAPH, 2)       \
  X(5, ggml_graph_compute, GGML_KIND_GRAPH, 1)                     \
  X(6, ggml_aligned_malloc, GGML_KIND_ALLOC, 0)                    \
  X(7, ggml_aligned_free, GGML_KIND_FREE, 0)

// Ids above this are libggml-cuda functions found by their demangled names.
inline constexpr uint16_t kFirstCudaCall = 16;

// Program pairs of the ggml skeleton, as LibrarySymbol::programs.
enum ProgramIndex { kGraphPrograms = 0, kAllocPrograms, kFreePrograms, kOpPrograms, kProgramCount };

// A graph compute inside another (the scheduler's calls the backend's, which
// calls the CPU backend's ggml_graph_compute) is part of it: one event, for
// the outermost. Probing the inner ones still costs two traps per call (here
// ~5 us each), so once kWindow graph computes were seen, the graph functions
// that were only ever called inside another probed one are detached. A
// process calling one of them directly later is then not seen there (it
// still is at any outer probed call it makes).
class NestedGraphProbes {
 public:
  static constexpr uint64_t kWindow = 16;
  void add(const ggml_event& e);
  // Call ids to detach now (each once).
  std::vector<uint16_t> to_detach();
  uint32_t detached() const { return detached_; }

 private:
  uint64_t events_ = 0;
  uint32_t outermost_ = 0, nested_ = 0, detached_ = 0;  // bits by call id
};

// The kind of a libggml-cuda function from its demangled name (matrix
// multiplications, copies, pool allocations and frees), or GGML_KIND_NONE.
uint8_t cuda_kind(const std::string& demangled);
// "ggml_cuda_pool_leg::alloc(unsigned long, unsigned long*)" -> "ggml_cuda_pool_leg::alloc".
std::string short_name(const std::string& demangled);

// Call names by id: the fixed ones, then CUDA functions as they are found.
class CallNames {
 public:
  CallNames();
  const std::string& name(uint16_t call) const;
  // The id of a CUDA function (a new one the first time), or 0 when out of ids.
  uint16_t cuda_id(const std::string& name);

 private:
  std::vector<std::string> names_;
  std::map<std::string, uint16_t> cuda_ids_;
};

// The ggml symbols of `elf`. `names` gives CUDA functions their ids.
std::vector<LibrarySymbol> match_symbols(const discover::ElfFile& elf, const std::string& path,
                                         CallNames& names);
// Every fixed symbol name (what "not found" is measured against).
std::vector<std::string> expected_symbols();

// A ring-buffer record, or nothing when it is too short.
std::optional<ggml_event> decode(const void* data, size_t size);
// "graph" | "alloc" | "free" | "cuda_op" | "cuda_alloc" | "cuda_free".
std::string kind_name(uint8_t kind);

// The JSON event (DESIGN.md's `ggml` vocabulary); ts_ns made Unix time.
// Its ggml_events row; ts_ns made Unix time.
event::EventRow row(const ggml_event& e, const std::string& call, int64_t mono_to_unix_ns);
// One aligned human line; `first_ts_ns` is the (monotonic) time shown as 0.
std::string human_line(const ggml_event& e, const std::string& call, uint64_t first_ts_ns);

struct ProcessStats {
  std::string comm;
  uint64_t graph_computes = 0;
  uint64_t graph_ns = 0;  // outermost graph computes only: no time counted twice
  uint64_t nodes = 0;
  uint64_t first_ns = 0, last_ns = 0;  // span of its graph computes (monotonic)
  uint64_t allocs = 0, frees = 0, failed_allocs = 0, unmatched_frees = 0;
  uint64_t live_bytes = 0, peak_bytes = 0;
  std::unordered_map<uint64_t, uint64_t> live;  // ptr -> bytes
};

class GgmlStats {
 public:
  void add(const ggml_event& e, const std::string& call);
  void process_exit(uint32_t pid);
  const std::map<uint32_t, ProcessStats>& processes() const { return procs_; }
  // [{pid, ptr, bytes, reason: "exit" | "end"}]: ggml_aligned_malloc'ed buffers
  // never freed, by the time the process exited or the trace ended.
  nlohmann::json leaks_json() const;
  // {graph_computes, graph_ns, nodes, by_call, memory, leaks, cuda_ops}
  nlohmann::json json() const;
  void print(std::FILE* out) const;

 private:
  struct CallTotals {
    uint64_t count = 0, total_ns = 0, max_ns = 0, nodes = 0;
  };
  std::map<uint32_t, ProcessStats> procs_;
  // Exits come through another ring than the events: a process may be seen
  // exiting before its last events are read.
  std::set<uint32_t> exited_;
  std::map<std::string, CallTotals> graph_calls_;
  std::map<std::string, CallTotals> cuda_ops_;
};

}  // namespace scope::families::ggml

namespace scope::families {
class Family;
// The ggml family's accounting when `family` is the ggml family, else null.
const ggml::GgmlStats* ggml_stats_of(const Family* family);
}  // namespace scope::families
