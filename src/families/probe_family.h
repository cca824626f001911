// A probe family other than cuda (exec, open, syscalls, sched, net, and the
// library families llama and ggml): one BPF skeleton, its decoding, its
// output lines and its part of the summary. `scope trace` drives every family
// it was asked for through this interface; the cuda family has its own,
// richer lifecycle (agent/cuda_tracer.h), whose process watch hands the
// library families the files traced processes map.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "discover/process_info.h"
#include "probe/ring_poller.h"
#include "probe/syscall_dispatch.h"
#include "probe/target_filter.h"

namespace scope::families {

// Where events go. In JSON mode one object per line; otherwise one aligned
// human line; nothing when quiet (the summary still counts them).
struct EventOutput {
  bool json = false;
  bool quiet = false;
  uint64_t start_ns = 0;  // Unix ns of the trace's first event, for relative times
  // A line and the Unix ns of its event (its `ts_ns`; 0 when it has none), so that the lines of
  // families read from different ring buffers can be put back in time order.
  std::function<void(uint64_t ts_ns, const std::string& line)> write_line;

  // When set, JSON events get the process's `cmdline`, `cgroup` and `container_id`.
  discover::ProcessInfoCache* processes = nullptr;

  // When set, every event goes here (the agent's store path) instead of to lines.
  std::function<void(const nlohmann::json& event)> record;

  // Whether emit() does anything: a family may skip building an event nobody takes (-q).
  bool wants_events() const { return record || (!quiet && write_line); }

  // `human` is only called when a human line is printed.
  void emit(nlohmann::json event, const std::function<std::string()>& human) const {
    if (record) {
      record(event);
      return;
    }
    if (quiet || !write_line) return;
    auto ts = event.find("ts_ns");
    uint64_t ts_ns = ts != event.end() && ts->is_number_unsigned() ? ts->get<uint64_t>() : 0;
    if (!json) {
      write_line(ts_ns, human());
      return;
    }
    if (processes && event.contains("pid")) {
      if (const auto* p = processes->lookup(event["pid"].get<uint32_t>())) {
        event["cmdline"] = p->cmdline;
        event["cgroup"] = p->cgroup;
        if (!p->container_id.empty()) event["container_id"] = p->container_id;
      }
    }
    write_line(ts_ns, event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
};

// Options of `scope trace` that some families read.
struct FamilyOptions {
  bool open_skip_pseudo_fs = false;  // --open-skip-pseudo: no opens under /proc and /sys
};

struct FamilyContext {
  const probe::TargetFilter* filter = nullptr;  // load with filter->apply(skel)
  int64_t mono_to_unix_ns = 0;                  // bpf_ktime_get_ns() + this = Unix ns
  const EventOutput* out = nullptr;
  FamilyOptions options;
  // Set when the syscalls family runs with exec, open or net: they hand it
  // their handlers instead of attaching to syscalls:* (probe/syscall_dispatch.h).
  std::shared_ptr<probe::SyscallDispatch> syscall_dispatch;

  // Where human lines count time from: the trace's start (Unix ns), or the
  // family's first event when there is none.
  uint64_t start_unix_ns(uint64_t first_event_unix_ns) const {
    return out && out->start_ns ? out->start_ns : first_event_unix_ns;
  }
  // The same on the kernel's clock (bpf_ktime_get_ns), for families that keep
  // their events' times as the kernel gave them.
  uint64_t start_mono_ns(uint64_t first_event_mono_ns) const {
    return out && out->start_ns
               ? static_cast<uint64_t>(static_cast<int64_t>(out->start_ns) - mono_to_unix_ns)
               : first_event_mono_ns;
  }
};

class ProbeFamily {
 public:
  virtual ~ProbeFamily() = default;
  virtual std::string_view name() const = 0;
  // Opens the skeleton, applies the filter, loads and attaches. Errors are one line.
  virtual Status start(const FamilyContext& ctx) = 0;
  // The fd of a BPF ring buffer map to poll, or -1 (aggregating families).
  virtual int ring_map_fd() const { return -1; }
  // One ring-buffer record; returns 0 (a libbpf ring_buffer callback).
  virtual int handle_record(const void* /*data*/, size_t /*size*/) { return 0; }
  // Once a second while tracing, and once at the end before the summary.
  virtual void tick() {}
  // Aggregating families (syscalls, sched): after tick(), what changed since
  // the last call, as events through the context's output (one per thread and
  // counter set). The agent stores these; `scope trace` prints the summary.
  virtual void emit_interval_events(uint64_t /*ts_ns*/) {}
  // The family's part of the JSON summary (the value under its name).
  virtual nlohmann::json summary_json() const = 0;
  // Human summary tables.
  virtual void print_summary(std::FILE* out) const = 0;
  // Events lost in the kernel (a full ring buffer, a full map).
  virtual uint64_t dropped() const { return 0; }
  // Events decoded.
  virtual uint64_t events() const { return 0; }

  // Library families place uprobes in files that processes map.
  virtual bool probes_libraries() const { return false; }
  // A file a traced process `pid` maps (at start, exec and each dlopen, before
  // a held process resumes), or one a command is about to load (pid 0), as
  // scope can open it. Returns whether it is a library this family probes.
  virtual bool on_library(uint32_t /*pid*/, const std::string& /*path*/) { return false; }
  // Whether a library of the family was found (and attached) so far.
  virtual bool found_libraries() const { return false; }
  // A traced process exited (its last thread).
  virtual void on_process_exit(uint32_t /*pid*/) {}
  // Every family of the trace, once all have started: a family may read
  // another's state for a table that joins both (llama's LLM table shows
  // ggml's graph compute share and live bytes).
  virtual void see_families(const std::vector<const ProbeFamily*>& /*all*/) {}
};

// The family called `name`, or nullptr when this build has none by that name.
std::unique_ptr<ProbeFamily> make_family(std::string_view name);

// Every family DESIGN.md names, in a stable order (cuda first).
const std::vector<std::string>& known_families();
// The families of this build (cuda and those make_family knows).
std::vector<std::string> built_families();
// The families `--probes LIST` names. A family this build lacks is an error
// when the list was given explicitly, and skipped when it is the default.
Result<std::set<std::string>> parse_probe_list(const std::string& list, bool explicit_list);
inline constexpr const char* kDefaultProbes = "cuda,ggml,llama";

// Starts every family of `wanted` but cuda (which has its own tracer), in
// known_families() order, and adds each one's ring buffer to `poller`; with
// the syscalls family and exec, open or net, under one syscall dispatch. An
// error names the family ("open: cannot ...").
Result<std::vector<std::unique_ptr<ProbeFamily>>> start_families(
    const std::set<std::string>& wanted, const FamilyContext& ctx, probe::RingPoller& poller);

}  // namespace scope::families
