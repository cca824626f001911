// The syscalls family's plain parts: the generated x86_64 syscall table,
// aggregation of the kernel's {tgid, tid, nr} counters into per-syscall and
// per-process totals, and the strace -c style tables. Tested without
// privileges (tests/unit/syscalls_family_test.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/shared/syscalls.h"
#include "event/row.h"

namespace scope::families::syscalls {

struct SyscallName {
  uint32_t nr;
  const char* name;
};

// The x86_64 table (src/families/syscall_table_x86_64.inc), sorted by number.
std::span<const SyscallName> syscall_table();

// "read" for 0; "syscall_451" for a number the table lacks; "ia32:5" for a
// 32-bit (compat) syscall (the key's SYSCALL_NR_IA32 bit).
std::string syscall_name(uint32_t nr);

// One kernel counter: a thread's use of one syscall.
struct Row {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint32_t nr = 0;
  std::string comm;
  uint64_t count = 0;
  uint64_t errors = 0;
  uint64_t total_ns = 0;  // estimated from the timed calls (bpf/shared/syscalls.h)
  uint64_t max_ns = 0;
  uint64_t timed = 0;  // calls timed
};

struct ThreadShare {
  uint32_t pid = 0;
  uint32_t tid = 0;
  std::string comm;
  uint64_t count = 0;
  uint64_t total_ns = 0;
};

// One syscall over every traced process.
struct SyscallTotal {
  std::string name;
  uint64_t count = 0;
  uint64_t errors = 0;
  uint64_t total_ns = 0;
  uint64_t max_ns = 0;
  uint64_t timed = 0;
  std::vector<ThreadShare> top_threads;  // by total_ns, at most kTopThreads
};

struct ProcessTotal {
  uint32_t pid = 0;
  std::string comm;
  uint32_t threads = 0;
  uint64_t count = 0;
  uint64_t errors = 0;
  uint64_t total_ns = 0;
};

inline constexpr size_t kTopThreads = 5;

// Adds the counters (timing included) the threads' slots hold and `stats` does not yet (see
// bpf/shared/syscalls.h) to the rows read from `stats`; a {thread, syscall} the rows lack gets a
// new row with no comm.
void add_slot_counts(std::vector<Row>& rows, std::span<const syscall_slot> slots);

// Keeps each {thread, syscall}'s counters (count, errors, timed, total_ns) from going down between
// reads: a read can miss
// counts a thread is moving from its slot to `stats` at that instant (never count them twice), and
// interval deltas would take a dip for a recycled key. The value seen before stands until the
// true one passes it.
// {tgid, tid, syscall}: a row's identity, hashed (tens of thousands of rows are matched a second).
struct RowKey {
  uint32_t tgid = 0, tid = 0, nr = 0;
  bool operator==(const RowKey&) const = default;
};
struct RowKeyHash {
  size_t operator()(const RowKey& k) const {
    return std::hash<uint64_t>()((uint64_t{k.tid} << 32 | k.nr) ^ (uint64_t{k.tgid} << 16));
  }
};

class MonotonicCounts {
 public:
  void apply(std::vector<Row>& rows);
  // Forgets a key that will not be read again (its thread's counters folded away).
  void forget(uint32_t tgid, uint32_t tid, uint32_t nr) { seen_.erase({tgid, tid, nr}); }

 private:
  std::unordered_map<RowKey, std::array<uint64_t, 4>, RowKeyHash>
      seen_;  // count, errors, total_ns, timed
};

// Rows of exited threads folded into one row per syscall with pid and tid 0 and comm
// "(exited)", added to `into` (which holds such rows already or none): totals stay exact while
// the per-thread detail of threads long gone is let go.
void fold_exited(std::vector<Row>& into, const std::vector<Row>& exited);

// Per syscall, sorted by total_ns (then count, then name).
std::vector<SyscallTotal> by_syscall(const std::vector<Row>& rows);
// Per process, sorted by total_ns (then count, then pid).
std::vector<ProcessTotal> by_process(const std::vector<Row>& rows);

// [{name, count, errors, total_ns, max_ns, timed, top_threads: [{pid, tid, comm, count,
// total_ns}]}]
nlohmann::json summary_json(const std::vector<SyscallTotal>& totals);

// `strace -c`: % time, seconds, usecs/call, calls, errors, syscall, and a total line.
std::string format_syscall_table(const std::vector<SyscallTotal>& totals);

// A syscalls_events row: what {thread, syscall} `r` gained in an interval.
event::EventRow interval_row(int64_t ts_ns, const Row& r, uint64_t count, uint64_t errors,
                             uint64_t total_ns);
// pid, comm, threads, calls, errors, total seconds.
std::string format_process_table(const std::vector<ProcessTotal>& procs);

}  // namespace scope::families::syscalls
