// One probe session, shared by `scope trace`, `scope up` and `scope agent`:
// the target filter, the families asked for (any of which can be started and
// stopped while the session runs), the process watch the library families
// need, one poller over their ring buffers, and their events handed to one
// sink. A family stopped leaves nothing in the kernel.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "families/family.h"
#include "probe/ring_poller.h"
#include "probe/syscall_dispatch.h"
#include "probe/target_filter.h"
#include "session/process_watch.h"

namespace scope::session {

struct SessionOptions {
  // Which processes: none added (trace only what comm/cgroup select, or the pids added), or
  // every process on the host (filter.enabled false and no comm/cgroup).
  probe::TargetFilterOptions filter;
  families::FamilyOptions family;
  // System-wide tracing (scope up, scope agent): hold a process that loads a library family's
  // library at the loader's hook until attached.
  bool hold_library_loads = false;
};

struct SessionStats {
  uint64_t events = 0;        // decoded by the families
  uint64_t dropped = 0;       // lost in the kernel, or undecodable (never silently)
  uint64_t undecodable = 0;   // of `dropped`, records that did not decode
  uint64_t held_at_exec = 0;  // processes stopped until their probes were attached
  uint64_t held_at_loader = 0;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> open(const SessionOptions& options,
                                               families::EventSink* sink);
  ~Session();  // stops every family (detaches in parallel) and resumes held processes
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts and stops families until exactly `wanted` run. Families that fail to start are left
  // stopped; the first error is returned (its code kept, its message naming the family).
  Status apply(const std::set<std::string>& wanted);
  Status start(const std::string& family);
  Status stop(const std::string& family);
  std::set<std::string> running() const;
  // Why each family that failed to start in the last apply() that tried it did not start.
  const std::map<std::string, std::string>& start_errors() const { return start_errors_; }
  // Whether a family that probes libraries runs (processes are then held until attached).
  bool probes_libraries() const { return watch_ != nullptr; }

  // Targets (with the filter enabled): `pid` and its future children, with kTraced* flags.
  Status follow(uint32_t pid, uint32_t flags);
  // The traced processes still alive (not zombies), scope's own children left out.
  std::vector<uint32_t> live_targets() const;
  // The library families look at what `pid` maps now (attach); how many files they took.
  Result<size_t> scan_process(uint32_t pid);
  // Before exec'ing `exe`: attach to what it will load.
  void prepare_command(const std::string& exe, const std::vector<std::string>& environ);
  // Continues processes stopped until attached (before killing a command, and on the way out).
  void release_held();

  // Reads the rings for up to timeout_ms; once a second the families' maps too. <0: -errno.
  int poll(int timeout_ms);
  // What is left in the rings and maps, then the families settle (the session's end).
  void finish();

  SessionStats stats() const;
  // {"<family>": its summary, ..., "held": {...}, "events": N, "dropped": N} for every family
  // that ran.
  nlohmann::json summary_json() const;
  void print_summary(std::FILE* out) const;
  // Library files attached; whether any library family found one, and what they look for.
  std::vector<std::string> attached_files() const;
  bool found_libraries() const;
  std::string looked_for() const;

 private:
  Session(const SessionOptions& options, families::EventSink* sink)
      : options_(options), sink_(sink) {}
  families::Family* family(const std::string& name) const;
  Status ensure_filter();
  Status rebuild_rings();
  void update_watch(bool rescan);
  void tick(bool force);
  static int on_record(void* ctx, void* data, size_t size);

  SessionOptions options_;
  families::EventSink* sink_;
  std::unique_ptr<probe::TargetFilter> filter_;
  bool explicit_targets_ = false;  // pids were added: the filter stays while the session lives
  std::shared_ptr<probe::SyscallDispatch> dispatch_;
  std::unique_ptr<ProcessWatch> watch_;
  WatchStats watch_before_;  // of earlier watches (it goes when no library family runs)
  uint64_t watch_dropped_before_ = 0;
  probe::RingPoller poller_;
  // Every family that ran, in known_families() order; running or stopped.
  std::vector<std::unique_ptr<families::Family>> families_;
  std::chrono::steady_clock::time_point next_tick_{};
  int64_t mono_to_unix_ = 0;
  std::map<std::string, std::string> start_errors_;
};

}  // namespace scope::session
