// The sched family's plain parts: per-thread scheduler counters read from the
// kernel's `threads` map (bpf/sched.bpf.c), merged with threads already
// retired from it, sorted, and written as JSON and human tables. No BPF here:
// unit-tested from crafted map values.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bpf/shared/sched.h"
#include "event/row.h"

namespace scope::families::sched {

struct ThreadStats {
  uint32_t pid = 0;  // tgid
  uint32_t tid = 0;
  std::string comm;
  uint64_t switches = 0;
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
  uint64_t offcpu_ns = 0;
  uint64_t runq_ns = 0;
  uint64_t runq_max_ns = 0;
  uint64_t runq_waits = 0;

  uint64_t total_ns() const { return offcpu_ns + runq_ns; }
};

// One map value (keyed by `tid`) as counters; the kernel's working state is dropped.
ThreadStats from_record(uint32_t tid, const sched_thread& rec);

// Adds `more` (later counters of the same tid) into `into`: sums, max of the max.
void merge(ThreadStats& into, const ThreadStats& more);

// Per-thread counters over the whole trace: what the kernel map holds now plus
// what was deleted from it earlier (threads retired to keep the map from filling).
class SchedTable {
 public:
  // Retired threads kept one by one; past this many they are folded (bounded memory for a
  // `scope up` that runs for days on a host that starts thousands of threads a minute).
  static constexpr size_t kMaxRetired = 100'000;

  // The map's current content replaces the previous snapshot.
  void set_live(std::map<uint32_t, ThreadStats> live) { live_ = std::move(live); }
  // Counters deleted from the map: kept for good. Past kMaxRetired threads, all retired ones are
  // folded into one "(exited)" row (pid and tid 0); returns the tids folded away.
  std::vector<uint32_t> retire(const ThreadStats& s);
  // Every thread, live and retired merged, in no particular order (with the folded row).
  std::vector<ThreadStats> threads() const;

 private:
  std::map<uint32_t, ThreadStats> live_;
  std::map<uint32_t, ThreadStats> retired_;
  ThreadStats exited_;  // the folded ones: counters only
  bool folded_ = false;
};

// A sched_events row: what thread `t` gained in an interval (switches, voluntary, involuntary,
// offcpu_ns, runq_ns).
event::EventRow interval_row(int64_t ts_ns, const ThreadStats& t,
                             const std::array<uint64_t, 5>& delta);

// Sorted by runq_ns + offcpu_ns, largest first (ties: tid ascending); at most `limit`.
std::vector<ThreadStats> top_by_total(std::vector<ThreadStats> threads, size_t limit);
// Sorted by runq_ns (then runq_max_ns), largest first; threads that never waited are left out.
std::vector<ThreadStats> top_by_runq(std::vector<ThreadStats> threads, size_t limit);
// Sorted by offcpu_ns, largest first; threads never off CPU are left out.
std::vector<ThreadStats> top_by_offcpu(std::vector<ThreadStats> threads, size_t limit);

// The summary's `sched` value: [{pid, tid, comm, switches, voluntary,
// involuntary, offcpu_ns, runq_ns, runq_max_ns}], top `limit` by runq+offcpu.
nlohmann::json summary_json(const std::vector<ThreadStats>& threads, size_t limit = 50);

// "1.23 ms", "850 us", "2.50 s", "0".
std::string format_duration(uint64_t ns);

// The human tables: totals, "hungriest threads" (run-queue latency) and "most
// off-CPU threads", `rows` lines each.
void print_tables(std::FILE* out, const std::vector<ThreadStats>& threads, size_t rows = 10);

}  // namespace scope::families::sched
