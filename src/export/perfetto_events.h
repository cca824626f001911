// Scope's events as a Perfetto trace: what each family's rows become on which track.
//   process  (name, command line)      exec/exit instants on its threads
//     thread (comm)                    CUDA calls (alloc, free, copy, set, sync), llama and ggml
//                                      calls as slices with their arguments; off-CPU and
//                                      run-queue time (sched) as counters under it
//     "CUDA stream 0x…"                kernel launches as instants: name = kernel,
//                                      launch = "<<<(grid), (block), shared_mem>>>"
//     "CUDA memory", "ggml memory"     bytes in use, a counter
// The open, net and syscalls families are not written (counted in skipped).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "event/row.h"
#include "export/perfetto_writer.h"

namespace scope::perfetto {

struct ProcessDetails {
  std::string name;
  std::vector<std::string> cmdline;
};
// Who a process was at `ts` (its name and command line), when known.
using ProcessLookup = std::function<std::optional<ProcessDetails>(uint32_t pid, int64_t ts)>;

struct EventCounts {
  uint64_t launches = 0;     // cuda launch and graph_launch instants
  uint64_t cuda_calls = 0;   // cuda slices
  uint64_t gpu_runs = 0;     // gpu_kernel and gpu_memcpy slices (CUPTI), on GPU stream tracks
  uint64_t llama_calls = 0;  // llama slices
  uint64_t ggml_calls = 0;   // ggml slices
  uint64_t execs = 0;        // exec instants (exits counted apart)
  uint64_t exits = 0;
  uint64_t sched = 0;          // sched rows (two counter values each)
  uint64_t memory_values = 0;  // memory counter values
  uint64_t skipped = 0;        // rows of families not written
  uint64_t processes = 0;
};

class EventTranslator {
 public:
  // `account_memory`: keep the memory counters from the rows' allocations and frees (a live
  // trace); false when they come from the store's replay through memory_level().
  EventTranslator(TraceWriter& writer, ProcessLookup lookup, bool account_memory);

  void add(const event::EventRow& row);
  // The bytes in use by `pid` after an allocation or free of `family` ("cuda" or "ggml").
  void memory_level(std::string_view family, uint32_t pid, int64_t ts, int64_t level);
  const EventCounts& counts() const { return counts_; }

 private:
  struct Process {
    uint64_t uuid = 0;
    std::unordered_map<uint32_t, uint64_t> threads;
    std::unordered_map<int64_t, uint64_t> streams;
    std::unordered_map<int64_t, uint64_t> gpu_streams;  // CUPTI's stream id -> track
    uint64_t cuda_memory = 0, ggml_memory = 0;          // counter tracks, 0 until needed
    std::unordered_map<int64_t, int64_t> live[2];       // cuda, ggml: ptr -> bytes (account_memory)
    int64_t level[2] = {0, 0};
  };
  struct ThreadCounters {
    uint64_t offcpu = 0, runq = 0;
  };

  Process& process(uint32_t pid, int64_t ts, const std::string& comm);
  uint64_t thread(Process& p, uint32_t pid, uint32_t tid, int64_t ts, const std::string& comm);
  void cuda(const event::EventRow& row);
  void exec(const event::EventRow& row);
  void llama_or_ggml(const event::EventRow& row, bool llama);
  void sched(const event::EventRow& row);
  void account(Process& p, int which, bool is_alloc, int64_t pid, int64_t ts, int64_t ptr,
               int64_t bytes);

  TraceWriter& w_;
  ProcessLookup lookup_;
  bool account_memory_;
  std::unordered_map<uint32_t, Process> processes_;
  std::unordered_map<uint64_t, ThreadCounters> sched_tracks_;  // by thread track
  EventCounts counts_;
  std::vector<Arg> args_;
  std::string scratch_;
};

}  // namespace scope::perfetto
