// The probes of `scope up` and `scope agent`: every family asked for, on
// every process of the host (or those a comm/cgroup filter selects), turned
// into event rows for the store path. `scope trace` drives the same families
// and tracer with its own output; this is the headless, long-running form.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/cuda_tracer.h"
#include "common/result.h"
#include "event/row.h"
#include "families/probe_family.h"
#include "probe/ring_poller.h"
#include "probe/target_filter.h"

namespace scope::agent {

struct CollectorOptions {
  std::string probes = families::kDefaultProbes;
  bool explicit_probes = false;  // --probes was given: a family this build lacks is an error
  std::string comm;              // only processes with this comm
  std::string cgroup;            // only processes in this cgroup (v2 path)
  bool open_skip_pseudo = false;
  uint64_t ring_mb = 32;
  uint64_t wakeup_bytes = 1 << 20;
};

struct CollectorStats {
  uint64_t events = 0;      // rows handed to the sink
  uint64_t dropped = 0;     // lost in the kernel (full rings/maps) or undecodable
  uint64_t bad_events = 0;  // events that did not fit the schema (a bug: counted)
  // Processes stopped until their probes were attached: at exec, at the loader's hook.
  uint64_t held_at_exec = 0;
  uint64_t held_at_loader = 0;
};

class Collector {
 public:
  using RowSink = std::function<void(event::EventRow&&)>;

  // Loads and attaches every family; errors are one line.
  static Result<std::unique_ptr<Collector>> start(const CollectorOptions& options, RowSink sink);
  ~Collector();

  // Reads the rings for up to timeout_ms; once a second also the aggregating
  // families' maps. Returns <0 on a ring-buffer error.
  int poll(int timeout_ms);
  // What is left in the rings and maps (on the way out).
  void drain();
  CollectorStats stats() const;
  const std::set<std::string>& families() const { return families_; }
  std::vector<std::string> attached_files() const;

 private:
  Collector() = default;
  void tick(bool force);

  RowSink sink_;
  std::set<std::string> families_;
  std::unique_ptr<probe::TargetFilter> filter_;
  std::unique_ptr<CudaTracer> tracer_;
  std::vector<std::unique_ptr<families::ProbeFamily>> host_;
  probe::RingPoller poller_;
  families::EventOutput out_;
  std::chrono::steady_clock::time_point next_tick_;
  uint64_t events_ = 0;
  uint64_t bad_events_ = 0;
};

}  // namespace scope::agent
