// A probe family: one BPF skeleton, its decoding into typed events, their rows
// and lines, and its part of the summary. Every family (cuda included) is
// driven by a session (session/session.h) through this interface, and can be
// started and stopped while the session runs; a stopped family leaves nothing
// in the kernel.
//
// Families that probe shared libraries (cuda, ggml, llama) also listen to the
// session's process watch (LibraryListener): it hands them every file a traced
// process maps, before a held process resumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "discover/proc_maps.h"
#include "event/row.h"
#include "probe/syscall_dispatch.h"
#include "probe/target_filter.h"

namespace scope::families {

// One event as its family hands it over: its row (what is stored, and what its JSON is made
// of) and, for people, one line. Built only when the sink takes events.
class Event {
 public:
  virtual uint64_t ts_ns() const = 0;  // Unix ns
  virtual event::EventRow row() const = 0;
  // One aligned line, its time in seconds since `start_unix_ns` (the trace's start).
  virtual std::string line(uint64_t start_unix_ns) const = 0;

 protected:
  ~Event() = default;
};

// Where a session's events go: lines for `scope trace`, rows for a store or a stream.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // Whether events are taken at all (not under -q): a family skips building what nobody takes.
  virtual bool wants_events() const = 0;
  virtual void add(const Event& event) = 0;
};

// An Event from two callables: `row()` and `line(start_unix_ns)`.
template <class RowFn, class LineFn>
class EventOf final : public Event {
 public:
  EventOf(uint64_t ts_ns, RowFn row, LineFn line) : ts_(ts_ns), row_(row), line_(line) {}
  uint64_t ts_ns() const override { return ts_; }
  event::EventRow row() const override { return row_(); }
  std::string line(uint64_t start) const override { return line_(start); }

 private:
  uint64_t ts_;
  RowFn row_;
  LineFn line_;
};

// Hands `sink` an event made by `row` and `line`, when it takes events.
template <class RowFn, class LineFn>
void emit(EventSink* sink, uint64_t ts_ns, RowFn&& row, LineFn&& line) {
  if (!sink || !sink->wants_events()) return;
  sink->add(EventOf<RowFn, LineFn>(ts_ns, std::forward<RowFn>(row), std::forward<LineFn>(line)));
}

// Settings some families read; the same for every command that runs a session.
struct FamilyOptions {
  bool open_skip_pseudo = false;       // open: no paths under /proc and /sys (counted)
  uint64_t ring_bytes = 32ull << 20;   // cuda's ring buffer
  uint64_t wakeup_bytes = 1ull << 20;  // cuda: wake the reader once this much is pending
  // Aggregating families (syscalls, sched) hand the sink one row per thread and counter set
  // each second (what stores keep); `scope trace` only prints their summary.
  bool interval_rows = false;
  // How long the runtime's launch functions stay probed to name kernels of a process that
  // loaded them before scope attached.
  std::chrono::milliseconds naming_window{2000};
  // exec: credentials in argv (tokens, passwords, URL passwords) become "***" before an event is
  // printed, stored or shipped (common/redact.h); off with --no-redact-args.
  bool redact_args = true;
};

struct FamilyContext {
  const probe::TargetFilter* filter = nullptr;  // load with filter->apply(skel)
  int64_t mono_to_unix_ns = 0;                  // bpf_ktime_get_ns() + this = Unix ns
  EventSink* sink = nullptr;
  FamilyOptions options;
  // Set while the syscalls family runs with one that handles syscalls (exec, open, net): those
  // put handlers into it instead of attaching to syscalls:* (probe/syscall_dispatch.h), and the
  // syscalls family tail-calls them.
  std::shared_ptr<probe::SyscallDispatch> syscall_dispatch;
};

// How a process's loader finds libraries: its environment (LD_LIBRARY_PATH) and executable
// (DT_RPATH), read from /proc on first use, or given for a command scope is about to start.
class LoaderContext {
 public:
  static LoaderContext of_process(uint32_t pid) { return LoaderContext(pid, {}, {}); }
  static LoaderContext of_command(std::string exe, std::vector<std::string> environ) {
    return LoaderContext(0, std::move(exe), std::move(environ));
  }
  const std::vector<std::string>& environ() const;
  // Where scope can open the executable, and its path as the process sees it ("" when unknown).
  const std::string& exe() const;
  const std::string& exe_as_seen() const;

 private:
  LoaderContext(uint32_t pid, std::string exe, std::vector<std::string> environ)
      : pid_(pid),
        exe_(exe),
        exe_seen_(std::move(exe)),
        environ_(std::move(environ)),
        read_(pid == 0) {}
  void read() const;
  uint32_t pid_;
  mutable std::string exe_, exe_seen_;
  mutable std::vector<std::string> environ_;
  mutable bool read_;
};

// A file a traced process maps (pid), or one a command is about to load (pid 0), at a path
// scope can open.
struct LibraryFile {
  uint32_t pid = 0;
  std::string path;
  const LoaderContext* loader = nullptr;
};

// What the process watch tells a library family.
class LibraryListener {
 public:
  virtual ~LibraryListener() = default;
  // Whether `file` is one of the family's libraries (attached the first time it is seen).
  virtual bool on_library(const LibraryFile& file) = 0;
  // After a scan of `pid` (at start, exec, dlopen; while a held process still waits): its maps,
  // and the keys (discover::file_key) of the files among them the family took.
  virtual void on_maps(uint32_t /*pid*/, const std::vector<discover::Mapping>& /*maps*/,
                       const std::vector<std::string>& /*taken*/) {}
  // `pid` exec'd a new program (its old handles mean nothing now).
  virtual void on_exec(uint32_t /*pid*/) {}
  // The last thread of `pid` exited.
  virtual void on_process_exit(uint32_t /*pid*/, int /*exit_code*/) {}
  // File names ("libcuda") whose opening, under system-wide tracing, holds the process at the
  // loader's next hook until the family has attached.
  virtual std::vector<std::string> hold_names() const = 0;
  // Whether one of its libraries was found so far, and what it looks for (for messages).
  virtual bool found_libraries() const = 0;
  // The files it attached to.
  virtual std::vector<std::string> attached_files() const = 0;
  virtual std::string looked_for() const = 0;
};

class Family {
 public:
  virtual ~Family() = default;
  virtual std::string_view name() const = 0;
  // Loads and attaches. On an error (its code says why: not_root, kernel_too_old, ...) nothing
  // of the family stays in the kernel. A stopped family can start again.
  virtual Status start(const FamilyContext& ctx) = 0;
  // Reads what the kernel still holds for it, then unloads it: no program, link or map of the
  // family stays. Its totals stay, for the summary.
  virtual void stop() = 0;
  virtual bool running() const = 0;

  // The fd of its BPF ring buffer map, or -1 (aggregating families).
  virtual int ring_map_fd() const { return -1; }
  // One ring-buffer record; returns 0 (a libbpf ring_buffer callback).
  virtual int handle_record(const void* /*data*/, size_t /*size*/) { return 0; }
  // Once a second while running, and before the summary: reads the family's maps and, with
  // FamilyOptions::interval_rows, hands the sink what changed.
  virtual void tick(int64_t /*now_unix_ns*/) {}

  // The session ends: settle what is still open (cuda's live allocations become leaks).
  virtual void finish() {}
  // Its part of the JSON summary (the value under its name) and human tables.
  virtual nlohmann::json summary_json() const = 0;
  virtual void print_summary(std::FILE* out) const = 0;
  virtual uint64_t events() const = 0;
  // Events lost: in the kernel (a full ring buffer or map) or undecodable.
  virtual uint64_t dropped() const = 0;
  // Of those, the records that did not decode (a bug, never silent).
  virtual uint64_t undecodable() const { return 0; }

  // The library side of a family that probes shared libraries, else nullptr.
  virtual LibraryListener* libraries() { return nullptr; }
  const LibraryListener* libraries() const { return const_cast<Family*>(this)->libraries(); }
  // exec, open and net: their syscalls ride the syscalls family's dispatch when it runs.
  virtual bool handles_syscalls() const { return false; }
  // The families of the session, after any start or stop: a family may read another's state for
  // a table that joins both (llama's LLM table shows ggml's graph share and live bytes).
  virtual void see_families(const std::vector<const Family*>& /*all*/) {}
};

// An event's JSON: its row's (event::row_json) and the keys a family derives from its columns for
// people (open: flags_str, errno_name).
nlohmann::json event_json(const event::EventRow& row);

}  // namespace scope::families
